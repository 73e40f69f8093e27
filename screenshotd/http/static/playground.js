// screenshotd playground: builds a capture URL from the form, shows the image, and gives
// copy-ready snippets. No dependencies; works offline.
"use strict";
(function () {
  const form = document.getElementById("form");
  const statusLine = document.getElementById("status");
  const preview = document.getElementById("preview");
  const fields = ["url", "width", "height", "format", "device", "wait_until", "delay", "selector",
                  "block_resources", "fail_on_status", "freeze_time"];
  const pdfFields = ["pdf_paper_format", "pdf_scale", "pdf_page_ranges", "pdf_header_template",
                     "pdf_footer_template"];
  const defaults = { format: "png", device: "desktop", wait_until: "load", pdf_paper_format: "a4",
                     pdf_scale: "1" };
  const checks = ["full_page", "dark_mode", "block_ads", "block_trackers", "block_cookie_banners"];
  const pdfChecks = ["pdf_landscape", "pdf_print_background", "pdf_prefer_css_page_size",
                     "pdf_tagged", "pdf_outline"];
  // Boxes whose checked state is not "true": what each sends when it differs from its default.
  const switches = { wait_for_stable: ["wait_for_stable", "false", false],
                     animations: ["animations", "disabled", true],
                     caret: ["caret", "initial", true] };
  let objectUrl = null;

  function params() {
    const query = new URLSearchParams();
    for (const name of fields) {
      const value = form.elements[name].value.trim();
      if (value !== "" && value !== defaults[name]) query.set(name, value);
    }
    for (const name of checks) if (form.elements[name].checked) query.set(name, "true");
    for (const [id, [name, value, when]] of Object.entries(switches)) {
      if (form.elements[id].checked === when) query.set(name, value);
    }
    if (form.elements.format.value === "pdf") {  // the PDF options are refused on a picture
      for (const name of pdfFields) {
        const value = form.elements[name].value.trim();
        if (value !== "" && value !== defaults[name]) query.set(name, value);
      }
      const margin = form.elements.pdf_margin.value.trim();
      if (margin) for (const side of ["top", "right", "bottom", "left"]) query.set("pdf_margin_" + side, margin);
      for (const name of pdfChecks) if (form.elements[name].checked) query.set(name, "true");
    }
    return query;
  }

  function captureUrl() {
    return location.origin + "/screenshot?" + params().toString();
  }

  function shellQuote(text) {
    return "'" + text.replace(/'/g, "'\\''") + "'";
  }

  function htmlEscape(text) {
    return text.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
  }

  function snippets() {
    const url = captureUrl();
    const key = document.getElementById("api_key").value.trim();
    const ext = (form.elements.format.value === "jpeg" ? "jpg" : form.elements.format.value);
    document.getElementById("link").textContent = url;
    document.getElementById("curl").textContent =
      "curl -fsS " + (key ? "-H " + shellQuote("X-Api-Key: " + key) + " " : "") +
      "-o capture." + ext + " " + shellQuote(url);
    const alt = form.elements.url.value.trim() || "screenshot";
    document.getElementById("img").textContent =
      '<img src="' + htmlEscape(url) + '" alt="' + htmlEscape(alt) + '" loading="lazy">' +
      (key ? "\n<!-- this server needs a key: embed a signed URL instead (screenshotd sign) -->" : "");
  }

  function say(text, isError) {
    statusLine.textContent = text;
    statusLine.className = isError ? "error" : "";
  }

  async function capture(event) {
    event.preventDefault();
    snippets();
    if (!form.elements.url.value.trim()) { say("Give a URL to capture.", true); return; }
    const key = document.getElementById("api_key").value.trim();
    const started = performance.now();
    say("Capturing…");
    document.getElementById("capture").disabled = true;
    try {
      const response = await fetch(captureUrl(), { headers: key ? { "X-Api-Key": key } : {} });
      if (!response.ok) {
        let message = response.status + " " + response.statusText;
        try {
          const body = await response.json();
          message = response.status + " " + body.error + ": " + body.message;
        } catch (_) { /* not JSON */ }
        say(message, true);
        return;
      }
      const blob = await response.blob();
      if (objectUrl) URL.revokeObjectURL(objectUrl);
      objectUrl = URL.createObjectURL(blob);
      preview.textContent = "";
      if (blob.type === "application/pdf") {
        const link = document.createElement("a");
        link.href = objectUrl; link.textContent = "Open the PDF"; link.target = "_blank";
        preview.appendChild(link);
      } else {
        const img = document.createElement("img");
        img.id = "result";
        img.alt = "capture of " + form.elements.url.value.trim();
        img.src = objectUrl;
        preview.appendChild(img);
      }
      const seconds = ((performance.now() - started) / 1000).toFixed(2);
      say(blob.type + ", " + Math.round(blob.size / 1024) + " KB in " + seconds + " s (" +
          (response.headers.get("X-Cache") || "?") + ")");
    } catch (error) {
      say("The request failed: " + error, true);
    } finally {
      document.getElementById("capture").disabled = false;
    }
  }

  // Who the key is to this server (GET /me): its name and what is left of its quota.
  let accountTimer = null;
  async function account() {
    const key = document.getElementById("api_key").value.trim();
    const shown = document.getElementById("account");
    if (!key) { shown.textContent = ""; return; }
    try {
      const response = await fetch("/me", { headers: { "X-Api-Key": key } });
      const body = await response.json();
      if (!response.ok) { shown.textContent = body.message || ("HTTP " + response.status); return; }
      const parts = [body.key ? "Key: " + body.key.name : "No key needed here"];
      if (body.quota) {
        parts.push(body.quota.monthly_quota === null ? "no monthly quota"
          : body.quota.monthly_remaining + " of " + body.quota.monthly_quota + " renders left this month");
      }
      if (body.rate_limit) parts.push(body.rate_limit.remaining + "/" + body.rate_limit.limit + " this minute");
      shown.textContent = parts.join(" · ");
    } catch (error) {
      shown.textContent = "Could not ask /me: " + error;
    }
  }

  form.addEventListener("submit", capture);
  form.addEventListener("input", snippets);
  form.elements.format.addEventListener("change", () => {
    document.getElementById("pdf").open = form.elements.format.value === "pdf";
  });
  document.getElementById("api_key").addEventListener("input", snippets);
  document.getElementById("api_key").addEventListener("input", () => {
    clearTimeout(accountTimer);
    accountTimer = setTimeout(account, 300);
  });
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", async () => {
      const text = document.getElementById(button.dataset.copy).textContent;
      try { await navigator.clipboard.writeText(text); button.textContent = "Copied"; }
      catch (_) { button.textContent = "Select and copy"; }
      setTimeout(() => { button.textContent = "Copy"; }, 1500);
    });
  }
  const given = new URLSearchParams(location.search).get("url");
  if (given) form.elements.url.value = given;
  snippets();
})();
