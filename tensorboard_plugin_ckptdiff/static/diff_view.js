/** The diff: verdict banner (with the fix one click away), status chips, search, the layer tree table. */

import { h, middleText } from "./dom.js";
import { CAST_LABEL, STATUSES, STATUS_INFO, statusLabel } from "./status.js";
import { detailText, shapeText } from "./format.js";
import { filterEntries, sortEntries } from "./filter.js";
import { allPaths, buildTree, flatten } from "./tree.js";
import { indent, renderGroupRow, toggleIn, treeKey, VirtualTable } from "./table.js";
import { createFixDrawer, firstSnippetTitle } from "./fix_panel.js";

// Shape and dtype share a column per side, so names and details get the width.
const COLUMNS = [
  { id: "status", label: "Status", width: "10.5em", sortable: true },
  { id: "base_name", label: "Base variable (name, then key)", width: "minmax(10em, 1.5fr)", sortable: true },
  { id: "base_shape", label: "Shape · dtype", width: "minmax(10.5em, 0.7fr)", sortable: true },
  { id: "target_name", label: "Target variable (name, then key)", width: "minmax(10em, 1.5fr)", sortable: true },
  { id: "target_shape", label: "Shape · dtype", width: "minmax(10.5em, 0.7fr)", sortable: true },
  { id: "detail", label: "Detail", width: "minmax(12em, 2fr)", sortable: true },
];
const DETAIL_COLUMN = COLUMNS.findIndex((c) => c.id === "detail");
const SHAPE_COLUMN = COLUMNS.findIndex((c) => c.id === "base_shape");
const LINE_PX = 17; // a line of the table's text
const ROW_PAD_PX = 9;
const GROUP_ROW_PX = 26;
const MAX_LINES = 4; // longer details are clamped; the whole text is on hover
const CHAR_PX = 6.6; // average width of a character of the detail text (12px sans-serif)
const MONO_PX = 7.3; // a character of a shape (12px monospace)

export function statusBadge(status, extra = "") {
  const info = STATUS_INFO[status] || { icon: "?", label: status, hint: "" };
  return h("span", { class: `status status-${status}${extra}`, title: info.hint },
    h("span", { class: "status-icon", "aria-hidden": "true" }, info.icon), info.label);
}

/** A match the loader would still not restore (the entry says `restored: false`). */
export function notRestored(entry) {
  return entry.restored === false && entry.status === "match";
}

/**
 * The verdict, the pair it is about, and the fix one click away (`onFix`; null: no fix). `cross`:
 * {base, target} run names when the pair crosses runs.
 */
export function verdictBanner(report, { cross = null, onFix = null, fixTitle = "" } = {}) {
  const ok = report.restorable;
  const fix = onFix
    ? h("div", { class: "verdict-fix" },
      h("button", { type: "button", class: "fix-button", "aria-haspopup": "dialog", "aria-controls": "fix-drawer", onclick: onFix }, "Fix ▸"),
      fixTitle ? h("span", { class: "fix-title" }, fixTitle) : null)
    : null;
  return h("div", { class: `verdict ${ok ? "verdict-ok" : "verdict-bad"}`, role: "status", "aria-live": "polite" },
    h("span", { class: "verdict-icon", "aria-hidden": "true" }, ok ? "✓" : "✗"),
    h("div", { class: "verdict-body" },
      h("div", { class: "verdict-title" }, ok ? "Restorable" : "Not restorable",
        h("span", { class: `resumable ${report.resumable ? "yes" : "no"}`, title: "Resuming training also needs the optimizer state and counters" },
          report.resumable ? "resumable ✓" : "not resumable ✗"),
        h("span", { class: "mode", title: "The loader whose matching rule was applied" }, `mode: ${report.mode}`),
        cross ? h("span", { class: "cross-run-badge", title: `The model is ${cross.base}'s, the checkpoint ${cross.target}'s` }, "cross-run") : null),
      h("div", { class: "verdict-text" }, report.verdict)),
    fix);
}

export function legend() {
  return h("div", { class: "legend", "aria-label": "Legend" },
    STATUSES.map((s) => h("span", { class: "legend-item" }, statusBadge(s), h("span", { class: "legend-hint" }, STATUS_INFO[s].hint))),
    h("span", { class: "legend-item" }, statusBadge("match", " not-restored"), h("span", { class: "legend-hint" }, "paired, but the loader would not restore it")));
}

/** A side of a row: the readable name first, the exact key under it when it differs. */
function variableCell(v, depth, absentText) {
  const cell = h("div", { class: "vt-td var" + (v ? "" : " absent"), role: "gridcell" });
  if (depth !== null) cell.style.paddingLeft = indent(depth);
  if (!v) {
    cell.append(h("span", { class: "var-name" }, "—"));
    cell.title = absentText;
    return cell;
  }
  cell.append(middleText(v.name, "var-name"));
  if (v.key !== v.name) cell.append(middleText(v.key, "var-key mono"));
  return cell;
}

function shapeCell(v, cls, dtypeTitle) {
  if (!v) return h("div", { class: "vt-td", role: "gridcell" });
  return h("div", { class: "vt-td mono shape " + cls.trim(), role: "gridcell", title: dtypeTitle || `${shapeText(v.shape)} ${v.dtype}` },
    h("span", { class: "shape-text" }, shapeText(v.shape)), " ", h("span", { class: "dtype-text" }, v.dtype));
}

/**
 * Mount the diff of `report` into `container`. `view` is the part of the state it reads
 * (query, statuses, sort); `onViewChange(patch)` reports the user's changes so the URL
 * follows; `cross` marks a pair whose sides come from different runs.
 */
export function renderDiff(container, report, view, { onViewChange, cross = null }) {
  const current = { query: view.query || "", statuses: [...(view.statuses || [])], sort: view.sort || null };
  const collapsed = new Set();
  let grouped = true;
  let tree = null;
  let flat = null;

  const drawer = createFixDrawer(report.fix);
  const chipBar = h("div", { class: "chips", role: "toolbar", "aria-label": "Filter by status" });
  const search = h("input", {
    type: "search", class: "search", placeholder: "Search names and keys (substring or /regex/)",
    "aria-label": "Search names and keys", value: current.query,
  });
  search.value = current.query;
  const searchError = h("span", { class: "search-error", role: "status" });
  const shownCount = h("span", { class: "shown-count", role: "status" });
  const groupToggle = h("input", { type: "checkbox", checked: true, id: "group-toggle" });
  const legendEl = legend();
  const table = new VirtualTable({
    columns: COLUMNS,
    label: "Variables of the diff, grouped by layer",
    renderRow,
    onKey,
    heightOf,
    // the grid takes what the window has left under it, above the legend
    maxHeight: () => Math.max(160, window.innerHeight - table.viewport.getBoundingClientRect().top - legendEl.offsetHeight - 28),
    onSort: (column) => {
      const same = current.sort && current.sort.column === column;
      current.sort = same && current.sort.direction === "asc" ? { column, direction: "desc" } : same ? null : { column, direction: "asc" };
      table.renderHeader(current.sort);
      changed(true);
    },
  });
  table.renderHeader(current.sort);

  // How many characters a line of the wrapping columns holds, from their widths on screen.
  let detailChars = 60;
  let shapeChars = 16;
  /** Whether the widths changed since the rows' heights were worked out. */
  function measure() {
    const before = detailChars + "/" + shapeChars;
    const width = (i) => (table.header.children[i] ? table.header.children[i].getBoundingClientRect().width - 12 : 0);
    if (width(DETAIL_COLUMN) > 0) detailChars = Math.max(10, Math.floor(width(DETAIL_COLUMN) / CHAR_PX));
    if (width(SHAPE_COLUMN) > 0) shapeChars = Math.max(6, Math.floor(width(SHAPE_COLUMN) / MONO_PX));
    return before !== detailChars + "/" + shapeChars;
  }

  // Heights are worked out for every row before the first is drawn (100,000 of them), so
  // from lengths alone, without building the texts: the shape's "(a, b)" and the detail's
  // prefix (detailText adds at most ~20 characters to a renamed or dtype row).
  function shapeLines(v) {
    if (!v || !v.shape) return 1;
    let length = 2 + v.dtype.length + 1 + (v.shape.length === 1 ? 1 : 0);
    for (const d of v.shape) length += (d === null ? 1 : String(d).length) + 2;
    return length <= shapeChars ? 1 : 1 + Math.ceil((length - v.dtype.length) / shapeChars);
  }

  function heightOf(row) {
    if (row.type === "group") return GROUP_ROW_PX;
    const e = row.item;
    const b = e.base;
    const t = e.target;
    const keyed = (b && b.key !== b.name) || (t && t.key !== t.name) || notRestored(e);
    const detail = (e.detail ? e.detail.length : 0) + (e.status === "renamed" || e.status === "dtype_mismatch" ? 20 : 0);
    const lines = Math.min(MAX_LINES, Math.max(keyed ? 2 : 1, Math.ceil(detail / detailChars), shapeLines(b), shapeLines(t)));
    return lines === 1 ? GROUP_ROW_PX : ROW_PAD_PX + lines * LINE_PX;
  }

  function renderChips() {
    const pressed = new Set(current.statuses);
    chipBar.replaceChildren(...STATUSES.map((s) => {
      const count = report.summary[s] || 0;
      return h("button", {
        type: "button",
        class: `chip status-${s}`,
        "aria-pressed": pressed.has(s) ? "true" : "false",
        dataset: { status: s },
        title: `Show only ${statusLabel(s)} rows (click again to show all)`,
        disabled: count === 0 && !pressed.has(s),
        onclick: () => {
          const set = new Set(current.statuses);
          if (set.has(s)) set.delete(s);
          else set.add(s);
          current.statuses = STATUSES.filter((x) => set.has(x));
          renderChips();
          changed(true);
        },
      }, h("span", { class: "status-icon", "aria-hidden": "true" }, STATUS_INFO[s].icon),
      `${STATUS_INFO[s].label} `, h("span", { class: "chip-count" }, String(count)));
    }));
  }

  function rebuild(resetScroll) {
    const { rows, error } = filterEntries(report.entries, { statuses: new Set(current.statuses), query: current.query });
    searchError.textContent = error || "";
    search.classList.toggle("invalid", !!error);
    const ordered = current.sort ? sortEntries(rows, current.sort.column, current.sort.direction) : rows;
    shownCount.textContent = `${ordered.length.toLocaleString()} of ${report.entries.length.toLocaleString()} rows`;
    tree = grouped ? buildTree(ordered) : null;
    flat = grouped ? null : ordered.map((item) => ({ type: "item", item, depth: 0 }));
    reflow(resetScroll);
  }

  // Opening or closing a scope only re-flattens the tree it already has.
  function reflow(resetScroll) {
    measure();
    table.setRows(tree ? flatten(tree, collapsed) : flat, { resetScroll });
  }

  function changed(resetScroll) {
    rebuild(resetScroll);
    onViewChange({ ...current });
  }

  function toggle(row) {
    toggleIn(collapsed, row.node.path);
    reflow(false);
  }

  function onKey(row, key) {
    return treeKey(row, key, toggle);
  }

  function renderRow(el, row) {
    if (row.type === "group") {
      const node = row.node;
      const problems = STATUSES.filter((s) => s !== "match" && node.counts[s]).map((s) =>
        h("span", { class: `mini status-${s}`, title: `${node.counts[s]} ${statusLabel(s)}` },
          h("span", { "aria-hidden": "true" }, STATUS_INFO[s].icon), ` ${node.counts[s]}`));
      renderGroupRow(el, row, toggle, problems);
      return;
    }
    const e = row.item;
    const unrestored = notRestored(e);
    el.className = `vt-row item row-${e.status}${unrestored ? " not-restored" : ""}`;
    el.removeAttribute("aria-expanded");
    el.setAttribute("aria-level", String(row.depth + 1));
    const shapeCls = e.status === "shape_mismatch" ? "differs" : "";
    const dtypeCls = e.status === "dtype_mismatch" ? " differs-dtype" : "";
    const castCls = e.status === "dtype_mismatch" && e.cast ? ` cast-${e.cast}` : "";
    const status = h("div", { class: "vt-td", role: "gridcell" }, statusBadge(e.status, unrestored ? " not-restored" : ""));
    if (unrestored) status.append(h("span", { class: "not-restored-note", title: "paired, but the loader would not restore it" }, "not restored"));
    const detail = detailText(e);
    el.replaceChildren(
      status,
      variableCell(e.base, row.depth, "not in the base"),
      shapeCell(e.base, shapeCls + dtypeCls),
      variableCell(e.target, null, "not in the target"),
      shapeCell(e.target, shapeCls + dtypeCls + castCls, e.target && castCls ? `${e.target.dtype}: ${CAST_LABEL[e.cast]}` : ""),
      h("div", { class: "vt-td detail" + castCls, role: "gridcell", title: detail || null }, h("span", { class: "detail-text" }, detail)),
    );
  }

  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    // a 100k-row filter per keystroke is wasted work; wait for a pause in typing
    timer = setTimeout(() => {
      current.query = search.value;
      changed(true);
    }, 120);
  });
  search.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown") {
      e.preventDefault();
      table.viewport.focus();
    }
  });
  groupToggle.addEventListener("change", () => {
    grouped = groupToggle.checked;
    rebuild(true);
  });

  const expandAll = h("button", { type: "button", onclick: () => { collapsed.clear(); reflow(false); } }, "Expand all");
  const collapseAll = h("button", { type: "button", onclick: () => { if (tree) for (const p of allPaths(tree)) collapsed.add(p); reflow(true); } }, "Collapse all");

  renderChips();
  const hasFix = drawer.hasFix;
  container.replaceChildren(
    verdictBanner(report, { cross, onFix: hasFix ? () => drawer.open() : null, fixTitle: firstSnippetTitle(report.fix) }),
    chipBar,
    h("div", { class: "toolbar" }, search, searchError,
      h("label", { class: "toggle" }, groupToggle, " group by layer"), expandAll, collapseAll, shownCount),
    table.el,
    legendEl,
    drawer.el,
  );
  rebuild(true);
  // Column widths are known once the table is in the page: heights follow them.
  requestAnimationFrame(() => { if (table.el.isConnected && measure()) reflow(false); });
  return { table, drawer };
}
