// Builders for diff entries in the API.md shape, so each test shows its fixture in full.
export function variable(name, { key = name, shape = [2, 3], dtype = "float32", kind = "weight", layer = null } = {}) {
  return { key, name, shape, dtype, size_bytes: null, kind, layer };
}

export function entry(status, base, target, extra = {}) {
  return { status, base, target, cast: null, confidence: null, detail: "", ...extra };
}
