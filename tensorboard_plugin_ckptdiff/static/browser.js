/** The checkpoint browser: every run's checkpoints (step, time, size, format, status), and one checkpoint's variables as a tree. */

import { errorBox, h, loading, middleText } from "./dom.js";
import { baseName, bytesText, shapeText, timeText } from "./format.js";
import { buildTree, flatten } from "./tree.js";
import { indent, renderGroupRow, toggleIn, treeKey, VirtualTable } from "./table.js";
import { refOf } from "./selection.js";

// The variable's readable name first and its exact key under it, as in the diff.
const VARIABLE_COLUMNS = [
  { id: "name", label: "Variable (name, then key)", width: "minmax(14em, 3fr)" },
  { id: "shape", label: "Shape", width: "9em" },
  { id: "dtype", label: "Dtype", width: "6em" },
  { id: "size", label: "Size", width: "6em" },
  { id: "kind", label: "Kind", width: "6.5em" },
];
const ONE_LINE_PX = 26;
const TWO_LINES_PX = 43;

function statusCell(c) {
  if (c.status === "ok") return h("td", { class: "ok" }, h("span", { "aria-hidden": "true" }, "✓ "), "ok");
  if (c.status === "pending") return h("td", { class: "pending" }, h("span", { "aria-hidden": "true" }, "○ "), "checking…");
  const label = c.status === "incomplete" ? "being written" : "unreadable";
  return h("td", { class: `bad status-${c.status}` }, h("span", { "aria-hidden": "true" }, "⚠ "), label,
    c.error ? h("div", { class: "ckpt-error" }, c.error) : null);
}

/** `actions.open(checkpoint)`, `actions.useAs(side, ref)`. */
export function renderBrowser(container, runs, actions) {
  // One table, a group of rows per run: the columns line up from run to run.
  const groups = [];
  for (const run of runs) {
    const checkpoints = run.checkpoints || [];
    if (!checkpoints.length) continue;
    const rows = checkpoints.slice().reverse().map((c) => // newest first: what a user looks for
      h("tr", { class: c.status === "ok" ? "" : "unreadable" },
        h("td", { class: "ckpt-path" }, h("button", {
          type: "button", class: "link", disabled: c.status !== "ok",
          title: c.status === "ok" ? `Show the variables of ${c.path}` : c.error || c.path, onclick: () => actions.open(c),
        }, middleText(baseName(c.path)))),
        h("td", { class: "num" }, c.step ?? ""),
        h("td", { class: "time" }, timeText(c.wall_time)),
        h("td", { class: "num" }, bytesText(c.size_bytes)),
        h("td", {}, c.format || "?", c.flavor ? ` (${c.flavor.replace("_", "-")})` : ""),
        statusCell(c),
        h("td", { class: "use" },
          h("button", { type: "button", disabled: c.status !== "ok", onclick: () => actions.useAs("base", refOf("checkpoint", c)) }, "as base"),
          h("button", { type: "button", disabled: c.status !== "ok", onclick: () => actions.useAs("target", refOf("checkpoint", c)) }, "as target"))));
    groups.push(h("tbody", { class: "run" },
      h("tr", { class: "run-head" }, h("th", { colspan: "7", scope: "rowgroup" }, middleText(run.run || "."))), rows));
  }
  container.replaceChildren(groups.length
    ? h("table", { class: "checkpoints" },
      h("thead", {}, h("tr", {}, ["Checkpoint", "Step", "Time", "Size", "Format", "Status", "Compare"].map((t) => h("th", { scope: "col" }, t)))),
      groups)
    : h("p", { class: "note" }, "No checkpoints found in the logdir yet."));
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
    heightOf: (row) => (row.type === "item" && row.item.key !== row.item.name ? TWO_LINES_PX : ONE_LINE_PX),
    maxHeight: () => Math.round(window.innerHeight * 0.7),
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
      const name = h("div", { class: "vt-td var", role: "gridcell" }, middleText(v.name, "var-name"),
        v.key !== v.name ? middleText(v.key, "var-key mono") : null);
      name.style.paddingLeft = indent(row.depth);
      el.replaceChildren(name, td(shapeText(v.shape), "mono"), td(v.dtype, "mono"), td(bytesText(v.size_bytes), "num"), td(v.kind));
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
