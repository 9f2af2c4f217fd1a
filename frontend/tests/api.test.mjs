import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiError, errorMessage, makeApi, routeUrl } from "../../tensorboard_plugin_ckptdiff/static/api.js";

const respond = (status, body) => async () => new Response(typeof body === "string" ? body : JSON.stringify(body), { status });

test("route URLs are relative and encode their arguments", () => {
  const url = routeUrl("diff", { base: "checkpoint:a b/c&d", target: "checkpoint:x", kinds: null });
  assert.equal(url, "diff?base=checkpoint%3Aa%20b%2Fc%26d&target=checkpoint%3Ax");
  assert.ok(!url.startsWith("/"));
});

test("the JSON error body's message is what the user sees", () => {
  assert.deepEqual(errorMessage(422, JSON.stringify({ error: { code: "unreadable_checkpoint", message: "ckpt-3 is truncated" } })), {
    message: "ckpt-3 is truncated",
    code: "unreadable_checkpoint",
  });
});

test("a text/plain error falls back to its first line", () => {
  assert.equal(errorMessage(500, "Internal error\ntrace").message, "Internal error");
});

test("a failed request rejects with an ApiError carrying status and message", async () => {
  const api = makeApi(respond(404, { error: { code: "not_found", message: "no checkpoint with id 'x'" } }));
  await assert.rejects(api.checkpoint("x"), (e) => e instanceof ApiError && e.status === 404 && e.message === "no checkpoint with id 'x'");
});

test("a network failure rejects with a message, not a TypeError", async () => {
  const api = makeApi(async () => { throw new TypeError("Failed to fetch"); });
  await assert.rejects(api.runs(), (e) => e instanceof ApiError && /did not answer/.test(e.message));
});

test("diff passes mode and kinds", async () => {
  let asked = null;
  const api = makeApi(async (url) => { asked = url; return new Response("{}"); });
  await api.diff({ base: "architecture:a", target: "checkpoint:b", mode: "name", kinds: ["weight", "optimizer"] });
  assert.equal(asked, "diff?base=architecture%3Aa&target=checkpoint%3Ab&mode=name&kinds=weight%2Coptimizer");
});

test("drift hands a 202 back as still running", async () => {
  const api = makeApi(respond(202, { status: "running", progress: 0.5 }));
  assert.deepEqual(await api.drift({ base: "checkpoint:a", target: "checkpoint:b" }), { status: 202, body: { status: "running", progress: 0.5 } });
});
