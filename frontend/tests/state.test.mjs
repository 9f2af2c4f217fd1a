import { test } from "node:test";
import assert from "node:assert/strict";
import {
  defaultState, formatHash, paramsFromState, parseHash, pluginParams, shareUrl, stateFromParams,
} from "../../tensorboard_plugin_ckptdiff/static/state.js";

const chosen = {
  ...defaultState(),
  view: "diff",
  base: "architecture:exp1/train/model_spec/0",
  target: "checkpoint:exp1/ckpt/ckpt-3",
  pinned: true,
  mode: "keras_order",
  kinds: ["weight", "optimizer"],
  query: "/dense_\\d+&x=1/",
  statuses: ["missing", "shape_mismatch"],
  sort: { column: "base_name", direction: "desc" },
};

test("state survives params and back", () => {
  assert.deepEqual(stateFromParams(paramsFromState(chosen)), chosen);
});

test("default choices leave no params, so links stay short", () => {
  assert.deepEqual(paramsFromState({ ...defaultState(), base: "checkpoint:a", target: "checkpoint:b" }), {
    base: "checkpoint:a",
    target: "checkpoint:b",
  });
});

test("malformed params fall back to the defaults", () => {
  const s = stateFromParams({ base: "/etc/passwd", mode: "<b>fast</b>", kinds: "bogus", view: "everything", pin: "1" });
  assert.deepEqual(s, defaultState());
});

test("a mode the dashboard has no label for travels as it is: the server says which it knows", () => {
  assert.equal(stateFromParams({ mode: "transformers" }).mode, "transformers");
});

test("an old link (no view, no pin) opens its pair unpinned, with the view left to choose", () => {
  const s = stateFromParams({ base: "checkpoint:a", target: "checkpoint:b" });
  assert.deepEqual([s.view, s.base, s.target, s.pinned], [null, "checkpoint:a", "checkpoint:b", false]);
});

test("the hash dictionary round-trips TensorBoard's format", () => {
  const hash = "#ckptdiff&p.ckptdiff.base=checkpoint%3Aa%2Fb&smoothing=0.6";
  const dict = parseHash(hash);
  assert.deepEqual(dict, { __tab__: "ckptdiff", "p.ckptdiff.base": "checkpoint:a/b", smoothing: "0.6" });
  assert.equal("#" + formatHash(dict), hash);
});

test("pluginParams keeps only our prefix, without it", () => {
  assert.deepEqual(pluginParams({ __tab__: "x", "p.ckptdiff.q": "k", "p.other.q": "z" }), { q: "k" });
});

test("the share link selects our tab and carries the state through the hash", () => {
  const url = shareUrl("http://host:6006/tb/?darkMode=true#scalars&p.ckptdiff.q=old&regexInput=x", chosen);
  const parsed = new URL(url);
  assert.equal(parsed.pathname, "/tb/");
  assert.equal(parsed.search, "?darkMode=true");
  const dict = parseHash(parsed.hash);
  assert.equal(dict.__tab__, "ckptdiff");
  assert.equal(dict.regexInput, "x");
  assert.deepEqual(stateFromParams(pluginParams(dict)), chosen);
});

test("a share link under /experiment/<id>/ keeps the path", () => {
  const url = shareUrl("https://proxy.example/experiment/abc/#ckptdiff", { ...defaultState(), base: "checkpoint:x" });
  assert.ok(url.startsWith("https://proxy.example/experiment/abc/#ckptdiff&p.ckptdiff.base=checkpoint%3Ax"));
});
