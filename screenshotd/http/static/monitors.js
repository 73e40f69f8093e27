// screenshotd playground, monitors: a monitor's checks as a timeline of thumbnails, and a change
// as before, after and the diff with its regions outlined. No dependencies; works offline.
"use strict";
(function () {
  const select = document.getElementById("monitor");
  const state = document.getElementById("monitor_state");
  const timeline = document.getElementById("timeline");
  const change = document.getElementById("change");
  let checks = [];

  function headers() {
    const key = document.getElementById("api_key").value.trim();
    return key ? { "X-Api-Key": key } : {};
  }

  async function get(path) {
    const response = await fetch(path, { headers: headers() });
    const body = await response.json();
    if (!response.ok) throw new Error(body.message || response.status);
    return body;
  }

  function element(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    for (const child of children || []) node.append(child);
    return node;
  }

  async function loadMonitors() {
    try {
      const found = (await get("/monitors")).monitors;
      select.replaceChildren(...found.map((m) =>
        element("option", { value: m.id }, [(m.name || m.url) + " (" + m.state + ")"])));
      state.textContent = found.length ? "" : "No monitors yet: POST /monitors makes one.";
      if (found.length) await loadChecks();
    } catch (error) {
      state.textContent = "Could not load monitors: " + error.message;
    }
  }

  async function loadChecks() {
    if (!select.value) return;
    const monitor = await get("/monitors/" + select.value);
    checks = (await get("/monitors/" + select.value + "/checks?limit=100")).checks.reverse();
    state.textContent = monitor.url + ": " + monitor.state + ", uptime 24 h " +
      (monitor.uptime["24h"] === null ? "–" : (monitor.uptime["24h"] * 100).toFixed(2) + "%");
    change.replaceChildren();
    timeline.replaceChildren(...checks.map((check) => {
      const picture = check.screenshot_url
        ? element("img", { src: check.screenshot_url, alt: check.status, loading: "lazy" })
        : element("div", { class: "blank" });
      const tile = element("button", { type: "button", class: "tile " + check.status,
                                       title: check.at + " " + check.status },
                           [picture, check.status]);
      tile.addEventListener("click", () => showChange(check));
      return tile;
    }));
  }

  function showChange(check) {
    const before = checks.find((c) => c.id === check.baseline_id);
    const frame = (url, caption, regions) => {
      const image = element("img", { src: url || "", alt: caption });
      const box = element("div", { class: "frame" }, [image]);
      image.addEventListener("load", () => {
        const scale = image.clientWidth / image.naturalWidth;
        for (const r of regions || []) {
          box.append(element("div", { class: "region", style:
            "left:" + r.x * scale + "px;top:" + r.y * scale + "px;width:" +
            r.width * scale + "px;height:" + r.height * scale + "px" }));
        }
      });
      return element("figure", {}, [box, element("figcaption", {}, [caption])]);
    };
    change.replaceChildren(
      frame(before && before.screenshot_url, "before"),
      frame(check.screenshot_url, "after (" + check.status + ")"),
      frame(check.diff_url, check.diff_url ? "diff: " +
        ((check.changed_fraction || 0) * 100).toFixed(3) + "% changed" : "no diff", check.regions));
  }

  document.getElementById("load_monitors").addEventListener("click", loadMonitors);
  select.addEventListener("change", loadChecks);
})();
