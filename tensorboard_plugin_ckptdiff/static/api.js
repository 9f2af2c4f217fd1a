/** The plugin's HTTP routes (API.md), by relative URL, with the JSON error body's message. */

export class ApiError extends Error {
  constructor(message, { status = 0, code = "request_failed" } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

/** "route?k=v&..." relative to the page's <base href> (data/plugin/ckptdiff/), never absolute. */
export function routeUrl(route, params = {}) {
  const q = Object.keys(params)
    .filter((k) => params[k] !== null && params[k] !== undefined && params[k] !== "")
    .map((k) => encodeURIComponent(k) + "=" + encodeURIComponent(params[k]))
    .join("&");
  return q ? `${route}?${q}` : route;
}

/** The message a user can act on, from a failed response's body (JSON per API.md, or text). */
export function errorMessage(status, bodyText) {
  try {
    const body = JSON.parse(bodyText);
    if (body && body.error && body.error.message) return { message: body.error.message, code: body.error.code || "error" };
  } catch (_) {
    // not JSON: TensorBoard's own errors are text/plain
  }
  const text = (bodyText || "").trim().split("\n")[0].slice(0, 300);
  return { message: text || `the server answered ${status}`, code: "http_" + status };
}

export function makeApi(fetchFn = (...a) => fetch(...a)) {
  async function getJson(route, params, { signal, accept202 = false } = {}) {
    let response;
    try {
      response = await fetchFn(routeUrl(route, params), { signal, headers: { Accept: "application/json" } });
    } catch (e) {
      if (e && e.name === "AbortError") throw e;
      throw new ApiError(`TensorBoard did not answer (${e && e.message ? e.message : e}); is it still running?`);
    }
    const text = await response.text();
    if (!response.ok) {
      const { message, code } = errorMessage(response.status, text);
      throw new ApiError(message, { status: response.status, code });
    }
    try {
      const body = JSON.parse(text);
      return accept202 ? { status: response.status, body } : body;
    } catch (e) {
      throw new ApiError(`the answer of ${route} is not JSON: ${e.message}`, { status: response.status, code: "bad_json" });
    }
  }

  return {
    getJson,
    runs: (opts) => getJson("runs", {}, opts),
    overview: ({ q = "", offset = 0, limit = null } = {}, opts) => getJson("overview", { q, offset, limit }, opts),
    matrix: ({ q = "", rowOffset = 0, rowLimit = null, colOffset = 0, colLimit = null } = {}, opts) =>
      getJson("matrix", { q, row_offset: rowOffset, row_limit: rowLimit, col_offset: colOffset, col_limit: colLimit }, opts),
    checkpoint: (id, opts) => getJson("checkpoint", { id }, opts),
    architecture: (id, opts) => getJson("architecture", { id }, opts),
    diff: ({ base, target, mode = "auto", kinds = null }, opts) =>
      getJson("diff", { base, target, mode, kinds: kinds && kinds.length ? kinds.join(",") : null }, opts),
    // 202 means "still computing": the caller gets {status, body} and asks again.
    drift: ({ base, target }, opts) => getJson("drift", { base, target }, { ...opts, accept202: true }),
  };
}
