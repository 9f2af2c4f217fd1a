/** Choosing the comparison: base (any architecture or checkpoint), target (any checkpoint), mode, kinds. */

import { h } from "./dom.js";
import { KINDS, MODES } from "./state.js";
import { refOf } from "./selection.js";

const MODE_LABEL = {
  auto: "auto (target's loader)",
  object_path: "object path",
  name: "name",
  keras_order: "Keras order",
  transformers: "transformers from_pretrained",
  structure: "model structure",
};

export function baseName(path) {
  const parts = (path || "").split("/");
  return parts[parts.length - 1] || path;
}

export function checkpointLabel(c) {
  const bits = [baseName(c.path)];
  if (c.step !== null && c.step !== undefined) bits.push(`step ${c.step}`);
  bits.push(c.format || "unknown format");
  if (c.status !== "ok") bits.push(c.status === "incomplete" ? "being written" : "unreadable");
  return bits.join(" · ");
}

export function architectureLabel(a) {
  const bits = [`model (${a.source})`];
  if (a.step !== null && a.step !== undefined) bits.push(`step ${a.step}`);
  if (a.status !== "ok") bits.push("unreadable");
  return bits.join(" · ");
}

function option(value, text, record, selected) {
  return h("option", { value, selected: value === selected, disabled: record.status !== "ok", title: record.error || null }, text);
}

function sideSelect(id, runs, { withArchitectures }, selected) {
  const select = h("select", { id, class: "picker" });
  let any = false;
  for (const run of runs) {
    const options = [];
    if (withArchitectures) for (const a of run.architectures || []) options.push(option(refOf("architecture", a), architectureLabel(a), a, selected));
    for (const c of run.checkpoints || []) options.push(option(refOf("checkpoint", c), checkpointLabel(c), c, selected));
    if (!options.length) continue;
    any = true;
    select.appendChild(h("optgroup", { label: run.run || "." }, options));
  }
  if (!selected || !select.querySelector("option:checked")) select.prepend(h("option", { value: "", selected: true, disabled: true }, any ? "choose…" : "nothing to choose"));
  return select;
}

/** Replace the pickers in `container`; `onChange(patch)` gets {base} | {target} | {mode} | {kinds}. */
export function renderPickers(container, runs, state, onChange) {
  const base = sideSelect("pick-base", runs, { withArchitectures: true }, state.base);
  const target = sideSelect("pick-target", runs, { withArchitectures: false }, state.target);
  base.addEventListener("change", () => onChange({ base: base.value }));
  target.addEventListener("change", () => onChange({ target: target.value }));
  const mode = h("select", { id: "pick-mode", class: "picker", title: "auto: the rule of the target's real loader; object path: tf.train.Checkpoint; name: TF1 Saver, by_name, safetensors; Keras order: load_weights" },
    MODES.map((m) => h("option", { value: m, selected: m === state.mode }, MODE_LABEL[m])));
  mode.addEventListener("change", () => onChange({ mode: mode.value }));
  const kindBoxes = KINDS.map((k) => {
    const box = h("input", { type: "checkbox", value: k, checked: state.kinds.includes(k), id: `kind-${k}` });
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
  container.replaceChildren(
    h("label", { class: "field", for: "pick-base" }, h("span", {}, "Base (restored into)"), base),
    h("label", { class: "field", for: "pick-target" }, h("span", {}, "Target (checkpoint read)"), target),
    h("label", { class: "field", for: "pick-mode" }, h("span", {}, "Matching"), mode),
    h("fieldset", { class: "field kinds" }, h("legend", {}, "Kinds"), kindBoxes),
  );
}
