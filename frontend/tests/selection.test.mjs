import { test } from "node:test";
import assert from "node:assert/strict";
import { byAge, chooseDefaults, crossRun, findRef, firstPair, pairTarget } from "../../tensorboard_plugin_ckptdiff/static/selection.js";

const ckpt = (id, run, extra = {}) => ({ id, run, path: id, format: "tf_bundle", step: null, wall_time: null, status: "ok", error: null, ...extra });
const arch = (id, run, extra = {}) => ({ id, run, source: "model_spec", step: 0, wall_time: null, status: "ok", error: null, ...extra });
const run = (name, group, checkpoints = [], architectures = []) => ({ run: name, group, checkpoints, architectures });

// Keras's layout twice (exp/train beside exp/ckpt), as /runs lists it with its groups.
const runs = [
  run("a/ckpt", "a/train", [ckpt("a/ckpt/ckpt-1", "a/ckpt", { step: 1 }), ckpt("a/ckpt/ckpt-2", "a/ckpt", { step: 2 }),
    ckpt("a/ckpt/ckpt-3", "a/ckpt", { step: 3, status: "error", error: "truncated" })]),
  run("a/train", "a/train", [], [arch("a/train/spec", "a/train")]),
  run("b/ckpt", "b/train", [ckpt("b/ckpt/ckpt-9", "b/ckpt", { step: 9 })]),
  run("b/train", "b/train", [], [arch("b/train/spec", "b/train")]),
  run("c", "c", [ckpt("c/x", "c", { status: "pending" })]),
];
// The overview's rows, problems first, as /overview answers.
const rowOf = (name, base, target, members) => ({ run: name, runs: members, base, target });
const rows = [
  rowOf("b/train", "architecture:b/train/spec", "checkpoint:b/ckpt/ckpt-9", ["b/ckpt", "b/train"]),
  rowOf("a/train", "architecture:a/train/spec", "checkpoint:a/ckpt/ckpt-2", ["a/ckpt", "a/train"]),
];

test("a base is paired with the newest readable checkpoint of its own run", () => {
  assert.equal(pairTarget(runs, "architecture:a/train/spec"), "checkpoint:a/ckpt/ckpt-2");
  assert.equal(pairTarget(runs, "architecture:b/train/spec"), "checkpoint:b/ckpt/ckpt-9");
});

test("a checkpoint base is paired with another checkpoint of its run, never itself", () => {
  assert.equal(pairTarget(runs, "checkpoint:a/ckpt/ckpt-1"), "checkpoint:a/ckpt/ckpt-2");
  assert.equal(pairTarget(runs, "checkpoint:a/ckpt/ckpt-2"), "checkpoint:a/ckpt/ckpt-1");
});

test("a run with nothing readable pairs with nothing, not with another run's checkpoint", () => {
  assert.equal(pairTarget(runs, "checkpoint:c/x"), null);
  assert.equal(pairTarget(runs, "architecture:nope"), null);
});

test("checkpoints age by step, then wall time, unknown steps last", () => {
  const list = [ckpt("x", "r", { step: null, wall_time: 5 }), ckpt("y", "r", { step: 2 }), ckpt("z", "r", { step: 1, wall_time: 9 })];
  assert.deepEqual(list.sort(byAge).map((c) => c.id), ["z", "y", "x"]);
});

test("a pair across runs says which runs; a pair inside one (train beside ckpt) does not", () => {
  assert.deepEqual(crossRun(runs, "architecture:a/train/spec", "checkpoint:b/ckpt/ckpt-9"), { base: "a/train", target: "b/train" });
  assert.equal(crossRun(runs, "architecture:a/train/spec", "checkpoint:a/ckpt/ckpt-1"), null);
});

test("more than one run opens the overview, with no pair chosen for the user", () => {
  assert.deepEqual(chooseDefaults({ view: null, base: null, target: null }, { runs, rows, rowCount: 2 }),
    { view: "overview", base: null, target: null });
});

test("one run opens its model against its newest readable checkpoint", () => {
  assert.deepEqual(chooseDefaults({ view: null, base: null, target: null }, { runs, rows: rows.slice(1), rowCount: 1 }),
    { view: "diff", base: "architecture:a/train/spec", target: "checkpoint:a/ckpt/ckpt-2" });
});

test("one run whose checkpoints are still being read waits instead of guessing", () => {
  const pending = [rowOf("c", null, null, ["c"])];
  assert.deepEqual(chooseDefaults({ view: null, base: null, target: null }, { runs, rows: pending, rowCount: 1 }),
    { view: "diff", base: null, target: null });
});

test("a link naming a pair opens that pair in the diff, as old links did", () => {
  const linked = { view: null, base: "architecture:a/train/spec", target: "checkpoint:b/ckpt/ckpt-9" };
  assert.deepEqual(chooseDefaults(linked, { runs, rows, rowCount: 2 }), { view: "diff", base: linked.base, target: linked.target });
});

test("a link naming only a base gets its own run's checkpoint, not another run's", () => {
  assert.deepEqual(chooseDefaults({ view: null, base: "architecture:b/train/spec", target: null }, { runs, rows, rowCount: 2 }),
    { view: "diff", base: "architecture:b/train/spec", target: "checkpoint:b/ckpt/ckpt-9" });
});

test("a link naming only a target gets the model of the target's run", () => {
  assert.deepEqual(chooseDefaults({ view: null, base: null, target: "checkpoint:a/ckpt/ckpt-1" }, { runs, rows, rowCount: 2 }),
    { view: "diff", base: "architecture:a/train/spec", target: "checkpoint:a/ckpt/ckpt-1" });
});

test("the diff asked for without a pair opens the overview's first (most urgent) pair", () => {
  assert.deepEqual(chooseDefaults({ view: "diff", base: null, target: null }, { runs, rows, rowCount: 2 }),
    { view: "diff", base: rows[0].base, target: rows[0].target });
  assert.deepEqual(firstPair([]), { base: null, target: null });
});

test("a link's view is kept", () => {
  assert.equal(chooseDefaults({ view: "matrix", base: null, target: null }, { runs, rows, rowCount: 2 }).view, "matrix");
});

test("findRef finds a record by its ref and not an id that is absent", () => {
  assert.equal(findRef(runs, "checkpoint:a/ckpt/ckpt-1").record.id, "a/ckpt/ckpt-1");
  assert.equal(findRef(runs, "architecture:a/ckpt/ckpt-1"), null);
  assert.equal(findRef(runs, "checkpoint:nope"), null);
});
