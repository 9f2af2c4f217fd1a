/**
 * A virtual table: only the rows in view (plus a few) exist in the DOM, so 100,000 rows
 * scroll like 100. Each row's height is known before it is drawn (a fixed height, or
 * `heightOf(row)`, e.g. from how many lines its text wraps to), so positions are sums, not
 * measurements. The caller renders a row's content; this module owns the header,
 * scrolling, row recycling and keyboard focus (aria-activedescendant on the grid). The grid
 * is as tall as its rows, up to `maxHeight()`.
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
   * heightOf(row): the row's height in px (default: rowHeight for every row)
   * maxHeight(): the most the grid may take (default: 62% of the window)
   */
  constructor({ columns, rowHeight = 26, label = "table", renderRow, onKey = () => false, onSort = null,
    heightOf = null, maxHeight = () => Math.round(window.innerHeight * 0.62) }) {
    this.columns = columns;
    this.rowHeight = rowHeight;
    this.heightOf = heightOf;
    this.maxHeight = maxHeight;
    this.renderRow = renderRow;
    this.onKey = onKey;
    this.onSort = onSort;
    this.rows = [];
    this.tops = [0]; // tops[i]: where row i starts; tops[rows.length]: the total height
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

  /** Where each row starts, and the grid's height: its rows', up to maxHeight(). */
  layout() {
    const n = this.rows.length;
    const tops = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) tops[i + 1] = tops[i] + (this.heightOf ? this.heightOf(this.rows[i], i) : this.rowHeight);
    this.tops = tops;
    this.spacer.style.height = tops[n] + "px";
    this.fit();
  }

  /** The grid as tall as its rows, up to maxHeight() (the window may have changed). */
  fit() {
    const total = this.tops[this.rows.length];
    this.viewport.style.height = Math.max(this.rowHeight, Math.min(total, this.maxHeight())) + "px";
  }

  /** The row at vertical position y (px from the top of the rows). */
  indexAt(y) {
    let lo = 0;
    let hi = this.rows.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.tops[mid] <= y) lo = mid;
      else hi = mid - 1;
    }
    return Math.max(0, lo);
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
    this.layout();
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
    const height = this.viewport.clientHeight || 600;
    const top = this.viewport.scrollTop;
    const first = Math.max(0, this.indexAt(top) - OVERSCAN);
    const last = Math.min(this.rows.length, this.indexAt(top + height) + 1 + OVERSCAN);
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
        el.style.transform = `translateY(${this.tops[index]}px)`;
        el.style.height = `${this.tops[index + 1] - this.tops[index]}px`;
        this.renderRow(el, row, index);
      }
      el.classList.toggle("focused", index === this.focusIndex);
    }
  }

  setFocus(index, scroll = true) {
    if (!this.rows.length) return;
    this.focusIndex = Math.max(0, Math.min(this.rows.length - 1, index));
    this.viewport.setAttribute("aria-activedescendant", `${this.uid}-r${this.focusIndex}`);
    if (scroll) {
      const top = this.tops[this.focusIndex];
      const bottom = this.tops[this.focusIndex + 1];
      const vh = this.viewport.clientHeight;
      if (top < this.viewport.scrollTop) this.viewport.scrollTop = top;
      else if (bottom > this.viewport.scrollTop + vh) this.viewport.scrollTop = bottom - vh;
    }
    this.paint();
  }

  keydown(e) {
    const shown = this.indexAt(this.viewport.scrollTop + this.viewport.clientHeight) - this.indexAt(this.viewport.scrollTop);
    const page = Math.max(1, shown - 1);
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
