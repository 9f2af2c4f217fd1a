/**
 * The Checkpoint Diff tab: TensorBoard calls render() inside the plugin iframe. This module
 * only wires: the state lives in a store (store.js), the server's answers reach it through
 * server_sync.js, the views draw what they are given and call back, and the choices are pure
 * functions (selection.js).
 */

import { makeApi } from "./api.js";
import { copyButton, errorBox, h, loading } from "./dom.js";
import { followTheme } from "./theme.js";
import { connectHost, DATA_RELOADED } from "./plugin_host.js";
import { defaultState, shareUrl, stateFromParams } from "./state.js";
import { chooseDefaults, crossRun, findRef, pairTarget } from "./selection.js";
import { createStore } from "./store.js";
import { createServerSync, MATRIX_ROWS, OVERVIEW_PAGE } from "./server_sync.js";
import { followHostHash, hostHref, linkedParams, syncHostUrl } from "./host_url.js";
import { createTabs } from "./tabs.js";
import { renderPickers } from "./pickers.js";
import { createDiffPanel } from "./diff_panel.js";
import { renderBrowser, showVariables } from "./browser.js";
import { renderDrift } from "./drift_view.js";
import { createOverview } from "./overview_view.js";
import { createMatrix } from "./matrix_view.js";
import { logdirNotes } from "./logdir_notes.js";

const TABS = [
  { id: "overview", label: "Overview" },
  { id: "diff", label: "Diff" },
  { id: "drift", label: "Value drift" },
  { id: "browser", label: "Checkpoints" },
  { id: "matrix", label: "Matrix" },
];
const LINKED = Object.keys(defaultState()); // the part of the state a link carries (state.js)
const PAIR = ["base", "target", "mode", "kinds"]; // what a diff is asked for
const bothCheckpoints = (s) => (s.base || "").startsWith("checkpoint:") && (s.target || "").startsWith("checkpoint:");

function noteElements(listing) {
  return logdirNotes(listing).map((note) => note.kind === "error"
    ? errorBox(note.text, note.title)
    : h("p", { class: note.kind === "warning" ? "note warning" : "note", role: "status", id: note.id }, note.text));
}

export async function render() {
  document.title = "Checkpoint Diff";
  document.head.appendChild(h("link", { rel: "stylesheet", href: new URL("./style.css", import.meta.url).href }));
  followTheme();

  const api = makeApi();
  const host = connectHost(window);
  const store = createStore({
    ...defaultState(),
    listing: null, runs: null, modes: [], scanning: false, // /runs
    overview: null, overviewQuery: "", overviewOffset: 0, // /overview
    matrix: null, matrixQuery: "", matrixRowOffset: 0, matrixColOffset: 0, // /matrix
  });

  // ---------------------------------------------------------------- the page and its views
  const tabs = createTabs(TABS, (view) => store.set({ view }));
  const panels = tabs.panels;
  const pickers = h("div", { class: "pickers" });
  const notice = h("div", { class: "notice" });
  const linkButton = copyButton(() => shareUrl(hostHref(), store.get()), "Copy link");
  linkButton.title = "Copy a TensorBoard link that reopens this view and comparison";
  const browserList = h("div", { class: "browser-list" });
  const browserVars = h("div", { class: "browser-vars" });
  panels.browser.append(browserList, browserVars);
  document.body.replaceChildren(h("main", { class: "app" },
    h("header", { class: "top" }, h("h2", {}, "Checkpoint Diff"), tabs.nav, h("div", { class: "actions" }, linkButton)),
    notice, pickers, Object.values(panels)));

  const openPair = (base, target) => store.set({ base, target, pinned: false, statuses: [], view: "diff" });
  const overview = createOverview(panels.overview, {
    pageSize: OVERVIEW_PAGE,
    onOpen: openPair,
    onQuery: (q) => store.set({ overviewQuery: q, overviewOffset: 0 }),
    onPage: (offset) => store.set({ overviewOffset: offset }),
  });
  const matrix = createMatrix(panels.matrix, {
    rowPage: MATRIX_ROWS,
    onOpen: openPair,
    onQuery: (q) => store.set({ matrixQuery: q, matrixRowOffset: 0, matrixColOffset: 0 }),
    onPage: ({ rowOffset, colOffset }) => store.set({
      ...(rowOffset !== undefined ? { matrixRowOffset: rowOffset } : {}),
      ...(colOffset !== undefined ? { matrixColOffset: colOffset } : {}),
    }),
  });
  const diff = createDiffPanel(panels.diff, api, { onViewChange: (patch) => store.set(patch) });
  const showError = (e) => notice.replaceChildren(errorBox(e.message, "Cannot refresh"));
  const server = createServerSync(api, store, {
    matrixColumns: () => matrix.columnsThatFit(),
    then: { runs: reload, overview: async () => settle() },
    onError: showError,
  });

  // ---------------------------------------------------------------- what the user picks
  function onPick(patch) {
    const s = store.get();
    const next = { ...patch, statuses: [] }; // a new comparison starts unfiltered: old chips may not exist in it
    if (patch.target) next.pinned = true; // the user chose it: a new base keeps it
    if (patch.base && !s.pinned) next.target = pairTarget(s.runs, patch.base);
    store.set(next);
  }

  const unpin = () => {
    const s = store.get();
    store.set({ pinned: false, target: pairTarget(s.runs, s.base), statuses: [] });
  };

  /** Fill in what the link left open, once the server knows enough (selection.chooseDefaults). */
  function settle() {
    const s = store.get();
    if (s.base && s.target && s.view) return;
    const rows = s.overview ? s.overview.rows : [];
    store.set(chooseDefaults(s, { runs: s.runs || [], rows, rowCount: s.overview ? s.overview.total : 0 }));
  }

  // ---------------------------------------------------------------- drawing what changed
  function showView(s) {
    tabs.show(s.view);
    pickers.hidden = !(s.view === "diff" || s.view === "drift");
    if (s.view === "overview") {
      if (!s.overview) panels.overview.setAttribute("aria-busy", "true");
      server.overview().catch(showError);
    }
    if (s.view === "matrix") {
      panels.matrix.setAttribute("aria-busy", "true");
      server.matrix().catch(showError);
    }
    if (s.view === "diff") diff.show(s);
    if (s.view === "drift") renderDrift(panels.drift, api, s.base, s.target);
  }

  store.subscribe((s, before, changed) => {
    const has = (...keys) => keys.some((k) => changed.has(k));
    if (has("view", "base", "target")) {
      tabs.setHidden("drift", !bothCheckpoints(s));
      if (s.view === "drift" && !bothCheckpoints(s)) return store.set({ view: "diff" });
    }
    if (has("listing")) notice.replaceChildren(...noteElements(s.listing));
    if (has("runs", "pinned", "modes", ...PAIR) && s.runs) {
      renderPickers(pickers, s.runs, { ...s, cross: crossRun(s.runs, s.base, s.target) }, s.modes, { onChange: onPick, onUnpin: unpin });
    }
    if (has("runs")) {
      renderBrowser(browserList, s.runs || [], {
        open: (c) => showVariables(browserVars, api, c),
        useAs: (side, ref) => { onPick({ [side]: ref }); store.set({ view: "diff" }); },
      });
    }
    if (has("overview") && s.overview) {
      overview.update(s.overview);
      panels.overview.setAttribute("aria-busy", "false");
    }
    if (has("matrix") && s.matrix) {
      matrix.update(s.matrix);
      panels.matrix.setAttribute("aria-busy", "false");
    }
    if (has("overviewQuery", "overviewOffset")) server.overview().catch(showError);
    if (has("matrixQuery", "matrixRowOffset", "matrixColOffset") && s.view === "matrix") server.matrix().catch(showError);
    if (has("view")) {
      if (s.view === "diff" && !s.base && !s.target) settle(); // the Diff tab without a pair: the overview's first
      showView(store.get());
    } else if (has(...PAIR)) {
      if (s.view === "diff") diff.show(s);
      if (s.view === "drift") renderDrift(panels.drift, api, s.base, s.target);
    }
    if (LINKED.some((k) => changed.has(k))) syncHostUrl(store.get());
  });

  // ---------------------------------------------------------------- start and reload
  async function reload() {
    const s = store.get();
    try {
      await server.runs();
      if (s.view === "overview" || !s.view || !s.base || !s.target) await server.overview();
    } catch (e) {
      showError(e);
      return;
    }
    settle();
    const now = store.get();
    const pairChanged = JSON.stringify([findRef(s.runs, s.base), findRef(s.runs, s.target)])
      !== JSON.stringify([findRef(now.runs, now.base), findRef(now.runs, now.target)]);
    if (now.view === "diff" && (pairChanged || (s.scanning && !now.scanning && !diff.showing()))) diff.show(now, true);
  }

  async function start() {
    tabs.show("diff");
    panels.diff.replaceChildren(loading("Loading runs and checkpoints…"));
    const linked = stateFromParams(await linkedParams(host));
    try {
      await Promise.all([server.runs(), linked.base && linked.target ? null : server.overview()]);
    } catch (e) {
      panels.diff.replaceChildren(errorBox(e.message, "Cannot list runs"));
      return;
    }
    // The link's state, then what it left open: the subscriber above draws the chosen view.
    store.set({ ...linked, mode: store.get().modes.includes(linked.mode) ? linked.mode : "auto" });
    settle();
  }

  if (host) host.listen(DATA_RELOADED, () => void reload());
  followHostHash(() => store.get(), (params) => {
    store.set({ ...defaultState(), ...stateFromParams(params) });
    settle();
  });
  await start();
}
