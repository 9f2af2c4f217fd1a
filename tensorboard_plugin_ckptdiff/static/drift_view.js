/** Value drift between two checkpoints. Placeholder: the drift helper replaces this module. */

import { h } from "./dom.js";

export function renderDrift(container, api, base, target) {
  container.replaceChildren(h("p", { class: "note" }, `Value drift between ${base} and ${target} is not available in this build yet.`));
}
