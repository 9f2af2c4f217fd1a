"""Whether a checkpoint value of one dtype fits a variable of another: safe, lossy or incompatible."""

from __future__ import annotations

SAFE = "safe"
LOSSY = "lossy"
INCOMPATIBLE = "incompatible"

# (family, mantissa bits, exponent bits) for floats; (family, bits, signed) for integers.
# A cast is safe when every value of the source is exactly representable in the destination.
_FLOATS = {
    "float4_e2m1fn": (1, 2), "float8_e5m2": (2, 5), "float8_e5m2fnuz": (2, 5),
    "float8_e4m3fn": (3, 4), "float8_e4m3fnuz": (3, 4), "float8_e4m3b11fnuz": (3, 4),
    "bfloat16": (7, 8), "float16": (10, 5), "float32": (23, 8), "float64": (52, 11),
}
_INTS = {
    "int2": (2, True), "int4": (4, True), "int8": (8, True), "int16": (16, True), "int32": (32, True),
    "int64": (64, True), "uint2": (2, False), "uint4": (4, False), "uint8": (8, False),
    "uint16": (16, False), "uint32": (32, False), "uint64": (64, False),
    "qint8": (8, True), "quint8": (8, False), "qint16": (16, True), "quint16": (16, False), "qint32": (32, True),
}
_COMPLEX = {"complex64": 23, "complex128": 52}


def _family(dtype: str) -> str:
    if dtype == "bool":
        return "bool"
    if dtype in _FLOATS:
        return "float"
    if dtype in _INTS:
        return "int"
    if dtype in _COMPLEX:
        return "complex"
    return dtype  # string, resource, variant: only equal to themselves


def cast(saved: str, expected: str) -> str:
    """How a value saved as ``saved`` survives being loaded into ``expected``."""
    a, b = _family(saved), _family(expected)
    numeric = ("bool", "int", "float", "complex")
    if a not in numeric or b not in numeric:
        return SAFE if saved == expected else INCOMPATIBLE
    if saved == expected or a == "bool":
        return SAFE
    if a == "int" and b == "int":
        (sb, ss), (db, ds) = _INTS[saved], _INTS[expected]
        if ss == ds:
            return SAFE if db >= sb else LOSSY
        return SAFE if (not ss and ds and db > sb) else LOSSY
    if a == "int" and b in ("float", "complex"):
        bits = _INTS[saved][0] - (1 if _INTS[saved][1] else 0)
        mantissa = _FLOATS[expected][0] if b == "float" else _COMPLEX[expected]
        return SAFE if mantissa + 1 >= bits else LOSSY
    if a == "float" and b == "float":
        (sm, se), (dm, de) = _FLOATS[saved], _FLOATS[expected]
        return SAFE if dm >= sm and de >= se else LOSSY
    if a == "float" and b == "complex":
        return SAFE if _COMPLEX[expected] >= _FLOATS[saved][0] else LOSSY
    return LOSSY  # to bool, float to int, complex to real
