/** Choosing the comparison: base (any architecture or checkpoint), target (any checkpoint), mode, kinds. */

import { h } from "./dom.js";
import { KINDS } from "./state.js";
import { refOf } from "./selection.js";
import { baseName, middleLabel } from "./format.js";

// Labels of the modes this dashboard knows; the list itself comes from the server (/runs
// "modes"), so a mode added there is offered here under its own name.
const MODE_LABEL = {
  auto: "auto (target's loader)",
  object_path: "object path",
  name: "name",
  keras_order: "Keras order",
  transformers: "transformers from_pretrained",
  structure: "model structure",
};
const MODE_HINT = "auto: the rule of the target's real loader; object path: tf.train.Checkpoint; name: TF1 Saver, by_name, safetensors; Keras order: load_weights";
const FALLBACK_MODES = ["auto"];


function state(record) {
  if (record.status === "ok") return null;
  return { incomplete: "being written", pending: "checking…" }[record.status] || "unreadable";
}

/** "exp/ckpt · ckpt-3 · step 3": the run first, so a closed picker says whose it is. */
export function checkpointLabel(c) {
  const bits = [c.run || ".", baseName(c.path)];
  if (c.step !== null && c.step !== undefined) bits.push(`step ${c.step}`);
  const s = state(c);
  if (s) bits.push(s);
  return bits.join(" · ");
}

export function architectureLabel(a) {
  const bits = [a.run || ".", `model (${a.source})`];
  if (a.step !== null && a.step !== undefined) bits.push(`step ${a.step}`);
  const s = state(a);
  if (s) bits.push(s);
  return bits.join(" · ");
}

function option(value, text, record, selected, details) {
  const title = [text, details, record.error].filter(Boolean).join("\n");
  return h("option", { value, selected: value === selected, disabled: record.status !== "ok", title }, middleLabel(text));
}

function sideSelect(id, runs, { withArchitectures }, selected) {
  const select = h("select", { id, class: "picker" });
  let any = false;
  for (const run of runs) {
    const options = [];
    if (withArchitectures) for (const a of run.architectures || []) options.push(option(refOf("architecture", a), architectureLabel({ ...a, run: a.run ?? run.run }), a, selected));
    for (const c of run.checkpoints || []) options.push(option(refOf("checkpoint", c), checkpointLabel({ ...c, run: c.run ?? run.run }), c, selected, c.format));
    if (!options.length) continue;
    any = true;
    select.appendChild(h("optgroup", { label: run.run || "." }, options));
  }
  if (!selected || !select.querySelector("option:checked")) {
    select.prepend(h("option", { value: "", selected: true, disabled: true }, any ? "choose…" : "nothing to choose"));
  }
  const chosen = select.querySelector("option:checked");
  select.title = chosen ? chosen.title || chosen.textContent : "";
  return select;
}

/**
 * Replace the pickers in `container`. `choice`: {base, target, pinned, mode, kinds, cross}
 * (`cross`: {base, target} run names when the pair crosses runs); `modes`: the server's.
 * Callbacks: onChange(patch) with {base} | {target} | {mode} | {kinds}; onUnpin().
 */
export function renderPickers(container, runs, choice, modes, { onChange, onUnpin }) {
  const base = sideSelect("pick-base", runs, { withArchitectures: true }, choice.base);
  const target = sideSelect("pick-target", runs, { withArchitectures: false }, choice.target);
  base.addEventListener("change", () => onChange({ base: base.value }));
  target.addEventListener("change", () => onChange({ target: target.value }));
  const known = modes && modes.length ? modes : FALLBACK_MODES;
  const mode = h("select", { id: "pick-mode", class: "picker picker-mode", title: MODE_HINT },
    known.map((m) => h("option", { value: m, selected: m === choice.mode }, MODE_LABEL[m] || m.replace(/_/g, " "))));
  mode.addEventListener("change", () => onChange({ mode: mode.value }));
  const kindBoxes = KINDS.map((k) => {
    const box = h("input", { type: "checkbox", value: k, checked: choice.kinds.includes(k), id: `kind-${k}` });
    box.addEventListener("change", () => {
      let kinds = KINDS.filter((x) => document.getElementById(`kind-${x}`).checked);
      if (!kinds.length) {
        box.checked = true; // at least one kind: an empty diff answers nothing
        kinds = [k];
      }
      onChange({ kinds });
    });
    return h("label", { class: "kind" }, box, ` ${k === "weight" ? "weights" : k}`);
  });
  const pin = choice.pinned
    ? h("button", { type: "button", class: "pin", "aria-pressed": "true", title: "You chose this target: a new base keeps it. Click to pair the target with the base's run again.", onclick: onUnpin }, "pinned ✕")
    : null;
  const cross = choice.cross
    ? h("p", { class: "cross-run", role: "note", id: "cross-run" },
      h("strong", {}, "cross-run"), ` model from ${choice.cross.base}, checkpoint from ${choice.cross.target}`)
    : null;
  container.replaceChildren(
    h("label", { class: "field field-side", for: "pick-base" }, h("span", {}, "Base (restored into)"), base),
    h("div", { class: "field field-side" }, h("label", { for: "pick-target" }, "Target (checkpoint read)"), h("div", { class: "target-row" }, target, pin)),
    h("label", { class: "field", for: "pick-mode" }, h("span", {}, "Matching"), mode),
    h("fieldset", { class: "field kinds" }, h("legend", {}, "Kinds"), kindBoxes),
    ...(cross ? [cross] : []),
  );
}
