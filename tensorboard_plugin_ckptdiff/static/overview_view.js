/** The overview: one row per run — its model, its newest readable checkpoint, the verdict, and a mark per checkpoint — problems first. */

import { h, middleText, searchBox } from "./dom.js";
import { STATUSES, STATUS_INFO, statusLabel } from "./status.js";
import { baseName } from "./format.js";

// What a row says (the server's /overview "outcome"), in the server's order.
export const OUTCOME_INFO = {
  not_restorable: { label: "Not restorable", icon: "✗", tone: "bad" },
  changed: { label: "Changed during the run", icon: "◐", tone: "warn", hint: "the newest checkpoint restores, an older one does not: the model changed mid-training" },
  failed: { label: "Cannot compare", icon: "!", tone: "bad" },
  not_resumable: { label: "Restorable, not resumable", icon: "✓", tone: "warn", hint: "the weights restore; the optimizer state or counters would not" },
  pending: { label: "Checking…", icon: "○", tone: "pending" },
  restorable: { label: "Restorable", icon: "✓", tone: "ok" },
  no_architecture: { label: "No model found", icon: "–", tone: "quiet", hint: "only checkpoints: each mark says whether it restores into the newest one" },
  no_checkpoint: { label: "No checkpoint", icon: "–", tone: "quiet" },
  unreadable: { label: "Unreadable", icon: "⚠", tone: "quiet" },
};
// Rows that cannot be judged stay out of the way, folded at the end.
const QUIET = new Set(["no_checkpoint", "unreadable"]);

// One mark per checkpoint of a row (the server's timeline "mark").
export const MARK_INFO = {
  restorable: { icon: "✓", label: "restores" },
  not_restorable: { icon: "✗", label: "does not restore" },
  failed: { icon: "!", label: "could not be compared" },
  pending: { icon: "○", label: "not checked yet" },
  incomplete: { icon: "…", label: "still being written" },
  unreadable: { icon: "?", label: "cannot be read" },
};
const MARKS_SHOWN = 40; // the newest; a long run says how many older ones it leaves out

export function outcomeInfo(outcome) {
  return OUTCOME_INFO[outcome] || { label: outcome, icon: "?", tone: "quiet" };
}

/** "8 runs: 4 not restorable, 4 restorable" from the server's counts per outcome. */
export function countsText(total, counts) {
  const parts = Object.keys(OUTCOME_INFO).filter((o) => counts[o]).map((o) => `${counts[o]} ${outcomeInfo(o).label.toLowerCase()}`);
  const runs = `${total.toLocaleString()} run${total === 1 ? "" : "s"}`;
  return parts.length ? `${runs}: ${parts.join(", ")}` : runs;
}

/** The label of an item in its run: "exp/ckpt · ckpt-3" (the pickers say the same). */
export function itemText(record) {
  return `${record.run || "."} · ${baseName(record.path || record.id)}`;
}

export function architectureText(a) {
  return `${a.run || "."} · ${a.source}` + (a.step !== null && a.step !== undefined ? ` · step ${a.step}` : "");
}

const stepText = (r) => (r.step !== null && r.step !== undefined ? ` · step ${r.step}` : "");

/** The verdict sentence without the "Not restorable:" its badge already says. */
export function sentence(verdict) {
  const text = verdict.replace(/^(Not restorable|Restorable):\s*/, "");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A record of a row: what it is first, and under it the run it comes from when that is not the row's own. */
function recordCell(cls, main, run, rowRun) {
  return h("td", { class: cls }, middleText(main), run !== rowRun ? middleText(run || ".", "ov-sub") : null);
}

function statusCounts(summary) {
  const shown = STATUSES.filter((s) => summary[s]);
  return h("span", { class: "ov-counts" }, shown.map((s) =>
    h("span", { class: `mini status-${s}`, title: `${summary[s]} ${statusLabel(s)} (weights)` },
      h("span", { "aria-hidden": "true" }, STATUS_INFO[s].icon), ` ${summary[s]} ${statusLabel(s)}`)));
}

function verdictCell(row) {
  const info = outcomeInfo(row.outcome);
  const badge = h("span", { class: `ov-badge tone-${info.tone}`, title: info.hint || null },
    h("span", { class: "ov-icon", "aria-hidden": "true" }, info.icon), info.label);
  const parts = [badge];
  const v = row.verdict;
  if (v && v.state === "ready") {
    parts.push(statusCounts(v.summary));
    parts.push(h("div", { class: "ov-sentence" }, sentence(v.verdict)));
  } else if (v && v.state === "failed") {
    parts.push(h("div", { class: "ov-sentence" }, v.error));
  } else if (info.hint && row.outcome !== "changed") {
    parts.push(h("div", { class: "ov-sentence" }, info.hint));
  }
  const newest = row.checkpoint && row.checkpoint.id;
  const older = row.timeline.filter((m) => m.mark === "not_restorable" && m.id !== newest).length;
  if (older) {
    const into = row.architecture ? "this model" : "the newest one: the structure changed";
    parts.push(h("div", { class: "ov-sentence tone-warn" }, `${older} older checkpoint${older === 1 ? " does" : "s do"} not restore into ${into}.`));
  }
  if (row.unreadable) parts.push(h("div", { class: "ov-quiet" }, `${row.unreadable} unreadable checkpoint${row.unreadable === 1 ? "" : "s"}`));
  return h("td", { class: "ov-verdict" }, parts);
}

function timelineCell(row, onOpen) {
  const marks = row.timeline.slice(-MARKS_SHOWN);
  const left = row.timeline.length - marks.length;
  return h("td", { class: "ov-timeline" },
    left > 0 ? h("span", { class: "ov-quiet" }, `+${left} older `) : null,
    marks.map((m) => {
      const info = MARK_INFO[m.mark] || { icon: "?", label: m.mark };
      const said = m.verdict || m.error || "";
      const title = `${m.path}${m.step !== null && m.step !== undefined ? ` (step ${m.step})` : ""}: ${info.label}${said ? "\n" + said : ""}`;
      const usable = row.base && (m.mark === "restorable" || m.mark === "not_restorable");
      return h("button", {
        type: "button", class: `ov-mark mark-${m.mark}`, title, "aria-label": title, disabled: !usable,
        onclick: (e) => { e.stopPropagation(); onOpen(row.base, `checkpoint:${m.id}`); },
      }, info.icon);
    }));
}

function rowElement(row, onOpen) {
  const others = row.runs.filter((r) => r !== row.run);
  const open = () => { if (row.base && row.target) onOpen(row.base, row.target); };
  const tr = h("tr", {
    class: `ov-row outcome-${row.outcome}`, dataset: { run: row.run, outcome: row.outcome },
    tabindex: row.base && row.target ? "0" : null, onclick: open,
    onkeydown: (e) => { if (e.key === "Enter") { e.preventDefault(); open(); } },
  },
  h("td", { class: "ov-run" }, middleText(row.run, "ov-run-name"),
    others.length ? middleText(`with ${others.join(", ")}`, "ov-sub") : null),
  row.architecture
    ? recordCell("ov-model", `${row.architecture.source}${stepText(row.architecture)}`, row.architecture.run, row.run)
    : h("td", { class: "ov-model" }, h("span", { class: "ov-quiet" }, "none found")),
  row.checkpoint
    ? recordCell("ov-checkpoint", `${baseName(row.checkpoint.path)}${stepText(row.checkpoint)}`, row.run, row.run)
    : h("td", { class: "ov-checkpoint" }, h("span", { class: "ov-quiet" }, "none readable")),
  verdictCell(row),
  timelineCell(row, onOpen));
  return tr;
}

function table(rows, onOpen, label) {
  return h("table", { class: "overview-table", "aria-label": label },
    h("thead", {}, h("tr", {}, ["Run", "Model (what it expects)", "Newest readable checkpoint", "Verdict", "Checkpoints, oldest → newest"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.map((r) => rowElement(r, onOpen))));
}

/**
 * Mount the overview in `container`. Callbacks: onOpen(baseRef, targetRef) opens a pair's
 * diff; onQuery(text) filters runs; onPage(offset) turns the page. Returns {update(body)},
 * called with each /overview answer (the filter box keeps its focus across updates).
 */
export function createOverview(container, { query = "", pageSize, onOpen, onQuery, onPage }) {
  const filter = searchBox({ placeholder: "Filter runs", value: query, cls: "ov-filter", onQuery });
  const summary = h("p", { class: "ov-summary", role: "status" });
  const progress = h("div", { class: "ov-progress" });
  const body = h("div", { class: "ov-body" });
  container.replaceChildren(h("section", { class: "overview" },
    h("div", { class: "ov-head" }, summary, filter, progress), body));

  function update(answer) {
    summary.textContent = countsText(answer.total, answer.counts || {});
    if (answer.status === "running") {
      const { done, total } = answer.progress;
      progress.replaceChildren(
        h("progress", { max: String(Math.max(1, total)), value: String(done), "aria-label": "Checkpoints read and verdicts computed" }),
        h("span", { class: "ov-quiet" }, `reading checkpoints and comparing: ${done.toLocaleString()} of ${total.toLocaleString()}`));
    } else {
      progress.replaceChildren();
    }
    const loud = answer.rows.filter((r) => !QUIET.has(r.outcome));
    const quiet = answer.rows.filter((r) => QUIET.has(r.outcome));
    const parts = [];
    if (loud.length) parts.push(table(loud, onOpen, "Runs"));
    if (quiet.length) {
      parts.push(h("details", { class: "ov-quiet-rows" },
        h("summary", {}, `${quiet.length} run${quiet.length === 1 ? "" : "s"} with nothing to compare (no checkpoint, or none readable)`),
        table(quiet, onOpen, "Runs with nothing to compare")));
    }
    if (!answer.rows.length) {
      parts.push(h("p", { class: "note" }, answer.total === 0 && !filter.value
        ? "No runs with checkpoints or models found yet."
        : "No run matches the filter."));
    }
    parts.push(pager(answer.total, answer.offset, answer.rows.length, pageSize, onPage));
    body.replaceChildren(...parts);
  }

  return { update, filter };
}

/** "Runs 1–100 of 1,000" with previous/next, when one page does not hold every item. */
export function pager(total, offset, shown, size, onPage, noun = "Runs") {
  if (total <= shown && offset === 0) return h("div", { class: "pager", hidden: true });
  return h("div", { class: "pager", role: "navigation", "aria-label": `${noun} pages` },
    h("button", { type: "button", class: "pager-previous", disabled: offset === 0, onclick: () => onPage(Math.max(0, offset - size)) }, "‹ Previous"),
    h("span", { class: "pager-text" }, `${noun} ${(offset + 1).toLocaleString()}–${(offset + shown).toLocaleString()} of ${total.toLocaleString()}`),
    h("button", { type: "button", class: "pager-next", disabled: offset + shown >= total, onclick: () => onPage(offset + size) }, "Next ›"));
}
