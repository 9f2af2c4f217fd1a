/**
 * The Checkpoint Diff tab: TensorBoard calls render() inside the plugin iframe. This module
 * wires the store (store.js), the server (api.js) and the views; the views draw what they
 * are given and call back, the choices are pure functions (selection.js).
 */

import { makeApi } from "./api.js";
import { copyButton, errorBox, h, loading } from "./dom.js";
import { followTheme } from "./theme.js";
import { connectHost, DATA_RELOADED, urlPluginData } from "./plugin_host.js";
import { defaultState, paramsFromState, parseHash, pluginParams, PLUGIN, shareUrl, stateFromParams } from "./state.js";
import { chooseDefaults, crossRun, findRef, pairTarget } from "./selection.js";
import { createStore } from "./store.js";
import { createTabs } from "./tabs.js";
import { renderPickers } from "./pickers.js";
import { renderDiff } from "./diff_view.js";
import { renderBrowser, showVariables } from "./browser.js";
import { renderDrift } from "./drift_view.js";
import { createOverview } from "./overview_view.js";
import { createMatrix } from "./matrix_view.js";
import { logdirNotes } from "./logdir_notes.js";

const RESCAN_MS = 2000; // while the server reads the logdir, ask for /runs this often
const POLL_MS = 1000; // while the overview or matrix is being computed, ask this often
const OVERVIEW_PAGE = 100;
const MATRIX_ROWS = 50;
const TABS = [
  { id: "overview", label: "Overview" },
  { id: "diff", label: "Diff" },
  { id: "drift", label: "Value drift" },
  { id: "browser", label: "Checkpoints" },
  { id: "matrix", label: "Matrix" },
];
// The part of the state a link carries (state.js).
const LINKED = Object.keys(defaultState());

function topWindow() {
  try {
    void window.top.location.href; // throws when the host is cross-origin
    return window.top;
  } catch (_) {
    return null;
  }
}

const bothCheckpoints = (s) => (s.base || "").startsWith("checkpoint:") && (s.target || "").startsWith("checkpoint:");

export async function render() {
  document.title = "Checkpoint Diff";
  document.head.appendChild(h("link", { rel: "stylesheet", href: new URL("./style.css", import.meta.url).href }));
  followTheme();

  const api = makeApi();
  const host = connectHost(window);
  const store = createStore({
    ...defaultState(),
    runs: null, modes: [], scanning: false, // /runs
    overview: null, overviewQuery: "", overviewOffset: 0, // /overview
    matrixQuery: "", matrixRowOffset: 0, matrixColOffset: 0, // /matrix
  });

  // ---------------------------------------------------------------- the page
  const tabs = createTabs(TABS, (view) => store.set({ view }));
  const pickers = h("div", { class: "pickers" });
  const linkButton = copyButton(() => shareUrl(hostHref(), store.get()), "Copy link");
  linkButton.title = "Copy a TensorBoard link that reopens this view and comparison";
  const notice = h("div", { class: "notice" });
  const browserList = h("div", { class: "browser-list" });
  const browserVars = h("div", { class: "browser-vars" });
  tabs.panels.browser.append(browserList, browserVars);
  document.body.replaceChildren(h("main", { class: "app" },
    h("header", { class: "top" }, h("h2", {}, "Checkpoint Diff"), tabs.nav, h("div", { class: "actions" }, linkButton)),
    notice, pickers, Object.values(tabs.panels)));

  const overview = createOverview(tabs.panels.overview, {
    pageSize: OVERVIEW_PAGE,
    onOpen: openPair,
    onQuery: (q) => store.set({ overviewQuery: q, overviewOffset: 0 }),
    onPage: (offset) => store.set({ overviewOffset: offset }),
  });
  const matrix = createMatrix(tabs.panels.matrix, {
    rowPage: MATRIX_ROWS,
    onOpen: openPair,
    onQuery: (q) => store.set({ matrixQuery: q, matrixRowOffset: 0, matrixColOffset: 0 }),
    onPage: ({ rowOffset, colOffset }) => store.set({
      ...(rowOffset !== undefined ? { matrixRowOffset: rowOffset } : {}),
      ...(colOffset !== undefined ? { matrixColOffset: colOffset } : {}),
    }),
  });

  // ---------------------------------------------------------------- what the user does
  function openPair(base, target) {
    store.set({ base, target, pinned: false, statuses: [], view: "diff" });
  }

  function onPick(patch) {
    const s = store.get();
    const next = { ...patch, statuses: [] }; // a new comparison starts unfiltered: old chips may not exist in it
    if (patch.target) next.pinned = true; // the user chose it: a new base keeps it
    if (patch.base && !s.pinned) next.target = pairTarget(s.runs, patch.base);
    store.set(next);
  }

  function unpin() {
    const s = store.get();
    store.set({ pinned: false, target: pairTarget(s.runs, s.base), statuses: [] });
  }

  // ---------------------------------------------------------------- the server
  async function loadRuns() {
    const body = await api.runs();
    notice.replaceChildren(...logdirNotes(body).map((note) => note.kind === "error"
      ? errorBox(note.text, note.title)
      : h("p", { class: note.kind === "warning" ? "note warning" : "note", role: "status", id: note.id }, note.text)));
    const s = store.get();
    const same = s.runs && JSON.stringify(s.runs) === JSON.stringify(body.runs);
    const modes = body.modes || ["auto"];
    store.set({
      runs: same ? s.runs : body.runs, // unchanged: keep the object, so nothing redraws
      modes: s.modes.join() === modes.join() ? s.modes : modes,
      scanning: body.scanning === true,
      mode: modes.includes(s.mode) ? s.mode : "auto", // a link's unknown mode
    });
    if (body.scanning) later("runs", RESCAN_MS, reload);
  }

  let overviewAsked = 0;
  async function loadOverview() {
    const s = store.get();
    const asked = ++overviewAsked;
    const body = await api.overview({ q: s.overviewQuery, offset: s.overviewOffset, limit: OVERVIEW_PAGE });
    if (asked !== overviewAsked) return; // a newer filter or page was asked for meanwhile
    store.set({ overview: body });
    if (body.status === "running") later("overview", POLL_MS, () => loadOverview().then(settle).catch(showError));
  }

  async function loadMatrix() {
    const s = store.get();
    const body = await api.matrix({ q: s.matrixQuery, rowOffset: s.matrixRowOffset, rowLimit: MATRIX_ROWS,
      colOffset: s.matrixColOffset, colLimit: matrix.columnsThatFit() });
    if (store.get().view !== "matrix") return;
    matrix.update(body);
    tabs.panels.matrix.setAttribute("aria-busy", "false");
    if (body.status === "running") later("matrix", POLL_MS, () => loadMatrix().catch(showError));
  }

  const timers = {};
  function later(name, ms, fn) {
    if (timers[name]) return;
    timers[name] = setTimeout(() => { timers[name] = null; fn(); }, ms);
  }

  function showError(e) {
    notice.replaceChildren(errorBox(e.message, "Cannot refresh"));
  }

  /** Fill in what the link left open, once the server knows enough (selection.chooseDefaults). */
  function settle() {
    const s = store.get();
    if (s.base && s.target && s.view) return;
    const rows = s.overview ? s.overview.rows : [];
    const chosen = chooseDefaults(s, { runs: s.runs || [], rows, rowCount: s.overview ? s.overview.total : 0 });
    store.set(chosen);
  }

  // ---------------------------------------------------------------- drawing what changed
  let diffRequest = null;
  let diffKey = null;

  async function loadDiff(force = false) {
    const s = store.get();
    const panel = tabs.panels.diff;
    const key = JSON.stringify([s.base, s.target, s.mode, s.kinds]);
    if (!force && key === diffKey) return;
    // A link may name checkpoints the server has not listed yet: ask once it has, not before
    // (a request for an id it does not know yet is a 404 in the console).
    const unlisted = s.scanning && !(findRef(s.runs, s.base) && findRef(s.runs, s.target));
    if (!s.base || !s.target || unlisted) {
      diffKey = null;
      panel.setAttribute("aria-busy", s.scanning ? "true" : "false");
      panel.replaceChildren(emptyDiff(s));
      return;
    }
    diffKey = key;
    if (diffRequest) diffRequest.abort();
    const controller = new AbortController();
    diffRequest = controller;
    panel.setAttribute("aria-busy", "true");
    panel.replaceChildren(loading("Comparing…"));
    let report;
    try {
      report = await api.diff({ base: s.base, target: s.target, mode: s.mode, kinds: s.kinds }, { signal: controller.signal });
    } catch (e) {
      if (e.name === "AbortError") return;
      diffKey = null;
      panel.replaceChildren(errorBox(e.message, "Cannot compare"));
      panel.setAttribute("aria-busy", "false");
      return;
    }
    if (diffRequest !== controller) return;
    diffRequest = null;
    const now = store.get();
    renderDiff(panel, report, now, {
      cross: crossRun(now.runs, now.base, now.target),
      onViewChange: (patch) => store.set(patch),
    });
    panel.setAttribute("aria-busy", "false");
  }

  function emptyDiff(s) {
    if (s.scanning) return loading("Looking for checkpoints in the logdir and reading them…");
    if (s.base && !s.target) {
      const base = findRef(s.runs, s.base);
      return h("p", { class: "note" }, `${base ? base.record.run : "This run"} has no readable checkpoint to compare with: choose a target above.`);
    }
    const any = (s.runs || []).some((r) => (r.checkpoints || []).length);
    return h("p", { class: "note" }, any
      ? "Choose a base (a model or a checkpoint) and a target checkpoint above, or open a run from the Overview."
      : "No checkpoints found yet. Checkpoint Diff lists every checkpoint under the logdir (TF bundles, Keras .weights.h5/.h5/.keras, SavedModels, safetensors).");
  }

  function drawPickers(s) {
    if (!s.runs) return;
    renderPickers(pickers, s.runs, { ...s, cross: crossRun(s.runs, s.base, s.target) }, s.modes, { onChange: onPick, onUnpin: unpin });
  }

  function drawBrowser(s) {
    renderBrowser(browserList, s.runs || [], {
      open: (c) => showVariables(browserVars, api, c),
      useAs: (side, ref) => {
        onPick({ [side]: ref });
        store.set({ view: "diff" });
      },
    });
  }

  function showView(s) {
    tabs.show(s.view);
    pickers.hidden = !(s.view === "diff" || s.view === "drift");
    if (s.view === "overview") {
      if (!s.overview) tabs.panels.overview.setAttribute("aria-busy", "true");
      loadOverview().catch(showError);
    }
    if (s.view === "matrix") {
      tabs.panels.matrix.setAttribute("aria-busy", "true");
      loadMatrix().catch(showError);
    }
    if (s.view === "diff") loadDiff();
    if (s.view === "drift") renderDrift(tabs.panels.drift, api, s.base, s.target);
  }

  store.subscribe((s, before, changed) => {
    const pair = ["base", "target", "mode", "kinds"].some((k) => changed.has(k));
    if (changed.has("view") || changed.has("base") || changed.has("target")) {
      const drift = bothCheckpoints(s);
      tabs.setHidden("drift", !drift);
      if (s.view === "drift" && !drift) {
        store.set({ view: "diff" });
        return;
      }
    }
    if (changed.has("runs") || pair || changed.has("pinned") || changed.has("modes")) drawPickers(s);
    if (changed.has("runs")) drawBrowser(s);
    if (changed.has("overview") && s.overview) {
      overview.update(s.overview);
      tabs.panels.overview.setAttribute("aria-busy", "false");
    }
    if (changed.has("overviewQuery") || changed.has("overviewOffset")) loadOverview().catch(showError);
    if (["matrixQuery", "matrixRowOffset", "matrixColOffset"].some((k) => changed.has(k)) && s.view === "matrix") loadMatrix().catch(showError);
    if (changed.has("view")) {
      if (s.view === "diff" && !s.base && !s.target) settle(); // the Diff tab without a pair: the overview's first
      showView(store.get());
    } else if (pair) {
      if (s.view === "diff") loadDiff();
      if (s.view === "drift") renderDrift(tabs.panels.drift, api, s.base, s.target);
    }
    if (LINKED.some((k) => changed.has(k))) syncUrl();
  });

  // ---------------------------------------------------------------- the URL
  function hostHref() {
    const top = topWindow();
    return top ? top.location.href : document.referrer || window.location.href;
  }

  // Keep the host page's URL in step, so reloading it reopens the view and the comparison.
  function syncUrl() {
    const top = topWindow();
    if (!top || top === window) return;
    try {
      top.history.replaceState(top.history.state, "", shareUrl(top.location.href, store.get()));
    } catch (_) {
      // a host that refuses is fine: "Copy link" still works
    }
  }

  // A link pasted into the same browser tab changes only the hash: the frame is not reloaded.
  function followHostHash() {
    const top = topWindow();
    if (!top || top === window) return;
    top.addEventListener("hashchange", () => {
      const params = pluginParams(parseHash(top.location.hash));
      if (!Object.keys(params).length) return; // TensorBoard rewrote its own part of the hash
      if (JSON.stringify(params) === JSON.stringify(paramsFromState(store.get()))) return;
      store.set({ ...defaultState(), ...stateFromParams(params) });
      settle();
    });
  }

  // ---------------------------------------------------------------- start and reload
  async function reload() {
    const s = store.get();
    try {
      await loadRuns();
      if (s.view === "overview" || !s.view || !s.base || !s.target) await loadOverview();
    } catch (e) {
      showError(e);
      return;
    }
    settle();
    const now = store.get();
    const pairChanged = JSON.stringify([findRef(s.runs, s.base), findRef(s.runs, s.target)])
      !== JSON.stringify([findRef(now.runs, now.base), findRef(now.runs, now.target)]);
    if (now.view === "diff" && (pairChanged || (s.scanning && !now.scanning && !diffKey))) loadDiff(true);
  }

  async function start() {
    tabs.show("diff");
    tabs.panels.diff.replaceChildren(loading("Loading runs and checkpoints…"));
    let params = await urlPluginData(host, PLUGIN);
    if (!Object.keys(params).length) {
      const top = topWindow();
      if (top && top !== window) params = pluginParams(parseHash(top.location.hash));
    }
    const linked = stateFromParams(params);
    try {
      await Promise.all([loadRuns(), linked.base && linked.target ? null : loadOverview()]);
    } catch (e) {
      tabs.panels.diff.replaceChildren(errorBox(e.message, "Cannot list runs"));
      return;
    }
    // The link's state, then what it left open: the subscriber above draws the chosen view.
    store.set({ ...linked, mode: store.get().modes.includes(linked.mode) ? linked.mode : "auto" });
    settle();
  }

  if (host) host.listen(DATA_RELOADED, () => void reload());
  followHostHash();
  await start();
}
