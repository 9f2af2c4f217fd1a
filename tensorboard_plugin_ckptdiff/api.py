"""The Python API behind ``tensorboard_plugin_ckptdiff.compare``: any side a user has in hand
(a path, a read() result, an Architecture, a live Keras model or tf.Module) becomes a record."""

from __future__ import annotations

from typing import TYPE_CHECKING

import os

from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.errors import InvalidArgument

if TYPE_CHECKING:  # the diff package is imported when a diff is made, not to name its type
    from tensorboard_plugin_ckptdiff.diff.report import Report


def compare(base, target, mode: str = "auto", kinds=None) -> Report:
    from tensorboard_plugin_ckptdiff import diff

    return diff.compare(as_base(base), as_target(target), mode=mode, kinds=kinds)


def as_base(side):
    """What is restored into. A ``.keras`` archive stands for the model it carries."""
    side = _coerce(side)
    if isinstance(side, records.Checkpoint) and side.format == records.KERAS_ARCHIVE and side.architecture:
        return side.architecture
    return side


def as_target(side):
    """What is read: a ``.keras`` archive is read as the weights it holds."""
    return _coerce(side)


def _coerce(side):
    if isinstance(side, (records.Checkpoint, records.Architecture)):
        return side
    if isinstance(side, (str, os.PathLike)):
        from tensorboard_plugin_ckptdiff import formats

        return formats.read(os.fspath(side))
    if _is_model(side):
        from tensorboard_plugin_ckptdiff.architectures import live

        return live.from_model(side)
    raise InvalidArgument(
        f"cannot compare a {type(side).__name__}: give a checkpoint path, a read() result, "
        "an Architecture, or a Keras model / tf.Module")


def _is_model(obj) -> bool:
    # By class ancestry, so a check never imports TensorFlow or Keras.
    names = {f"{c.__module__}.{c.__qualname__}" for c in type(obj).__mro__}
    return any(n.endswith(".Module") and n.startswith("tensorflow") for n in names) or any(
        n.split(".", 1)[0] in ("keras", "tf_keras") and n.endswith((".Layer", ".Model")) for n in names)


def drift(a, b, **options):
    """Value drift from checkpoint ``a`` to checkpoint ``b`` (paths or read() results);
    options: mode, kinds, progress. Returns a value_drift.Drift."""
    from tensorboard_plugin_ckptdiff.values import drift as value_drift

    return value_drift.drift(a, b, **options)
