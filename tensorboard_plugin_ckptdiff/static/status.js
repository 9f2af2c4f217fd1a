/** What each diff status looks like: a label, an icon and a colour class (never colour alone). */

// Severity order: what blocks a restore first, what is fine last. Sorting by status uses it.
export const STATUSES = [
  "shape_mismatch",
  "dtype_mismatch",
  "missing",
  "renamed",
  "unexpected",
  "match",
];

// Glyphs differ in shape, so the rows read without colour (Okabe-Ito palette in style.css).
export const STATUS_INFO = {
  shape_mismatch: { label: "shape mismatch", icon: "≠", hint: "both sides hold it, with different shapes" },
  dtype_mismatch: { label: "dtype mismatch", icon: "≈", hint: "both sides hold it, with different dtypes" },
  missing: { label: "missing", icon: "−", hint: "the base expects it; the target does not hold it" },
  renamed: { label: "renamed", icon: "→", hint: "the target holds it under another name" },
  unexpected: { label: "unexpected", icon: "+", hint: "the target holds it; the base does not expect it" },
  match: { label: "match", icon: "✓", hint: "restored as is" },
};

export const CAST_LABEL = {
  safe: "safe cast",
  lossy: "lossy cast",
  incompatible: "incompatible",
};

export function statusRank(status) {
  const i = STATUSES.indexOf(status);
  return i < 0 ? STATUSES.length : i;
}

export function statusLabel(status) {
  return (STATUS_INFO[status] || { label: status }).label;
}
