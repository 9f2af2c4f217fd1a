/** Building DOM from data safely: every string becomes a text node or an attribute, never markup. */

import { splitMiddle } from "./format.js";

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

/**
 * Text that, when it does not fit, gives way in the middle ("optimizer/_traina…/dense_1/kernel"):
 * the head shrinks with an ellipsis, the tail (format.splitMiddle) stays. The full text is the
 * element's text (a copy copies all of it: inline boxes, so no line break is added between
 * head and tail) and its title (hover shows all of it).
 */
export function middleText(text, cls = "") {
  const [head, tail] = splitMiddle(text);
  const el = h("span", { class: ("mid " + cls).trim(), title: text },
    h("span", { class: "mid-head" }, head), tail ? h("span", { class: "mid-tail" }, tail) : null);
  // The head leaves room for the tail. `ch` is a digit's width: a monospace letter's, and a
  // little over an average letter of a proportional font (a few px of slack for wide ones).
  const width = cls.includes("mono") ? `${tail.length}ch + 1px` : `${(tail.length * 0.9).toFixed(1)}ch + 4px`;
  if (tail) el.style.setProperty("--tail", `calc(${width})`);
  return el;
}

/** A search box that calls `onQuery(text)` once typing pauses (each answer may be a request). */
export function searchBox({ placeholder, label = placeholder, value = "", cls = "", onQuery, delay = 150 }) {
  const input = h("input", { type: "search", class: ("search " + cls).trim(), placeholder, "aria-label": label });
  input.value = value;
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => onQuery(input.value), delay);
  });
  return input;
}
