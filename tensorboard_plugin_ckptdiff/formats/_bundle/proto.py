"""BundleHeaderProto and BundleEntryProto, decoded from the protobuf wire format (remapping/
bundle_encoding.py encodes them).

TensorBoard ships no compiled tensor_bundle.proto, and an index holds one entry per
variable: a small hand decoder over the bytes beats building a message object per entry.
Field numbers (tensorflow/core/protobuf/tensor_bundle.proto):
  BundleHeaderProto: num_shards 1, endianness 2 (LITTLE 0, BIG 1), version 3 (VersionDef).
  BundleEntryProto: dtype 1, shape 2 (TensorShapeProto), shard_id 3, offset 4, size 5,
      crc32c 6 (fixed32, masked), slices 7 (repeated TensorSliceProto).
  TensorShapeProto: dim 2 (Dim: size 1, name 2), unknown_rank 3.
  TensorSliceProto: extent 1 (Extent: start 1, length 2; no length = the full dimension).
"""

from __future__ import annotations

import struct
from typing import NamedTuple, Optional, Tuple

from tensorboard_plugin_ckptdiff.errors import CheckpointError

_TWO_64 = 1 << 64
_TWO_63 = 1 << 63
_U32 = struct.Struct("<I")

Extent = Tuple[int, int]  # (start, length); length -1 means the whole dimension
Slice = Tuple[Extent, ...]


class Header(NamedTuple):
    num_shards: int
    endianness: int
    version: int


class Entry(NamedTuple):
    dtype: int
    shape: Optional[Tuple[int, ...]]  # None: unknown rank; -1 in a dim: unknown size
    shard_id: int
    offset: int
    size: int
    crc32c: Optional[int]  # masked, as stored; None when absent
    slices: Tuple[Slice, ...]


def _corrupt(what: str) -> CheckpointError:
    return CheckpointError(f"the index file is corrupt: {what}")


def _varint(buf, pos: int, end: int) -> Tuple[int, int]:
    if pos < end:
        b = buf[pos]
        if b < 0x80:
            return b, pos + 1
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise _corrupt("a varint runs past the end of its record")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _corrupt("a varint is longer than 10 bytes")


def _signed(value: int) -> int:
    return value - _TWO_64 if value >= _TWO_63 else value


def _skip(buf, pos: int, end: int, wire: int) -> int:
    """Position after an unknown field's value (newer writers may add fields)."""
    if wire == 0:
        return _varint(buf, pos, end)[1]
    if wire == 1:
        pos += 8
    elif wire == 2:
        length, pos = _varint(buf, pos, end)
        pos += length
    elif wire == 5:
        pos += 4
    else:
        raise _corrupt(f"unsupported protobuf wire type {wire}")
    if pos > end:
        raise _corrupt("a protobuf field runs past the end of its entry")
    return pos


def _fields(buf, pos: int, end: int):
    """(field number, wire type, value or (start, end) span) for each field in [pos, end)."""
    while pos < end:
        tag, pos = _varint(buf, pos, end)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos, end)
            yield field, wire, value
        elif wire == 2:
            length, pos = _varint(buf, pos, end)
            if pos + length > end:
                raise _corrupt("a protobuf field runs past the end of its entry")
            yield field, wire, (pos, pos + length)
            pos += length
        elif wire == 5:
            if pos + 4 > end:
                raise _corrupt("a protobuf field runs past the end of its entry")
            yield field, wire, _U32.unpack_from(buf, pos)[0]
            pos += 4
        else:
            pos = _skip(buf, pos, end, wire)


def parse_header(buf: bytes) -> Header:
    num_shards, endianness, version = 0, 0, 0
    for field, wire, value in _fields(buf, 0, len(buf)):
        if field == 1 and wire == 0:
            num_shards = value
        elif field == 2 and wire == 0:
            endianness = value
        elif field == 3 and wire == 2:
            for vfield, vwire, vvalue in _fields(buf, *value):
                if vfield == 1 and vwire == 0:
                    version = vvalue
    return Header(num_shards, endianness, version)


def _shape(buf, pos: int, end: int) -> Optional[Tuple[int, ...]]:
    dims = []
    unknown_rank = False
    while pos < end:
        tag, pos = _varint(buf, pos, end)
        if tag == 0x12:  # dim
            length, pos = _varint(buf, pos, end)
            dim_end = pos + length
            if dim_end > end:
                raise _corrupt("a shape dimension runs past the end of its entry")
            size = 0
            while pos < dim_end:
                dtag, pos = _varint(buf, pos, dim_end)
                if dtag == 0x08:
                    raw, pos = _varint(buf, pos, dim_end)
                    size = raw - _TWO_64 if raw >= _TWO_63 else raw
                else:
                    pos = _skip(buf, pos, dim_end, dtag & 7)
            dims.append(size)
        elif tag == 0x18:
            raw, pos = _varint(buf, pos, end)
            unknown_rank = bool(raw)
        else:
            pos = _skip(buf, pos, end, tag & 7)
    return None if unknown_rank else tuple(dims)


def _slice(buf, pos: int, end: int) -> Slice:
    extents = []
    for field, wire, value in _fields(buf, pos, end):
        if field == 1 and wire == 2:
            start, length = 0, -1
            for efield, ewire, evalue in _fields(buf, *value):
                if efield == 1 and ewire == 0:
                    start = _signed(evalue)
                elif efield == 2 and ewire == 0:
                    length = _signed(evalue)
            extents.append((start, length))
    return tuple(extents)


def parse_entry(buf: bytes) -> Entry:
    dtype = shard_id = offset = size = 0
    shape: Optional[Tuple[int, ...]] = ()
    crc = None
    slices = []
    end = len(buf)
    pos = 0
    while pos < end:
        tag = buf[pos]
        pos += 1
        if tag == 0x08:
            dtype, pos = _varint(buf, pos, end)
        elif tag == 0x12:
            length, pos = _varint(buf, pos, end)
            if pos + length > end:
                raise _corrupt("an entry's shape runs past the end of the entry")
            shape = _shape(buf, pos, pos + length)
            pos += length
        elif tag == 0x18:
            shard_id, pos = _varint(buf, pos, end)
        elif tag == 0x20:
            offset, pos = _varint(buf, pos, end)
        elif tag == 0x28:
            size, pos = _varint(buf, pos, end)
        elif tag == 0x35:
            if pos + 4 > end:
                raise _corrupt("an entry's checksum runs past the end of the entry")
            crc = _U32.unpack_from(buf, pos)[0]
            pos += 4
        elif tag == 0x3A:
            length, pos = _varint(buf, pos, end)
            if pos + length > end:
                raise _corrupt("an entry's slice runs past the end of the entry")
            slices.append(_slice(buf, pos, pos + length))
            pos += length
        else:
            tag, pos = _varint(buf, pos - 1, end)
            pos = _skip(buf, pos, end, tag & 7)
    return Entry(dtype, shape, shard_id, offset, size, crc, tuple(slices))

def entry_or_none(raw: bytes, errors: list) -> Optional[Entry]:
    """The general decoder's entry, or None with its error appended to ``errors`` (the
    table's layout is judged before an entry's error is raised)."""
    try:
        return parse_entry(raw)
    except CheckpointError as e:
        errors.append(e)
        return None


def known_head(raw: bytes):
    """(dtype, shape) of an entry's leading dtype and shape fields, or () when the bytes are
    not exactly those two fields (the general decoder then reads the entry)."""
    if len(raw) < 4 or raw[0] != 0x08 or raw[1] >= 0x80 or raw[2] != 0x12 or raw[3] >= 0x80 or len(raw) != 4 + raw[3]:
        return ()
    try:
        return raw[1], _shape(raw, 4, len(raw))
    except CheckpointError:
        return ()  # the general decoder reports it, in its turn



# ---------------------------------------------------------------- encoding (the remap writer)
#
def put_varint(out: bytearray, value: int) -> None:
    """A base-128 varint; a negative value as its 64-bit two's complement (ten bytes)."""
    if value < 0:
        value += _TWO_64
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


# Other hand decoders (the object graph) share these.
varint = _varint
skip_field = _skip
shape_of = _shape
