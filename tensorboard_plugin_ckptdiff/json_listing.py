"""The text of ``ckptdiff ls --json``, exactly as ``json.dumps(..., indent=1)`` writes it, fast.

With an indent, the standard library encodes in pure Python (its C encoder is used only
without one): for 20,000 variables that cost more than reading the checkpoint. The variable
rows all have one shape, so each is written from a template, its strings escaped by the C
escaper json itself uses; tests hold the text against ``json.dumps`` byte for byte.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii as _escape  # the C escaper when available

# A Variable.to_json() at depth 2 of the indent-1 document (keys in to_json's order).
_ROW = ('  {\n   "key": %s,\n   "name": %s,\n   "shape": %s,\n   "dtype": %s,\n'
        '   "size_bytes": %s,\n   "kind": %s,\n   "layer": %s\n  }')
_SEPARATOR = ",\n    "


def _scalar(value) -> str:
    if value.__class__ is str:
        return _escape(value)
    if value is None:
        return "null"
    if value.__class__ is int:
        return int.__repr__(value)
    return json.dumps(value)  # bool, float (NaN and Infinity as json writes them), numpy ints


def _shape(shape) -> str:
    if shape is None:
        return "null"
    if not shape:
        return "[]"
    return "[\n    " + _SEPARATOR.join(map(_scalar, shape)) + "\n   ]"


def _row(v) -> str:
    layer = v.layer
    return _ROW % (_scalar(v.key), _scalar(v.name), _shape(v.shape), _scalar(v.dtype), _scalar(v.size_bytes),
                   _scalar(v.kind), "null" if layer is None else _scalar(layer))


def ls_json(checkpoint) -> str:
    """``json.dumps({"checkpoint": ..., "variables": [...], "total": n}, indent=1)``."""
    variables = checkpoint.variables
    head = json.dumps(checkpoint.to_json(), indent=1).replace("\n", "\n ")
    rows = "[\n" + ",\n".join(map(_row, variables)) + "\n ]" if variables else "[]"
    return f'{{\n "checkpoint": {head},\n "variables": {rows},\n "total": {len(variables)}\n}}'
