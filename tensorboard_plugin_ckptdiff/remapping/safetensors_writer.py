"""Writing a remapped safetensors file: the header with the new names, then every tensor's bytes.

Tensors keep the file's order and are copied as stored (sub-byte dtypes too), a cast one
converted chunk by chunk; ``__metadata__`` is kept, so a file transformers wrote still reads
as one. The header is padded with spaces to a multiple of 8 bytes, as safetensors pads it.
"""

from __future__ import annotations

import json
import struct
from typing import Dict, List, NamedTuple, Tuple

from tensorboard_plugin_ckptdiff.diff import pairing
from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.errors import CheckpointError
from tensorboard_plugin_ckptdiff.formats import safetensors

FORMAT = records.SAFETENSORS
CHUNK = 4 << 20  # read, converted and written while still in the CPU's cache
_CODES = {name: code for code, (name, _) in safetensors.DTYPES.items()}


class _Tensor(NamedTuple):
    name: str  # in the new file
    source: safetensors.Tensor  # in the input
    dtype: str  # the file's spelling (F32...) it is written as


class Layout(NamedTuple):
    header: safetensors.Header  # the input's
    tensors: List[_Tensor]
    not_moved: Tuple[Tuple[str, str], ...] = ()


def output_files(out: str, layout: Layout) -> List[str]:
    return [out]


def input_files(fs, target: records.Checkpoint, layout: Layout) -> List[str]:
    return [target.path]


def layout(fs, target: records.Checkpoint, plan) -> Layout:
    if plan.renames and plan.mode not in (pairing.NAME, pairing.TRANSFORMERS):
        raise plan.unsupported("a safetensors file keys its tensors by name")
    header = safetensors.parse_header(fs, target.path)
    names = {key: plan.base_identity(base) for key, base in plan.renames.items()}
    tensors = []
    for t in sorted(header.tensors, key=lambda t: t.begin):
        if t.name in plan.drops:
            continue
        dtype = t.dtype
        if t.name in plan.casts:
            dtype = _CODES.get(plan.casts[t.name])
            if dtype is None or safetensors.DTYPES[dtype][1] % 8 or safetensors.DTYPES[t.dtype][1] % 8:
                raise CheckpointError(f"{t.name!r} cannot be cast from {t.dtype} to {plan.casts[t.name]} here")
        tensors.append(_Tensor(names.get(t.name, t.name), t, dtype))
    seen = set()
    for t in tensors:
        if t.name in seen or t.name == safetensors.METADATA_KEY:
            raise CheckpointError(f"the remap would store two tensors under {t.name!r}")
        seen.add(t.name)
    return Layout(header, tensors)


def _byte_size(t: _Tensor) -> int:
    count = 1
    for d in t.source.shape:
        count *= d
    return count * safetensors.DTYPES[t.dtype][1] // 8 if t.dtype != t.source.dtype else t.source.end - t.source.begin


def _header_bytes(layout: Layout) -> Tuple[bytes, Dict[str, Tuple[int, int]]]:
    header: Dict[str, object] = {}
    if layout.header.metadata:
        header[safetensors.METADATA_KEY] = dict(layout.header.metadata)
    spans = {}
    offset = 0
    for t in layout.tensors:
        size = _byte_size(t)
        spans[t.name] = (offset, offset + size)
        header[t.name] = {"dtype": t.dtype, "shape": list(t.source.shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    return raw, spans


def planned(fs, target: records.Checkpoint, layout: Layout, out: str) -> records.Checkpoint:
    raw, spans = _header_bytes(layout)
    start = 8 + len(raw)
    tensors = [safetensors.Tensor(t.name, t.dtype, t.source.shape, start + spans[t.name][0], start + spans[t.name][1])
               for t in layout.tensors]
    end = tensors[-1].end if tensors else start
    header = safetensors.Header(tensors, {t.name: t for t in tensors}, end, layout.header.metadata)
    return safetensors.checkpoint_of(header, out)


def write(fs, target: records.Checkpoint, layout: Layout, out: str, staging) -> Tuple[List[str], List[str]]:
    import numpy as np

    raw, _ = _header_bytes(layout)
    with open(staging.path(out), "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for t in layout.tensors:
            if t.dtype == t.source.dtype:  # bit for bit
                safetensors.copy_stored(fs, target.path, layout.header, t.source.name, f)
                continue
            source = _numpy(t.source.dtype)
            wanted = _numpy(t.dtype)
            step = CHUNK - CHUNK % source.itemsize
            for chunk in safetensors.stored_bytes(fs, target.path, layout.header, t.source.name, step):
                f.write(np.frombuffer(chunk, source).astype(wanted))
    return [out], [out]


def _numpy(code: str):
    from tensorboard_plugin_ckptdiff.formats import dtypes

    name = safetensors.DTYPES[code][0]
    found = dtypes.numpy_dtype(name)
    if found is None:
        raise CheckpointError(f"no numeric type holds {code} values")
    return found
