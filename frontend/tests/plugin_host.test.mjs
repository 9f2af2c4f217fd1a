import { test } from "node:test";
import assert from "node:assert/strict";
import { DATA_RELOADED, GET_URL_DATA, HostIpc, urlPluginData } from "../../tensorboard_plugin_ckptdiff/static/plugin_host.js";

// The host side as TensorBoard's IPC runs it: JSON strings {type, id, payload, error, isReply}.
function fakeHost(port, handlers) {
  const replies = [];
  port.addEventListener("message", (event) => {
    const m = JSON.parse(event.data);
    if (m.isReply) { replies.push(m); return; }
    const handler = handlers[m.type];
    port.postMessage(JSON.stringify({ type: m.type, id: m.id, payload: handler ? handler(m.payload) : null, error: null, isReply: true }));
  });
  port.start();
  return replies;
}

test("GetURLPluginData asks with the plugin name and returns the host's answer", async (t) => {
  const { port1, port2 } = new MessageChannel();
  t.after(() => { port1.close(); port2.close(); });
  fakeHost(port2, { [GET_URL_DATA]: (p) => (p.pluginName === "ckptdiff" ? { base: "checkpoint:a" } : {}) });
  assert.deepEqual(await urlPluginData(new HostIpc(port1), "ckptdiff"), { base: "checkpoint:a" });
});

test("a host that never answers gives empty plugin data", async (t) => {
  const { port1, port2 } = new MessageChannel();
  t.after(() => { port1.close(); port2.close(); });
  const ipc = new HostIpc(port1);
  const orig = ipc.send.bind(ipc);
  ipc.send = (type, payload) => orig(type, payload, 50);
  assert.deepEqual(await urlPluginData(ipc, "ckptdiff"), {});
});

test("DataReloaded from the host runs the listener and is answered", async (t) => {
  const { port1, port2 } = new MessageChannel();
  t.after(() => { port1.close(); port2.close(); });
  const replies = fakeHost(port2, {});
  const ipc = new HostIpc(port1);
  let reloaded = 0;
  ipc.listen(DATA_RELOADED, () => { reloaded += 1; });
  port2.postMessage(JSON.stringify({ type: DATA_RELOADED, id: 7, payload: null, error: null, isReply: false }));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(reloaded, 1);
  assert.deepEqual(replies, [{ type: DATA_RELOADED, id: 7, payload: null, error: null, isReply: true }]);
});
