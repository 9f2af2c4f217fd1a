/**
 * What the tab compares: the view and the pair it opens on, the target a base is paired with,
 * and whether a pair crosses runs. Pure functions of the /runs listing and the overview's
 * rows (the server decides which runs belong together and which architecture a run's model
 * is: /runs "group", /overview "base" and "target"); index.js calls them.
 */

export const refOf = (type, record) => `${type}:${record.id}`;

/** Every record of one type across runs, each with its run. */
export function allOf(runs, type) {
  const out = [];
  for (const run of runs || []) {
    for (const r of run[type === "checkpoint" ? "checkpoints" : "architectures"] || []) {
      out.push({ ...r, run: r.run ?? run.run });
    }
  }
  return out;
}

/** The record a ref names, with its type, or null when the listing does not have it. */
export function findRef(runs, ref) {
  if (!ref) return null;
  const i = ref.indexOf(":");
  const type = ref.slice(0, i);
  const id = ref.slice(i + 1);
  if (type !== "checkpoint" && type !== "architecture") return null;
  const record = allOf(runs, type).find((r) => r.id === id);
  return record ? { type, record } : null;
}

/** The overview row (a run and the checkpoint-only runs beside it) a run belongs to. */
export function groupOf(runs, runName) {
  const run = (runs || []).find((r) => r.run === runName);
  return run && run.group ? run.group : runName;
}

/** API.md's order of a run's checkpoints: by step, then wall time (unknown steps last). */
export function byAge(a, b) {
  const sa = a.step ?? null;
  const sb = b.step ?? null;
  if ((sa === null) !== (sb === null)) return sa === null ? 1 : -1;
  if (sa !== sb) return sa - sb;
  return (a.wall_time ?? 0) - (b.wall_time ?? 0);
}

/**
 * The checkpoint a base is compared with: the newest readable checkpoint of the base's run
 * (with the checkpoint-only runs beside it), other than the base itself. Null when that run
 * has none: never an unreadable item, never another run's.
 */
export function pairTarget(runs, baseRef) {
  const base = findRef(runs, baseRef);
  if (!base) return null;
  const group = groupOf(runs, base.record.run);
  const candidates = allOf(runs, "checkpoint")
    .filter((c) => c.status === "ok" && groupOf(runs, c.run) === group)
    .filter((c) => !(base.type === "checkpoint" && c.id === base.record.id))
    .sort(byAge);
  return candidates.length ? refOf("checkpoint", candidates[candidates.length - 1]) : null;
}

/** {base, target} run groups when the pair crosses runs, else null. */
export function crossRun(runs, baseRef, targetRef) {
  const base = findRef(runs, baseRef);
  const target = findRef(runs, targetRef);
  if (!base || !target) return null;
  const b = groupOf(runs, base.record.run);
  const t = groupOf(runs, target.record.run);
  return b === t ? null : { base: b, target: t };
}

/** The first overview row (problems first) with a pair to open. */
export function firstPair(rows) {
  const row = (rows || []).find((r) => r.base && r.target);
  return row ? { base: row.base, target: row.target } : { base: null, target: null };
}

/**
 * The view and pair to show, from what a link asked for (`state`: view, base, target) and
 * what the server knows now (`listing`: {runs, rows, rowCount} — rows in the overview's
 * order, rowCount counting them all). Returns {view, base, target}; a null ref means "not
 * known yet": ask again when the listing changes.
 *
 * - A link that names a pair opens it, as it always did (an old link has no view: the diff).
 * - A link that names only a base gets that run's newest readable checkpoint.
 * - Otherwise: with more than one run, the overview; with one, its model against its newest
 *   readable checkpoint. A diff or drift view asked for without a pair opens the overview's
 *   first pair.
 */
export function chooseDefaults(state, { runs = [], rows = [], rowCount = rows.length } = {}) {
  let { view, base, target } = state;
  if (base && !target) target = pairTarget(runs, base);
  if (!base && target) {
    const record = findRef(runs, target);
    const row = record && rows.find((r) => r.runs.includes(record.record.run));
    base = row ? row.base : null;
  }
  if (base || target) return { view: view || "diff", base, target };
  if (!view) view = rowCount > 1 ? "overview" : "diff";
  if (view === "diff" || view === "drift") ({ base, target } = firstPair(rows));
  return { view, base, target };
}
