/** The store kept in step with the server: /runs, /overview and /matrix, asked again while they say they are not done. */

const RESCAN_MS = 2000; // while the server reads the logdir, ask for /runs this often
const POLL_MS = 1000; // while the overview or the matrix is being computed, ask this often
export const OVERVIEW_PAGE = 100;
export const MATRIX_ROWS = 50;

/**
 * Each method asks one route with what the store says (filters, pages) and puts the answer in
 * the store: `runs`, `modes`, `scanning` / `overview` / `matrix`. What is not done yet is asked
 * again by itself; `then.runs` and `then.overview` run after those later answers (the tab
 * re-checks its choices), `onError(e)` gets their failures. `matrixColumns()` says how many
 * columns fit the view.
 */
export function createServerSync(api, store, { matrixColumns, then, onError }) {
  const timers = {};
  function later(name, ms, fn) {
    if (timers[name]) return;
    timers[name] = setTimeout(() => {
      timers[name] = null;
      fn().catch(onError);
    }, ms);
  }

  async function runs() {
    const body = await api.runs();
    const s = store.get();
    const same = s.runs && JSON.stringify(s.runs) === JSON.stringify(body.runs);
    const modes = body.modes || ["auto"];
    store.set({
      listing: body,
      runs: same ? s.runs : body.runs, // unchanged: keep the object, so nothing redraws
      modes: s.modes.join() === modes.join() ? s.modes : modes,
      scanning: body.scanning === true,
      mode: modes.includes(s.mode) ? s.mode : "auto", // a link's mode this server does not know
    });
    if (body.scanning) later("runs", RESCAN_MS, then.runs);
  }

  let asked = 0;
  async function overview() {
    const s = store.get();
    const mine = ++asked;
    const body = await api.overview({ q: s.overviewQuery, offset: s.overviewOffset, limit: OVERVIEW_PAGE });
    if (mine !== asked) return; // a newer filter or page was asked for meanwhile
    store.set({ overview: body });
    if (body.status === "running") later("overview", POLL_MS, () => overview().then(then.overview));
  }

  async function matrix() {
    const s = store.get();
    const body = await api.matrix({ q: s.matrixQuery, rowOffset: s.matrixRowOffset, rowLimit: MATRIX_ROWS,
      colOffset: s.matrixColOffset, colLimit: matrixColumns() });
    if (store.get().view !== "matrix") return; // left meanwhile: nobody to show it to
    store.set({ matrix: body });
    if (body.status === "running") later("matrix", POLL_MS, matrix);
  }

  return { runs, overview, matrix };
}
