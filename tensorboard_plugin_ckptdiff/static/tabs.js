/** The view tabs (WAI-ARIA tabs: arrow keys move between them) and their panels. */

import { h } from "./dom.js";

/**
 * `views`: [{id, label}] in tab order. onSelect(id) is called when the user picks a tab.
 * Returns {nav, panels: {id: element}, show(id), setHidden(id, hidden)}.
 */
export function createTabs(views, onSelect) {
  const buttons = {};
  const panels = {};
  let shown = null;
  for (const { id, label } of views) {
    buttons[id] = h("button", { type: "button", role: "tab", id: `tab-${id}`, "aria-controls": `panel-${id}`, onclick: () => onSelect(id) }, label);
    buttons[id].addEventListener("keydown", keys);
    panels[id] = h("div", { class: "panel", role: "tabpanel", id: `panel-${id}`, "aria-labelledby": `tab-${id}`, hidden: true });
  }
  const nav = h("nav", { class: "tabs", role: "tablist", "aria-label": "Views" }, Object.values(buttons));

  function keys(e) {
    if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
    const order = views.map((v) => v.id).filter((id) => !buttons[id].hidden);
    const i = order.indexOf(shown);
    const next = order[(i + (e.key === "ArrowRight" ? 1 : order.length - 1)) % order.length];
    onSelect(next);
    buttons[next].focus();
    e.preventDefault();
  }

  function show(id) {
    shown = id;
    for (const [k, button] of Object.entries(buttons)) {
      button.setAttribute("aria-selected", k === id ? "true" : "false");
      button.tabIndex = k === id ? 0 : -1;
      panels[k].hidden = k !== id;
    }
  }

  function setHidden(id, hidden) {
    buttons[id].hidden = hidden;
  }

  return { nav, panels, show, setHidden };
}
