/** The TensorBoard page's URL: the link that opened the tab, kept in step with it, and a link pasted into it later. */

import { paramsFromState, parseHash, pluginParams, PLUGIN, shareUrl } from "./state.js";
import { urlPluginData } from "./plugin_host.js";

/** The page that frames the tab, or null when it is another origin (a proxy that frames us). */
export function topWindow() {
  try {
    void window.top.location.href; // throws when the host is cross-origin
    return window.top;
  } catch (_) {
    return null;
  }
}

export function hostHref() {
  const top = topWindow();
  return top ? top.location.href : document.referrer || window.location.href;
}

/** Our params from the link that opened the page: through TensorBoard's IPC, else its hash. */
export async function linkedParams(host) {
  let params = await urlPluginData(host, PLUGIN);
  if (!Object.keys(params).length) {
    const top = topWindow();
    if (top && top !== window) params = pluginParams(parseHash(top.location.hash));
  }
  return params;
}

/** Put `state` in the page's URL, so reloading it reopens the same view and comparison. */
export function syncHostUrl(state) {
  const top = topWindow();
  if (!top || top === window) return;
  try {
    top.history.replaceState(top.history.state, "", shareUrl(top.location.href, state));
  } catch (_) {
    // a host that refuses is fine: "Copy link" still works
  }
}

/**
 * A link pasted into the same browser tab changes only the hash (the frame is not loaded
 * again): `onLink(params)` gets our params when they differ from `current()`'s.
 */
export function followHostHash(current, onLink) {
  const top = topWindow();
  if (!top || top === window) return;
  top.addEventListener("hashchange", () => {
    const params = pluginParams(parseHash(top.location.hash));
    if (!Object.keys(params).length) return; // TensorBoard rewrote its own part of the hash
    if (JSON.stringify(params) === JSON.stringify(paramsFromState(current()))) return;
    onLink(params);
  });
}
