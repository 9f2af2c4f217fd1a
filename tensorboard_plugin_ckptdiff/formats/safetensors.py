"""safetensors files: an 8-byte little-endian header length, a JSON header, then the bytes.

The header is parsed once and every claim in it (its own length, each tensor's dtype, shape
and byte range) is checked against the file's size before anything is allocated, with the
rules of safetensors' own loader: known dtype, ranges that exactly cover the data area one
after another, and a byte count that matches the shape.
"""

from __future__ import annotations

import json
import math
import re
import struct
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple

from tensorboard_plugin_ckptdiff import records, storage
from tensorboard_plugin_ckptdiff.errors import CheckpointError
from tensorboard_plugin_ckptdiff.formats import hdf5

FORMAT = records.SAFETENSORS
# The reference implementation refuses headers above 100 MB (MAX_HEADER_SIZE).
MAX_HEADER = 100_000_000
METADATA_KEY = "__metadata__"
DEFAULT_CHUNK = 64 << 20

# safetensors dtype -> (numpy-style name, bits per element)
DTYPES = {
    "F64": ("float64", 64), "F32": ("float32", 32), "F16": ("float16", 16), "BF16": ("bfloat16", 16),
    "I64": ("int64", 64), "I32": ("int32", 32), "I16": ("int16", 16), "I8": ("int8", 8),
    "U64": ("uint64", 64), "U32": ("uint32", 32), "U16": ("uint16", 16), "U8": ("uint8", 8),
    "BOOL": ("bool", 8), "C64": ("complex64", 64),
    "F8_E4M3": ("float8_e4m3fn", 8), "F8_E5M2": ("float8_e5m2", 8), "F8_E8M0": ("float8_e8m0fnu", 8),
    "F6_E2M3": ("float6_e2m3fn", 6), "F6_E3M2": ("float6_e3m2fn", 6), "F4": ("float4_e2m1fn", 4),
}
_ML_DTYPES = {"bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e8m0fnu"}


class Tensor(NamedTuple):
    name: str
    dtype: str  # the file's own spelling: F32, BF16...
    shape: Tuple[int, ...]
    begin: int  # absolute offsets in the file
    end: int


class Header(NamedTuple):
    tensors: List[Tensor]  # in the header's own order
    by_name: Dict[str, Tensor]
    file_size: int
    metadata: Dict[str, str] = {}


SUFFIXES = (".safetensors",)


def claims(name: str) -> bool:
    return re.split(r"[/\\]", name)[-1].endswith(SUFFIXES)


def glance(fs, path: str) -> Tuple[Optional[str], Optional[str]]:
    with fs.open(path) as f:
        head = f.read(8)
    return None, None if len(head) == 8 else "too short for a safetensors header"


def sniff(fs, path: str, head: bytes) -> bool:
    # The JSON header opens at byte 8; its length is judged by read(), which says what is wrong.
    return len(head) >= 10 and head[8:9] == b"{"


def _fail(message: str):
    raise CheckpointError(message)


def _int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        _fail(f"{what} is {value!r}, not a non-negative integer")
    return value


def _no_duplicates(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            _fail(f"the header names {key!r} twice")
        out[key] = value
    return out


def _tensor(name: str, entry, data_start: int) -> Tensor:
    if not isinstance(entry, dict):
        _fail(f"the header entry for {name!r} is not an object")
    dtype = entry.get("dtype")
    if dtype not in DTYPES:
        _fail(f"tensor {name!r} has dtype {dtype!r}, which safetensors does not define")
    shape = entry.get("shape")
    if not isinstance(shape, list):
        _fail(f"tensor {name!r} has shape {shape!r}, not a list")
    shape = tuple(_int(d, f"a dimension of {name!r}") for d in shape)
    offsets = entry.get("data_offsets")
    if not isinstance(offsets, list) or len(offsets) != 2:
        _fail(f"tensor {name!r} has data_offsets {offsets!r}, not [begin, end]")
    begin, end = (_int(o, f"an offset of {name!r}") for o in offsets)
    if end < begin:
        _fail(f"tensor {name!r} ends (byte {end}) before it begins (byte {begin})")
    bits = math.prod(shape) * DTYPES[dtype][1]
    if bits != (end - begin) * 8:
        _fail(f"tensor {name!r} is {dtype} of shape {list(shape)}, {bits / 8:g} bytes, "
              f"but its data_offsets span {end - begin} bytes")
    return Tensor(name, dtype, shape, data_start + begin, data_start + end)


def parse_header(fs, path: str) -> Header:
    size = hdf5.file_size(fs, path, "a safetensors file")
    if size < 8:
        _fail(f"the file is {size} bytes, too short for the 8-byte header length of a safetensors file")
    with fs.open(path) as f:
        (length,) = struct.unpack("<Q", f.read(8))
        if length > MAX_HEADER:
            _fail(f"the header claims {length} bytes; safetensors allows at most {MAX_HEADER}")
        if 8 + length > size:
            _fail(f"the header claims {length} bytes but the file has only {size - 8} after the length: "
                  "the file is truncated or not safetensors")
        raw = f.read(length)
    if len(raw) != length:
        _fail("the file ended while reading the header: it is truncated")
    try:
        text = raw.decode("utf-8")
        header = json.loads(text)
        # json.loads keeps the last of duplicate names silently. Every entry names
        # "data_offsets" once, so a count that disagrees means a duplicate (or a name that
        # contains that word): only then pay for the per-object hook that finds it.
        if isinstance(header, dict) and raw.count(b'"data_offsets"') != len(header) - (METADATA_KEY in header):
            header = json.loads(text, object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise CheckpointError(f"the header is not valid JSON ({e}): not a safetensors file, or a corrupt one") from e
    if not isinstance(header, dict):
        _fail("the header is not a JSON object")
    metadata = header.get(METADATA_KEY)
    if metadata is not None and not (
            isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        _fail("the header's __metadata__ is not a map of strings")
    data_start = 8 + length
    tensors = [_tensor(name, entry, data_start) for name, entry in header.items() if name != METADATA_KEY]
    # Like the reference loader: the ranges, in order, tile the data area with no gap.
    position = data_start
    for t in sorted(tensors, key=lambda t: (t.begin, t.end)):
        if t.begin != position:
            _fail(f"tensor {t.name!r} starts at byte {t.begin - data_start} of the data but the previous "
                  f"one ends at {position - data_start}: overlapping or missing bytes")
        position = t.end
    if position != size:
        _fail(f"the tensors cover {position - data_start} bytes of data but the file holds {size - data_start}: "
              "the file is truncated or has trailing bytes")
    return Header(tensors, {t.name: t for t in tensors}, size, metadata or {})


def _layer(name: str):
    cut = max(name.rfind("."), name.rfind("/"))
    return name[:cut] if cut > 0 else None


def read(fs, path: str) -> records.Checkpoint:
    return checkpoint_of(parse_header(fs, path), path)


def checkpoint_of(header: Header, path: str) -> records.Checkpoint:
    """The Checkpoint record of a parsed header (also what a header about to be written reads as)."""
    # transformers' save_pretrained marks TF weights {"format": "tf"}: from_pretrained loads them
    # by these names (the model's own name stripped, ":0" kept); PyTorch-format files ("pt") go
    # through a name conversion that is not modelled here, so they stay plain safetensors.
    writer = "transformers" if header.metadata.get("format") == "tf" else None
    tf_name = records.strip_output_suffix if writer else str
    variables = records.assemble(records.Variable, (
        {"key": t.name, "name": tf_name(t.name), "shape": t.shape, "dtype": DTYPES[t.dtype][0],
         "size_bytes": t.end - t.begin, "kind": records.WEIGHT, "layer": _layer(tf_name(t.name)),
         "full_name": t.name, "object_path": None, "layer_path": None, "index": None, "layer_index": None}
        for t in header.tensors))
    return records.Checkpoint(id=path, path=path, format=FORMAT, size_bytes=header.file_size, variables=variables,
                              writer=writer)


def _numpy_dtype(t: Tensor):
    import numpy as np

    name, bits = DTYPES[t.dtype]
    if bits % 8:
        _fail(f"tensor {t.name!r} is {t.dtype}, packed below one byte per value: its values cannot be read here")
    if name in _ML_DTYPES:
        import ml_dtypes

        return np.dtype(getattr(ml_dtypes, name))
    return np.dtype(name).newbyteorder("<") if name != "bool" else np.dtype(np.bool_)


def _tensor_of(header: Header, key: str) -> Tensor:
    t = header.by_name.get(key)
    if t is None:
        _fail(f"no tensor {key!r} in this checkpoint")
    return t


def _read_range(f, t: Tensor, begin: int, end: int) -> bytes:
    f.seek(begin)
    data = f.read(end - begin)
    if len(data) != end - begin:
        _fail(f"the file ended inside tensor {t.name!r}: it was truncated after the header was read")
    return data


def read_tensor(fs, path: str, key: str):
    import numpy as np

    header = parse_header(fs, path)
    t = _tensor_of(header, key)
    dtype = _numpy_dtype(t)
    with fs.open(path) as f:
        data = _read_range(f, t, t.begin, t.end)
    return np.frombuffer(data, dtype=dtype).reshape(t.shape)


def _chunks(fs, path: str, header: Header, key: str, max_bytes: int) -> Iterator:
    import numpy as np

    dtype = _numpy_dtype(_tensor_of(header, key))
    for data in stored_bytes(fs, path, header, key, max(1, max_bytes // dtype.itemsize) * dtype.itemsize):
        yield np.frombuffer(data, dtype=dtype)


def copy_stored(fs, path: str, header: Header, key: str, out) -> None:
    """Append the bytes of one tensor as stored to the open file ``out``: inside the kernel
    between local files, else as ``stored_bytes`` hands them over."""
    t = _tensor_of(header, key)
    copied = storage.kernel_copy(fs, path, t.begin, t.end - t.begin, out)
    if copied is None:
        for chunk in stored_bytes(fs, path, header, key):
            out.write(chunk)
    elif copied != t.end - t.begin:
        _fail(f"the file ended inside tensor {t.name!r}: it was truncated after the header was read")


def stored_bytes(fs, path: str, header: Header, key: str, max_bytes: int = DEFAULT_CHUNK) -> Iterator[bytes]:
    """The bytes of one tensor as stored, in chunks of at most ``max_bytes`` (the remap writer
    copies them bit for bit, sub-byte dtypes included)."""
    t = _tensor_of(header, key)
    with fs.open(path) as f:
        for begin in range(t.begin, t.end, max(1, max_bytes)):
            yield _read_range(f, t, begin, min(begin + max(1, max_bytes), t.end))


def iter_chunks(fs, path: str, key: str, max_bytes: int = DEFAULT_CHUNK) -> Iterator:
    return _chunks(fs, path, parse_header(fs, path), key, max_bytes)


def chunk_reader(fs, path: str):
    """``iter_chunks`` for many keys with the header parsed once (drift reads them all)."""
    header = parse_header(fs, path)
    return lambda key, max_bytes=DEFAULT_CHUNK: _chunks(fs, path, header, key, max_bytes)
