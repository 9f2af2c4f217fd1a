/** The diff: verdict banner, status chips, search, the layer tree table and the fix panel. */

import { h } from "./dom.js";
import { CAST_LABEL, STATUSES, STATUS_INFO, statusLabel } from "./status.js";
import { detailText, shapeText } from "./format.js";
import { filterEntries, sortEntries } from "./filter.js";
import { allPaths, buildTree, flatten } from "./tree.js";
import { indent, renderGroupRow, toggleIn, treeKey, VirtualTable } from "./table.js";
import { renderFixPanel } from "./fix_panel.js";

const COLUMNS = [
  { id: "status", label: "Status", width: "10.5em", sortable: true },
  { id: "base_name", label: "Base name", width: "minmax(11em, 1.6fr)", sortable: true },
  { id: "base_shape", label: "Shape", width: "7em", sortable: true },
  { id: "base_dtype", label: "Dtype", width: "5.5em", sortable: true },
  { id: "target_key", label: "Target key", width: "minmax(11em, 1.6fr)", sortable: true },
  { id: "target_shape", label: "Shape", width: "7em", sortable: true },
  { id: "target_dtype", label: "Dtype", width: "5.5em", sortable: true },
  { id: "detail", label: "Detail", width: "minmax(12em, 2.4fr)", sortable: true },
];

export function statusBadge(status, extra = "") {
  const info = STATUS_INFO[status] || { icon: "?", label: status, hint: "" };
  return h("span", { class: `status status-${status}${extra}`, title: info.hint },
    h("span", { class: "status-icon", "aria-hidden": "true" }, info.icon), info.label);
}

function cell(text, cls = "", title = text) {
  return h("div", { class: "vt-td " + cls, role: "gridcell", title: title || null }, text);
}

export function verdictBanner(report) {
  const ok = report.restorable;
  return h("div", { class: `verdict ${ok ? "verdict-ok" : "verdict-bad"}`, role: "status", "aria-live": "polite" },
    h("span", { class: "verdict-icon", "aria-hidden": "true" }, ok ? "✓" : "✗"),
    h("div", { class: "verdict-body" },
      h("div", { class: "verdict-title" }, ok ? "Restorable" : "Not restorable",
        h("span", { class: `resumable ${report.resumable ? "yes" : "no"}`, title: "Resuming training also needs the optimizer state and counters" },
          report.resumable ? "resumable ✓" : "not resumable ✗"),
        h("span", { class: "mode", title: "The loader whose matching rule was applied" }, `mode: ${report.mode}`)),
      h("div", { class: "verdict-text" }, report.verdict)));
}

export function legend() {
  return h("div", { class: "legend", "aria-label": "Legend" },
    STATUSES.map((s) => h("span", { class: "legend-item" }, statusBadge(s), h("span", { class: "legend-hint" }, STATUS_INFO[s].hint))));
}

/**
 * Mount the diff of `report` into `container`. `view` is the part of the state it reads and
 * writes (query, statuses, sort); `onViewChange(view)` reports the user's changes so the URL follows.
 */
export function renderDiff(container, report, view, onViewChange) {
  const collapsed = new Set();
  let grouped = true;
  let tree = null;
  let flat = null;

  const chipBar = h("div", { class: "chips", role: "toolbar", "aria-label": "Filter by status" });
  const search = h("input", {
    type: "search", class: "search", placeholder: "Search names and keys (substring or /regex/)",
    "aria-label": "Search names and keys", value: view.query || "",
  });
  search.value = view.query || "";
  const searchError = h("span", { class: "search-error", role: "status" });
  const shownCount = h("span", { class: "shown-count", role: "status" });
  const groupToggle = h("input", { type: "checkbox", checked: true, id: "group-toggle" });
  const table = new VirtualTable({
    columns: COLUMNS,
    label: "Variables of the diff, grouped by layer",
    renderRow,
    onKey,
    onSort: (column) => {
      const same = view.sort && view.sort.column === column;
      view.sort = same && view.sort.direction === "asc" ? { column, direction: "desc" } : same ? null : { column, direction: "asc" };
      table.renderHeader(view.sort);
      changed(true);
    },
  });
  table.renderHeader(view.sort);

  function renderChips() {
    const pressed = new Set(view.statuses);
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
          const set = new Set(view.statuses);
          if (set.has(s)) set.delete(s);
          else set.add(s);
          view.statuses = STATUSES.filter((x) => set.has(x));
          renderChips();
          changed(true);
        },
      }, h("span", { class: "status-icon", "aria-hidden": "true" }, STATUS_INFO[s].icon),
      `${STATUS_INFO[s].label} `, h("span", { class: "chip-count" }, String(count)));
    }));
  }

  function rebuild(resetScroll) {
    const { rows, error } = filterEntries(report.entries, { statuses: new Set(view.statuses), query: view.query });
    searchError.textContent = error || "";
    search.classList.toggle("invalid", !!error);
    const ordered = view.sort ? sortEntries(rows, view.sort.column, view.sort.direction) : rows;
    shownCount.textContent = `${ordered.length.toLocaleString()} of ${report.entries.length.toLocaleString()} rows`;
    tree = grouped ? buildTree(ordered) : null;
    flat = grouped ? null : ordered.map((item) => ({ type: "item", item, depth: 0 }));
    reflow(resetScroll);
  }

  // Opening or closing a scope only re-flattens the tree it already has.
  function reflow(resetScroll) {
    table.setRows(tree ? flatten(tree, collapsed) : flat, { resetScroll });
  }

  function changed(resetScroll) {
    rebuild(resetScroll);
    onViewChange(view);
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
    el.className = `vt-row item row-${row.item.status}`;
    el.removeAttribute("aria-expanded");
    el.setAttribute("aria-level", String(row.depth + 1));
    const e = row.item;
    const b = e.base;
    const t = e.target;
    const shapeCls = e.status === "shape_mismatch" ? "differs" : "";
    const dtypeCls = e.status === "dtype_mismatch" ? "differs" : "";
    const castCls = e.status === "dtype_mismatch" && e.cast ? ` cast-${e.cast}` : "";
    const statusCell = h("div", { class: "vt-td", role: "gridcell" }, statusBadge(e.status));
    const nameCell = cell(b ? b.name : "—", "name" + (b ? "" : " absent"), b ? `${b.name}\nkey: ${b.key}` : "not in the base");
    nameCell.style.paddingLeft = indent(row.depth);
    el.replaceChildren(
      statusCell,
      nameCell,
      cell(b ? shapeText(b.shape) : "", "mono " + shapeCls),
      cell(b ? b.dtype : "", "mono " + dtypeCls),
      cell(t ? t.key : "—", "name side-start" + (t ? "" : " absent"), t ? `${t.key}\nname: ${t.name}` : "not in the target"),
      cell(t ? shapeText(t.shape) : "", "mono " + shapeCls),
      cell(t ? t.dtype : "", "mono " + dtypeCls + castCls, t && castCls ? `${t.dtype}: ${CAST_LABEL[e.cast]}` : t ? t.dtype : ""),
      cell(detailText(e), "detail" + castCls),
    );
  }

  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    // a 100k-row filter per keystroke is wasted work; wait for a pause in typing
    timer = setTimeout(() => {
      view.query = search.value;
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
  container.replaceChildren(
    verdictBanner(report),
    chipBar,
    h("div", { class: "toolbar" }, search, searchError,
      h("label", { class: "toggle" }, groupToggle, " group by layer"), expandAll, collapseAll, shownCount),
    table.el,
    legend(),
    renderFixPanel(report.fix),
  );
  rebuild(true);
  performance.mark("ckptdiff:diff:table-built");
  container.vtable = table;
  return { table };
}
