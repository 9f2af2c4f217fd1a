"""Keras 3 ``.keras`` archives: a zip of ``config.json``, ``metadata.json`` and ``model.weights.h5``.

The weights member is read as a Keras 3 weights tree (keras_weights_h5) without extracting
the archive: a stored member (what Keras writes) is opened in place through a window onto
the zip, so only the HDF5 tree is read; a deflated one is inflated with a bound. Every size
the zip claims is checked against the archive first, and members that inflate far beyond
their stored size (zip bombs) are refused, as Keras itself refuses them. The config gives
the archive its own architecture, built without importing Keras.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import struct
import tempfile
import zipfile
from typing import Dict, Iterator, Optional, Tuple

from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.errors import CheckpointError
from tensorboard_plugin_ckptdiff.formats import hdf5, keras_weights_h5

FORMAT = records.KERAS_ARCHIVE
ZIP_SIGNATURE = b"PK\x03\x04"
CONFIG = "config.json"
WEIGHTS = "model.weights.h5"
NPZ_WEIGHTS = "model.weights.npz"
_MAX_MEMBERS = 1 << 16
_MAX_CONFIG_BYTES = 64 << 20
_IN_MEMORY_LIMIT = 256 << 20  # larger deflated weights are inflated to a temporary file
# Keras refuses members that declare more than 100x their stored size beyond 256 MiB.
_BOMB_FLOOR = 256 << 20
_BOMB_RATIO = 100
_LOCAL_HEADER = struct.Struct("<4s5H3I2H")
DEFAULT_CHUNK = 64 << 20


SUFFIXES = (".keras",)


def claims(name: str) -> bool:
    return re.split(r"[/\\]", name)[-1].endswith(SUFFIXES)


def glance(fs, path: str) -> Tuple[Optional[str], Optional[str]]:
    with fs.open(path) as f:
        head = f.read(4)
    if head != ZIP_SIGNATURE:
        return None, f"a .keras file is a zip archive, but this starts with {head!r}"
    return None, None


def sniff(fs, path: str, head: bytes) -> bool:
    if head[:4] != ZIP_SIGNATURE:
        return False
    if claims(fs.basename(path)):
        return True
    try:
        with fs.open(path) as raw, zipfile.ZipFile(raw) as zf:
            names = set(zf.namelist())
    except Exception:  # any zip damage: not recognisably ours
        return False
    return CONFIG in names and (WEIGHTS in names or NPZ_WEIGHTS in names)


# ---------------------------------------------------------------- the zip, checked


def _zip(raw, archive_size: int) -> zipfile.ZipFile:
    try:
        zf = zipfile.ZipFile(raw)
        infos = zf.infolist()
    except Exception as e:  # zipfile raises BadZipFile, OSError, ValueError, struct.error, EOFError...
        raise CheckpointError(f"not a readable zip archive, which a .keras file is ({type(e).__name__}: {e})") from e
    if len(infos) > _MAX_MEMBERS:
        raise CheckpointError(f"the archive lists {len(infos)} members; a .keras archive has a handful")
    for info in infos:
        # A damaged central directory can put a member before the archive's start (negative).
        if info.header_offset < 0 or info.header_offset + info.compress_size > archive_size:
            raise CheckpointError(
                f"member {info.filename!r} claims {info.compress_size} bytes at offset {info.header_offset} "
                f"in a {archive_size}-byte archive: the archive is truncated or corrupt")
        if info.file_size > _BOMB_FLOOR and info.file_size > _BOMB_RATIO * info.compress_size:
            raise CheckpointError(
                f"member {info.filename!r} claims to inflate from {info.compress_size} to {info.file_size} bytes: "
                "a zip bomb, refused (Keras refuses it too)")
    return zf


def _member(zf: zipfile.ZipFile, name: str) -> zipfile.ZipInfo:
    try:
        return zf.getinfo(name)
    except KeyError:
        if name == WEIGHTS and NPZ_WEIGHTS in zf.namelist():
            raise CheckpointError("this archive stores its weights as model.weights.npz, which is not supported")
        members = ", ".join(sorted(zf.namelist())[:8]) or "none"
        raise CheckpointError(f"the archive has no {name} (members: {members}): not a Keras 3 .keras file") from None


def _read_small(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    if info.file_size > limit:
        raise CheckpointError(f"member {info.filename!r} is {info.file_size} bytes; more than {limit} is not Keras's")
    try:
        with zf.open(info) as f:
            data = f.read(info.file_size + 1)
    except Exception as e:  # CRC mismatch, bad deflate stream, short archive...
        raise CheckpointError(f"member {info.filename!r} cannot be read ({type(e).__name__}: {e})") from e
    if len(data) != info.file_size:
        raise CheckpointError(f"member {info.filename!r} holds {len(data)} bytes, not the {info.file_size} it claims")
    return data


def _stored_window(raw, info: zipfile.ZipInfo, archive_size: int) -> hdf5.Window:
    """The bytes of an uncompressed member, in place: local header checked, then skipped."""
    raw.seek(info.header_offset)
    header = raw.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size:
        raise CheckpointError(f"the archive ends inside the header of {info.filename!r}: it is truncated")
    fields = _LOCAL_HEADER.unpack(header)
    if fields[0] != ZIP_SIGNATURE:
        raise CheckpointError(f"the local header of {info.filename!r} is damaged")
    start = info.header_offset + _LOCAL_HEADER.size + fields[9] + fields[10]
    if info.compress_size != info.file_size or start + info.file_size > archive_size:
        raise CheckpointError(
            f"member {info.filename!r} claims {info.file_size} bytes at offset {start} "
            f"in a {archive_size}-byte archive: the archive is truncated or corrupt")
    return hdf5.Window(raw, start, info.file_size)


def _inflated(zf: zipfile.ZipFile, info: zipfile.ZipInfo, stack: contextlib.ExitStack):
    """A deflated member, inflated with a bound: in memory when small, else to a temp file."""
    if info.file_size <= _IN_MEMORY_LIMIT:
        return io.BytesIO(_read_small(zf, info, _IN_MEMORY_LIMIT))
    spill = stack.enter_context(tempfile.TemporaryFile())
    try:
        with zf.open(info) as f:
            first = f.read(8)
            if first != hdf5.SIGNATURE:
                raise CheckpointError(f"member {info.filename!r} is not an HDF5 file (starts with {first!r})")
            spill.write(first)
            written = len(first)
            while written <= info.file_size:
                block = f.read(min(16 << 20, info.file_size + 1 - written))
                if not block:
                    break
                spill.write(block)
                written += len(block)
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"member {info.filename!r} cannot be inflated ({type(e).__name__}: {e})") from e
    if written != info.file_size:
        raise CheckpointError(f"member {info.filename!r} inflates to {written} bytes, not the {info.file_size} it claims")
    spill.seek(0)
    return spill


@contextlib.contextmanager
def _opened(fs, path: str):
    """(zip, weights hdf5.File, weights size) of an archive, all closed on exit."""
    size = hdf5.file_size(fs, path, "a .keras archive")
    with contextlib.ExitStack() as stack:
        raw = stack.enter_context(fs.open(path))
        zf = stack.enter_context(_zip(raw, size))
        info = _member(zf, WEIGHTS)
        if info.compress_type == zipfile.ZIP_STORED:
            member = _stored_window(raw, info, size)
        else:
            member = _inflated(zf, info, stack)
        h5 = hdf5.open_file(member, f"cannot open {WEIGHTS} inside the archive", info.file_size)
        stack.callback(h5.close)
        yield zf, h5, info.file_size


# (zip, weights h5, weights size), all closed on exit: what the remap writer copies from.
opened = _opened


# ---------------------------------------------------------------- the config


def _layer_configs(node, out: Dict[str, Tuple[str, dict]], depth: int = 0) -> Dict[str, Tuple[str, dict]]:
    """layer name -> (snake_case class, config) for every layer the config describes, nested too."""
    if depth > 64:
        return out
    if isinstance(node, dict):
        config = node.get("config")
        if isinstance(node.get("class_name"), str) and isinstance(config, dict) and isinstance(config.get("name"), str):
            out.setdefault(config["name"], (keras_weights_h5.snake_case(node["class_name"]), config))
        for value in node.values():
            _layer_configs(value, out, depth + 1)
    elif isinstance(node, list):
        for value in node:
            _layer_configs(value, out, depth + 1)
    return out


def _config(zf: zipfile.ZipFile) -> Tuple[Optional[dict], Optional[str]]:
    """(config, None), or (None, why it cannot be used)."""
    try:
        data = _read_small(zf, _member(zf, CONFIG), _MAX_CONFIG_BYTES)
        config = json.loads(data.decode("utf-8"))
    except CheckpointError as e:
        return None, e.message
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        return None, f"config.json is not valid JSON ({type(e).__name__})"
    if not isinstance(config, dict):
        return None, "config.json is not a JSON object"
    return config, None


# ---------------------------------------------------------------- reader interface


def read(fs, path: str) -> records.Checkpoint:
    with _opened(fs, path) as (zf, h5, _):
        config, problem = _config(zf)
        variables = keras_weights_h5.variables_of(h5, _layer_configs(config, {}) if config else None)
    size = fs.stat(path).size
    if config is not None:
        architecture = records.Architecture(
            id=path, source=records.KERAS_ARCHIVE, variables=tuple(variables), framework="keras3")
    else:
        architecture = records.Architecture(
            id=path, source=records.KERAS_ARCHIVE, status=records.ERROR, framework="keras3",
            error=f"the archive's model config cannot be read: {problem}")
    return records.Checkpoint(id=path, path=path, format=FORMAT, size_bytes=size, variables=tuple(variables),
                              architecture=architecture)


def read_tensor(fs, path: str, key: str):
    with _opened(fs, path) as (_, h5, size):
        return hdf5.read_values(h5, hdf5.dataset_at(h5, key), key, size)


def iter_chunks(fs, path: str, key: str, max_bytes: int = DEFAULT_CHUNK) -> Iterator:
    with _opened(fs, path) as (_, h5, size):
        yield from hdf5.iter_values(h5, hdf5.dataset_at(h5, key), key, size, max_bytes)
