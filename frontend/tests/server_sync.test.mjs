import { test } from "node:test";
import assert from "node:assert/strict";
import { createStore } from "../../tensorboard_plugin_ckptdiff/static/store.js";
import { createServerSync } from "../../tensorboard_plugin_ckptdiff/static/server_sync.js";

const listing = (runs) => ({ logdir_readable: true, scanning: false, unreadable_dirs: [], modes: ["auto", "name"], runs });
const sync = (api, store) => createServerSync(api, store, { matrixColumns: () => 10, then: {}, onError: (e) => { throw e; } });

test("the runs object is kept when /runs did not change, so nothing redraws", async () => {
  const store = createStore({ runs: null, modes: [], mode: "auto" });
  const api = { runs: async () => listing([{ run: "a", checkpoints: [], architectures: [] }]) };
  const s = sync(api, store);
  await s.runs();
  const first = store.get().runs;
  let changes = 0;
  store.subscribe((_, __, changed) => { if (changed.has("runs")) changes += 1; });
  await s.runs();
  assert.equal(store.get().runs, first);
  assert.equal(changes, 0);
});

test("a mode this server does not list falls back to auto", async () => {
  const store = createStore({ runs: null, modes: [], mode: "transformers" });
  await sync({ runs: async () => listing([]) }, store).runs();
  assert.equal(store.get().mode, "auto");
});

test("an older /overview answer arriving late does not replace a newer one", async () => {
  const store = createStore({ overview: null, overviewQuery: "", overviewOffset: 0 });
  const answers = [];
  const api = { overview: ({ q }) => new Promise((resolve) => answers.push(() => resolve({ status: "done", q }))) };
  const s = sync(api, store);
  const older = s.overview();
  store.set({ overviewQuery: "new" });
  const newer = s.overview();
  answers[1]();
  await newer;
  answers[0]();
  await older;
  assert.equal(store.get().overview.q, "new");
});
