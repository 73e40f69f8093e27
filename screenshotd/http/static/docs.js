// Renders /openapi.json as a page: every operation with its parameters, body and answers.
// No dependencies; works offline.
"use strict";
(function () {
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    for (const child of children) {
      if (child == null) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function resolve(doc, schema) {
    let seen = 0;
    while (schema && schema.$ref && seen++ < 10) {
      const path = schema.$ref.replace(/^#\//, "").split("/");
      schema = path.reduce((node, part) => node && node[part], doc);
    }
    return schema || {};
  }

  function typeOf(schema) {
    if (!schema) return "";
    if (schema.enum) return schema.enum.join(" | ");
    if (schema.$ref) return schema.$ref.split("/").pop();
    if (schema.anyOf) return schema.anyOf.map(typeOf).join(" or ");
    let text = Array.isArray(schema.type) ? schema.type.join(" or ") : (schema.type || "any");
    if (schema.type === "array" && schema.items) text += " of " + typeOf(schema.items);
    const bounds = [];
    if (schema.minimum !== undefined) bounds.push("≥ " + schema.minimum);
    if (schema.maximum !== undefined) bounds.push("≤ " + schema.maximum);
    if (schema.maxLength !== undefined) bounds.push("≤ " + schema.maxLength + " chars");
    if (schema.maxItems !== undefined) bounds.push("≤ " + schema.maxItems + " items");
    return bounds.length ? text + " (" + bounds.join(", ") + ")" : text;
  }

  function table(headings, rows) {
    return el("table", {}, el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", {}, h)))),
      el("tbody", {}, ...rows.map((row) => el("tr", {}, ...row.map((cell) =>
        el("td", {}, typeof cell === "string" ? cell : cell))))));
  }

  function parameters(op) {
    if (!op.parameters || !op.parameters.length) return null;
    return el("details", { open: "" }, el("summary", {}, "Parameters (" + op.parameters.length + ")"),
      table(["name", "in", "type", "default", "description"], op.parameters.map((p) => [
        el("code", {}, p.name + (p.required ? " *" : "")), p.in, typeOf(p.schema),
        p.schema && p.schema.default !== undefined ? JSON.stringify(p.schema.default) : "",
        p.description || ""])));
  }

  function body(doc, op) {
    if (!op.requestBody) return null;
    const parts = [];
    for (const [type, media] of Object.entries(op.requestBody.content)) {
      const schema = resolve(doc, media.schema);
      const props = Object.entries(schema.properties || {});
      parts.push(el("p", {}, "Body: ", el("code", {}, type), schema.description ? " — " + schema.description : ""));
      if (props.length) {
        parts.push(el("details", {}, el("summary", {}, "Fields (" + props.length + ")"),
          table(["name", "type", "default", "description"], props.map(([name, prop]) => [
            el("code", {}, name), typeOf(prop),
            prop.default !== undefined ? JSON.stringify(prop.default) : "", prop.description || ""]))));
      }
    }
    return el("div", {}, ...parts);
  }

  function responses(op) {
    const rows = Object.entries(op.responses || {}).map(([status, answer]) => [
      el("code", {}, status), answer.description || "",
      Object.keys(answer.content || {}).join(", ")]);
    return el("details", {}, el("summary", {}, "Responses"), table(["status", "meaning", "types"], rows));
  }

  async function render() {
    const intro = document.getElementById("intro");
    let doc;
    try {
      const response = await fetch("/openapi.json");
      doc = await response.json();
    } catch (error) {
      intro.textContent = "Could not load /openapi.json: " + error;
      return;
    }
    intro.textContent = doc.info.description + " Version " + doc.info.version + ".";
    const toc = document.getElementById("toc");
    const ops = document.getElementById("ops");
    const list = el("ul", {});
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const id = op.operationId || method + path;
        list.appendChild(el("li", {}, el("a", { href: "#" + id }, method.toUpperCase() + " " + path), " — " + (op.summary || "")));
        ops.appendChild(el("section", { class: "op", id: id },
          el("h2", {}, el("span", { class: "method " + method }, method), " ", el("code", {}, path)),
          el("p", {}, op.summary || ""), parameters(op), body(doc, op), responses(op)));
      }
    }
    toc.appendChild(list);
    document.body.dataset.rendered = "true";
  }

  render();
})();
