"""Checkpoint Diff: why a checkpoint will not restore into a model, before you run the restore.

The Python API: ``read(path)`` (one checkpoint's metadata), ``compare(base, target)`` (a diff
Report), ``drift(a, b)`` (value drift between two checkpoints) and ``remap(report, out)`` (the
target written again so that the base restores it).
"""

from tensorboard_plugin_ckptdiff.errors import CheckpointError, IncompleteCheckpoint

__version__ = "0.1.0"


def read(path: str):
    """Metadata of the checkpoint at ``path`` (prefix, file, state-file dir or SavedModel dir).

    Raises CheckpointError (or its IncompleteCheckpoint) when the file cannot be read."""
    from tensorboard_plugin_ckptdiff import formats

    return formats.read(path)


def compare(base, target, mode: str = "auto"):
    """Diff ``target`` (what is read) against ``base`` (what is restored into).

    Each side: a path, a Checkpoint from read(), an Architecture, or a live Keras model /
    tf.Module. Returns a Report."""
    from tensorboard_plugin_ckptdiff import api

    return api.compare(base, target, mode=mode)


def drift(a, b, **options):
    """Value drift between two checkpoints (paths or read() results)."""
    from tensorboard_plugin_ckptdiff import api

    return api.drift(a, b, **options)


def remap(report_or_pair, out, mode: str = "auto", drop_unexpected: bool = False, cast: str = "safe",
          overwrite: bool = False):
    """Write ``out``: the target of ``report_or_pair`` (a Report from compare(), or a
    ``(base, target)`` pair as compare() takes them) in its own format, renamed and cast so that
    the base's loader restores it as it is. ``cast``: "safe" or "lossy" (also narrowing);
    ``drop_unexpected``: leave out what the base does not ask for. Returns a Remapped with
    the written file's diff against the base (``.report``, ``.restorable``, ``.verdict``).

    Raises InvalidArgument (bad arguments, ``out`` taken or one of the target's files) or
    CheckpointError (an unreadable or incomplete target); then nothing is written."""
    from tensorboard_plugin_ckptdiff import remapping

    return remapping.remap(report_or_pair, out, mode=mode, drop_unexpected=drop_unexpected, cast=cast,
                           overwrite=overwrite)


__all__ = ["read", "compare", "drift", "remap", "CheckpointError", "IncompleteCheckpoint", "__version__"]
