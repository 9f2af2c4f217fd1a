/** Value drift between two checkpoints: relative change per layer (SVG bars), a sortable
 * per-variable table, and for one variable a histogram of both checkpoints' values. */

import { h, loading, errorBox, middleText } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const POLL_MS = 400;
const BASE_COLOR = "#1e88e5";
const TARGET_COLOR = "#f4511e";
const COLUMNS = [
  ["name", "Variable"], ["layer", "Layer"], ["relative", "‖Δ‖/‖base‖"], ["l2", "‖Δ‖"],
  ["max_abs", "max |Δ|"], ["cosine", "cosine"],
];
const TEXT_COLUMNS = ["name", "layer"];
// a cosine between checkpoints of one run sits just under 1: four digits would show 1.000 for all
const DIGITS = { cosine: 7 };

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children) el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  return el;
}

export function fmt(x, digits = 4) {
  if (x === null || x === undefined) return "n/a";
  if (x === 0) return "0";
  const a = Math.abs(x);
  return a >= 1e4 || a < 1e-3 ? x.toExponential(digits - 1) : x.toPrecision(digits);
}

/** Poll /drift until it answers 200, showing the progress; a newer render stops older polls. */
export async function renderDrift(container, api, base, target) {
  const token = {};
  container.driftToken = token;
  const bar = h("progress", { max: "1", value: "0", "aria-label": "Reading values" });
  container.replaceChildren(loading("Reading the values of both checkpoints …"), bar);
  try {
    for (;;) {
      const { status, body } = await api.drift({ base, target });
      if (container.driftToken !== token) return;
      if (status !== 202) {
        container.replaceChildren(driftView(body, api, base, target));
        return;
      }
      bar.value = body.progress || 0;
      bar.textContent = `${Math.round((body.progress || 0) * 100)}%`;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      if (container.driftToken !== token) return;
    }
  } catch (e) {
    if (container.driftToken === token) container.replaceChildren(errorBox(e.message, "Value drift failed"));
  }
}

function driftView(body, api, base, target) {
  const histogram = h("div", { class: "drift-histogram", "aria-live": "polite" },
    h("p", { class: "note" }, "Choose a variable in the table to see both checkpoints' values."));
  const show = (entry) => showHistogram(histogram, api, base, target, entry);
  return h("div", { class: "drift" },
    h("p", { class: "drift-summary" },
      `${body.entries.length} variables compared, ${body.skipped.length} skipped` + (body.mode ? ` (paired by ${body.mode})` : "")),
    layerChart(body.layers),
    entryTable(body.entries, show),
    histogram,
    skippedList(body.skipped));
}

/** Horizontal bars of relative change per layer, in model order or largest first. */
export function layerChart(layers) {
  const box = h("section", { class: "drift-layers" }, h("h3", {}, "Relative change per layer"));
  const hover = h("p", { class: "drift-hover note", "aria-live": "polite" }, "Hover a bar for its values.");
  let largestFirst = false;
  const order = h("button", { type: "button", class: "chip" }, "Largest first");
  const chart = h("div", {});
  order.addEventListener("click", () => {
    largestFirst = !largestFirst;
    order.textContent = largestFirst ? "Model order" : "Largest first";
    draw();
  });
  function draw() {
    const rows = layers.slice();
    if (largestFirst) rows.sort((a, b) => (b.relative ?? Infinity) - (a.relative ?? Infinity));
    chart.replaceChildren(bars(rows, hover));
  }
  draw();
  box.append(order, chart, hover);
  return box;
}

function bars(rows, hover) {
  const rowH = 20, label = 180, width = 640, plot = width - label - 70;
  const max = Math.max(1e-12, ...rows.map((r) => r.relative ?? 0));
  const svg = s("svg", { width, height: rows.length * rowH + 4, role: "img", "aria-label": "Relative change per layer", class: "drift-bars" });
  rows.forEach((row, i) => {
    const y = i * rowH + 2;
    const text = `${row.layer}: relative ${fmt(row.relative)}, ‖Δ‖ ${fmt(row.l2)}, ‖base‖ ${fmt(row.base_norm)}, ${row.variables ?? "?"} variables`;
    const w = row.relative === null ? plot : Math.max(row.relative > 0 ? 1 : 0, (row.relative / max) * plot);
    const g = s("g", { tabindex: "0", class: "drift-bar" },
      s("title", {}, text),
      s("text", { x: label - 6, y: y + 14, "text-anchor": "end", "font-size": 12, fill: "currentColor" }, clip(row.layer, 26)),
      s("rect", { x: label, y: y + 3, width: w, height: rowH - 6, fill: row.relative === null ? "none" : BASE_COLOR,
        stroke: row.relative === null ? BASE_COLOR : null, "stroke-dasharray": row.relative === null ? "4 3" : null }),
      s("text", { x: label + w + 4, y: y + 14, "font-size": 11, fill: "currentColor" }, fmt(row.relative, 3)));
    const say = () => { hover.textContent = text; };
    g.addEventListener("mouseenter", say);
    g.addEventListener("focus", say);
    svg.appendChild(g);
  });
  return svg;
}

function clip(text, n) {
  return text.length > n ? "…" + text.slice(text.length - n + 1) : text;
}

/** Per-variable table; a header click sorts by that column (again: the other way). */
export function entryTable(entries, onPick) {
  let key = "relative", descending = true;
  const tbody = h("tbody", {});
  const heads = COLUMNS.map(([k, title]) => {
    const th = h("th", { scope: "col", class: TEXT_COLUMNS.includes(k) ? null : "num" }, h("button", { type: "button", class: "sort" }, title));
    th.firstChild.addEventListener("click", () => {
      descending = key === k ? !descending : !TEXT_COLUMNS.includes(k);
      key = k;
      fill();
    });
    return th;
  });
  function fill() {
    heads.forEach((th, i) => th.setAttribute("aria-sort", COLUMNS[i][0] === key ? (descending ? "descending" : "ascending") : "none"));
    const rows = entries.slice().sort((a, b) => compare(a[key], b[key]) * (descending ? -1 : 1));
    tbody.replaceChildren(...rows.map((e) => {
      const tr = h("tr", { tabindex: "0", class: "drift-row" },
        ...COLUMNS.map(([k]) => k === "name" ? nameCell(e)
          : h("td", { class: TEXT_COLUMNS.includes(k) ? "" : "num" }, TEXT_COLUMNS.includes(k) ? e[k] ?? "" : fmt(e[k], DIGITS[k]))));
      const pick = () => {
        for (const other of tbody.children) other.removeAttribute("aria-selected");
        tr.setAttribute("aria-selected", "true");
        onPick(e);
      };
      tr.addEventListener("click", pick);
      tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); pick(); } });
      return tr;
    }));
  }
  fill();
  return h("section", { class: "drift-table" }, h("h3", {}, "Variables"),
    h("table", {}, h("thead", {}, h("tr", {}, ...heads)), tbody));
}

/** The variable as the diff names it: its readable name, its key under it when it differs. */
function nameCell(e) {
  const keys = [...new Set([e.base_key, e.target_key].filter((k) => k && k !== e.name))];
  return h("td", { class: "var" }, middleText(e.name, "var-name"), keys.map((k) => middleText(k, "var-key mono")));
}

/** Undefined figures (null) sort below every number whichever the direction. */
export function compare(a, b) {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  return typeof a === "string" ? a.localeCompare(b) : a - b;
}

async function showHistogram(box, api, base, target, entry) {
  const token = {};
  box.histToken = token;
  box.replaceChildren(loading(`Reading the values of ${entry.name} …`));
  try {
    const stats = await api.getJson("tensor_stats", { base, target, base_key: entry.base_key, target_key: entry.target_key, bins: 40 });
    if (box.histToken === token) box.replaceChildren(histogramView(entry, stats));
  } catch (e) {
    if (box.histToken === token) box.replaceChildren(errorBox(e.message, "Histogram failed"));
  }
}

const OPACITY = 0.45;

/** A legend swatch drawn like the bars: `colors` overlaid at the bars' opacity. */
function swatch(colors) {
  return s("svg", { width: 14, height: 12, class: "swatch", "aria-hidden": "true" },
    ...colors.map((fill) => s("rect", { x: 0, y: 0, width: 14, height: 12, fill, "fill-opacity": OPACITY })));
}

/** Round tick values from 0 to `top`: 0, then steps of 1, 2 or 5 × 10^k. */
export function ticks(top, count = 4) {
  if (top <= 0) return [0];
  const raw = top / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((x) => x >= raw);
  const out = [];
  for (let v = 0; v <= top + 1e-9; v += step) out.push(Math.round(v));
  return out;
}

/** Both sides' counts over the shared bins, drawn as overlapping translucent bars, with a
 * count axis and a legend for every colour (where they overlap, the two mix). */
export function histogramView(entry, stats) {
  const width = 640, height = 180, left = 56, right = 16, bottom = 24, topPad = 8;
  const edges = stats.edges, bins = edges.length - 1;
  const sides = [["base", BASE_COLOR], ["target", TARGET_COLOR]].filter(([k]) => stats[k]);
  const top = Math.max(1, ...sides.flatMap(([k]) => stats[k].counts));
  const plotH = height - topPad;
  const bw = (width - left - right) / bins;
  const y = (c) => height - (c / top) * plotH;
  const svg = s("svg", { width, height: height + bottom, role: "img", "aria-label": `Histogram of ${entry.name}`, class: "drift-hist" });
  for (const [k, color] of sides) {
    stats[k].counts.forEach((c, i) => {
      svg.appendChild(s("rect", { x: left + i * bw, y: y(c), width: Math.max(1, bw - 1), height: height - y(c), fill: color, "fill-opacity": OPACITY },
        s("title", {}, `${k}: ${c} values in [${fmt(edges[i])}, ${fmt(edges[i + 1])})`)));
    });
  }
  const axis = s("g", { class: "y-axis" },
    s("line", { x1: left, x2: left, y1: topPad, y2: height, stroke: "currentColor" }),
    s("text", { x: 12, y: topPad + plotH / 2, "font-size": 11, fill: "currentColor", "text-anchor": "middle",
      transform: `rotate(-90 12 ${topPad + plotH / 2})` }, "values per bin"));
  for (const t of ticks(top)) {
    axis.append(
      s("line", { x1: left - 4, x2: left, y1: y(t), y2: y(t), stroke: "currentColor" }),
      s("text", { x: left - 6, y: y(t) + 4, "font-size": 11, fill: "currentColor", "text-anchor": "end" }, t.toLocaleString()));
  }
  svg.append(axis,
    s("line", { x1: left, x2: width - right, y1: height, y2: height, stroke: "currentColor" }),
    s("text", { x: left, y: height + 16, "font-size": 11, fill: "currentColor" }, fmt(edges[0])),
    s("text", { x: width - right, y: height + 16, "font-size": 11, fill: "currentColor", "text-anchor": "end" }, fmt(edges[bins])));
  const items = sides.map(([k, color]) => h("span", { class: "drift-legend", dataset: { side: k } }, swatch([color]),
    ` ${k}: mean ${fmt(stats[k].mean)}, std ${fmt(stats[k].std)}, range [${fmt(stats[k].min)}, ${fmt(stats[k].max)}]` +
    (stats[k].non_finite ? `, ${stats[k].non_finite} NaN/inf` : "")));
  if (sides.length === 2) {
    items.push(h("span", { class: "drift-legend", dataset: { side: "both" } }, swatch(sides.map(([, c]) => c)), " both (where the bars overlap)"));
  }
  return h("div", {}, h("h3", {}, entry.name), svg, h("p", { class: "note drift-legends" }, items));
}

function skippedList(skipped) {
  if (!skipped.length) return h("div", {});
  return h("section", { class: "drift-skipped" }, h("h3", {}, `Not compared (${skipped.length})`),
    h("ul", {}, ...skipped.map((x) => h("li", {}, h("code", {}, x.name), ` — ${x.reason.replace(/_/g, " ")}` + (x.detail ? `: ${x.detail}` : "")))));
}
