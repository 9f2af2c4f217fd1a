"""Python's path through a bundle index block's entries: one loop over the block, reading the
layout TensorFlow writes without a call per field (index.py picks this or entries_numpy).

The speed tricks stay in this module: latin-1 keys sliced from one decoded block, entries
made with ``tuple.__new__`` (a NamedTuple's __new__ costs a call), varints unrolled.
tests/test_decoder_paths.py holds this path to the general decoder (proto.parse_entry) and to
the numpy path on every input it builds.
"""

from __future__ import annotations

import struct

from tensorboard_plugin_ckptdiff.errors import CheckpointError
from tensorboard_plugin_ckptdiff.formats._bundle.proto import entry_or_none, known_head, varint

_U32 = struct.Struct("<I").unpack_from


def corrupt() -> CheckpointError:
    return CheckpointError("the index file is corrupt: an entry runs past the end of its block")


def scan_block(block: bytes, pos: int, end: int, keys: list, entries: list, heads: dict, errors: list,
               crcs_at: list) -> None:
    """Python's path: keys and entries read straight from the block in one loop, in the
    layout TensorFlow writes (one-byte entry lengths; dtype and shape first, each distinct
    pair decoded once; then shard, offset, size, crc in that order); anything else goes to
    the general entry decoder, and a block that is not laid out as a table's raises.
    ``crcs_at`` gets where each crc's four bytes are, for the entries read in that layout
    (index.py reads another save of the same model from them)."""
    key = ""
    text = block.decode("latin-1")
    add_key = keys.append
    add_entry = entries.append
    add_crc_at = crcs_at.append
    no_slices = ()
    # A block always ends with its 4-byte restart count after ``end``, so reading up to three
    # bytes past an entry (or past ``end``) stays inside it; whatever is read there is only
    # used after checks that it belongs to the entry.
    while pos < end:
        shared, non_shared, value_len = block[pos], block[pos + 1], block[pos + 2]
        if shared | non_shared | value_len < 0x80 and pos + 3 <= end:
            pos += 3
        else:
            shared, pos = varint(block, pos, end)
            non_shared, pos = varint(block, pos, end)
            value_len, pos = varint(block, pos, end)
        start = pos + non_shared
        stop = start + value_len
        if shared > len(key) or stop > end:
            raise corrupt()
        key = key[:shared] + text[pos:start] if shared else text[pos:start]
        add_key(key)
        pos = stop
        # dtype (0x08), shape (0x12) with one-byte lengths, then the fields below in order.
        p = start + 4 + block[start + 3]
        if p <= stop and block[start + 3] < 0x80:
            head = block[start:p]
            known = heads.get(head)
            if known is None:
                known = heads[head] = known_head(head)
            if known:
                shard = offset = size = 0
                crc = None
                try:
                    if p < stop and block[p] == 0x18:
                        shard = block[p + 1]
                        if shard < 0x80:
                            p += 2
                        else:
                            shard, p = varint(block, p + 1, stop)
                    # Offsets and sizes mostly take two to four varint bytes; a varint that runs
                    # past ``stop`` leaves p beyond it and the general decoder reports the entry.
                    if p < stop and block[p] == 0x20:
                        b0 = block[p + 1]
                        if b0 < 0x80:
                            offset = b0
                            p += 2
                        else:
                            b1 = block[p + 2]
                            if b1 < 0x80:
                                offset = b0 & 0x7F | b1 << 7
                                p += 3
                            else:
                                b2 = block[p + 3]
                                if b2 < 0x80:
                                    offset = b0 & 0x7F | (b1 & 0x7F) << 7 | b2 << 14
                                    p += 4
                                else:
                                    offset, p = varint(block, p + 1, stop)
                    if p < stop and block[p] == 0x28:
                        b0 = block[p + 1]
                        if b0 < 0x80:
                            size = b0
                            p += 2
                        else:
                            b1 = block[p + 2]
                            if b1 < 0x80:
                                size = b0 & 0x7F | b1 << 7
                                p += 3
                            else:
                                size, p = varint(block, p + 1, stop)
                    if p + 5 == stop and block[p] == 0x35:
                        crc = _U32(block, p + 1)[0]
                        add_crc_at(p + 1)
                        p = stop
                except CheckpointError:  # a varint runs past the entry: the general decoder says so
                    p = -1
                if p == stop:
                    add_entry((known[0], known[1], shard, offset, size, crc, no_slices))  # see index.Entries
                    continue
        add_entry(entry_or_none(block[start:stop], errors))


