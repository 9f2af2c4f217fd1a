"""Where a model's architecture comes from: a live model, summaries in a run, a graph.

Each module turns one source into a records.Architecture whose variables carry the key each
loader would look up (name, object path, Keras layer slot). ``kind_of_name`` is shared by
the sources that only know names (TF1 graphs and meta graphs).
"""

from __future__ import annotations

import re

from tensorboard_plugin_ckptdiff import records

# Step counters a TF1 Saver or a Keras optimizer keeps: needed to resume, not to infer.
_COUNTERS = {"global_step", "iterations", "iteration", "save_counter", "step"}
# Slot suffixes of the TF1 optimizers (tf.compat.v1.train.*) and the accumulators they
# keep at the top level: optimizer state, not weights.
_SLOT = re.compile(
    r"/(Adam|Adam_\d+|Momentum|RMSProp|RMSProp_\d+|Adagrad|AdagradDA|Adadelta|Adadelta_\d+|"
    r"Ftrl|Ftrl_\d+|ProximalAdagrad|Adamax|Adamax_\d+|Nadam|Nadam_\d+)$")
_ACCUMULATORS = re.compile(r"(^|/)(beta1_power|beta2_power)(_\d+)?$")


def kind_of_name(name: str) -> str:
    """weight / optimizer / metadata for a TF1-style variable name."""
    if name.rsplit("/", 1)[-1] in _COUNTERS:
        return records.METADATA
    if _SLOT.search(name) or _ACCUMULATORS.search(name):
        return records.OPTIMIZER
    return records.WEIGHT


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
