"""TensorFlow's DataType enum (types.proto) as numpy-style dtype names and numpy dtypes.

Names and item sizes are plain tables so listing a checkpoint needs no numpy; ``numpy_dtype``
imports numpy and ml_dtypes (bfloat16, float8, int4) only when values are read.
"""

from __future__ import annotations

from typing import Optional

# enum value -> numpy-style name (TF's own dtype.name for the same enum)
NAMES = {
    1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 7: "string",
    8: "complex64", 9: "int64", 10: "bool", 11: "qint8", 12: "quint8", 13: "qint32",
    14: "bfloat16", 15: "qint16", 16: "quint16", 17: "uint16", 18: "complex128", 19: "float16",
    20: "resource", 21: "variant", 22: "uint32", 23: "uint64", 24: "float8_e5m2",
    25: "float8_e4m3fn", 26: "float8_e4m3fnuz", 27: "float8_e4m3b11fnuz", 28: "float8_e5m2fnuz",
    29: "int4", 30: "uint4", 31: "int2", 32: "uint2", 33: "float4_e2m1fn",
}
_REF_OFFSET = 100  # DT_FLOAT_REF = 101 ...: a reference to the same type

# Quantized types are stored as their plain integer type.
_STORAGE = {"qint8": "int8", "quint8": "uint8", "qint16": "int16", "quint16": "uint16", "qint32": "int32"}
_ML_DTYPES = {"bfloat16", "float8_e5m2", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e4m3b11fnuz",
              "float8_e5m2fnuz", "int4", "uint4", "int2", "uint2", "float4_e2m1fn"}

# Bytes per element in a bundle; TF stores sub-byte types one element per byte.
ITEMSIZE = {
    "float32": 4, "float64": 8, "int32": 4, "uint8": 1, "int16": 2, "int8": 1, "complex64": 8,
    "int64": 8, "bool": 1, "qint8": 1, "quint8": 1, "qint32": 4, "bfloat16": 2, "qint16": 2,
    "quint16": 2, "uint16": 2, "complex128": 16, "float16": 2, "uint32": 4, "uint64": 8,
    "float8_e5m2": 1, "float8_e4m3fn": 1, "float8_e4m3fnuz": 1, "float8_e4m3b11fnuz": 1,
    "float8_e5m2fnuz": 1, "int4": 1, "uint4": 1, "int2": 1, "uint2": 1, "float4_e2m1fn": 1,
}


def name(enum: int) -> str:
    """The numpy-style name of a DataType value; unknown values read "dtype_<n>"."""
    if enum > _REF_OFFSET:
        enum -= _REF_OFFSET
    return NAMES.get(enum) or f"dtype_{enum}"


_ENUMS = {name: enum for enum, name in NAMES.items()}


def enum(dtype_name: str) -> int:
    """The DataType value of a numpy-style dtype name (the inverse of ``name``)."""
    return _ENUMS[dtype_name]


def itemsize(dtype_name: str) -> Optional[int]:
    """Bytes per element, or None for string, resource, variant and unknown types."""
    return ITEMSIZE.get(dtype_name)


def numpy_dtype(dtype_name: str):
    """The numpy dtype holding values of ``dtype_name`` (little-endian), or None when numpy
    has no fixed-size type for it (string, resource, variant)."""
    import numpy as np

    storage = _STORAGE.get(dtype_name, dtype_name)
    if storage in _ML_DTYPES:
        import ml_dtypes

        found = getattr(ml_dtypes, storage, None)
        return None if found is None else np.dtype(found)
    if storage == "bool":
        return np.dtype(np.bool_)
    if storage in ITEMSIZE:
        return np.dtype(storage).newbyteorder("<")
    return None
