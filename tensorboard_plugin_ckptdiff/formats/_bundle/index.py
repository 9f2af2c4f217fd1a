"""A bundle's .index as keys and BundleEntryProtos, a block at a time, by one of two decoders.

An index holds one entry per variable. ``entries_numpy`` decodes a whole block with numpy
array gathers, several times faster than Python's entry loop; but importing numpy costs a
fresh process about 80 ms, more than the vectorized decode saves below some megabytes of
index. So it is used where numpy is loaded anyway (TensorBoard, the Python API beside
TensorFlow or Keras) or the index is large enough to pay for the import, and otherwise
(``ckptdiff ls`` of an ordinary checkpoint) ``entries_python`` reads each block in one Python
loop; it also judges every block the vectorized path finds irregular. Both paths decode, or
fail on, every input alike (tests/test_decoder_paths.py compares them).
"""

from __future__ import annotations

import sys
from collections import deque
from itertools import repeat
from operator import add
from typing import Dict, List, NamedTuple, Optional, Tuple

from tensorboard_plugin_ckptdiff.errors import CheckpointError
from tensorboard_plugin_ckptdiff.formats._bundle import entries_python, table
from tensorboard_plugin_ckptdiff.formats._bundle.proto import Entry, varint

# From this size an index pays for importing numpy in a process that has not (about 12 ms
# saved per megabyte, 80 ms to import).
VECTORIZE_FROM_BYTES = 8 << 20
# Below this size a block decodes faster in Python: numpy's fixed cost per array call is paid
# a few dozen times per block whatever its length (a 1 KiB block, 20 entries: 62 us in Python,
# 773 us vectorized; the two meet near 55 KiB, 1,000 entries; a full 256 KiB block: 1.4x
# faster vectorized). Most checkpoints' whole index is one small block.
VECTORIZE_BLOCKS_FROM_BYTES = 64 << 10


class Table(NamedTuple):
    header: Optional[bytes]  # the first entry's value when its key is empty, else None
    # Every other key, in order, as latin-1 text: character i is byte i, so keys are built
    # from slices of one decoded block, and an ASCII key (nearly all) is already its name.
    keys: List[str]
    # Their entries (None for one that does not decode): Entry's fields as plain tuples, which
    # Entries below hands out as Entry (an Entry where the general decoder read one).
    entries: List[Optional[tuple]]
    # The first entry that did not decode, raised by the caller once the table's layout and
    # header are known good: a table that is broken in both ways names its layout first.
    error: Optional[CheckpointError]
    # Per data block, what a table written alike is read from (scan's ``like``): the block,
    # the index of its first entry, where each entry's crc bytes are; None for a block read
    # otherwise than by Python's loop in TensorFlow's layout.
    blocks: Tuple[Optional[Tuple[bytes, int, List[int]]], ...] = ()
    # ``like`` when every data block was read from it (the same entries, other checksums).
    alike: Optional["Table"] = None


class Entries(dict):
    """key -> Entry, holding each entry as a plain tuple of its fields until it is asked for.

    A plain tuple of numbers and a shared shape tuple is untracked by CPython's collector at its
    first collection; a NamedTuple never is. An index's 20,000 Entries, alive while a read
    names its variables, reached the oldest generation and, beside TensorFlow's objects,
    triggered full collections (issue 14). Lookups (``[]``) return Entry; iteration, ``in`` and
    ``len`` are a dict's. tests/test_decoder_paths.py and tests/test_tf_bundle_corrupt.py read
    entries through it."""

    def __getitem__(self, key: str) -> Entry:
        return tuple.__new__(Entry, dict.__getitem__(self, key))

    def get(self, key, default=None):
        return self[key] if key in self else default

    def values(self):
        return map(self.__getitem__, self)

    def items(self):
        return ((key, self[key]) for key in self)


def scan(data: bytes, vectorized: Optional[bool] = None, like: Optional[Table] = None) -> Table:
    """The table in ``data``; ``vectorized`` forces the decoder on every block (None: the
    faster one here, block by block). ``like``: a table read before, whose blocks are taken
    where a block here differs from one of them only in its entries' checksums (another save
    of the same model: the same keys, dtypes, shapes, shards, offsets and sizes)."""
    smallest = 0
    if vectorized is None:
        vectorized = "numpy" in sys.modules or len(data) >= VECTORIZE_FROM_BYTES
        smallest = VECTORIZE_BLOCKS_FROM_BYTES
    decode_all = None
    if vectorized:
        from tensorboard_plugin_ckptdiff.formats._bundle import entries_numpy

        decode_all = entries_numpy.decode
    keys: List[str] = []
    entries: List[Optional[tuple]] = []
    heads: Dict[bytes, tuple] = {}
    errors: List[CheckpointError] = []
    header = None
    first = True
    blocks = []
    like_blocks = like.blocks if like is not None else ()
    data_blocks = table.data_blocks(data)
    taken = 0  # blocks read from like's
    for j, block in enumerate(data_blocks):
        end = table.block_limit(block)
        pos = 0
        if first and end:
            first = False
            header, pos = _header(block, end)
        lo = len(entries)
        if j < len(like_blocks) and like_blocks[j] is not None and _read_alike(block, like, like_blocks[j], keys, entries):
            blocks.append(like_blocks[j])
            taken += 1
            continue
        crcs_at: List[int] = []
        if decode_all is None or len(block) < smallest or \
                not decode_all(block, pos, end, keys, entries, heads, errors):
            entries_python.scan_block(block, pos, end, keys, entries, heads, errors, crcs_at)
        # Taken as a template only when every entry's crc is where crcs_at says
        blocks.append((block, lo, crcs_at) if len(crcs_at) == len(entries) - lo else None)
    alike = like if taken == len(data_blocks) == len(like_blocks) and header == like.header else None
    return Table(header, keys, entries, errors[0] if errors else None, tuple(blocks), alike)


def _read_alike(block: bytes, like: Table, template: Tuple[bytes, int, List[int]], keys: list, entries: list) -> bool:
    """Append the block's keys and entries from ``template`` (a block of ``like``), when the
    two differ in nothing but their entries' crc bytes; else append nothing: False.

    Equal bytes elsewhere are equal keys and fields: the template's entries were read in
    TensorFlow's layout, with ``crcs_at`` where their crcs are, and the block's own CRC was
    checked. C loops: a block holds thousands of entries."""
    old, lo, crcs_at = template
    first = crcs_at[0] if crcs_at else len(old)
    if len(block) != len(old) or block[:first] != old[:first]:  # another model's: told at once
        return False
    at = list(map(slice, crcs_at, map(add, crcs_at, repeat(4))))
    crcs = list(map(block.__getitem__, at))
    merged = bytearray(old)  # the template with this block's crcs: equal to it, or not alike
    deque(map(merged.__setitem__, at, crcs), 0)
    if merged != block:
        return False
    hi = lo + len(crcs_at)
    keys += like.keys[lo:hi]
    dtypes, shapes, shards, offsets, sizes, _, parts = zip(*like.entries[lo:hi]) if hi > lo else ((),) * 7
    entries += zip(dtypes, shapes, shards, offsets, sizes, map(int.from_bytes, crcs, repeat("little")), parts)
    return True


def _header(block: bytes, end: int) -> Tuple[Optional[bytes], int]:
    """The table's first entry's value if its key is empty, and where the rest starts."""
    shared, pos = varint(block, 0, end)
    non_shared, pos = varint(block, pos, end)
    value_len, pos = varint(block, pos, end)
    stop = pos + non_shared + value_len
    if shared or stop > end:
        raise entries_python.corrupt()
    if non_shared:
        return None, 0
    return block[pos:stop], stop


