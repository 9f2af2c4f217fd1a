/** Building DOM from data safely: every string becomes a text node or an attribute, never markup. */

/**
 * h("button", {class: "chip", title, onclick, "aria-pressed": "true"}, "text", childNode)
 * Keys starting with "on" are listeners; `dataset` sets data-*; every other key is an attribute.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** A box that says "Loading …" with a spinner; role=status so screen readers hear it. */
export function loading(text) {
  return h("div", { class: "loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), text);
}

/** A request's failure, in the words of the server's JSON error message. */
export function errorBox(message, title = "Request failed") {
  return h("div", { class: "error-box", role: "alert" }, h("strong", {}, title + ": "), message);
}

/** Copy text to the clipboard; the execCommand path covers frames without clipboard permission. */
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch (_) {
    // fall through to the selection-based copy
  }
  const area = h("textarea", { class: "offscreen", "aria-hidden": "true" });
  area.value = text;
  document.body.appendChild(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch (_) {
    ok = false;
  }
  area.remove();
  return ok;
}

/** A button that copies `getText()` and says so for a moment. */
export function copyButton(getText, label = "Copy") {
  const button = h("button", { class: "copy", type: "button", title: "Copy to the clipboard" }, label);
  button.addEventListener("click", async () => {
    const ok = await copyText(getText());
    button.textContent = ok ? "Copied ✓" : "Copy failed";
    button.dataset.copied = ok ? "yes" : "no";
    setTimeout(() => {
      button.textContent = label;
    }, 1500);
  });
  return button;
}
