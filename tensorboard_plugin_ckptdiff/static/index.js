/** The Checkpoint Diff tab: TensorBoard calls render() inside the plugin iframe. */

import { makeApi } from "./api.js";
import { copyButton, errorBox, h, loading } from "./dom.js";
import { followTheme } from "./theme.js";
import { connectHost, DATA_RELOADED, urlPluginData } from "./plugin_host.js";
import { defaultState, paramsFromState, parseHash, pluginParams, PLUGIN, shareUrl, stateFromParams } from "./state.js";
import { defaultSelection, findRef } from "./selection.js";
import { renderPickers } from "./pickers.js";
import { renderDiff } from "./diff_view.js";
import { renderBrowser, showVariables } from "./browser.js";
import { renderDrift } from "./drift_view.js";
import { logdirNotes } from "./logdir_notes.js";

// While the server's first pass over the logdir is under way, ask for /runs this often.
const RESCAN_MS = 2000;

const mark = (name) => (typeof performance !== "undefined" && performance.mark ? performance.mark(name) : null);

function topWindow() {
  try {
    void window.top.location.href; // throws when the host is cross-origin
    return window.top;
  } catch (_) {
    return null;
  }
}

export async function render() {
  document.title = "Checkpoint Diff";
  const css = h("link", { rel: "stylesheet", href: new URL("./style.css", import.meta.url).href });
  document.head.appendChild(css);
  followTheme();

  const api = makeApi();
  const host = connectHost(window);
  const state = defaultState();
  let runs = null;
  let runsText = null;
  let tab = "diff";
  let diffRequest = null;
  let diffKey = null;
  let scanning = false; // the server has not finished its first pass over the logdir
  let rescan = null;

  const pickers = h("div", { class: "pickers" });
  const linkButton = copyButton(() => link(), "Copy link");
  linkButton.title = "Copy a TensorBoard link that reopens this comparison";
  const tabs = {
    diff: h("button", { type: "button", role: "tab", id: "tab-diff", "aria-controls": "panel-diff", onclick: () => showTab("diff") }, "Diff"),
    drift: h("button", { type: "button", role: "tab", id: "tab-drift", "aria-controls": "panel-drift", hidden: true, onclick: () => showTab("drift") }, "Value drift"),
    browser: h("button", { type: "button", role: "tab", id: "tab-browser", "aria-controls": "panel-browser", onclick: () => showTab("browser") }, "Checkpoints"),
  };
  const panels = {
    diff: h("div", { class: "panel", role: "tabpanel", id: "panel-diff", "aria-labelledby": "tab-diff" }),
    drift: h("div", { class: "panel", role: "tabpanel", id: "panel-drift", "aria-labelledby": "tab-drift", hidden: true }),
    browser: h("div", { class: "panel", role: "tabpanel", id: "panel-browser", "aria-labelledby": "tab-browser", hidden: true },
      h("div", { class: "browser-list" }), h("div", { class: "browser-vars" })),
  };
  const notice = h("div", { class: "notice" });
  const app = h("main", { class: "app" },
    h("header", { class: "top" }, h("h2", {}, "Checkpoint Diff"), pickers, h("div", { class: "actions" }, linkButton)),
    notice,
    h("nav", { class: "tabs", role: "tablist", "aria-label": "Views" }, Object.values(tabs)),
    Object.values(panels));
  document.body.replaceChildren(app);
  tabs.diff.addEventListener("keydown", tabKeys);
  tabs.drift.addEventListener("keydown", tabKeys);
  tabs.browser.addEventListener("keydown", tabKeys);
  showTab("diff");

  function tabKeys(e) {
    const order = Object.keys(tabs).filter((k) => !tabs[k].hidden);
    const i = order.indexOf(tab);
    if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      const next = order[(i + (e.key === "ArrowRight" ? 1 : order.length - 1)) % order.length];
      showTab(next);
      tabs[next].focus();
      e.preventDefault();
    }
  }

  function showTab(name) {
    tab = name;
    for (const [k, button] of Object.entries(tabs)) {
      button.setAttribute("aria-selected", k === name ? "true" : "false");
      button.tabIndex = k === name ? 0 : -1;
      panels[k].hidden = k !== name;
    }
    if (name === "drift") renderDrift(panels.drift, api, state.base, state.target);
  }

  function link() {
    const top = topWindow();
    const href = top ? top.location.href : document.referrer || window.location.href;
    return shareUrl(href, state);
  }

  // Keep the host page's URL in step, so reloading it reopens the comparison.
  function syncUrl() {
    const top = topWindow();
    if (!top || top === window) return;
    try {
      top.history.replaceState(top.history.state, "", shareUrl(top.location.href, state));
    } catch (_) {
      // a host that refuses is fine: "Copy link" still works
    }
  }

  function selectedSignature() {
    return JSON.stringify([state.base, state.target, runs && findRef(runs, state.base), runs && findRef(runs, state.target)]);
  }

  async function loadRuns() {
    const body = await api.runs();
    const text = JSON.stringify(body.runs);
    const changed = text !== runsText;
    runs = body.runs;
    runsText = text;
    scanning = body.scanning === true;
    notice.replaceChildren(...logdirNotes(body).map((note) => note.kind === "error"
      ? errorBox(note.text, note.title)
      : h("p", { class: note.kind === "warning" ? "note warning" : "note", role: "status", id: note.id }, note.text)));
    // Ask again soon rather than wait for TensorBoard's reload, which may be minutes or off.
    if (scanning && !rescan) rescan = setTimeout(() => { rescan = null; void reload(); }, RESCAN_MS);
    return changed;
  }

  function chooseDefaults() {
    if (scanning) return; // a linked checkpoint may not be listed yet: keep what the link asked for
    const ok = (ref) => {
      const found = findRef(runs, ref);
      return found && found.record.status === "ok";
    };
    if (ok(state.base) && ok(state.target) && state.target.startsWith("checkpoint:")) return;
    const d = defaultSelection(runs);
    if (!ok(state.base)) state.base = d.base;
    if (!ok(state.target) || !state.target.startsWith("checkpoint:")) state.target = d.target;
  }

  function refreshChrome() {
    renderPickers(pickers, runs, state, onPick);
    const bothCheckpoints = (state.base || "").startsWith("checkpoint:") && (state.target || "").startsWith("checkpoint:");
    tabs.drift.hidden = !bothCheckpoints;
    if (!bothCheckpoints && tab === "drift") showTab("diff");
    renderBrowser(panels.browser.firstChild, runs, {
      open: (c) => showVariables(panels.browser.lastChild, api, c),
      useAs: (side, ref) => {
        onPick({ [side]: ref });
        showTab("diff");
      },
    });
  }

  function onPick(patch) {
    Object.assign(state, patch);
    // a new comparison starts unfiltered: old chips may not exist in it
    state.statuses = [];
    refreshChrome();
    syncUrl();
    compareAgain();
  }

  // The open view follows the selection: the diff always, the drift view when it is shown
  // (it would otherwise keep drawing the pair it was opened with).
  function compareAgain() {
    if (tab === "drift") renderDrift(panels.drift, api, state.base, state.target);
    return loadDiff(true);
  }

  async function loadDiff(force = false) {
    const panel = panels.diff;
    if (scanning && !(findRef(runs, state.base) && findRef(runs, state.target))) {
      panel.replaceChildren(loading("Looking for checkpoints in the logdir…"));
      return;
    }
    if (!state.base || !state.target) {
      panel.replaceChildren(h("p", { class: "note" }, runs && runs.length
        ? "Choose a base (a model or a checkpoint) and a target checkpoint above."
        : "No checkpoints found yet. Checkpoint Diff lists every checkpoint under the logdir (TF bundles, Keras .weights.h5/.h5/.keras, SavedModels, safetensors)."));
      return;
    }
    const key = JSON.stringify([state.base, state.target, state.mode, state.kinds]);
    if (!force && key === diffKey) return;
    diffKey = key;
    if (diffRequest) diffRequest.abort();
    const controller = new AbortController();
    diffRequest = controller;
    panel.replaceChildren(loading("Comparing…"));
    document.body.dataset.diffReady = "no";
    mark("ckptdiff:diff:request");
    let report;
    try {
      report = await api.diff({ base: state.base, target: state.target, mode: state.mode, kinds: state.kinds }, { signal: controller.signal });
    } catch (e) {
      if (e.name === "AbortError") return;
      diffKey = null;
      panel.replaceChildren(errorBox(e.message, "Cannot compare"));
      document.body.dataset.diffReady = "error";
      return;
    }
    if (diffRequest !== controller) return;
    diffRequest = null;
    renderDiff(panel, report, state, () => syncUrl());
    // Two frames later the rows have been painted: the benchmark reads this measure.
    requestAnimationFrame(() => requestAnimationFrame(() => {
      if (diffKey !== key || diffRequest) return; // a newer comparison is on its way
      mark("ckptdiff:diff:painted");
      try {
        performance.measure("ckptdiff:first-rows", "ckptdiff:diff:received", "ckptdiff:diff:painted");
      } catch (_) {
        // marks missing (performance API off): nothing to measure
      }
      document.body.dataset.diffReady = "yes";
    }));
  }

  async function start() {
    document.body.dataset.diffReady = "no";
    panels.diff.replaceChildren(loading("Loading runs and checkpoints…"));
    let params = await urlPluginData(host, PLUGIN);
    if (!Object.keys(params).length) {
      const top = topWindow();
      if (top && top !== window) params = pluginParams(parseHash(top.location.hash));
    }
    Object.assign(state, stateFromParams(params));
    try {
      await loadRuns();
    } catch (e) {
      panels.diff.replaceChildren(errorBox(e.message, "Cannot list runs"));
      return;
    }
    chooseDefaults();
    refreshChrome();
    syncUrl();
    await loadDiff(true);
  }

  async function reload() {
    const before = selectedSignature();
    const wasScanning = scanning;
    let changed;
    try {
      changed = await loadRuns();
    } catch (e) {
      notice.replaceChildren(errorBox(e.message, "Cannot refresh"));
      return;
    }
    const scanEnded = wasScanning && !scanning; // the diff panel still says "looking"
    if (!changed && !scanEnded) return; // nothing new on disk: keep the table, its scroll and its focus
    chooseDefaults();
    refreshChrome();
    if (selectedSignature() === before && !scanEnded) return; // a new checkpoint elsewhere: this diff still holds
    syncUrl();
    await compareAgain();
  }

  // A link pasted into the same browser tab changes only the hash: the frame is not reloaded.
  function followHostHash() {
    const top = topWindow();
    if (!top || top === window) return;
    top.addEventListener("hashchange", () => {
      const params = pluginParams(parseHash(top.location.hash));
      if (!Object.keys(params).length) return; // TensorBoard rewrote its own part of the hash
      if (JSON.stringify(params) === JSON.stringify(paramsFromState(state))) return;
      Object.assign(state, stateFromParams(params));
      chooseDefaults();
      refreshChrome();
      compareAgain();
    });
  }

  if (host) host.listen(DATA_RELOADED, () => void reload());
  followHostHash();
  await start();
}
