"""The values of one variable in two checkpoints as histograms over shared bins, in chunks.

Two passes over each side's values: the first finds the range and the moments, the second
counts into bins common to both sides, so the two histograms can be drawn on one axis.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterator, Optional, Tuple

from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.values.drift import BLOCK_ELEMENTS, READ_BYTES, Source, real_dtype

MAX_BINS = 200


@dataclasses.dataclass(frozen=True)
class Values:
    """One side: what was counted, its moments and its bin counts (NaN/inf not binned)."""

    key: str
    count: int
    non_finite: int
    min: Optional[float]
    max: Optional[float]
    mean: Optional[float]
    std: Optional[float]
    counts: Tuple[int, ...]

    def to_json(self) -> dict:
        return {"key": self.key, "count": self.count, "non_finite": self.non_finite, "min": self.min,
                "max": self.max, "mean": self.mean, "std": self.std, "counts": list(self.counts)}


@dataclasses.dataclass(frozen=True)
class Histogram:
    edges: Tuple[float, ...]
    base: Values
    target: Optional[Values]

    def to_json(self) -> dict:
        return {"edges": list(self.edges), "base": self.base.to_json(),
                "target": self.target.to_json() if self.target is not None else None}


def histogram(base: Tuple[Source, records.Variable], target: Optional[Tuple[Source, records.Variable]] = None,
              bins: int = 40) -> Histogram:
    """Histograms of (source, variable) ``base`` and optionally ``target`` over shared bins."""
    import numpy as np

    bins = max(1, min(MAX_BINS, int(bins)))
    sides = [side for side in (base, target) if side is not None]
    for source, variable in sides:
        if real_dtype(variable.dtype) is None:
            from tensorboard_plugin_ckptdiff.errors import InvalidArgument

            raise InvalidArgument(f"{variable.name!r} holds {variable.dtype} values, which have no histogram")
    moments = [_moments(source, variable) for source, variable in sides]
    lows = [m[2] for m in moments if m[0]]
    highs = [m[3] for m in moments if m[0]]
    low, high = (min(lows), max(highs)) if lows else (0.0, 0.0)
    if low == high:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, bins + 1)
    out = []
    for (source, variable), (count, non_finite, lo, hi, total, squares) in zip(sides, moments):
        counts = np.zeros(bins, np.int64)
        for block in _blocks(source, variable):
            counts += np.histogram(block[np.isfinite(block)], bins=edges)[0]
        mean = total / count if count else None
        std = math.sqrt(max(0.0, squares / count - mean * mean)) if count else None
        out.append(Values(variable.key, count, non_finite, lo if count else None, hi if count else None, mean, std,
                          tuple(int(c) for c in counts)))
    return Histogram(tuple(float(e) for e in edges), out[0], out[1] if len(out) > 1 else None)


def _moments(source: Source, variable: records.Variable):
    import numpy as np

    count = non_finite = 0
    low, high, total, squares = math.inf, -math.inf, 0.0, 0.0
    for block in _blocks(source, variable):
        finite = block[np.isfinite(block)]
        non_finite += len(block) - len(finite)
        if len(finite):
            count += len(finite)
            low, high = min(low, float(finite.min())), max(high, float(finite.max()))
            total += float(finite.sum())
            squares += float(np.dot(finite, finite))
    return count, non_finite, low, high, total, squares


def _blocks(source: Source, variable: records.Variable) -> Iterator:
    import numpy as np

    item = real_dtype(variable.dtype).itemsize
    for chunk in source.chunks(variable, max(item, READ_BYTES - READ_BYTES % item)):
        for start in range(0, len(chunk), BLOCK_ELEMENTS):
            yield chunk[start:start + BLOCK_ELEMENTS].astype(np.float64)
