/** The comparison a link reopens: state <-> p.ckptdiff.* URL-hash params, and the shareable URL. */

export const PLUGIN = "ckptdiff";
export const KINDS = ["weight", "optimizer", "metadata"];
// The views, in the order of their tabs. A link without `view` opens the one chooseDefaults picks.
export const VIEWS = ["overview", "diff", "drift", "browser", "matrix"];
const PREFIX = `p.${PLUGIN}.`;
const TAB = "__tab__";

export function defaultState() {
  return {
    view: null, // one of VIEWS; null: let chooseDefaults decide
    base: null, // "architecture:ID" | "checkpoint:ID"
    target: null, // "checkpoint:ID"
    pinned: false, // the user chose the target: a new base does not re-pair it
    mode: "auto", // the server lists the modes it knows (/runs "modes"); it refuses others
    kinds: ["weight"],
    query: "",
    statuses: [], // chips pressed; empty: all
    sort: null, // {column, direction}
  };
}

const isRef = (v) => typeof v === "string" && /^(checkpoint|architecture):./s.test(v);
const isMode = (v) => typeof v === "string" && /^[a-z][a-z0-9_]*$/.test(v);

/**
 * State from plugin data (the p.ckptdiff.* params without their prefix, as TensorBoard's
 * GetURLPluginData hands them over). Unknown or malformed values fall back to the defaults:
 * a link is user input.
 */
export function stateFromParams(params) {
  const s = defaultState();
  const p = params || {};
  if (VIEWS.includes(p.view)) s.view = p.view;
  if (isRef(p.base)) s.base = p.base;
  if (isRef(p.target)) s.target = p.target;
  if (s.target && p.pin === "1") s.pinned = true;
  if (isMode(p.mode)) s.mode = p.mode;
  if (typeof p.kinds === "string") {
    const kinds = p.kinds.split(",").filter((k) => KINDS.includes(k));
    if (kinds.length) s.kinds = KINDS.filter((k) => kinds.includes(k));
  }
  if (typeof p.q === "string") s.query = p.q;
  if (typeof p.status === "string" && p.status) s.statuses = p.status.split(",").filter(Boolean);
  if (typeof p.sort === "string") {
    const [column, direction] = p.sort.split(":");
    if (column) s.sort = { column, direction: direction === "desc" ? "desc" : "asc" };
  }
  return s;
}

/** The params that differ from the defaults, so a link stays short. */
export function paramsFromState(state) {
  const d = defaultState();
  const p = {};
  if (state.view) p.view = state.view;
  if (state.base) p.base = state.base;
  if (state.target) p.target = state.target;
  if (state.target && state.pinned) p.pin = "1";
  if (state.mode && state.mode !== d.mode) p.mode = state.mode;
  if (state.kinds && state.kinds.join(",") !== d.kinds.join(",")) p.kinds = state.kinds.join(",");
  if (state.query) p.q = state.query;
  if (state.statuses && state.statuses.length) p.status = state.statuses.join(",");
  if (state.sort && state.sort.column) p.sort = `${state.sort.column}:${state.sort.direction || "asc"}`;
  return p;
}

/** TensorBoard's hash dictionary: "tab&key=value&..." with URI-encoded keys and values. */
export function parseHash(hash) {
  const dict = {};
  const text = (hash || "").replace(/^#/, "");
  if (!text) return dict;
  for (const part of text.split("&")) {
    const kv = part.split("=");
    if (kv.length === 1) dict[TAB] = kv[0];
    else if (kv.length === 2) dict[decodeURIComponent(kv[0])] = decodeURIComponent(kv[1]);
  }
  return dict;
}

export function formatHash(dict) {
  const tab = dict[TAB] !== undefined ? dict[TAB] : "";
  const rest = Object.keys(dict)
    .filter((k) => k !== TAB)
    .map((k) => encodeURIComponent(k) + "=" + encodeURIComponent(dict[k]))
    .join("&");
  return rest ? `${tab}&${rest}` : tab;
}

/** Our params out of a full hash dictionary (what GetURLPluginData does on the host side). */
export function pluginParams(dict) {
  const out = {};
  for (const k of Object.keys(dict)) if (k.startsWith(PREFIX)) out[k.slice(PREFIX.length)] = dict[k];
  return out;
}

/**
 * The TensorBoard URL that reopens this comparison: the host page's URL with our tab selected
 * and our params replaced; the host's other hash params (its own settings) are kept.
 */
export function shareUrl(topHref, state) {
  const url = new URL(topHref);
  const dict = parseHash(url.hash);
  for (const k of Object.keys(dict)) if (k.startsWith(PREFIX)) delete dict[k];
  dict[TAB] = PLUGIN;
  const params = paramsFromState(state);
  for (const k of Object.keys(params)) dict[PREFIX + k] = params[k];
  url.hash = formatHash(dict);
  return url.toString();
}
