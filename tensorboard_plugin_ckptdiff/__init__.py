"""Checkpoint Diff: why a checkpoint will not restore into a model, before you run the restore.

The Python API: ``read(path)`` (one checkpoint's metadata), ``compare(base, target)`` (a diff
Report) and ``drift(a, b)`` (value drift between two checkpoints).
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


__all__ = ["read", "compare", "drift", "CheckpointError", "IncompleteCheckpoint", "__version__"]
