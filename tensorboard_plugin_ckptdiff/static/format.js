/** Text for shapes, sizes, times and the detail cell: pure functions shared by the views. */

export function shapeText(shape) {
  if (shape === null || shape === undefined) return "?";
  return "(" + shape.map((d) => (d === null ? "?" : String(d))).join(", ") + (shape.length === 1 ? ",)" : ")");
}

export function bytesText(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u += 1;
  }
  return (u === 0 ? String(v) : v.toFixed(v < 10 ? 1 : 0)) + " " + units[u];
}

export function timeText(wallTime) {
  if (wallTime === null || wallTime === undefined) return "";
  const d = new Date(wallTime * 1000);
  const pad = (x) => String(x).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** The detail cell: renamed rows say old → new with the confidence, dtype rows the cast class. */
export function detailText(entry) {
  if (entry.status === "renamed" && entry.base && entry.target) {
    const pct = entry.confidence === null || entry.confidence === undefined ? "" : ` (${Math.round(entry.confidence * 100)}%)`;
    return `${entry.target.name} → ${entry.base.name}${pct}` + (entry.detail ? " · " + entry.detail : "");
  }
  if (entry.status === "dtype_mismatch" && entry.cast) {
    const cast = { safe: "safe cast", lossy: "lossy cast", incompatible: "incompatible cast" }[entry.cast] || entry.cast;
    return `${cast}` + (entry.detail ? " · " + entry.detail : "");
  }
  return entry.detail || "";
}
