/** The checkpoint browser: every run's checkpoints (step, time, size, format, status), and one checkpoint's variables as a tree. */

import { errorBox, h, loading } from "./dom.js";
import { bytesText, shapeText, timeText } from "./format.js";
import { buildTree, flatten } from "./tree.js";
import { indent, renderGroupRow, toggleIn, treeKey, VirtualTable } from "./table.js";
import { refOf } from "./selection.js";

const VARIABLE_COLUMNS = [
  { id: "name", label: "Name", width: "minmax(14em, 2fr)" },
  { id: "shape", label: "Shape", width: "8em" },
  { id: "dtype", label: "Dtype", width: "6em" },
  { id: "size", label: "Size", width: "6em" },
  { id: "kind", label: "Kind", width: "6.5em" },
  { id: "key", label: "Key", width: "minmax(14em, 2fr)" },
];

function statusCell(c) {
  if (c.status === "ok") return h("td", { class: "ok" }, h("span", { "aria-hidden": "true" }, "✓ "), "ok");
  const label = c.status === "incomplete" ? "being written" : "unreadable";
  return h("td", { class: `bad status-${c.status}` }, h("span", { "aria-hidden": "true" }, "⚠ "), label,
    c.error ? h("div", { class: "ckpt-error" }, c.error) : null);
}

/** `actions.open(checkpoint)`, `actions.useAs(side, ref)`. */
export function renderBrowser(container, runs, actions) {
  const sections = [];
  for (const run of runs) {
    const checkpoints = run.checkpoints || [];
    if (!checkpoints.length) continue;
    const rows = checkpoints.slice().reverse().map((c) => // newest first: what a user looks for
      h("tr", { class: c.status === "ok" ? "" : "unreadable" },
        h("td", {}, h("button", {
          type: "button", class: "link", disabled: c.status !== "ok",
          title: c.status === "ok" ? "Show its variables" : c.error, onclick: () => actions.open(c),
        }, c.path)),
        h("td", { class: "num" }, c.step ?? ""),
        h("td", {}, timeText(c.wall_time)),
        h("td", { class: "num" }, bytesText(c.size_bytes)),
        h("td", {}, c.format || "?", c.flavor ? ` (${c.flavor.replace("_", "-")})` : ""),
        statusCell(c),
        h("td", { class: "use" },
          h("button", { type: "button", disabled: c.status !== "ok", onclick: () => actions.useAs("base", refOf("checkpoint", c)) }, "as base"),
          h("button", { type: "button", disabled: c.status !== "ok", onclick: () => actions.useAs("target", refOf("checkpoint", c)) }, "as target"))));
    sections.push(h("section", { class: "run" },
      h("h4", {}, run.run || "."),
      h("table", { class: "checkpoints" },
        h("thead", {}, h("tr", {}, ["Checkpoint", "Step", "Time", "Size", "Format", "Status", "Compare"].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows))));
  }
  container.replaceChildren(...(sections.length ? sections : [h("p", { class: "note" }, "No checkpoints found in the logdir yet.")]));
}

/** Fetch one checkpoint's variables and show them as a layer tree in `container`. */
export async function showVariables(container, api, checkpoint) {
  container.replaceChildren(loading(`Loading the variables of ${checkpoint.path}…`));
  container.scrollIntoView({ block: "nearest" });
  let body;
  try {
    body = await api.checkpoint(checkpoint.id);
  } catch (e) {
    container.replaceChildren(errorBox(e.message, `Cannot read ${checkpoint.path}`));
    return;
  }
  const collapsed = new Set();
  const tree = buildTree(body.variables, { nameOf: (v) => v.name, statusOf: (v) => v.kind });
  const table = new VirtualTable({
    columns: VARIABLE_COLUMNS,
    label: `Variables of ${checkpoint.path}`,
    height: "50vh",
    renderRow(el, row) {
      if (row.type === "group") {
        renderGroupRow(el, row, toggle);
        return;
      }
      const v = row.item;
      el.className = "vt-row item";
      el.removeAttribute("aria-expanded");
      el.setAttribute("aria-level", String(row.depth + 1));
      const td = (text, cls = "") => h("div", { class: "vt-td " + cls, role: "gridcell", title: text }, text);
      const name = td(v.name, "name");
      name.style.paddingLeft = indent(row.depth);
      el.replaceChildren(name, td(shapeText(v.shape), "mono"), td(v.dtype, "mono"), td(bytesText(v.size_bytes), "num"), td(v.kind), td(v.key, "name"));
    },
    onKey: (row, key) => treeKey(row, key, toggle),
  });
  function toggle(row) {
    toggleIn(collapsed, row.node.path);
    table.setRows(flatten(tree, collapsed));
  }
  const c = body.checkpoint || checkpoint;
  container.replaceChildren(
    h("h4", {}, `${c.path} — ${body.total.toLocaleString()} variables`, c.format ? ` · ${c.format}` : "", c.step != null ? ` · step ${c.step}` : ""),
    table.el);
  table.setRows(flatten(tree, collapsed));
  container.scrollIntoView({ block: "start" });
}
