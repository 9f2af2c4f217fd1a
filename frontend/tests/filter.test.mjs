import { test } from "node:test";
import assert from "node:assert/strict";
import { compileQuery, filterEntries, sortEntries } from "../../tensorboard_plugin_ckptdiff/static/filter.js";
import { entry, variable } from "./helpers.mjs";

const rows = [
  entry("match", variable("dense/kernel"), variable("dense/kernel", { key: "layers/dense/vars/0" })),
  entry("missing", variable("dense_1/kernel", { shape: [64, 32] }), null),
  entry("unexpected", null, variable("Dense_2/bias", { shape: [10] })),
  entry("shape_mismatch", variable("out/kernel", { shape: [64, 32] }), variable("out/kernel", { shape: [64, 10] })),
];
const names = (list) => list.map((e) => (e.base || e.target).name);

test("a substring search is case-insensitive", () => {
  assert.deepEqual(names(filterEntries(rows, { query: "DENSE_" }).rows), ["dense_1/kernel", "Dense_2/bias"]);
});

test("a search also finds a row by its target key", () => {
  assert.deepEqual(names(filterEntries(rows, { query: "vars/0" }).rows), ["dense/kernel"]);
});

test("a /regex/ search matches as a regular expression", () => {
  assert.deepEqual(names(filterEntries(rows, { query: "/^dense(_\\d)?\\/kernel$/" }).rows), ["dense/kernel", "dense_1/kernel"]);
});

test("regex flags after the closing slash apply", () => {
  assert.deepEqual(names(filterEntries(rows, { query: "/^dense_2/i" }).rows), ["Dense_2/bias"]);
});

test("a bad regex matches nothing and says why", () => {
  const { rows: shown, error } = filterEntries(rows, { query: "/dense(/" });
  assert.equal(shown.length, 0);
  assert.match(error, /bad regular expression/);
});

test("a lone slash is a substring, not an empty regex", () => {
  assert.equal(compileQuery("/").test("a/b"), true);
  assert.equal(compileQuery("/").test("ab"), false);
});

test("status chips keep only the pressed statuses", () => {
  const shown = filterEntries(rows, { statuses: new Set(["missing", "unexpected"]) }).rows;
  assert.deepEqual(shown.map((e) => e.status), ["missing", "unexpected"]);
});

test("no chip pressed shows every status", () => {
  assert.equal(filterEntries(rows, { statuses: new Set() }).rows.length, rows.length);
});

test("chips and search combine", () => {
  const shown = filterEntries(rows, { statuses: new Set(["missing", "match"]), query: "kernel" }).rows;
  assert.deepEqual(names(shown), ["dense/kernel", "dense_1/kernel"]);
});

test("sorting by status puts what blocks a restore first", () => {
  assert.deepEqual(sortEntries(rows, "status").map((e) => e.status), ["shape_mismatch", "missing", "unexpected", "match"]);
});

test("sorting descending reverses the order", () => {
  assert.deepEqual(sortEntries(rows, "status", "desc").map((e) => e.status), ["match", "unexpected", "missing", "shape_mismatch"]);
});

test("rows without the sorted side go last in both directions", () => {
  for (const dir of ["asc", "desc"]) {
    const sorted = sortEntries(rows, "target_key", dir);
    assert.equal(sorted[sorted.length - 1].status, "missing", dir);
  }
});

test("names sort numerically within their text", () => {
  const list = ["l10/k", "l9/k", "l1/k"].map((n) => entry("match", variable(n), null));
  assert.deepEqual(names(sortEntries(list, "base_name")), ["l1/k", "l9/k", "l10/k"]);
});

test("shapes sort by element count", () => {
  const list = [[64, 32], [10], [3, 3]].map((shape, i) => entry("match", variable("v" + i, { shape }), null));
  assert.deepEqual(sortEntries(list, "base_shape").map((e) => e.base.shape), [[3, 3], [10], [64, 32]]);
});

test("ties keep the input order", () => {
  const list = ["b", "a", "c"].map((n) => entry("match", variable(n), null));
  assert.deepEqual(names(sortEntries(list, "status")), ["b", "a", "c"]);
});

test("sorting does not change its input", () => {
  const copy = rows.slice();
  sortEntries(rows, "base_name", "desc");
  assert.deepEqual(rows, copy);
});
