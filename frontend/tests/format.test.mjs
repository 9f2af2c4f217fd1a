import { test } from "node:test";
import assert from "node:assert/strict";
import { middleLabel, splitMiddle } from "../../tensorboard_plugin_ckptdiff/static/format.js";

test("a long key keeps its meaningful end whole: the part before TF's value suffix", () => {
  const key = "optimizer/_trainable_variables/0/.ATTRIBUTES/VARIABLE_VALUE";
  const [head, tail] = splitMiddle(key);
  assert.equal(head + tail, key);
  assert.equal(tail, "0/.ATTRIBUTES/VARIABLE_VALUE");
});

test("a path keeps its last components while they are short", () => {
  const [head, tail] = splitMiddle("model/block_12/layer_with_weights-3/dense_1/kernel");
  assert.ok(tail.endsWith("dense_1/kernel") && tail.length <= 32, tail);
  assert.equal(head + tail, "model/block_12/layer_with_weights-3/dense_1/kernel");
});

test("a short name is all head: nothing to cut", () => {
  assert.deepEqual(splitMiddle("kernel"), ["kernel", ""]);
  assert.deepEqual(splitMiddle("dense/kernel"), ["dense/kernel", ""]);
});

test("one very long component is cut to its last characters, never lost", () => {
  const name = "x".repeat(200);
  const [head, tail] = splitMiddle(name);
  assert.equal(head + tail, name);
  assert.equal(tail.length, 64);
});

test("a label too long for a picker keeps its start and its end", () => {
  const label = "experiments/2025-11-29/sweep_lr=3e-4_batch=512_with_a_long_name/added_layer/train · model (model_spec) · step 0";
  const cut = middleLabel(label);
  assert.equal(cut.length, 60);
  assert.ok(cut.startsWith("experiments"), cut);
  assert.ok(cut.endsWith("added_layer/train · model (model_spec) · step 0"), cut);
  assert.equal(middleLabel("short"), "short");
});
