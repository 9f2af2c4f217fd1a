import { test } from "node:test";
import assert from "node:assert/strict";
import { buildTree, flatten, scopeOf, allPaths } from "../../tensorboard_plugin_ckptdiff/static/tree.js";
import { entry, variable } from "./helpers.mjs";

const match = (name) => entry("match", variable(name), variable(name));

test("scopeOf is the name up to the last slash", () => {
  assert.equal(scopeOf("model/dense/kernel"), "model/dense");
  assert.equal(scopeOf("global_step"), "");
});

test("entries are grouped under their layer scope", () => {
  const root = buildTree([match("dense/kernel"), match("dense/bias"), match("out/kernel")]);
  assert.deepEqual([...root.children.keys()], ["dense", "out"]);
  assert.equal(root.children.get("dense").items.length, 2);
});

test("a target-only entry is grouped by the target's name", () => {
  const root = buildTree([entry("unexpected", null, variable("extra/kernel"))]);
  assert.deepEqual([...root.children.keys()], ["extra"]);
});

test("a scope with one child scope and no variables is merged into it", () => {
  const root = buildTree([match("model/layer_with_weights-0/kernel"), match("model/layer_with_weights-0/bias")]);
  const [only] = root.children.values();
  assert.equal(only.label, "model/layer_with_weights-0");
  assert.equal(only.path, "model/layer_with_weights-0");
  assert.equal(only.depth, 0);
});

test("group counts add up the statuses of the whole subtree", () => {
  const root = buildTree([
    match("enc/a/kernel"),
    entry("missing", variable("enc/b/kernel"), null),
    entry("shape_mismatch", variable("enc/b/bias"), variable("enc/b/bias", { shape: [4] })),
  ]);
  const enc = root.children.get("enc");
  assert.deepEqual({ ...enc.counts }, { match: 1, missing: 1, shape_mismatch: 1 });
  assert.equal(enc.total, 3);
});

test("flatten lists a group before its variables, with depth", () => {
  const rows = flatten(buildTree([match("a/x/k"), match("a/y/k"), match("top")]));
  const shown = rows.map((r) => (r.type === "group" ? `G${r.depth}:${r.node.label}` : `I${r.depth}:${r.item.base.name}`));
  assert.deepEqual(shown, ["I0:top", "G0:a", "G1:x", "I2:a/x/k", "G1:y", "I2:a/y/k"]);
});

test("a collapsed group hides its subtree but stays listed", () => {
  const root = buildTree([match("a/x/k"), match("a/y/k"), match("b/k")]);
  const rows = flatten(root, new Set(["a"]));
  assert.deepEqual(rows.map((r) => r.type), ["group", "group", "item"]);
  assert.equal(rows[0].open, false);
});

test("groups keep the order of their first entry, so a sorted input gives a sorted tree", () => {
  const root = buildTree([match("z/k"), match("a/k"), match("z/b")]);
  assert.deepEqual([...root.children.keys()], ["z", "a"]);
});

test("allPaths lists every group for collapse-all", () => {
  const root = buildTree([match("a/x/k"), match("a/y/k")]);
  assert.deepEqual(allPaths(root).sort(), ["a", "a/x", "a/y"]);
});
