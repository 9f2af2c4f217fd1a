"""HDF5 through h5py for the Keras readers: open any file-like, walk the tree, read bounded slabs.

Files are opened with h5py's ``fileobj`` driver over what ``storage`` returns, so a remote
file is read by byte ranges and a member of a ``.keras`` zip through a window onto the
archive. h5py raises many exception types on a corrupt file (OSError, KeyError, ValueError,
RuntimeError, TypeError...); ``h5_errors`` turns all of them into one CheckpointError that
says what was being read. Listing reads only the tree (shapes, dtypes, attributes), never
dataset values; values are read only after their claimed size is checked against the file.
"""

from __future__ import annotations

import collections
import contextlib
import io
import math
import re
import threading
from typing import Iterator, List, NamedTuple, Optional, Tuple

from tensorboard_plugin_ckptdiff.errors import CheckpointError

SIGNATURE = b"\x89HDF\r\n\x1a\n"
# HDF5 looks for its superblock at 0, 512, 1024, 2048...: a user block may come first.
_MAX_USERBLOCK = 1 << 24
_MAX_DEPTH = 64  # Keras nests a few levels; deeper means a hostile or broken tree
_MAX_OBJECTS = 1 << 20
# Deflate cannot shrink data by more than ~1032:1: a chunked dataset claiming more is lying.
_MAX_DEFLATE_RATIO = 1100
_UNALLOCATED_LIMIT = 1 << 20  # fill-value-only datasets larger than this are not Keras's
_NATURAL = re.compile(r"(\d+)")


# ---------------------------------------------------------------- errors and opening


@contextlib.contextmanager
def h5_errors(what: str):
    """Any failure inside h5py while doing ``what`` becomes a CheckpointError."""
    try:
        yield
    except CheckpointError:
        raise
    except MemoryError as e:
        raise CheckpointError(f"{what}: the HDF5 file claims more data than fits in memory") from e
    except RecursionError as e:
        raise CheckpointError(f"{what}: the HDF5 tree nests too deeply to be a Keras file") from e
    except Exception as e:  # h5py's error types depend on where in HDF5 the damage is met
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{what}: the HDF5 file is corrupt or truncated ({detail})") from e


def has_signature(fs, path: str, head: bytes) -> bool:
    """The HDF5 superblock signature at offset 0, 512, 1024, ... (``head`` covers the first)."""
    if head[:8] == SIGNATURE:
        return True
    if len(head) < 8:
        return False
    st = fs.stat(path)
    if st is None or st.is_dir:
        return False
    offset = 512
    try:
        with fs.open(path) as f:
            while offset + 8 <= min(st.size, _MAX_USERBLOCK):
                f.seek(offset)
                if f.read(8) == SIGNATURE:
                    return True
                offset *= 2
    except OSError:
        return False
    return False


class Window(io.RawIOBase):
    """A read-only view of ``length`` bytes at ``offset`` of another file: a zip member
    stored without compression, read in place (remote archives stay ranged reads)."""

    def __init__(self, raw, offset: int, length: int):
        super().__init__()
        self._raw, self._offset, self._length, self._pos = raw, offset, length, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, pos, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def readinto(self, buffer):
        n = max(0, min(len(buffer), self._length - self._pos))
        if n == 0:
            return 0
        self._raw.seek(self._offset + self._pos)
        data = self._raw.read(n)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


# HDF5 keeps variable-length strings (Keras's layer and weight names) in "global heap
# collections". HDF5 1.14's parser loops forever on a collection whose free-space object
# claims size 0, so collections are checked first, as HDF5 walks them, in files up to
# this size (larger files would have to be read whole for it).
_HEAP_SCAN_LIMIT = 64 << 20
_HEAP_SIGNATURE = b"GCOL\x01\x00\x00\x00"
_HEAP_HEADER = 16  # signature, version, reserved, collection size
_OBJECT_HEADER = 16  # index, reference count, reserved, object size


def _check_heap(heap: bytes, at: int) -> None:
    end = len(heap)
    p = _HEAP_HEADER
    while p < end:
        if p + _OBJECT_HEADER > end:
            return  # a tail too short for an object header is free space
        index = int.from_bytes(heap[p:p + 2], "little")
        size = int.from_bytes(heap[p + 8:p + 16], "little")
        need = _OBJECT_HEADER + (size + 7) // 8 * 8 if index else size
        if need == 0 or p + need > end:
            raise CheckpointError(
                f"the HDF5 global heap at byte {at} is corrupt (an object of {size} bytes at offset {p}): "
                "its names cannot be read")
        p += need


def check_global_heaps(fileobj, size: int) -> None:
    """Refuse a file whose global heap collections HDF5 could not parse without hanging."""
    if size > _HEAP_SCAN_LIMIT:
        return
    fileobj.seek(0)
    data = fileobj.read(size)
    at = data.find(_HEAP_SIGNATURE)
    while at >= 0:
        length = int.from_bytes(data[at + 8:at + 16], "little")
        if length < _HEAP_HEADER or at + length > len(data):
            raise CheckpointError(f"the HDF5 global heap at byte {at} claims {length} bytes past the end of the file")
        _check_heap(data[at:at + length], at)
        at = data.find(_HEAP_SIGNATURE, at + 8)
    fileobj.seek(0)


def open_file(fileobj, what: str, size: int, heaps_checked: bool = False):
    """An h5py.File reading ``fileobj``; CheckpointError when it is not a readable HDF5 file."""
    import h5py

    if not heaps_checked:
        check_global_heaps(fileobj, size)
    with h5_errors(what):
        return h5py.File(fileobj, "r")


def _file_stat(fs, path: str, what: str):
    """The Stat of a non-empty regular file, else a CheckpointError saying it is not ``what``."""
    st = fs.stat(path)
    if st is None:
        raise CheckpointError(f"no such file {path!r}")
    if st.is_dir:
        raise CheckpointError(f"{path!r} is a directory, not {what}")
    if st.size == 0:
        raise CheckpointError(f"the file is empty (0 bytes), not {what}")
    return st


def file_size(fs, path: str, what: str) -> int:
    """The size of a non-empty regular file, else a CheckpointError saying it is not ``what``."""
    return _file_stat(fs, path, what).size


# One metadata read opens an h5 file up to three times (two readers sniff its tree, one
# reads it), and the heap check reads the whole file each time: remember the files whose
# heaps passed, by (path, size, mtime), so each version of a file is scanned once.
_HEAPS_PASSED: "collections.OrderedDict[tuple, None]" = collections.OrderedDict()
_HEAPS_PASSED_KEPT = 1024
_HEAPS_LOCK = threading.Lock()


@contextlib.contextmanager
def opened(fs, path: str):
    """(h5py.File, file size) of ``path``, closed on exit; errors name the file's problem."""
    st = _file_stat(fs, path, "an HDF5 file")
    # Object stores without modification times cannot tell versions apart: always scan.
    version = (path, st.size, st.mtime) if st.mtime else None
    with _HEAPS_LOCK:
        checked = version in _HEAPS_PASSED
    with fs.open(path) as raw:
        h5 = open_file(raw, "cannot open the HDF5 file", st.size, heaps_checked=checked)
        if version is not None and not checked:
            with _HEAPS_LOCK:
                _HEAPS_PASSED[version] = None
                while len(_HEAPS_PASSED) > _HEAPS_PASSED_KEPT:
                    _HEAPS_PASSED.popitem(last=False)
        try:
            yield h5, st.size
        finally:
            with contextlib.suppress(Exception):
                h5.close()


# ---------------------------------------------------------------- attributes and dtypes


def text_list(value) -> List[str]:
    """An attribute holding names (bytes or str, array or scalar) as a list of str."""
    import numpy as np

    if value is None:
        return []
    items = value.tolist() if isinstance(value, np.ndarray) else value
    if isinstance(items, (bytes, str)):
        items = [items]
    if not isinstance(items, (list, tuple)):
        raise CheckpointError(f"expected a list of names in an HDF5 attribute, found {type(items).__name__}")
    return [i.decode("utf-8", "replace") if isinstance(i, bytes) else str(i) for i in items]


def name_attribute(obj, name: str) -> Optional[List[str]]:
    """A list-of-names attribute, joined from ``name0``, ``name1``... when Keras split it
    to fit HDF5's 64 KiB object-header limit; None when absent."""
    attrs = obj.attrs
    if name in attrs:
        return text_list(attrs[name])
    if f"{name}0" not in attrs:
        return None
    out, k = [], 0
    while f"{name}{k}" in attrs and k < _MAX_OBJECTS:
        out.extend(text_list(attrs[f"{name}{k}"]))
        k += 1
    return out


def text_attribute(obj, name: str) -> Optional[str]:
    if name not in obj.attrs:
        return None
    value = obj.attrs[name]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def dtype_name(dataset) -> str:
    """Numpy-style dtype name of a dataset, from its type alone (no values read)."""
    dt = dataset.dtype
    if dt.kind == "V" and dt.itemsize == 2 and text_attribute(dataset, "dtype") == "bfloat16":
        return "bfloat16"  # Keras 3 stores bfloat16 as 2-byte opaque with this attribute
    import h5py

    if h5py.check_string_dtype(dt) is not None or dt.kind in ("S", "U", "O"):
        return "string"
    if dt.kind == "b":
        return "bool"
    return dt.name


def numpy_dtype(dataset):
    import numpy as np

    if dtype_name(dataset) == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return dataset.dtype


def itemsize(dataset) -> Optional[int]:
    if dtype_name(dataset) == "string":
        return None
    return dataset.dtype.itemsize


def shape_of(dataset) -> Optional[Tuple[int, ...]]:
    shape = dataset.shape
    return None if shape is None else tuple(int(d) for d in shape)


def size_bytes(dataset) -> Optional[int]:
    shape, size = shape_of(dataset), itemsize(dataset)
    if shape is None or size is None:
        return None
    return math.prod(shape) * size


# ---------------------------------------------------------------- walking


def natural_key(name: str):
    """Keras names datasets 0, 1, ... 10: sort them as numbers, not as text."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in _NATURAL.split(name) if p]


class Found(NamedTuple):
    path: str  # '/'-separated, no leading slash
    dataset: object  # h5py.Dataset


def walk(h5) -> Iterator[Found]:
    """Every dataset reachable by hard links, depth first, members in natural order.

    Soft and external links are not followed: an external link would make a checkpoint
    read another file on the machine. A group reached twice (hard-link loop) is walked once.
    """
    import h5py

    # Iterative, with plain ints remembered: a recursive closure is a reference cycle that
    # keeps h5py objects alive until the cyclic GC frees them at some later allocation --
    # possibly on fsspec's IO thread, where an HDF5 callback into a remote file deadlocks.
    seen = set()
    count = 0

    def entered(group, depth):
        """The group's member names in natural order, or None when it was walked already."""
        if depth > _MAX_DEPTH:
            raise CheckpointError(f"the HDF5 tree nests deeper than {_MAX_DEPTH} levels at {group.name!r}")
        address = h5py.h5o.get_info(group.id).addr
        if address in seen:
            return None
        seen.add(address)
        return iter(sorted(group.keys(), key=natural_key))

    # A stack of (group, its path, depth, its remaining member names): depth first, each
    # subgroup walked where it stands among its siblings.
    stack = [(h5, "", 0, entered(h5, 0))]
    while stack:
        group, prefix, depth, names = stack[-1]
        name = next(names, None)
        if name is None:
            stack.pop()
            continue
        count += 1
        if count > _MAX_OBJECTS:
            raise CheckpointError(f"the HDF5 file holds more than {_MAX_OBJECTS} objects")
        link = group.get(name, getlink=True)
        if not isinstance(link, h5py.HardLink):
            continue
        obj = group.get(name)
        path = f"{prefix}/{name}" if prefix else name
        if isinstance(obj, h5py.Group):
            members = entered(obj, depth + 1)
            if members is not None:
                stack.append((obj, path, depth + 1, members))
        elif isinstance(obj, h5py.Dataset):
            yield Found(path, obj)


def dataset_at(h5, key: str):
    """The dataset at ``key`` through hard links only; CheckpointError when there is none."""
    import h5py

    node = h5
    parts = [p for p in key.split("/") if p]
    if not parts:
        raise CheckpointError(f"no tensor {key!r} in this checkpoint")
    for part in parts:
        if not isinstance(node, h5py.Group) or part not in node:
            raise CheckpointError(f"no tensor {key!r} in this checkpoint")
        if not isinstance(node.get(part, getlink=True), h5py.HardLink):
            raise CheckpointError(f"{key!r} is a link to another place or file; links are not followed")
        node = node.get(part)
    if not isinstance(node, h5py.Dataset):
        raise CheckpointError(f"{key!r} is a group, not a tensor")
    return node


# ---------------------------------------------------------------- values


def check_claim(dataset, key: str, file_size: int) -> None:
    """Refuse a dataset whose claimed size its storage in this file cannot back."""
    import h5py

    shape = shape_of(dataset)
    if shape is None:
        raise CheckpointError(f"tensor {key!r} has no shape (an HDF5 null dataspace)")
    plist = dataset.id.get_create_plist()
    layout = plist.get_layout()
    if layout == h5py.h5d.VIRTUAL or plist.get_external_count() > 0:
        raise CheckpointError(f"tensor {key!r} keeps its values in other files; they are not read")
    numel = math.prod(shape)
    size = itemsize(dataset)
    if size is None:  # variable-length strings: each element has at least a 16-byte heap ref
        if numel * 16 > file_size:
            raise CheckpointError(f"tensor {key!r} claims {numel} strings, more than the file can hold")
        return
    nbytes = numel * size
    stored = dataset.id.get_storage_size()
    if stored > file_size:
        raise CheckpointError(f"tensor {key!r} claims {stored} bytes of storage in a {file_size}-byte file")
    if layout == h5py.h5d.CONTIGUOUS:
        offset = dataset.id.get_offset()
        if offset is None:
            if nbytes > _UNALLOCATED_LIMIT:
                raise CheckpointError(f"tensor {key!r} claims {nbytes} bytes but none are stored")
        elif offset + nbytes > file_size:
            raise CheckpointError(
                f"tensor {key!r} claims bytes [{offset}, {offset + nbytes}) but the file has {file_size}: "
                "the file is truncated or corrupt")
    elif layout == h5py.h5d.CHUNKED:
        if nbytes > max(stored, _UNALLOCATED_LIMIT) * _MAX_DEFLATE_RATIO:
            raise CheckpointError(f"tensor {key!r} claims {nbytes} bytes from {stored} stored: not a real dataset")
    elif nbytes > 1 << 16:  # compact: values live in the 64 KiB object header
        raise CheckpointError(f"tensor {key!r} claims {nbytes} bytes in a compact layout that holds 64 KiB")


def _converted(values, dataset):
    import numpy as np

    dtype = numpy_dtype(dataset)
    values = np.asarray(values)
    if dtype != values.dtype and dtype.itemsize == values.dtype.itemsize:
        values = values.view(dtype)
    return values


def read_values(dataset, key: str, file_size: int):
    """All values of one dataset, bounds-checked first."""
    check_claim(dataset, key, file_size)
    with h5_errors(f"cannot read tensor {key!r}"):
        return _converted(dataset[()], dataset)


def _blocks(shape, row_bytes_of, max_bytes: int, prefix=()) -> Iterator[tuple]:
    if not shape:
        yield prefix
        return
    inner = row_bytes_of(shape[1:])
    if inner <= max_bytes:
        rows = max(1, max_bytes // max(inner, 1))
        for start in range(0, shape[0], rows):
            yield prefix + (slice(start, min(start + rows, shape[0])),)
        return
    for i in range(shape[0]):
        yield from _blocks(shape[1:], row_bytes_of, max_bytes, prefix + (i,))


def iter_values(dataset, key: str, file_size: int, max_bytes: int) -> Iterator:
    """The dataset's values as flat C-order chunks of at most ``max_bytes`` (one row of
    the innermost axis at least), read as slabs along the leading axes."""
    check_claim(dataset, key, file_size)
    shape = shape_of(dataset)
    size = itemsize(dataset) or 16
    if math.prod(shape) == 0:
        return
    for selection in _blocks(shape, lambda rest: math.prod(rest) * size, max(1, max_bytes)):
        with h5_errors(f"cannot read tensor {key!r}"):
            block = dataset[selection] if selection else dataset[()]
        yield _converted(block, dataset).reshape(-1)


# ---------------------------------------------------------------- which Keras wrote it

KERAS3 = "keras3"
LEGACY = "legacy"


def is_legacy(h5) -> bool:
    """tf-keras (and Keras 3's legacy ``model.save('x.h5')``) mark their files with a
    ``layer_names`` attribute, or a ``model_weights`` group for a whole model."""
    return "model_weights" in h5 or name_attribute(h5, "layer_names") is not None


def tree_kind(fs, path: str, head: bytes) -> Optional[str]:
    """KERAS3 or LEGACY for an HDF5 file, "" when it has the signature but cannot be
    opened (the reader the name points to reports why), None when it is not HDF5."""
    if not has_signature(fs, path, head):
        return None
    try:
        with opened(fs, path) as (h5, _):
            with h5_errors("cannot read the HDF5 tree"):
                return LEGACY if is_legacy(h5) else KERAS3
    except (CheckpointError, OSError):
        return ""
