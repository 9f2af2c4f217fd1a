"""The text of ``ckptdiff ls --json``, exactly as ``json.dumps(..., indent=1)`` writes it, fast.

With an indent, the standard library encodes in pure Python (its C encoder is used only
without one): for 20,000 variables that cost more than reading the checkpoint. The variable
rows all have one shape, so each is written from a template, its strings escaped a column at
a time by the C escaper json itself uses; tests hold the text against ``json.dumps`` byte for byte.
"""

from __future__ import annotations

import json
from itertools import chain, repeat
from json.encoder import encode_basestring_ascii as _escape  # the C escaper when available

# A Variable.to_json() at depth 2 of the indent-1 document (keys in to_json's order), as the
# text between its values; each row after the first is preceded by ",\n".
_BETWEEN = (',\n  {\n   "key": ', ',\n   "name": ', ',\n   "shape": ', ',\n   "dtype": ', ',\n   "size_bytes": ',
            ',\n   "kind": ', ',\n   "layer": ', '\n  }')
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


def _strings(values) -> list:
    """Each value as JSON, a column at a time: strings through the C escaper in one map."""
    try:
        return list(map(_escape, values))
    except TypeError:  # a None or a number among them
        return [_scalar(v) for v in values]


def _few(values) -> list:
    """Each value of a column with few distinct values (dtypes, kinds, layers) as JSON: each
    distinct one written once."""
    written = {v: _scalar(v) for v in set(values)}
    return list(map(written.__getitem__, values))


def _rows(variables) -> str:
    """The variables' rows, ",\n" between them: one join over the pieces of every row (a string
    per row, formatted and then joined, took twice as long)."""
    sizes = [v.size_bytes for v in variables]
    shapes: dict = {}  # a model has few distinct shapes: each is written once
    columns = (
        _strings([v.key for v in variables]), _strings([v.name for v in variables]),
        [shapes.get(v.shape) or shapes.setdefault(v.shape, _shape(v.shape)) for v in variables],
        _few([v.dtype for v in variables]),
        [int.__repr__(n) if n.__class__ is int else _scalar(n) for n in sizes],
        _few([v.kind for v in variables]), _few([v.layer for v in variables]))
    # Row by row: the text before each value, the value; then the row's closing brace.
    iterables = []
    for between, column in zip(_BETWEEN, columns):
        iterables += (repeat(between), column)
    iterables.append(repeat(_BETWEEN[-1]))
    return "".join(chain.from_iterable(zip(*iterables)))[2:]  # no separator before the first row


def ls_json(checkpoint) -> str:
    """``json.dumps({"checkpoint": ..., "variables": [...], "total": n}, indent=1)``."""
    variables = checkpoint.variables
    head = json.dumps(checkpoint.to_json(), indent=1).replace("\n", "\n ")
    # (the command's edge pauses the collector: tens of thousands of tuples, no cycles)
    rows = "[\n" + _rows(variables) + "\n ]" if variables else "[]"
    return f'{{\n "checkpoint": {head},\n "variables": {rows},\n "total": {len(variables)}\n}}'
