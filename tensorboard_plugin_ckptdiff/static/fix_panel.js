/** The fix: the assignment map (target key or scope → base name or scope) and ready-to-paste code, in a side panel the verdict's "Fix" button opens. */

import { copyButton, h } from "./dom.js";

export function assignmentMapText(map) {
  return JSON.stringify(map, null, 2);
}

/** What the verdict says next to its "Fix" button: the first snippet's title. */
export function firstSnippetTitle(fix) {
  const snippets = (fix && fix.snippets) || [];
  if (snippets.length) return snippets[0].title;
  const n = Object.keys((fix && fix.assignment_map) || {}).length;
  return n ? `an assignment map of ${n} entr${n === 1 ? "y" : "ies"}` : "";
}

export function renderFixPanel(fix) {
  const map = (fix && fix.assignment_map) || {};
  const snippets = (fix && fix.snippets) || [];
  const pairs = Object.entries(map);
  if (!pairs.length && !snippets.length) return h("section", { class: "fix empty" });
  const parts = [];
  if (pairs.length) {
    parts.push(h("div", { class: "fix-head" }, h("h4", {}, `Assignment map (${pairs.length})`), copyButton(() => assignmentMapText(map), "Copy map")));
    parts.push(h("table", { class: "assignment" },
      h("thead", {}, h("tr", {}, h("th", {}, "Target key or scope (in the checkpoint)"), h("th", { "aria-hidden": "true" }, ""), h("th", {}, "Base name or scope (in the model)"))),
      h("tbody", {}, pairs.slice(0, 500).map(([from, to]) =>
        h("tr", {}, h("td", { class: "mono" }, from), h("td", { "aria-hidden": "true" }, "→"), h("td", { class: "mono" }, to))))));
    if (pairs.length > 500) parts.push(h("p", { class: "note" }, `… and ${pairs.length - 500} more (the copied map has them all).`));
  }
  for (const s of snippets) {
    parts.push(h("div", { class: "snippet" },
      h("div", { class: "fix-head" }, h("h4", {}, s.title), copyButton(() => s.code)),
      h("pre", { class: "code", tabindex: "0" }, h("code", { class: `language-${s.language || "text"}` }, s.code))));
  }
  return h("section", { class: "fix", "aria-label": "Fix" }, parts);
}

/**
 * The fix as a side panel over the table, so the verdict and its fix are on screen however
 * many rows the diff has. {el, open(), close(), hasFix}; Escape or "Close" closes it and
 * gives the focus back to what opened it.
 */
export function createFixDrawer(fix) {
  const panel = renderFixPanel(fix);
  const hasFix = !panel.classList.contains("empty");
  let opener = null;
  const closeButton = h("button", { type: "button", class: "fix-close", "aria-label": "Close the fix" }, "Close ✕");
  const el = h("aside", { class: "fix-drawer", id: "fix-drawer", role: "dialog", "aria-modal": "false", "aria-labelledby": "fix-drawer-title", hidden: true, tabindex: "-1" },
    h("div", { class: "fix-drawer-head" }, h("h3", { id: "fix-drawer-title" }, "Fix"), closeButton),
    panel);
  function open() {
    opener = document.activeElement;
    el.hidden = false;
    el.focus();
  }
  function close() {
    el.hidden = true;
    if (opener && opener.isConnected) opener.focus();
  }
  closeButton.addEventListener("click", close);
  el.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      e.preventDefault();
      close();
    }
  });
  return { el, open, close, hasFix };
}
