"""TensorFlow tensor bundles (``P.index`` + ``P.data-0000K-of-0000N``): metadata and values.

Metadata comes from the .index table alone (plus the object graph, a string tensor in one
data shard); data shards are only stat'ed, so listing never reads tensor values. Values are
read as exactly the byte range an entry names, bounds-checked against the shard and CRC32C-
verified. Every claim the index makes is checked against the files before it is trusted.
"""

from __future__ import annotations

import re
import weakref
from itertools import repeat
from operator import add, eq, itemgetter
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

import google_crc32c

from tensorboard_plugin_ckptdiff import records, storage
from tensorboard_plugin_ckptdiff.errors import CheckpointError, IncompleteCheckpoint
from tensorboard_plugin_ckptdiff.formats._bundle import index, names, proto, slices as slice_keys, table as index_table
from tensorboard_plugin_ckptdiff.formats._bundle.object_graph import decode_graph
from tensorboard_plugin_ckptdiff.formats import dtypes

FORMAT = records.TF_BUNDLE
OBJECT_GRAPH_KEY = records.OBJECT_GRAPH_KEY
DT_STRING = 7
_MAX_INDEX_BYTES = 1 << 31  # an index with two billion bytes of keys is not one TF wrote
_MAX_SHARDS = 1 << 20
SUFFIXES = (".index",)
_DATA_SHARD = re.compile(r"^(?P<prefix>.+)\.data-(?P<k>\d{5})-of-(?P<n>\d{5})$")
# The object-graph key sorts before every lowercase key, so it sits in the first block.
_FLAVOR_SNIFF_BYTES = 64 * 1024
_TEMP_PART = re.compile(r"^part-\d+-of-\d+\.index$")
DEFAULT_CHUNK = 64 << 20
COPY_CHUNK = 4 << 20  # copying: a chunk read, checked and written while it is still in the CPU's cache


def index_path(prefix: str) -> str:
    return prefix + ".index"


def data_path(prefix: str, shard: int, num_shards: int) -> str:
    return f"{prefix}.data-{shard:05d}-of-{num_shards:05d}"


def shard_of(name: str) -> Optional[Tuple[str, int, int]]:
    """(prefix, shard, number of shards) of a data shard's file name, else None."""
    m = _DATA_SHARD.match(name)
    return (m.group("prefix"), int(m.group("k")), int(m.group("n"))) if m else None


def claims(name: str) -> bool:
    """A ``.index`` file that is not a writer's temp file."""
    parts = re.split(r"[/\\]", name)
    base = parts[-1]
    if not base.endswith(".index") or ".tempstate" in base or _TEMP_PART.match(base):
        return False
    return not any(p.endswith("_temp") or "_temp_" in p for p in parts[:-1])


def sniff(fs, path: str, head: bytes) -> bool:
    if head:
        return False  # resolve() maps P.index to P; a bundle prefix is never a file itself
    st = fs.stat(index_path(path))
    return st is not None and not st.is_dir


def glance(fs, prefix: str) -> Tuple[Optional[str], Optional[str]]:
    """(flavor, error) from the index's first block and its last 8 bytes."""
    return glance_index(fs, index_path(prefix))


def glance_index(fs, index: str) -> Tuple[Optional[str], Optional[str]]:
    st = fs.stat(index)
    if st is None:
        return None, "the .index file is gone"
    if st.size < index_table.FOOTER_SIZE:
        return None, (f"the .index file is truncated ({st.size} bytes, a table footer alone is "
                      f"{index_table.FOOTER_SIZE})")
    with fs.open(index) as f:
        head = f.read(_FLAVOR_SNIFF_BYTES)
        if st.size > len(head):
            f.seek(st.size - 8)
            tail = f.read(8)
        else:
            tail = head[-8:]
    if tail != index_table.MAGIC.to_bytes(8, "little"):
        return None, ("the .index file does not end with the table magic number: truncated or not a "
                      "TensorFlow checkpoint index")
    return (records.OBJECT_BASED if OBJECT_GRAPH_KEY.encode() in head else records.NAME_BASED), None


# ---------------------------------------------------------------- the index


class Bundle(NamedTuple):
    """What the .index says, with data shard sizes checked."""

    header: proto.Header
    keys: List[str]  # every non-slice key except the header, in file order
    entries: Dict[str, proto.Entry]  # an index.Entries
    slices: Dict[str, List[Tuple[slice_keys.Extents, proto.Entry]]]  # full name -> its slices
    shard_sizes: Dict[int, int]
    index_size: int
    index_mtime: float
    table: Optional[index.Table] = None  # as index.scan read it: what another save is read like


def _read_index_bytes(fs, prefix: str) -> Tuple[bytes, float]:
    path = index_path(prefix)
    st = fs.stat(path)
    if st is None:
        raise CheckpointError(f"no index file {path!r}")
    if st.is_dir:
        raise CheckpointError(f"{path!r} is a directory, not a checkpoint index")
    if st.size > _MAX_INDEX_BYTES:
        raise CheckpointError(f"the index file is {st.size} bytes, larger than any TensorFlow index")
    with fs.open(path) as f:
        data = f.read(st.size + 1)
    if len(data) != st.size:
        raise IncompleteCheckpoint("the index file changed size while being read: the checkpoint may still be being written")
    return data, st.mtime


def _check_header(header: proto.Header) -> None:
    if header.endianness != 0:
        raise CheckpointError("the checkpoint was written big-endian; only little-endian bundles are supported")
    if not 1 <= header.num_shards <= _MAX_SHARDS:
        raise CheckpointError(f"the index header claims {header.num_shards} data shards, which no writer produces")


def _decode_key(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CheckpointError(f"the index file is corrupt: a key is not UTF-8 ({raw[:40]!r})") from e


def load_index(fs, prefix: str, like: Optional[Bundle] = None) -> Bundle:
    """Parse the whole .index and stat the data shards its entries use. ``like``: a bundle
    read before, whose index blocks are taken where this one's differ only in checksums."""
    data, mtime = _read_index_bytes(fs, prefix)
    table = index.scan(data, like=like.table if like is not None else None)
    if table.header is None:
        raise CheckpointError("the index file has no bundle header: it is not a TensorFlow checkpoint index")
    header = proto.parse_header(table.header)
    _check_header(header)
    if table.error is not None:
        raise table.error
    num_shards = header.num_shards
    all_entries = table.entries
    shards = list(map(itemgetter(2), all_entries))
    ends = list(map(add, map(itemgetter(3), all_entries), map(itemgetter(4), all_entries)))
    keys, plain, slices = _plain_and_sliced(table.keys, all_entries)
    # A bad shard is reported after every key is known good, as a key error comes first.
    for shard in shards:
        if shard >= num_shards:
            raise CheckpointError(f"the index file is corrupt: an entry names data shard {shard} of {num_shards}")
    needed: Dict[int, int] = {}  # shard -> end of the last byte an entry uses in it
    if shards and min(shards) == max(shards):
        needed[shards[0]] = max(ends)
    else:
        for shard, end in zip(shards, ends):
            if end > needed.get(shard, -1):
                needed[shard] = end
    entries = index.Entries(zip(keys, plain))
    shard_sizes = _stat_shards(fs, prefix, num_shards, needed)
    return Bundle(header, keys, entries, slices, shard_sizes, len(data), mtime, table)


def _plain_and_sliced(raw_keys: List[str], entries: list):
    """The table's keys (latin-1 text, see _bundle/index.py) as names with their entries, and the
    slices of sliced variables (keys that start with a NUL byte) grouped by full name."""
    joined = "\n".join(raw_keys)
    if joined.isascii() and "\x00" not in joined:  # nearly every index: keys are their names
        return list(raw_keys), list(entries), {}
    keys: List[str] = []
    plain = []
    slices: Dict[str, list] = {}
    for raw_key, entry in zip(raw_keys, entries):
        if raw_key.isascii() and raw_key[:1] != "\x00":  # [:1]: a corrupt table may hold an empty key
            keys.append(raw_key)
        elif raw_key[:1] == "\x00":
            name, extents = slice_keys.decode(raw_key.encode("latin-1"))
            slices.setdefault(name, []).append((extents, tuple.__new__(proto.Entry, entry)))
            continue
        else:
            keys.append(_decode_key(raw_key.encode("latin-1")))
        plain.append(entry)
    return keys, plain, slices


def _stat_shards(fs, prefix, num_shards, needed: Dict[int, int]) -> Dict[int, int]:
    """Size of every shard an entry uses; missing or short shards mean the checkpoint is
    still being written (TF writes the index last, but copies and syncs are not atomic)."""
    sizes: Dict[int, int] = {}
    for shard in sorted(needed):
        st = fs.stat(data_path(prefix, shard, num_shards))
        if st is None or st.is_dir:
            raise IncompleteCheckpoint(
                f"data shard {shard + 1} of {num_shards} is missing — the checkpoint may still be being written")
        if st.size < needed[shard]:
            raise IncompleteCheckpoint(
                f"data shard {shard + 1} of {num_shards} holds {st.size} bytes but the index needs "
                f"{needed[shard]} — the checkpoint may still be being written")
        sizes[shard] = st.size
    return sizes


def _expected_bytes(entry: proto.Entry) -> Optional[int]:
    """Bytes a numeric entry of this dtype and shape must occupy (None: variable-size)."""
    item = dtypes.ITEMSIZE.get(dtypes.name(entry.dtype))
    if item is None or entry.shape is None:
        return None
    count = _element_count(entry.shape)
    return None if count < 0 else count * item


def _check_size(key: str, entry: proto.Entry) -> None:
    expected = _expected_bytes(entry)
    if expected is not None and expected != entry.size:
        raise CheckpointError(
            f"the index file is corrupt: {key!r} of shape {list(entry.shape)} and dtype "
            f"{dtypes.name(entry.dtype)} needs {expected} bytes but its entry says {entry.size}")


# ---------------------------------------------------------------- values


def _read_range(fs, prefix: str, bundle: Bundle, entry: proto.Entry, start: int, length: int) -> bytes:
    path = data_path(prefix, entry.shard_id, bundle.header.num_shards)
    with fs.open(path) as f:
        f.seek(entry.offset + start)
        chunk = f.read(length)
    if len(chunk) != length:
        raise IncompleteCheckpoint(
            f"data shard {entry.shard_id + 1} of {bundle.header.num_shards} ended early — "
            "the checkpoint may still be being written")
    return chunk


def _verify(key: str, entry: proto.Entry, crc: int) -> None:
    if entry.crc32c is not None and index_table.unmask(entry.crc32c) != crc:
        raise CheckpointError(f"checksum mismatch in the values of {key!r}: the data shard is corrupt")


def _strings(key: str, entry: proto.Entry, buf: bytes) -> List[bytes]:
    """Decode a DT_STRING tensor: varint64 lengths, a masked CRC of the lengths, the bytes."""
    count = 1
    for dim in entry.shape or ():
        count *= dim
    if count > len(buf):
        raise CheckpointError(f"the index file is corrupt: {key!r} claims {count} strings in {len(buf)} bytes")
    lengths = []
    crc = 0
    pos = 0
    for _ in range(count):
        length, pos = index_table.read_varint(buf, pos, len(buf))
        if length > len(buf):  # a varint can claim up to 2**70: more than this tensor holds
            raise CheckpointError(f"the string tensor {key!r} claims a {length}-byte string in {len(buf)} bytes")
        lengths.append(length)
        crc = google_crc32c.extend(crc, length.to_bytes(4 if length <= 0xFFFFFFFF else 8, "little"))
    if pos + 4 > len(buf):
        raise CheckpointError(f"the string tensor {key!r} is truncated")
    stored = buf[pos:pos + 4]
    if index_table.unmask(int.from_bytes(stored, "little")) != crc:
        raise CheckpointError(f"checksum mismatch in the string lengths of {key!r}: the data shard is corrupt")
    crc = google_crc32c.extend(crc, stored)
    pos += 4
    if pos + sum(lengths) != len(buf):
        raise CheckpointError(f"the string tensor {key!r} does not fill its {len(buf)} bytes")
    out = []
    for length in lengths:
        out.append(buf[pos:pos + length])
        pos += length
    _verify(key, entry, google_crc32c.extend(crc, buf[pos - sum(lengths):pos]))
    return out


def encode_strings(values: List[bytes]) -> Tuple[bytes, int]:
    """(bytes, masked entry CRC32C) of a DT_STRING tensor holding ``values`` in C order:
    the layout ``_strings`` reads."""
    lengths = bytearray()
    crc = 0
    for value in values:
        proto.put_varint(lengths, len(value))
        crc = google_crc32c.extend(crc, len(value).to_bytes(4 if len(value) <= 0xFFFFFFFF else 8, "little"))
    stored = index_table.mask(crc).to_bytes(4, "little")
    crc = google_crc32c.extend(crc, stored)
    data = b"".join(values)
    crc = google_crc32c.extend(crc, data)
    return bytes(lengths) + stored + data, index_table.mask(crc)


def _string_tensor(fs, prefix: str, bundle: Bundle, key: str) -> List[bytes]:
    entry = bundle.entries[key]
    return _strings(key, entry, _read_range(fs, prefix, bundle, entry, 0, entry.size))


def _entry_for(bundle: Bundle, key: str) -> proto.Entry:
    try:
        return bundle.entries[key]
    except KeyError:
        raise KeyError(key) from None


def _chunks_whole(fs, prefix, bundle, key, entry, np_dtype, max_bytes) -> Iterator:
    import numpy as np

    item = np_dtype.itemsize
    for chunk in stored_bytes(fs, prefix, bundle, key, entry, max(item, max_bytes - max_bytes % item)):
        yield np.frombuffer(chunk, dtype=np_dtype)


def stored_bytes(fs, prefix: str, bundle: Bundle, key: str, entry: proto.Entry,
                 max_bytes: int = DEFAULT_CHUNK) -> Iterator[bytes]:
    """The bytes ``entry`` (a whole tensor or one slice of one) occupies in its data shard, in
    chunks of at most ``max_bytes``, CRC32C-checked: the last chunk leaves only after the
    checksum matched, so a bad tensor never completes. A string tensor comes as one chunk,
    checked as its layout demands. (The remap writer copies values with this, bit for bit.)"""
    if entry.dtype == DT_STRING:
        raw = _read_range(fs, prefix, bundle, entry, 0, entry.size)
        _strings(key, entry, raw)
        yield raw
        return
    crc = 0
    done = 0
    path = data_path(prefix, entry.shard_id, bundle.header.num_shards)
    with fs.open(path) as f:
        f.seek(entry.offset)
        while done < entry.size:
            want = min(max_bytes, entry.size - done)
            chunk = f.read(want)
            if len(chunk) != want:
                raise IncompleteCheckpoint(
                    f"data shard {entry.shard_id + 1} of {bundle.header.num_shards} ended early — "
                    "the checkpoint may still be being written")
            crc = google_crc32c.extend(crc, chunk)
            done += want
            if done == entry.size:
                _verify(key, entry, crc)  # before the last chunk leaves: a bad tensor never completes
            yield chunk
    if entry.size == 0:
        _verify(key, entry, 0)


def copy_stored(fs, prefix: str, bundle: Bundle, key: str, entry: proto.Entry, out) -> Callable[[], None]:
    """Append the bytes ``entry`` occupies to the open file ``out``, bit for bit, and return
    the check of what was appended. Between local files they are copied inside the kernel and
    the check reads them back from ``out`` against the entry's CRC32C (the caller can sync the
    file meanwhile; the copy is not to be trusted before the check ran). Otherwise they are
    checked on the way in, as ``stored_bytes`` hands them over, and the check does nothing."""
    if entry.dtype != DT_STRING and entry.crc32c is not None and entry.size:
        start = out.tell()
        copied = storage.kernel_copy(fs, data_path(prefix, entry.shard_id, bundle.header.num_shards),
                                     entry.offset, entry.size, out)
        if copied is not None:
            if copied != entry.size:
                raise IncompleteCheckpoint(
                    f"data shard {entry.shard_id + 1} of {bundle.header.num_shards} ended early — "
                    "the checkpoint may still be being written")
            return lambda: _verify(key, entry, _crc_of_written(out.name, start, entry.size))
    for chunk in stored_bytes(fs, prefix, bundle, key, entry, COPY_CHUNK):
        out.write(chunk)
    return _checked


def _checked() -> None:
    """The check of bytes that were checked as they were read."""


def _crc_of_written(path: str, start: int, size: int) -> int:
    import numpy as np

    crc = 0
    # One small buffer, refilled: it stays in the CPU's cache between the read and the CRC
    # (a 16 MiB one makes the check three times slower).
    buffer = bytearray(min(size, COPY_CHUNK >> 2))
    view = np.frombuffer(buffer, np.uint8)
    view.flags.writeable = False  # the CRC extension takes read-only buffers only
    with open(path, "rb", buffering=0) as f:
        f.seek(start)
        while size:
            n = f.readinto(memoryview(buffer)[:min(size, len(buffer))])
            if not n:
                raise CheckpointError("the remapped file is shorter than what was copied into it")
            crc = google_crc32c.extend(crc, view[:n])
            size -= n
    return crc


def _chunks_sliced(fs, prefix, bundle, key, entry, np_dtype, max_bytes) -> Iterator:
    """Row blocks (along axis 0) of a sliced tensor, assembled from its slices; each slice's
    bytes are read in order across blocks, so its CRC is checked as its last row arrives."""
    import numpy as np

    shape = entry.shape
    item = np_dtype.itemsize
    parts = []
    total = 0
    for extents, part in bundle.slices.get(key, []):
        box = slice_keys.box(extents, shape)
        part_shape = tuple(stop - start for start, stop in box)
        count = 1
        for d in part_shape:
            count *= d
        if count * item != part.size:
            raise CheckpointError(
                f"the index file is corrupt: a slice of {key!r} of shape {list(part_shape)} says {part.size} bytes")
        total += part.size
        parts.append([box, part_shape, part, 0, 0])  # box, shape, entry, bytes read, running crc
    full = 1
    for d in shape:
        full *= d
    if total < full * item:
        raise CheckpointError(f"the slices of {key!r} do not cover its shape {list(shape)}")
    if not shape:
        raise CheckpointError(f"the index file is corrupt: sliced entry {key!r} is a scalar")
    row_items = full // shape[0] if shape[0] else 0
    rows_per_block = max(1, max_bytes // max(1, row_items * item))
    for r0 in range(0, shape[0], rows_per_block):
        r1 = min(shape[0], r0 + rows_per_block)
        block = np.zeros((r1 - r0,) + tuple(shape[1:]), dtype=np_dtype)
        for state in parts:
            box, part_shape, part, done, crc = state
            (s0, s1) = box[0]
            lo, hi = max(r0, s0), min(r1, s1)
            if lo >= hi:
                continue
            part_row = part.size // part_shape[0]
            start, length = (lo - s0) * part_row, (hi - lo) * part_row
            if start != done:
                raise CheckpointError(f"the slices of {key!r} overlap")
            raw = _read_range(fs, prefix, bundle, part, start, length)
            crc = google_crc32c.extend(crc, raw)
            state[3], state[4] = start + length, crc
            if state[3] == part.size:
                _verify(key, part, crc)
            values = np.frombuffer(raw, dtype=np_dtype).reshape((hi - lo,) + part_shape[1:])
            index = (slice(lo - r0, hi - r0),) + tuple(slice(a, b) for a, b in box[1:])
            block[index] = values
        yield block.reshape(-1)


def iter_chunks(fs, path: str, key: str, max_bytes: int = DEFAULT_CHUNK) -> Iterator:
    """Flat C-order chunks of one numeric tensor, each at most about ``max_bytes``."""
    bundle = load_index(fs, path)
    return _iter_chunks(fs, path, bundle, key, max_bytes)


def chunk_reader(fs, path: str):
    """``iter_chunks`` for many keys of one bundle with the index parsed once: drift reads
    every variable, and parsing a large index per variable would be quadratic."""
    bundle = load_index(fs, path)
    return lambda key, max_bytes=DEFAULT_CHUNK: _iter_chunks(fs, path, bundle, key, max_bytes)


def _numeric_dtype(key: str, entry: proto.Entry):
    name = dtypes.name(entry.dtype)
    np_dtype = dtypes.numpy_dtype(name)
    if np_dtype is None:
        raise CheckpointError(f"{key!r} holds {name} values, which have no numeric form")
    return np_dtype


def _iter_chunks(fs, prefix, bundle, key, max_bytes) -> Iterator:
    entry = _entry_for(bundle, key)
    np_dtype = _numeric_dtype(key, entry)
    if entry.shape is None:
        raise CheckpointError(f"{key!r} has an unknown shape")
    if entry.slices:
        return _chunks_sliced(fs, prefix, bundle, key, entry, np_dtype, max_bytes)
    _check_size(key, entry)
    return _chunks_whole(fs, prefix, bundle, key, entry, np_dtype, max_bytes)


def read_tensor(fs, path: str, key: str):
    """The values of one tensor as a numpy array (strings: an object array of bytes)."""
    import numpy as np

    bundle = load_index(fs, path)
    entry = _entry_for(bundle, key)
    if entry.dtype == DT_STRING:
        if entry.slices:
            raise CheckpointError(f"{key!r} is a sliced string tensor, which this reader does not assemble")
        values = _string_tensor(fs, path, bundle, key)
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out.reshape(entry.shape)
    chunks = list(_iter_chunks(fs, path, bundle, key, max(entry.size, DEFAULT_CHUNK)))
    np_dtype = _numeric_dtype(key, entry)
    flat = chunks[0] if len(chunks) == 1 else np.concatenate(chunks) if chunks else np.empty(0, np_dtype)
    return flat.reshape(entry.shape).copy()


# ---------------------------------------------------------------- metadata


def object_graph_bytes(fs, prefix: str, bundle: Bundle) -> Optional[bytes]:
    """The serialized TrackableObjectGraph, checked, or None for a name-based bundle."""
    if OBJECT_GRAPH_KEY not in bundle.entries:
        return None
    entry = bundle.entries[OBJECT_GRAPH_KEY]
    if entry.dtype != DT_STRING or entry.shape != ():
        raise CheckpointError(f"{OBJECT_GRAPH_KEY} is not a string scalar: the index file is corrupt")
    (raw,) = _string_tensor(fs, prefix, bundle, OBJECT_GRAPH_KEY)
    return raw


def variables(bundle: Bundle, namings: Optional[Dict[str, tuple]]) -> Tuple[records.Variable, ...]:
    # Tens of thousands of keys: entries and namings are unpacked (as fast as indexing, and
    # named), each dtype and shape is looked up once, and the records are assembled from dicts
    # (records.assemble). tests/test_tf_bundle.py and tests/test_decoder_paths.py hold the result
    # against TensorFlow's own reader.
    rows = []
    add = rows.append
    dtype_infos: Dict[int, Tuple[str, Optional[int]]] = {}  # dtype enum -> (name, bytes per element)
    counts: Dict[tuple, int] = {}  # shape -> element count, -1 when a dimension is unknown
    get_naming = namings.get if namings is not None else None
    # dict.__getitem__: each entry's fields as index.Entries holds them, not a new Entry each.
    for key, entry in zip(bundle.keys, map(dict.__getitem__, repeat(bundle.entries), bundle.keys)):
        dtype, shape, _shard, _offset, size, _crc, parts = entry
        info = dtype_infos.get(dtype)
        if info is None:
            info = dtype_infos[dtype] = (dtypes.name(dtype), dtypes.ITEMSIZE.get(dtypes.name(dtype)))
        dtype_name, itemsize = info
        if parts:
            size = sum(part.size for _, part in bundle.slices.get(key, ()))
        elif itemsize is not None and shape is not None:
            count = counts.get(shape)
            if count is None:
                count = counts[shape] = _element_count(shape)
            if count >= 0 and count * itemsize != size:
                _check_size(key, bundle.entries[key])  # as an Entry: it reads fields by name
        if get_naming is None:
            name, kind, layer, full_name, _ = names.name_based(key)
            object_path = None
        else:
            naming = get_naming(key)
            if naming is None:  # object-based key the graph does not mention
                naming = names.name_based(key)._replace(full_name=None)
            name, kind, layer, full_name, object_path = naming
        # layer_path, index and layer_index (Keras slots) stay at their default, None.
        add({"key": key, "name": name, "shape": shape, "dtype": dtype_name, "size_bytes": size,
             "kind": kind, "layer": layer, "full_name": full_name, "object_path": object_path})
    return records.assemble(records.Variable, rows)


def _element_count(shape: Tuple[int, ...]) -> int:
    count = 1
    for dim in shape:
        if dim < 0:
            return -1
        count *= dim
    return count


# The last object graph read, while a checkpoint still holds it: (its bytes, a weak reference
# to it, its namings). Checkpoints of one model (the steps of a run, the two sides of
# `ckptdiff diff ckpt-100 ckpt-200`) write the same graph byte for byte, and decoding and naming
# it is most of a read (~90 of ~160 ms for 20k variables); records are frozen, so the second
# read shares the first's. Weak: nothing is kept once no checkpoint holds the graph (a reader
# process, which sends each checkpoint away, keeps nothing).
_last_graph: Optional[tuple] = None
# The variables last named with that graph, and the bundle they were made from: each key's
# dtype, shape, size and slices, which two saves of one model write alike (the checksums that
# differ are no part of a record). A read that finds the same shares them (assembling 20k
# records is ~30 ms of a second read's ~70), and reads its index like that bundle's
# (index.scan's ``like``: ~34 -> ~14 ms). Forgotten with the graph.
_last_variables: Optional[tuple] = None  # (namings, the bundle they were made from, variables)
_MADE_OF = itemgetter(0, 1, 4, 6)  # an entry's dtype, shape, size and slices


def named_graph(raw: bytes) -> Tuple[records.ObjectGraph, Dict[str, tuple]]:
    """decode_graph(raw) and its names.object_based, shared with the last read of equal bytes."""
    global _last_graph
    last = _last_graph  # one read of the global: another thread may replace it meanwhile
    if last is not None and last[0] == raw:
        graph = last[1]()
        if graph is not None:
            return graph, last[2]
    graph = decode_graph(raw)
    namings = names.object_based(graph)
    _last_graph = (raw, weakref.ref(graph, _forget_graph), namings)
    return graph, namings


def _forget_graph(ref) -> None:
    global _last_graph, _last_variables
    last = _last_graph
    if last is not None and last[1] is ref:
        _last_graph = _last_variables = None


def named_variables(bundle: Bundle, namings: Dict[str, tuple]) -> Tuple[records.Variable, ...]:
    """variables(bundle, namings) of an object-based bundle, shared with the last read's when
    that read named the same entries with the same graph."""
    global _last_variables
    if bundle.slices:  # a sliced variable's size is its slices': left to variables()
        return variables(bundle, namings)
    last = _last_variables
    if last is not None and last[0] is namings and (
            bundle.table is not None and bundle.table.alike is last[1].table is not None
            or _made_alike(last[1], bundle)):
        return last[2]
    made = variables(bundle, namings)
    last_graph = _last_graph
    if last_graph is not None and last_graph[2] is namings:  # kept only as long as the graph is
        _last_variables = (namings, bundle, made)
    return made


def _made_alike(one: Bundle, other: Bundle) -> bool:
    """Whether variables() makes the same records of both (with the same namings)."""
    keys = one.keys
    if keys != other.keys:
        return False
    # C loops over 20k entries: the fields a record is made of, as index.Entries holds them
    fields = (map(_MADE_OF, map(dict.__getitem__, repeat(b.entries), keys)) for b in (one, other))
    return all(map(eq, *fields))


def read(fs, path: str) -> records.Checkpoint:
    last = _last_variables  # another save of the last model read is read like its index
    bundle = load_index(fs, path, like=last[1] if last is not None else None)
    raw = object_graph_bytes(fs, path, bundle)
    graph, namings = named_graph(raw) if raw is not None else (None, None)
    return records.Checkpoint(
        id=path, path=path, format=FORMAT,
        flavor=records.OBJECT_BASED if graph is not None else records.NAME_BASED,
        wall_time=bundle.index_mtime,
        size_bytes=bundle.index_size + sum(bundle.shard_sizes.values()),
        variables=named_variables(bundle, namings) if namings is not None else variables(bundle, None),
        object_graph=graph,
    )
