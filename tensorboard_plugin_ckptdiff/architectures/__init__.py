"""Where a model's architecture comes from: a live model, summaries in a run, a graph.

Each module turns one source into a records.Architecture whose variables carry the key each
loader would look up (name, object path, Keras layer slot); the sources that only know names
(TF1 graphs and meta graphs) take each variable's kind from records.kind_of.
"""

from __future__ import annotations

def size_of(shape, dtype: str):
    """Bytes of a dense tensor, or None when a dimension or the item size is unknown."""
    import numpy as np

    if shape is None or dtype == "string" or any(d is None or d < 0 for d in shape):
        return None
    try:
        itemsize = np.dtype(dtype).itemsize
    except TypeError:
        try:
            import ml_dtypes  # bfloat16, float8: not numpy names

            itemsize = np.dtype(getattr(ml_dtypes, dtype)).itemsize
        except (AttributeError, TypeError):
            return None
    n = 1
    for d in shape:
        n *= d
    return n * itemsize
