/** The fix: the assignment map (target key or scope → base name or scope) and ready-to-paste code. */

import { copyButton, h } from "./dom.js";

export function assignmentMapText(map) {
  return JSON.stringify(map, null, 2);
}

export function renderFixPanel(fix) {
  const map = (fix && fix.assignment_map) || {};
  const snippets = (fix && fix.snippets) || [];
  const pairs = Object.entries(map);
  if (!pairs.length && !snippets.length) return h("section", { class: "fix empty" });
  const parts = [h("h3", {}, "Fix")];
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
