"""Checkpoint readers, one module per format, and the registry that picks one by content.

Every reader module provides:
    FORMAT                      the format id of API.md
    SUFFIXES                    the file-name endings it claims (stripped before a step is read)
    claims(name) -> bool        the file name says "I am this format" (discovery lists it)
    sniff(fs, path, head) -> bool   the content agrees (``head``: the file's first 512 bytes,
                                or b"" for a prefix/directory)
    read(fs, path) -> Checkpoint    metadata only, never tensor values
    read_tensor(fs, path, key) -> numpy.ndarray    one tensor, bounds- and CRC-checked
and may provide ``iter_chunks(fs, path, key, max_bytes)`` yielding flat numpy chunks of one
tensor in C order (for drift over tensors larger than memory), and ``glance(fs, path) ->
(flavor, error)``: what a few bytes say, for a listing that reads nothing more (an error there
marks the checkpoint unreadable before anyone opens it).

A new format is one module with these names plus one line in ``_MODULES`` below: discovery,
steps, reading and the routes all ask this registry.

``path`` is what the user names: a bundle prefix, a file, or a SavedModel directory. Readers
raise ``CheckpointError`` for anything unreadable and ``IncompleteCheckpoint`` for a
checkpoint still being written; nothing else escapes (``read`` below enforces it).
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
from typing import NamedTuple, Optional

from tensorboard_plugin_ckptdiff import records, storage
from tensorboard_plugin_ckptdiff.errors import CheckpointError, IncompleteCheckpoint

# One line per format; order matters only for sniffing files whose names claim nothing.
_MODULES = (
    "tf_bundle",
    "saved_model",
    "keras_archive",
    "keras_weights_h5",
    "keras_legacy_h5",
    "safetensors",
)


# Steps in file names as training loops write them: ckpt-100, model.ckpt-100, step_100,
# weights.05, epoch-3, weights-12, 0100. The first pattern that matches names the step.
_STEP_PATTERNS = (
    re.compile(r"(?:^|[-_.])(?:ckpt|step|steps|epoch|epochs|iter|iteration)[-_.]?(\d+)", re.I),
    re.compile(r"^weights[-_.](\d+)"),
    re.compile(r"-(\d+)$"),
    re.compile(r"^(\d+)$"),
)


class Glance(NamedTuple):
    """What a few bytes say about a listed checkpoint, before anyone reads it."""

    flavor: Optional[str] = None
    status: str = records.OK
    error: Optional[str] = None


def readers():
    return [importlib.import_module(f"{__name__}.{name}") for name in _MODULES]


def reader_for_format(fmt: str):
    if fmt in _MODULES:  # module names are format ids: import just that one (keeps `ls` light)
        return importlib.import_module(f"{__name__}.{fmt}")
    for module in readers():
        if module.FORMAT == fmt:
            return module
    raise CheckpointError(f"unsupported checkpoint format {fmt!r}")


def claimed_format(name: str) -> Optional[str]:
    """The format a file's name claims, or None (the name alone lists a file; content decides
    when it is read)."""
    for module in readers():
        if module.claims(name):
            return module.FORMAT
    return None


def step_of(name: str, fmt: Optional[str] = None) -> Optional[int]:
    """The training step a checkpoint's name says (its file or directory name), or None.
    ``fmt``: its format when known (then only that reader is imported: ``ckptdiff ls`` of a
    bundle need not load the HDF5 readers)."""
    stem = name.replace("\\", "/").rsplit("/", 1)[-1]
    modules = [reader_for_format(fmt)] if fmt else readers()
    endings = sorted((s for module in modules for s in module.SUFFIXES), key=len, reverse=True)
    for suffix in endings:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    for pattern in _STEP_PATTERNS:
        m = pattern.search(stem)
        if m:
            return int(m.group(1))
    return None


def glance(fs, fmt: str, path: str) -> Glance:
    """Flavor and an early verdict from a few bytes of a listed checkpoint: a file whose magic
    is wrong is an error now; deeper corruption shows when it is first read."""
    module = reader_for_format(fmt)
    if not hasattr(module, "glance"):
        return Glance()
    try:
        flavor, error = module.glance(fs, path)
    except OSError as e:
        # strerror, not str(e): the listing goes to remote browsers, the server path stays here.
        return Glance(status=records.ERROR, error=f"cannot read the file: {e.strerror or type(e).__name__}")
    return Glance(flavor, records.ERROR if error else records.OK, error)


def _head(fs, path: str) -> bytes:
    st = fs.stat(path)
    if st is None or st.is_dir:
        return b""
    with fs.open(path) as f:
        return f.read(512)


def resolve(path: str, fs=None):
    """(canonical path, reader module) for what the user named.

    A directory holding a ``checkpoint`` state file means its latest checkpoint; a
    directory holding ``saved_model.pb`` is a SavedModel; ``P.index`` and ``P`` both name
    the bundle with prefix P.
    """
    fs = fs or storage.for_path(path)
    st = fs.stat(path)
    if st is not None and st.is_dir:
        if fs.stat(fs.join(path, "saved_model.pb")) is not None:
            return path, reader_for_format(records.SAVED_MODEL)
        state = fs.join(path, "checkpoint")
        if fs.stat(state) is not None:
            from tensorboard_plugin_ckptdiff.formats._bundle import state_file

            latest = state_file.latest(fs, path)
            if latest is None:
                raise CheckpointError("the 'checkpoint' state file names no checkpoint", path)
            return latest, reader_for_format(records.TF_BUNDLE)
        raise CheckpointError("directory holds no checkpoint ('checkpoint' state file or saved_model.pb)", path)
    if st is None:
        if fs.stat(path + ".index") is not None:
            return path, reader_for_format(records.TF_BUNDLE)
        raise CheckpointError("no such file or checkpoint prefix", path)
    if path.endswith(".index"):
        return path[: -len(".index")], reader_for_format(records.TF_BUNDLE)
    head = _head(fs, path)
    name = fs.basename(path)
    modules = readers()
    # Content first: a file's bytes decide, its name only breaks ties and names the error.
    for module in modules:
        if module.sniff(fs, path, head):
            return path, module
    for module in modules:
        if module.claims(name):
            raise CheckpointError(
                f"the file is named like a {module.FORMAT} checkpoint but its content is not one "
                f"(starts with {head[:8]!r})",
                path,
            )
    raise CheckpointError("not a checkpoint of any known format", path)


def read(path: str, fs=None) -> records.Checkpoint:
    """Metadata of one checkpoint; raises CheckpointError / IncompleteCheckpoint."""
    fs = fs or storage.for_path(path)
    try:
        canonical, module = resolve(path, fs)
    except OSError as e:  # a FIFO, socket or unreadable file named like a checkpoint
        raise CheckpointError(f"cannot open the file: {e.strerror or e}", path) from e
    try:
        checkpoint = module.read(fs, canonical)
    except CheckpointError as e:
        if not e.path:
            e.path = canonical
        raise
    except (MemoryError, RecursionError) as e:
        raise CheckpointError(f"the file claims structures too large to read ({type(e).__name__})", canonical) from e
    except Exception as e:  # a reader bug must not take the caller down: say what broke
        raise CheckpointError(f"unreadable: {type(e).__name__}: {e}", canonical) from e
    # One step per file, whoever asks: the listing and read() both take it from the name.
    step = checkpoint.step if checkpoint.step is not None else step_of(canonical, module.FORMAT)
    return dataclasses.replace(checkpoint, location=_location(canonical), step=step)


def _location(path: str) -> str:
    """Where the file is for code pasted anywhere: absolute for a local path, a URL as it is."""
    return path if "://" in path else os.path.abspath(path)


def read_or_error(path: str, fs=None, **fields) -> records.Checkpoint:
    """Like read(), but an unreadable or incomplete checkpoint becomes a record with
    ``status`` "error" / "incomplete" and its message, so a listing never drops it."""
    fs = fs or storage.for_path(path)
    try:
        checkpoint = read(path, fs)
    except CheckpointError as e:
        status = records.INCOMPLETE if isinstance(e, IncompleteCheckpoint) else records.ERROR
        unread = dict(id=path, path=path, format=_claimed_format(fs, path), status=status, error=e.message)
        unread.update(fields)
        return records.Checkpoint(**unread)
    return dataclasses.replace(checkpoint, **fields) if fields else checkpoint


def _claimed_format(fs, path: str) -> Optional[str]:
    st = fs.stat(path)
    if st is not None and st.is_dir:
        return records.SAVED_MODEL if fs.stat(fs.join(path, "saved_model.pb")) else records.TF_BUNDLE
    if st is None:
        return records.TF_BUNDLE
    return claimed_format(fs.basename(path))


def read_tensor(checkpoint: records.Checkpoint, key: str, fs=None):
    """Values of one tensor of a checkpoint that read() returned, by its key."""
    fs = fs or storage.for_path(checkpoint.path)
    module = reader_for_format(checkpoint.format)
    try:
        return module.read_tensor(fs, checkpoint.path, key)
    except CheckpointError:
        raise
    except KeyError as e:
        raise CheckpointError(f"no tensor {key!r} in this checkpoint", checkpoint.path) from e
    except Exception as e:
        raise CheckpointError(f"unreadable tensor {key!r}: {type(e).__name__}: {e}", checkpoint.path) from e
