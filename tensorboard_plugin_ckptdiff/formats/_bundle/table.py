"""The LevelDB-style sorted table TensorFlow writes as a bundle's ``.index`` file.

Layout: data blocks, a metaindex block, an index block, then a 48-byte footer. Each block
holds prefix-compressed entries (varints shared, non_shared, value_length; key suffix;
value), then a uint32 restart array and its count, and is followed by a 5-byte trailer:
compression type (TF writes 0, none) and the masked CRC32C of block + type byte.
Everything a handle or a length claims is checked against the bytes actually present.
``write_table`` builds such a table the way TF's table builder does (block size, restart
interval, shortened index keys), so a rewritten index is laid out as TF lays out its own.
"""

from __future__ import annotations

import struct
from typing import List, Tuple

import google_crc32c

from tensorboard_plugin_ckptdiff.errors import CheckpointError
from tensorboard_plugin_ckptdiff.formats._bundle.proto import put_varint, varint as read_varint

FOOTER_SIZE = 48
MAGIC = 0xDB4775248B80FB57
TRAILER_SIZE = 5
_MASK_DELTA = 0xA282EAD8
_U32 = struct.Struct("<I")
# TF's table::Options: a data block is cut once it reaches this many bytes; every 16th key
# is stored whole (a restart point), the others as the bytes they add to the previous key.
BLOCK_SIZE = 262144
RESTART_INTERVAL = 16


def mask(crc: int) -> int:
    """LevelDB's masked CRC: stored CRCs are masked so a CRC of CRCs stays well spread."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def unmask(masked: int) -> int:
    rot = (masked - _MASK_DELTA) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def parse_footer(data: bytes) -> Tuple[Tuple[int, int], Tuple[int, int]]:
    """(metaindex handle, index handle) from the last 48 bytes of ``data``."""
    if len(data) < FOOTER_SIZE:
        raise CheckpointError(
            f"the index file is {len(data)} bytes, shorter than the {FOOTER_SIZE}-byte table footer: "
            "it is truncated or not a TensorFlow checkpoint index")
    footer = data[-FOOTER_SIZE:]
    (magic,) = struct.unpack_from("<Q", footer, 40)
    if magic != MAGIC:
        raise CheckpointError(
            f"the index file does not end with the table magic number (found {magic:#018x}): "
            "it is truncated, corrupt or not a TensorFlow checkpoint index")
    pos = 0
    meta_offset, pos = read_varint(footer, pos, 40)
    meta_size, pos = read_varint(footer, pos, 40)
    index_offset, pos = read_varint(footer, pos, 40)
    index_size, pos = read_varint(footer, pos, 40)
    return (meta_offset, meta_size), (index_offset, index_size)


def read_block(data: bytes, handle: Tuple[int, int], limit: int) -> bytes:
    """The contents of the block at ``handle`` after checking its bounds and its CRC."""
    offset, size = handle
    if offset + size + TRAILER_SIZE > limit:
        raise CheckpointError(
            f"the index file is truncated or corrupt: a block at offset {offset} of {size} bytes "
            f"runs past the table's end ({limit} bytes)")
    block = data[offset:offset + size]
    kind = data[offset + size]
    (stored,) = _U32.unpack_from(data, offset + size + 1)
    actual = google_crc32c.extend(google_crc32c.value(block), bytes((kind,)))
    if unmask(stored) != actual:
        raise CheckpointError(
            f"the index file is corrupt: checksum mismatch in the block at offset {offset}")
    if kind != 0:
        raise CheckpointError(
            f"the index file uses block compression type {kind}; TensorFlow writes only uncompressed tables")
    return block


def block_entries(block: bytes, out: List[Tuple[bytes, bytes]]) -> None:
    """Append each (key, value) of a block to ``out``, in order."""
    end = block_limit(block)
    pos = 0
    key = b""
    add = out.append
    while pos < end:
        # Fast path: all three lengths fit one byte each, as they almost always do.
        shared = block[pos]
        non_shared = block[pos + 1] if pos + 1 < end else 0x80
        value_len = block[pos + 2] if pos + 2 < end else 0x80
        if shared | non_shared | value_len < 0x80:
            pos += 3
        else:
            shared, pos = read_varint(block, pos, end)
            non_shared, pos = read_varint(block, pos, end)
            value_len, pos = read_varint(block, pos, end)
        value_start = pos + non_shared
        value_end = value_start + value_len
        if shared > len(key) or value_end > end:
            raise CheckpointError("the index file is corrupt: an entry runs past the end of its block")
        key = key[:shared] + block[pos:value_start]
        add((key, block[value_start:value_end]))
        pos = value_end


def data_blocks(data: bytes) -> List[bytes]:
    """The checked contents of every data block of the table in ``data``, in key order."""
    _, index_handle = parse_footer(data)
    limit = len(data) - FOOTER_SIZE
    index: List[Tuple[bytes, bytes]] = []
    block_entries(read_block(data, index_handle, limit), index)
    out = []
    for _, handle in index:
        offset, pos = read_varint(handle, 0, len(handle))
        size, _ = read_varint(handle, pos, len(handle))
        out.append(read_block(data, (offset, size), limit))
    return out


def block_limit(block: bytes) -> int:
    """Where a block's entries end (its restart array starts), after checking the count."""
    size = len(block)
    if size < 4:
        raise CheckpointError("the index file is corrupt: a block is too short for its restart count")
    (restarts,) = _U32.unpack_from(block, size - 4)
    end = size - 4 - 4 * restarts
    if restarts == 0 and size > 4 or end < 0:
        raise CheckpointError("the index file is corrupt: a block's restart count does not fit the block")
    return end


# ---------------------------------------------------------------- writing


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
