import { test } from "node:test";
import assert from "node:assert/strict";
import { defaultSelection, findRef, sharedPathLength } from "../../tensorboard_plugin_ckptdiff/static/selection.js";

const ckpt = (id, run, extra = {}) => ({ id, run, path: id, format: "tf_bundle", step: null, wall_time: null, status: "ok", error: null, ...extra });
const arch = (id, run, extra = {}) => ({ id, run, source: "model_spec", step: 0, wall_time: null, status: "ok", error: null, ...extra });

test("sharedPathLength counts whole path components", () => {
  assert.equal(sharedPathLength("exp/train", "exp/ckpt"), 1);
  assert.equal(sharedPathLength("exp/train", "experiment/train"), 0);
});

test("the newest architecture is compared with the nearest run's newest checkpoint", () => {
  const runs = [
    { run: "a/ckpt", checkpoints: [ckpt("a/ckpt/ckpt-1", "a/ckpt", { step: 1 }), ckpt("a/ckpt/ckpt-2", "a/ckpt", { step: 2 })], architectures: [] },
    { run: "a/train", checkpoints: [], architectures: [arch("a/train/spec", "a/train", { wall_time: 200 })] },
    { run: "b/train", checkpoints: [ckpt("b/train/ckpt-9", "b/train", { step: 9, wall_time: 300 })], architectures: [arch("b/train/spec", "b/train", { wall_time: 100 })] },
  ];
  assert.deepEqual(defaultSelection(runs), { base: "architecture:a/train/spec", target: "checkpoint:a/ckpt/ckpt-2" });
});

test("unreadable checkpoints are never the default", () => {
  const runs = [{
    run: "r",
    checkpoints: [ckpt("r/ok", "r", { step: 1 }), ckpt("r/bad", "r", { step: 2, status: "error", error: "truncated" })],
    architectures: [arch("r/spec", "r")],
  }];
  assert.equal(defaultSelection(runs).target, "checkpoint:r/ok");
});

test("without an architecture the two newest checkpoints of a run are compared", () => {
  const runs = [{ run: "r", checkpoints: [ckpt("r/1", "r", { step: 1 }), ckpt("r/2", "r", { step: 2 }), ckpt("r/3", "r", { step: 3 })], architectures: [] }];
  assert.deepEqual(defaultSelection(runs), { base: "checkpoint:r/2", target: "checkpoint:r/3" });
});

test("an empty logdir selects nothing", () => {
  assert.deepEqual(defaultSelection([]), { base: null, target: null });
});

test("findRef finds a record by its ref and not an id that is absent", () => {
  const runs = [{ run: "r", checkpoints: [ckpt("r/1", "r")], architectures: [] }];
  assert.equal(findRef(runs, "checkpoint:r/1").record.id, "r/1");
  assert.equal(findRef(runs, "architecture:r/1"), null);
  assert.equal(findRef(runs, "checkpoint:nope"), null);
});
