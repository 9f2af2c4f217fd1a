/**
 * Talking to the TensorBoard page that frames us: its experimental plugin IPC. The guest posts
 * "experimental.bootstrap" with a MessagePort to the parent; then both sides exchange JSON
 * strings {type, id, payload, error, isReply} over the port. Requests from the host (e.g.
 * experimental.DataReloaded) expect a reply, or the host's promise never settles.
 */

export const GET_URL_DATA = "experimental.GetURLPluginData";
export const DATA_RELOADED = "experimental.DataReloaded";

export class HostIpc {
  constructor(port) {
    this.port = port;
    this.nextId = 0;
    this.waits = new Map();
    this.listeners = new Map();
    port.addEventListener("message", (event) => this.onMessage(event));
    if (port.start) port.start();
  }

  listen(type, callback) {
    this.listeners.set(type, callback);
  }

  async onMessage(event) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch (_) {
      return; // not ours
    }
    const { type, id, payload, error, isReply } = message;
    if (isReply) {
      const wait = this.waits.get(id);
      if (!wait) return;
      this.waits.delete(id);
      if (error) wait.reject(new Error(String(error)));
      else wait.resolve(payload);
      return;
    }
    let result = null;
    let failure = null;
    const callback = this.listeners.get(type);
    if (callback) {
      try {
        result = await callback(payload);
      } catch (e) {
        failure = String(e && e.message ? e.message : e);
      }
    }
    this.post({ type, id, payload: result === undefined ? null : result, error: failure, isReply: true });
  }

  post(message) {
    this.port.postMessage(JSON.stringify(message));
  }

  /** Ask the host; rejects after `timeoutMs` so a page without a host never hangs the tab. */
  send(type, payload, timeoutMs = 3000) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waits.delete(id);
        reject(new Error(`TensorBoard did not answer ${type}`));
      }, timeoutMs);
      this.waits.set(id, {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.post({ type, id, payload, error: null, isReply: false });
    });
  }
}

/** Connect to the framing TensorBoard page, or null when the dashboard runs on its own. */
export function connectHost(win = globalThis.window) {
  if (!win || !win.parent || win.parent === win) return null;
  const channel = new MessageChannel();
  const ipc = new HostIpc(channel.port1);
  win.parent.postMessage("experimental.bootstrap", "*", [channel.port2]);
  return ipc;
}

/** Our p.ckptdiff.* URL params as the host reads them ({} when it cannot answer). */
export async function urlPluginData(ipc, pluginName) {
  if (!ipc) return {};
  try {
    return (await ipc.send(GET_URL_DATA, { pluginName })) || {};
  } catch (_) {
    return {};
  }
}
