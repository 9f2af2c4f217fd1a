import { test } from "node:test";
import assert from "node:assert/strict";
import { compare, fmt } from "../../tensorboard_plugin_ckptdiff/static/drift_view.js";

test("undefined figures sort below every number", () => {
  assert.deepEqual([0.5, null, 2, 0].sort(compare), [null, 0, 0.5, 2]);
});

test("names sort alphabetically", () => {
  assert.deepEqual(["dense_1", "conv", "dense"].sort(compare), ["conv", "dense", "dense_1"]);
});

test("an undefined figure reads n/a, zero reads 0", () => {
  assert.deepEqual([fmt(null), fmt(0)], ["n/a", "0"]);
});

test("very small and very large figures use exponents", () => {
  assert.deepEqual([fmt(0.0000123, 3), fmt(123456, 3), fmt(0.25, 3)], ["1.23e-5", "1.23e+5", "0.250"]);
});
