/** The cross-run matrix: cell (i, j) says whether run j's newest checkpoint restores into run i's model. */

import { h, middleText, searchBox } from "./dom.js";
import { STATUSES, statusLabel } from "./status.js";
import { pager, itemText, architectureText } from "./overview_view.js";
import { middleLabel } from "./format.js";

export const CELL_INFO = {
  restorable: { icon: "✓", label: "restorable and resumable", tone: "ok" },
  not_resumable: { icon: "✓", label: "restorable, not resumable", tone: "warn" },
  not_restorable: { icon: "✗", label: "not restorable", tone: "bad" },
  failed: { icon: "!", label: "could not be compared", tone: "bad" },
  pending: { icon: "○", label: "being computed", tone: "pending" },
};

/** The kind of a /matrix cell, a key of CELL_INFO. */
export function cellKind(cell) {
  if (!cell || cell.state === "pending") return "pending";
  if (cell.state === "failed") return "failed";
  if (!cell.restorable) return "not_restorable";
  return cell.resumable ? "restorable" : "not_resumable";
}

function cellTitle(cell, model, column) {
  const head = `${column.run}'s ${column.checkpoint ? itemText(column.checkpoint) : "checkpoint"} into ${model.run}'s model`;
  if (!cell || cell.state === "pending") return `${head}: being computed`;
  if (cell.state === "failed") return `${head}: ${cell.error}`;
  const counts = STATUSES.filter((s) => cell.summary[s]).map((s) => `${cell.summary[s]} ${statusLabel(s)}`).join(", ");
  return `${head}\n${cell.verdict}\n${counts}`;
}

function legend() {
  return h("div", { class: "legend matrix-legend", "aria-label": "Legend" },
    Object.values(CELL_INFO).map((info) => h("span", { class: "legend-item" },
      h("span", { class: `mx-swatch tone-${info.tone}`, "aria-hidden": "true" }, info.icon), info.label)),
    h("span", { class: "legend-item" }, h("span", { class: "mx-swatch own", "aria-hidden": "true" }, ""), "a run's own checkpoint"));
}

/**
 * Mount the matrix in `container`. Callbacks: onOpen(baseRef, targetRef); onQuery(text);
 * onPage({rowOffset, colOffset}). Returns {update(body), columnsThatFit()}: the page of
 * columns is as wide as the view, so nothing scrolls sideways.
 */
export function createMatrix(container, { query = "", rowPage, onOpen, onQuery, onPage }) {
  const filter = searchBox({ placeholder: "Filter runs (rows and columns)", label: "Filter runs", value: query, cls: "mx-filter", onQuery });
  const intro = h("p", { class: "note" },
    "Which experiment's checkpoint warm-starts which model: row i is a run's model, column j another run's newest readable checkpoint. Click a cell for its diff.");
  const status = h("div", { class: "ov-progress", role: "status" });
  const body = h("div", { class: "mx-body" });
  const section = h("section", { class: "matrix" }, h("div", { class: "ov-head" }, intro, filter, status), body);
  container.replaceChildren(section);
  let colPage = 50;

  function update(answer) {
    const { rows, columns, cells } = answer;
    status.replaceChildren(...(answer.status === "running" ? [
      h("progress", { max: String(Math.max(1, answer.progress.total)), value: String(answer.progress.done), "aria-label": "Verdicts computed" }),
      h("span", { class: "ov-quiet" }, `comparing: ${answer.progress.done.toLocaleString()} of ${answer.progress.total.toLocaleString()}`)] : []));
    if (!rows.items.length || !columns.items.length) {
      body.replaceChildren(h("p", { class: "note" }, filter.value ? "No run matches the filter."
        : "The matrix needs runs with a model and runs with a readable checkpoint."));
      return;
    }
    const head = h("tr", {}, h("th", { class: "mx-corner", scope: "col" }, "model ↓  checkpoint →"),
      columns.items.map((c) => h("th", { class: "mx-col", scope: "col", title: c.checkpoint ? itemText(c.checkpoint) : `${c.run}: not read yet` },
        h("span", { class: "mx-col-label" }, middleLabel(c.run, 22)))));
    const lines = rows.items.map((model, i) => h("tr", {},
      h("th", { class: "mx-row", scope: "row", title: architectureText(model.architecture) }, middleText(model.run)),
      columns.items.map((column, j) => {
        const cell = cells[i][j];
        const kind = cellKind(cell);
        const info = CELL_INFO[kind];
        const title = cellTitle(cell, model, column);
        const own = column.run === model.run;
        return h("td", { class: `mx-cell tone-${info.tone}${own ? " own" : ""}` },
          h("button", {
            type: "button", title, "aria-label": title, disabled: !column.checkpoint || kind === "pending",
            dataset: { kind },
            onclick: () => onOpen(`architecture:${model.architecture.id}`, `checkpoint:${column.checkpoint.id}`),
          }, info.icon));
      })));
    body.replaceChildren(
      h("div", { class: "mx-pagers" },
        pager(rows.total, rows.offset, rows.items.length, rowPage, (o) => onPage({ rowOffset: o }), "Models"),
        pager(columns.total, columns.offset, columns.items.length, colPage, (o) => onPage({ colOffset: o }), "Checkpoints")),
      h("table", { class: "matrix-table", "aria-label": "Restores into" }, h("thead", {}, head), h("tbody", {}, lines)),
      legend());
  }

  /** How many columns fit the view's width: the page size of columns to ask for. */
  function columnsThatFit() {
    const width = section.getBoundingClientRect().width || 1200;
    colPage = Math.max(5, Math.min(50, Math.floor((width - 230) / 28)));
    return colPage;
  }

  return { update, columnsThatFit, filter };
}

