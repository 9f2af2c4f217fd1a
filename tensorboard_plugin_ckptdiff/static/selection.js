/** The comparison shown on first open, and the options the pickers offer, from the /runs listing. */

export const refOf = (type, record) => `${type}:${record.id}`;

function newer(a, b) {
  // by wall time, then step; the listing order (oldest first) breaks ties
  const wa = a.wall_time ?? -Infinity;
  const wb = b.wall_time ?? -Infinity;
  if (wa !== wb) return wa > wb;
  return (a.step ?? -Infinity) >= (b.step ?? -Infinity);
}

function newest(records) {
  let best = null;
  for (const r of records) if (best === null || newer(r, best)) best = r;
  return best;
}

/** How many leading path components two '/'-separated paths share. */
export function sharedPathLength(a, b) {
  const x = (a || "").split("/").filter(Boolean);
  const y = (b || "").split("/").filter(Boolean);
  let n = 0;
  while (n < x.length && n < y.length && x[n] === y[n]) n += 1;
  return n;
}

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

const usable = (r) => r.status === "ok";

/**
 * The first comparison: the newest readable architecture against the newest readable
 * checkpoint that shares the longest path with that architecture's run (Keras writes
 * exp/train beside exp/ckpt). Without an architecture: the newest checkpoint against the one
 * before it in the same run, else against itself. Returns {base, target} refs (or nulls).
 */
export function defaultSelection(runs) {
  const checkpoints = allOf(runs, "checkpoint").filter(usable);
  const architectures = allOf(runs, "architecture").filter(usable);
  if (!checkpoints.length) {
    const arch = newest(architectures);
    return { base: arch ? refOf("architecture", arch) : null, target: null };
  }
  const arch = newest(architectures);
  if (arch) {
    const runPath = arch.run || "";
    let best = -1;
    for (const c of checkpoints) best = Math.max(best, closeness(runPath, c));
    const near = checkpoints.filter((c) => closeness(runPath, c) === best);
    return { base: refOf("architecture", arch), target: refOf("checkpoint", newest(near)) };
  }
  const target = newest(checkpoints);
  const sameRun = checkpoints.filter((c) => c.run === target.run && c.id !== target.id);
  const base = sameRun.length ? newest(sameRun) : target;
  return { base: refOf("checkpoint", base), target: refOf("checkpoint", target) };
}

function closeness(runPath, checkpoint) {
  return Math.max(sharedPathLength(runPath, checkpoint.run), sharedPathLength(runPath, checkpoint.path));
}

/** The record a ref names, with its type, or null when the listing no longer has it. */
export function findRef(runs, ref) {
  if (!ref) return null;
  const i = ref.indexOf(":");
  const type = ref.slice(0, i);
  const id = ref.slice(i + 1);
  if (type !== "checkpoint" && type !== "architecture") return null;
  const record = allOf(runs, type).find((r) => r.id === id);
  return record ? { type, record } : null;
}
