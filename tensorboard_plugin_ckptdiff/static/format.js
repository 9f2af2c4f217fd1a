/** Text for shapes, sizes, times and the detail cell: pure functions shared by the views. */

/** The last component of a '/'-separated path. */
export function baseName(path) {
  const parts = (path || "").split("/");
  return parts[parts.length - 1] || path;
}

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

/** The detail cell: renamed rows say how sure the pairing is (both names are in their own
 * columns), dtype rows the cast class, then the server's sentence. */
export function detailText(entry) {
  if (entry.status === "renamed" && entry.confidence !== null && entry.confidence !== undefined) {
    return `${Math.round(entry.confidence * 100)}% sure` + (entry.detail ? " · " + entry.detail : "");
  }
  if (entry.status === "dtype_mismatch" && entry.cast) {
    const cast = { safe: "safe cast", lossy: "lossy cast", incompatible: "incompatible cast" }[entry.cast] || entry.cast;
    return `${cast}` + (entry.detail ? " · " + entry.detail : "");
  }
  return entry.detail || "";
}

const TAIL_CHARS = 32;
const TF_VALUE_SUFFIX = ["", ".ATTRIBUTES", "VARIABLE_VALUE"];

/**
 * A long name split for a middle ellipsis: [head, tail], where the tail is the part that says
 * which variable it is (its last path components: "dense_1/kernel"), kept whole while the head
 * gives way. Object-based keys end in "/.ATTRIBUTES/VARIABLE_VALUE": the component before that
 * suffix stays in the tail. head + tail is always the whole text (what a copy copies).
 */
export function splitMiddle(text) {
  const s = String(text ?? "");
  if (s.length <= TAIL_CHARS) return [s, ""];
  const parts = s.split("/");
  let keep = 1;
  if (parts.length >= 3 && parts[parts.length - 1] === TF_VALUE_SUFFIX[2] && parts[parts.length - 2] === TF_VALUE_SUFFIX[1]) keep = 3;
  let tail = parts.slice(parts.length - keep).join("/");
  for (let i = parts.length - keep - 1; i > 0; i--) {
    const longer = parts[i] + "/" + tail;
    if (longer.length > TAIL_CHARS) break;
    tail = longer;
  }
  if (tail.length > 2 * TAIL_CHARS) tail = tail.slice(tail.length - 2 * TAIL_CHARS);
  if (tail.length >= s.length) return [s, ""];
  const head = s.slice(0, s.length - tail.length);
  return [head, tail];
}

/** A label cut in the middle to at most `max` characters ("experiments/2025-…/added_layer/train"),
 * for places that cannot lay text out (a closed <select> shows its option's text as is). */
export function middleLabel(text, max = 60) {
  const s = String(text ?? "");
  if (s.length <= max) return s;
  const tail = Math.ceil((max - 1) * 0.8); // the end says which item; the start, where it lives
  return s.slice(0, max - 1 - tail) + "…" + s.slice(s.length - tail);
}
