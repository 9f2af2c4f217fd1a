/**
 * A virtual table: fixed row height, only the rows in view (plus a few) exist in the DOM, so
 * 100,000 rows scroll like 100. The caller renders a row's content; this module owns the
 * header, scrolling, row recycling and keyboard focus (aria-activedescendant on the grid).
 */

import { h } from "./dom.js";

const OVERSCAN = 8;
let tableCount = 0;

export class VirtualTable {
  /**
   * columns: [{id, label, width (a CSS grid track), sortable}]
   * renderRow(el, row, index): fill a recycled row element (called only when its row changes)
   * onKey(row, key, index): Enter / Space / ArrowLeft / ArrowRight on the focused row; return
   *   true when handled
   * onSort(columnId): a sortable header was clicked
   */
  constructor({ columns, rowHeight = 26, label = "table", renderRow, onKey = () => false, onSort = null, height = null }) {
    this.columns = columns;
    this.rowHeight = rowHeight;
    this.renderRow = renderRow;
    this.onKey = onKey;
    this.onSort = onSort;
    this.rows = [];
    this.pool = [];
    this.focusIndex = -1;
    this.uid = `vt${++tableCount}`;
    this.pending = false;

    this.header = h("div", { class: "vt-header", role: "row" });
    this.spacer = h("div", { class: "vt-spacer" });
    this.viewport = h("div", {
      class: "vt-viewport",
      role: "treegrid",
      tabindex: "0",
      "aria-label": label,
      "aria-rowcount": "0",
    }, this.spacer);
    this.el = h("div", { class: "vt" }, this.header, this.viewport);
    this.el.style.setProperty("--vt-columns", columns.map((c) => c.width).join(" "));
    this.el.style.setProperty("--vt-row-height", rowHeight + "px");
    if (height) this.viewport.style.height = height;
    this.renderHeader(null);

    this.viewport.addEventListener("scroll", () => this.schedule(), { passive: true });
    this.viewport.addEventListener("keydown", (e) => this.keydown(e));
    this.viewport.addEventListener("click", (e) => {
      const rowEl = e.target.closest(".vt-row");
      if (rowEl && rowEl.dataset.index !== undefined) this.setFocus(Number(rowEl.dataset.index), false);
    });
    this.viewport.addEventListener("focus", () => {
      if (this.focusIndex < 0 && this.rows.length) this.setFocus(0, true);
    });
    if (typeof ResizeObserver !== "undefined") new ResizeObserver(() => this.schedule()).observe(this.viewport);
  }

  renderHeader(sort) {
    const cells = this.columns.map((c) => {
      const sorted = sort && sort.column === c.id ? sort.direction : null;
      const ariaSort = sorted === "asc" ? "ascending" : sorted === "desc" ? "descending" : "none";
      if (!c.sortable || !this.onSort) return h("div", { class: "vt-th", role: "columnheader" }, c.label);
      return h("div", { class: "vt-th", role: "columnheader", "aria-sort": ariaSort },
        h("button", { type: "button", class: "vt-sort", title: `Sort by ${c.label}`, onclick: () => this.onSort(c.id) },
          c.label, h("span", { class: "vt-arrow", "aria-hidden": "true" }, sorted === "asc" ? " ▲" : sorted === "desc" ? " ▼" : "")));
    });
    this.header.replaceChildren(...cells);
  }

  /** New rows; keeps the scroll position unless `resetScroll`. */
  setRows(rows, { resetScroll = false } = {}) {
    this.rows = rows;
    this.spacer.style.height = rows.length * this.rowHeight + "px";
    this.viewport.setAttribute("aria-rowcount", String(rows.length));
    if (resetScroll) this.viewport.scrollTop = 0;
    if (this.focusIndex >= rows.length) this.focusIndex = rows.length - 1;
    for (const el of this.pool) el._row = undefined; // contents may have changed under the same index
    this.paint();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.paint();
    });
  }

  /** Lay out only the rows that intersect the viewport. */
  paint() {
    const started = performance.now();
    const rh = this.rowHeight;
    const height = this.viewport.clientHeight || 600;
    const first = Math.max(0, Math.floor(this.viewport.scrollTop / rh) - OVERSCAN);
    const last = Math.min(this.rows.length, Math.ceil((this.viewport.scrollTop + height) / rh) + OVERSCAN);
    const needed = last - first;
    while (this.pool.length < needed) {
      const el = h("div", { class: "vt-row", role: "row" });
      this.pool.push(el);
      this.viewport.appendChild(el);
    }
    for (let i = 0; i < this.pool.length; i++) {
      const el = this.pool[i];
      const index = first + i;
      if (index >= last) {
        if (!el.hidden) el.hidden = true;
        continue;
      }
      el.hidden = false;
      const row = this.rows[index];
      if (el._row !== row || el._index !== index) {
        el._row = row;
        el._index = index;
        el.dataset.index = String(index);
        el.id = `${this.uid}-r${index}`;
        el.setAttribute("aria-rowindex", String(index + 1));
        el.style.transform = `translateY(${index * rh}px)`;
        this.renderRow(el, row, index);
      }
      el.classList.toggle("focused", index === this.focusIndex);
    }
    // the benchmark reads these: script time per paint, apart from the browser's own layout
    this.paints = (this.paints || 0) + 1;
    this.paintMs = (this.paintMs || 0) + performance.now() - started;
  }

  setFocus(index, scroll = true) {
    if (!this.rows.length) return;
    this.focusIndex = Math.max(0, Math.min(this.rows.length - 1, index));
    this.viewport.setAttribute("aria-activedescendant", `${this.uid}-r${this.focusIndex}`);
    if (scroll) {
      const top = this.focusIndex * this.rowHeight;
      const vh = this.viewport.clientHeight;
      if (top < this.viewport.scrollTop) this.viewport.scrollTop = top;
      else if (top + this.rowHeight > this.viewport.scrollTop + vh) this.viewport.scrollTop = top + this.rowHeight - vh;
    }
    this.paint();
  }

  keydown(e) {
    const page = Math.max(1, Math.floor(this.viewport.clientHeight / this.rowHeight) - 1);
    const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page };
    if (e.key in moves) this.setFocus(this.focusIndex + moves[e.key]);
    else if (e.key === "Home") this.setFocus(0);
    else if (e.key === "End") this.setFocus(this.rows.length - 1);
    else if (["Enter", " ", "ArrowLeft", "ArrowRight"].includes(e.key) && this.focusIndex >= 0) {
      if (!this.onKey(this.rows[this.focusIndex], e.key, this.focusIndex)) return;
    } else return;
    e.preventDefault();
  }
}

/** Indentation of a tree row's first cell. */
export function indent(depth) {
  return `${0.4 + depth * 1.1}em`;
}

/** Fill a group row of a tree table: caret, scope label, variable count, then `extras`. */
export function renderGroupRow(el, row, toggle, extras = []) {
  el.className = "vt-row group";
  el.setAttribute("aria-expanded", row.open ? "true" : "false");
  el.setAttribute("aria-level", String(row.depth + 1));
  const first = h("div", { class: "vt-td group-cell", role: "gridcell" },
    h("button", { type: "button", class: "caret", tabindex: "-1", "aria-label": row.open ? "Collapse" : "Expand", onclick: () => toggle(row) },
      row.open ? "▾" : "▸"),
    h("span", { class: "group-label", title: row.node.path }, row.node.label),
    h("span", { class: "group-total" }, `${row.node.total.toLocaleString()} variables`), extras);
  first.style.paddingLeft = indent(row.depth);
  el.replaceChildren(first);
}

/** Keys on a tree table's row: Enter/Space toggle a group, Left closes it, Right opens it. */
export function treeKey(row, key, toggle) {
  if (row.type !== "group") return false;
  if ((key === "ArrowLeft" && !row.open) || (key === "ArrowRight" && row.open)) return false;
  toggle(row);
  return true;
}

/** Toggle a scope in a collapsed set. */
export function toggleIn(collapsed, path) {
  if (collapsed.has(path)) collapsed.delete(path);
  else collapsed.add(path);
}
