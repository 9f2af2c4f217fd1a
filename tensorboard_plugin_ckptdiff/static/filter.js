/** Which diff rows to show and in what order: status chips, substring or /regex/ search, column sort. */

import { statusRank } from "./status.js";
import { shapeText } from "./format.js";

/**
 * A predicate for the search box. "/re/flags" is a regular expression, anything else a
 * case-insensitive substring. Returns {test, error}: a bad regex matches nothing and says why,
 * so a half-typed pattern never throws out of an input handler.
 */
export function compileQuery(query) {
  const q = (query || "").trim();
  if (!q) return { test: () => true, error: null };
  const m = /^\/(.*)\/([a-z]*)$/s.exec(q);
  if (m && m[1]) {
    let re;
    try {
      re = new RegExp(m[1], m[2].replace(/[gy]/g, ""));
    } catch (e) {
      return { test: () => false, error: `bad regular expression: ${e.message}` };
    }
    return { test: (s) => re.test(s), error: null };
  }
  const needle = q.toLowerCase();
  return { test: (s) => s.toLowerCase().includes(needle), error: null };
}

/**
 * Whether a row matches: any of both sides' names and keys, each on its own (so ^ and $ of a
 * regex anchor to one name), and either vocabulary finds the row.
 */
export function entryMatches(entry, test) {
  for (const side of [entry.base, entry.target]) {
    if (!side) continue;
    if (test(side.name) || (side.key !== side.name && test(side.key))) return true;
  }
  return false;
}

/** Entries whose status is in `statuses` (empty or null: all) and whose names match `query`. */
export function filterEntries(entries, { statuses = null, query = "" } = {}) {
  const wanted = statuses && statuses.size ? statuses : null;
  const { test, error } = compileQuery(query);
  const rows = [];
  const q = (query || "").trim();
  for (const e of entries) {
    if (wanted && !wanted.has(e.status)) continue;
    if (q && !entryMatches(e, test)) continue;
    rows.push(e);
  }
  return { rows, error };
}

function numel(shape) {
  if (!shape) return -1;
  let n = 1;
  for (const d of shape) n *= d === null ? 0 : d;
  return n;
}

// Each sortable column: a key function. Shapes sort by element count, then by text.
export const SORT_KEYS = {
  status: (e) => statusRank(e.status),
  base_name: (e) => (e.base ? e.base.name : null),
  base_shape: (e) => (e.base ? numel(e.base.shape) : null),
  base_dtype: (e) => (e.base ? e.base.dtype : null),
  target_key: (e) => (e.target ? e.target.key : null),
  target_shape: (e) => (e.target ? numel(e.target.shape) : null),
  target_dtype: (e) => (e.target ? e.target.dtype : null),
  detail: (e) => e.detail || "",
};

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

function compareValues(a, b) {
  if (typeof a === "number" && typeof b === "number") return a - b;
  return collator.compare(String(a), String(b));
}

/**
 * A sorted copy. Rows without a value for the column (the absent side) go last whatever the
 * direction; ties keep their original order (the file's or the model's), which is meaningful.
 */
export function sortEntries(entries, column, direction = "asc") {
  const key = SORT_KEYS[column];
  if (!key) return entries.slice();
  const sign = direction === "desc" ? -1 : 1;
  const keyed = entries.map((e, i) => ({ e, i, k: key(e) }));
  keyed.sort((x, y) => {
    const xn = x.k === null || x.k === undefined;
    const yn = y.k === null || y.k === undefined;
    if (xn || yn) return xn === yn ? x.i - y.i : xn ? 1 : -1;
    return sign * compareValues(x.k, y.k) || x.i - y.i;
  });
  return keyed.map((x) => x.e);
}

export { shapeText };
