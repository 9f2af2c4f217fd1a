/** The Diff view's panel: asks /diff for the pair it is shown, says what is going on meanwhile, then draws the diff. */

import { errorBox, h, loading } from "./dom.js";
import { crossRun, findRef } from "./selection.js";
import { renderDiff } from "./diff_view.js";

/**
 * `show(state, force)` draws the diff of state's pair (base, target, mode, kinds) in `panel`,
 * asking the server again only when the pair changed (or `force`). The panel is aria-busy
 * while it waits. `onViewChange(patch)` gets the table's filters and sort as the user sets them.
 */
export function createDiffPanel(panel, api, { onViewChange }) {
  let request = null;
  let shown = null; // the pair drawn or being asked for

  async function show(s, force = false) {
    const key = JSON.stringify([s.base, s.target, s.mode, s.kinds]);
    if (!force && key === shown) return;
    // A link may name checkpoints the server has not listed yet: ask once it has, not before
    // (a request for an id it does not know yet is a 404 in the console).
    const unlisted = s.scanning && !(findRef(s.runs, s.base) && findRef(s.runs, s.target));
    if (!s.base || !s.target || unlisted) {
      shown = null;
      panel.setAttribute("aria-busy", s.scanning ? "true" : "false");
      panel.replaceChildren(nothingToShow(s));
      return;
    }
    shown = key;
    if (request) request.abort();
    const controller = new AbortController();
    request = controller;
    panel.setAttribute("aria-busy", "true");
    panel.replaceChildren(loading("Comparing…"));
    let report;
    try {
      report = await api.diff({ base: s.base, target: s.target, mode: s.mode, kinds: s.kinds }, { signal: controller.signal });
    } catch (e) {
      if (e.name === "AbortError") return;
      shown = null;
      panel.replaceChildren(errorBox(e.message, "Cannot compare"));
      panel.setAttribute("aria-busy", "false");
      return;
    }
    if (request !== controller) return;
    request = null;
    renderDiff(panel, report, s, { cross: crossRun(s.runs, s.base, s.target), onViewChange });
    panel.setAttribute("aria-busy", "false");
  }

  return { show, showing: () => shown !== null };
}

function nothingToShow(s) {
  if (s.scanning) return loading("Looking for checkpoints in the logdir and reading them…");
  if (s.base && !s.target) {
    const base = findRef(s.runs, s.base);
    return h("p", { class: "note" }, `${base ? base.record.run : "This run"} has no readable checkpoint to compare with: choose a target above.`);
  }
  const any = (s.runs || []).some((r) => (r.checkpoints || []).length);
  return h("p", { class: "note" }, any
    ? "Choose a base (a model or a checkpoint) and a target checkpoint above, or open a run from the Overview."
    : "No checkpoints found yet. Checkpoint Diff lists every checkpoint under the logdir (TF bundles, Keras .weights.h5/.h5/.keras, SavedModels, safetensors).");
}
