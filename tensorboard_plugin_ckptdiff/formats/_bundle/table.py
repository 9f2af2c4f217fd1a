"""The LevelDB-style sorted table TensorFlow writes as a bundle's ``.index`` file.

Layout: data blocks, a metaindex block, an index block, then a 48-byte footer. Each block
holds prefix-compressed entries (varints shared, non_shared, value_length; key suffix;
value), then a uint32 restart array and its count, and is followed by a 5-byte trailer:
compression type (TF writes 0, none) and the masked CRC32C of block + type byte.
Everything a handle or a length claims is checked against the bytes actually present.
Writing one is remapping/bundle_encoding.py's.
"""

from __future__ import annotations

import struct
from typing import List, Tuple

import google_crc32c

from tensorboard_plugin_ckptdiff.errors import CheckpointError
from tensorboard_plugin_ckptdiff.formats._bundle.proto import varint as read_varint

FOOTER_SIZE = 48
MAGIC = 0xDB4775248B80FB57
TRAILER_SIZE = 5
_MASK_DELTA = 0xA282EAD8
_U32 = struct.Struct("<I")


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
