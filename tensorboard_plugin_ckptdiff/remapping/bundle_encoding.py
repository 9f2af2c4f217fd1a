"""A tensor bundle's index, written as TensorFlow writes it: the LevelDB-style table, the
BundleHeaderProto and BundleEntryProto messages, and the OrderedCode keys of sliced variables.

The reading side of each lives in formats/_bundle (table, proto, slices); the bytes written here
are the bytes TF writes for the same checkpoint (tests/test_bundle_encoding.py re-encodes TF's
own index files and compares), so a remapped index is laid out as TF lays out its own.
"""

from __future__ import annotations

import struct
from typing import Optional, Tuple

import google_crc32c

from tensorboard_plugin_ckptdiff.formats._bundle.proto import Entry, Header, Slice, put_varint
from tensorboard_plugin_ckptdiff.formats._bundle.slices import Extents
from tensorboard_plugin_ckptdiff.formats._bundle.table import FOOTER_SIZE, MAGIC, mask

_U32 = struct.Struct("<I")
# TF's table::Options: a data block is cut once it reaches this many bytes; every 16th key
# is stored whole (a restart point), the others as the bytes they add to the previous key.
BLOCK_SIZE = 262144
RESTART_INTERVAL = 16


# ---------------------------------------------------------------- the table


class _Block:
    """LevelDB's BlockBuilder: prefix-compressed entries, then the restart array."""

    def __init__(self, restart_interval: int):
        self.interval = restart_interval
        self.buffer = bytearray()
        self.restarts = [0]
        self.counter = 0
        self.last = b""

    def add(self, key: bytes, value: bytes) -> None:
        shared = 0
        if self.counter < self.interval:
            limit = min(len(self.last), len(key))
            while shared < limit and self.last[shared] == key[shared]:
                shared += 1
        else:
            self.restarts.append(len(self.buffer))
            self.counter = 0
        for length in (shared, len(key) - shared, len(value)):
            put_varint(self.buffer, length)
        self.buffer += key[shared:] + value
        self.last = key
        self.counter += 1

    def size_estimate(self) -> int:
        return len(self.buffer) + 4 * len(self.restarts) + 4

    def empty(self) -> bool:
        return not self.buffer

    def finish(self) -> bytes:
        return bytes(self.buffer) + b"".join(_U32.pack(r) for r in self.restarts) + _U32.pack(len(self.restarts))


def _shortest_separator(start: bytes, limit: bytes) -> bytes:
    """A short key k with start <= k < limit (LevelDB's bytewise FindShortestSeparator)."""
    common = 0
    stop = min(len(start), len(limit))
    while common < stop and start[common] == limit[common]:
        common += 1
    if common < stop:
        byte = start[common]
        if byte < 0xFF and byte + 1 < limit[common]:
            return start[:common] + bytes((byte + 1,))
    return start


def _short_successor(key: bytes) -> bytes:
    """A short key >= ``key`` (LevelDB's FindShortSuccessor)."""
    for i, byte in enumerate(key):
        if byte != 0xFF:
            return key[:i] + bytes((byte + 1,))
    return key


def write_table(pairs, block_size: int = BLOCK_SIZE, restart_interval: int = RESTART_INTERVAL) -> bytes:
    """The table holding ``pairs``: (key, value) bytes, keys strictly increasing (readers
    binary-search the index; callers check the order, since fuzzers want tables that break it)."""
    out = bytearray()

    def put(raw: bytes) -> bytes:
        offset = len(out)
        crc = google_crc32c.extend(google_crc32c.value(raw), b"\x00")  # block type 0: uncompressed
        out.extend(raw + b"\x00" + _U32.pack(mask(crc)))
        handle = bytearray()
        put_varint(handle, offset)
        put_varint(handle, len(raw))
        return bytes(handle)

    data = _Block(restart_interval)
    index = _Block(1)
    last = None
    pending = None  # the handle of the last data block, waiting for its separator key
    for key, value in pairs:
        if pending is not None:
            index.add(_shortest_separator(last, key), pending)
            pending = None
        data.add(key, value)
        last = key
        if data.size_estimate() >= block_size:
            pending = put(data.finish())
            data = _Block(restart_interval)
    if not data.empty():
        pending = put(data.finish())
    if pending is not None:
        index.add(_short_successor(last), pending)
    meta_handle = put(_Block(restart_interval).finish())
    index_handle = put(index.finish())
    out += (meta_handle + index_handle).ljust(FOOTER_SIZE - 8, b"\x00") + struct.pack("<Q", MAGIC)
    return bytes(out)


# ---------------------------------------------------------------- the entries


# Fields in number order, proto3 zero values left out, messages that are set written even
# when empty (TF always sets an entry's shape): the bytes TF's own serializer produces, so a
# rewritten index holds the same entry bytes as TF's for the same tensor.


def _put_bytes(out: bytearray, tag: int, payload: bytes) -> None:
    out.append(tag)
    put_varint(out, len(payload))
    out += payload


def _put_int(out: bytearray, tag: int, value: int, always: bool = False) -> None:
    """A varint field; a zero left out, as proto3 does, unless it is ``always`` written (a
    oneof member that is set)."""
    if value or always:
        out.append(tag)
        put_varint(out, value)


def _encode_shape(shape: Optional[Tuple[int, ...]]) -> bytes:
    out = bytearray()
    if shape is None:
        _put_int(out, 0x18, 1)  # unknown_rank
        return bytes(out)
    for size in shape:
        dim = bytearray()
        _put_int(dim, 0x08, size)
        _put_bytes(out, 0x12, dim)
    return bytes(out)


def _encode_slice(extents: Slice) -> bytes:
    out = bytearray()
    for start, length in extents:
        extent = bytearray()
        _put_int(extent, 0x08, start)
        # length is a oneof: written when set, even as 0; absent means the whole dimension
        if length != -1:
            _put_int(extent, 0x10, length, always=True)
        _put_bytes(out, 0x0A, extent)
    return bytes(out)


def encode_header(header: Header) -> bytes:
    out = bytearray()
    _put_int(out, 0x08, header.num_shards)
    _put_int(out, 0x10, header.endianness)
    version = bytearray()
    _put_int(version, 0x08, header.version)
    _put_bytes(out, 0x1A, version)
    return bytes(out)


def encode_entry(entry: Entry) -> bytes:
    out = bytearray()
    _put_int(out, 0x08, entry.dtype)
    _put_bytes(out, 0x12, _encode_shape(entry.shape))
    _put_int(out, 0x18, entry.shard_id)
    _put_int(out, 0x20, entry.offset)
    _put_int(out, 0x28, entry.size)
    if entry.crc32c:
        out.append(0x35)
        out += _U32.pack(entry.crc32c)
    for extents in entry.slices:
        _put_bytes(out, 0x3A, _encode_slice(extents))
    return bytes(out)


# ---------------------------------------------------------------- slice keys


def _put_num_increasing(out: bytearray, value: int) -> None:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    out.append(len(raw))
    out += raw


def _put_signed_num_increasing(out: bytearray, value: int) -> None:
    # n bytes hold 7n-1 bits of magnitude: the value's two's complement in n bytes, its
    # leading n bits flipped (n ones for a positive value) to say the length.
    magnitude = ~value if value < 0 else value
    n = 1
    while magnitude >= 1 << (7 * n - 1):
        n += 1
    raw = (value & ((1 << (8 * n)) - 1)) ^ (((1 << n) - 1) << (8 * n - n))
    out += raw.to_bytes(n, "big")


def slice_key(name: str, extents: Extents) -> bytes:
    """The slice key of one slice of ``name`` (the inverse of ``slices.decode``)."""
    out = bytearray()
    _put_num_increasing(out, 0)
    out += _escaped(name.encode("utf-8"))
    out += b"\x00\x01"
    _put_num_increasing(out, len(extents))
    for start, length in extents:
        _put_signed_num_increasing(out, start)
        _put_signed_num_increasing(out, length)
    return bytes(out)


def _escaped(raw: bytes) -> bytes:
    out = bytearray()
    for byte in raw:
        if byte == 0x00:
            out += b"\x00\xff"
        elif byte == 0xFF:
            out += b"\xff\x00"
        else:
            out.append(byte)
    return bytes(out)
