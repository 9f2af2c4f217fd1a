"""Keys and BundleEntryProtos of a bundle's .index, a block at a time.

An index holds one entry per variable. ``index_blocks`` decodes a whole block with numpy
array gathers, several times faster than Python's entry loop; but importing numpy costs a
fresh process about 80 ms, more than the vectorized decode saves below some megabytes of
index. So it is used where numpy is loaded anyway (TensorBoard, the Python API beside
TensorFlow or Keras) or the index is large enough to pay for the import, and otherwise
(``ckptdiff ls`` of an ordinary checkpoint) ``_scan_block`` reads each block in one Python
loop; it also judges every block the vectorized path finds irregular. Both paths decode, or
fail on, every input alike (tests/test_decoder_paths.py compares them).
"""

from __future__ import annotations

import struct
import sys
from typing import Dict, List, NamedTuple, Optional, Tuple

from tensorboard_plugin_ckptdiff.errors import CheckpointError
from tensorboard_plugin_ckptdiff.formats._bundle import table as index_table
from tensorboard_plugin_ckptdiff.formats._bundle.proto import Entry, parse_entry, shape_of, varint

_U32 = struct.Struct("<I").unpack_from

# From this size an index pays for importing numpy in a process that has not (about 12 ms
# saved per megabyte, 80 ms to import).
VECTORIZE_FROM_BYTES = 8 << 20


def _corrupt() -> CheckpointError:
    return CheckpointError("the index file is corrupt: an entry runs past the end of its block")


class Table(NamedTuple):
    header: Optional[bytes]  # the first entry's value when its key is empty, else None
    # Every other key, in order, as latin-1 text: character i is byte i, so keys are built
    # from slices of one decoded block, and an ASCII key (nearly all) is already its name.
    keys: List[str]
    entries: List[Optional[Entry]]  # their entries (None for one that does not decode)
    # The first entry that did not decode, raised by the caller once the table's layout and
    # header are known good: a table that is broken in both ways names its layout first.
    error: Optional[CheckpointError]


def scan(data: bytes, vectorized: Optional[bool] = None) -> Table:
    """The table in ``data``; ``vectorized`` forces the decoder (None: the faster one here)."""
    if vectorized is None:
        vectorized = "numpy" in sys.modules or len(data) >= VECTORIZE_FROM_BYTES
    decode_all = None
    if vectorized:
        from tensorboard_plugin_ckptdiff.formats._bundle import entries_numpy

        decode_all = entries_numpy.decode
    keys: List[str] = []
    entries: List[Optional[Entry]] = []
    heads: Dict[bytes, tuple] = {}
    errors: List[CheckpointError] = []
    header = None
    first = True
    for block in index_table.data_blocks(data):
        end = index_table.block_limit(block)
        pos = 0
        if first and end:
            first = False
            header, pos = _header(block, end)
        if decode_all is None or not decode_all(block, pos, end, keys, entries, heads, errors):
            _scan_block(block, pos, end, keys, entries, heads, errors)
    return Table(header, keys, entries, errors[0] if errors else None)


def _header(block: bytes, end: int) -> Tuple[Optional[bytes], int]:
    """The table's first entry's value if its key is empty, and where the rest starts."""
    shared, pos = varint(block, 0, end)
    non_shared, pos = varint(block, pos, end)
    value_len, pos = varint(block, pos, end)
    stop = pos + non_shared + value_len
    if shared or stop > end:
        raise _corrupt()
    if non_shared:
        return None, 0
    return block[pos:stop], stop


def _entry(raw: bytes, errors: list) -> Optional[Entry]:
    try:
        return parse_entry(raw)
    except CheckpointError as e:
        errors.append(e)
        return None


def _scan_block(block: bytes, pos: int, end: int, keys: list, entries: list, heads: dict, errors: list) -> None:
    """Python's path: keys and entries read straight from the block in one loop, in the
    layout TensorFlow writes (one-byte entry lengths; dtype and shape first, each distinct
    pair decoded once; then shard, offset, size, crc in that order); anything else goes to
    the general entry decoder, and a block that is not laid out as a table's raises."""
    key = ""
    text = block.decode("latin-1")
    add_key = keys.append
    add_entry = entries.append
    make = tuple.__new__
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
            raise _corrupt()
        key = key[:shared] + text[pos:start] if shared else text[pos:start]
        add_key(key)
        pos = stop
        # dtype (0x08), shape (0x12) with one-byte lengths, then the fields below in order.
        p = start + 4 + block[start + 3]
        if p <= stop and block[start + 3] < 0x80:
            head = block[start:p]
            known = heads.get(head)
            if known is None:
                known = heads[head] = _head(head)
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
                        p = stop
                except CheckpointError:  # a varint runs past the entry: the general decoder says so
                    p = -1
                if p == stop:
                    add_entry(make(Entry, (known[0], known[1], shard, offset, size, crc, no_slices)))
                    continue
        add_entry(_entry(block[start:stop], errors))


def _head(raw: bytes):
    """(dtype, shape) of an entry's leading dtype and shape fields, or () when the bytes are
    not exactly those two fields (the general decoder then reads the entry)."""
    if len(raw) < 4 or raw[0] != 0x08 or raw[1] >= 0x80 or raw[2] != 0x12 or raw[3] >= 0x80 or len(raw) != 4 + raw[3]:
        return ()
    try:
        return raw[1], shape_of(raw, 4, len(raw))
    except CheckpointError:
        return ()  # the general decoder reports it, in its turn
