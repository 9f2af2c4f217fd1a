"""Where a model's architecture comes from: a live model, summaries in a run, a graph.

Each module turns one source into a records.Architecture whose variables carry the key each
loader would look up (name, object path, Keras layer slot); the sources that only know names
(TF1 graphs and meta graphs) take each variable's kind from records.kind_of.
"""

from __future__ import annotations

import math

from tensorboard_plugin_ckptdiff.formats import dtypes


def size_of(shape, dtype: str):
    """Bytes of a dense tensor, or None when a dimension or the item size is unknown (the item
    sizes are formats/dtypes.py's, as a bundle stores them)."""
    itemsize = dtypes.itemsize(dtype)
    if shape is None or itemsize is None or any(d is None or d < 0 for d in shape):
        return None
    return math.prod(shape) * itemsize
