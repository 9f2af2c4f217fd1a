"""A bundle index block's entries decoded all at once with numpy (see ``index``).

A block's restart array gives where every 16th entry starts, so the entries are found by
stepping all those runs at once; the fields of every entry whose value has the layout
TensorFlow writes (dtype and shape first, then shard, offset, size and crc in that order)
are then read with array gathers. An entry in any other layout goes to the general entry
decoder, and a block not laid out as TensorFlow lays them out to ``entries_python``'s Python
loop, so every input decodes, or fails, exactly as it would there.
"""

from __future__ import annotations

from itertools import repeat
from typing import List, NamedTuple, Optional

import numpy as np

from tensorboard_plugin_ckptdiff.formats._bundle.proto import entry_or_none, known_head

# TF starts a new restart run every 16 entries; a block with longer runs (another writer, or
# a corrupt restart array) is decoded entry by entry rather than stepped this many times.
_MAX_RUN = 64
_VARINT_BYTES = 9  # 63 bits: more than any offset or size; a longer varint is decoded alone


def decode(block: bytes, pos: int, end: int, keys: list, entries: list, heads: dict, errors: list) -> bool:
    """Append the keys and entries of the block's [pos, end); False (nothing appended)
    when the block is not laid out as a table's block must be."""
    layout = _layout(block, pos, end)
    if layout is None:
        return False
    _decode_all(block, layout, keys, entries, heads, errors)
    return True


class _Layout(NamedTuple):
    shared: np.ndarray  # per entry: key bytes shared with the previous key
    key_start: np.ndarray  # where its own key bytes start in the block
    value_start: np.ndarray  # where its value starts (= where its key bytes stop)
    value_stop: np.ndarray


class _Bytes:
    """A block as a uint8 array, read at arrays of positions. Reads past the block's last
    byte return that byte: the callers use what a read finds only where their checks place
    it inside the entry it belongs to."""

    def __init__(self, block: bytes):
        self.array = np.frombuffer(block, np.uint8)
        self.last = len(block) - 1

    def __call__(self, pos: np.ndarray) -> np.ndarray:
        return self.array[np.minimum(pos, self.last)].astype(np.int64)

    def varints(self, pos: np.ndarray, wanted: np.ndarray):
        """The varint at each ``pos`` (where ``wanted``): values, where each ends, and
        whether each ended within ``_VARINT_BYTES`` bytes."""
        byte = self(pos)
        value = byte & 0x7F
        end = pos + 1
        pending = wanted & (byte >= 0x80)
        for shift in range(7, 7 * _VARINT_BYTES, 7):
            if not pending.any():
                break
            byte = self(end)
            value |= np.where(pending, (byte & 0x7F) << shift, 0)
            end = end + pending
            pending &= byte >= 0x80
        return value, end, ~pending


def _layout(block: bytes, pos: int, end: int) -> Optional[_Layout]:
    """Where each entry of [pos, end) lies, or None when the block is not laid out as a
    table's block must be (then the general path decodes it, and reports what is wrong)."""
    if pos >= end:
        return _Layout(*(np.empty(0, np.int64) for _ in range(4)))
    at = _Bytes(block)
    restarts = np.frombuffer(block, "<u4", (len(block) - 4 - end) // 4, end).astype(np.int64)
    later = restarts[restarts > pos]
    starts = np.concatenate(([pos], later))
    bounds = np.concatenate((later, [end]))
    if (starts >= bounds).any():
        return None  # restart offsets out of order: not a table TF wrote
    # Step every run at once; each must end exactly where the next run starts. The entries
    # then tile [pos, end) and, being found by the same arithmetic, are the ones the entry
    # loop would find from pos.
    steps = []
    for _ in range(_MAX_RUN):
        live = starts < bounds
        if not live.any():
            break
        steps.append(np.where(live, starts, -1))
        shared, key_start, value_start, value_stop = _entry_at(at, starts, live)
        if (key_start[live] > end).any():
            return None
        starts = np.where(live, value_stop, starts)
    if (starts != bounds).any():
        return None
    starts = np.stack(steps, axis=1).ravel()
    starts = starts[starts >= 0]
    layout = _Layout(*_entry_at(at, starts, np.ones(len(starts), bool)))
    key_len = layout.shared + (layout.value_start - layout.key_start)
    if layout.shared[0] or (layout.shared[1:] > key_len[:-1]).any():
        return None  # a key sharing more than the previous key has: the general path says so
    return layout


def _entry_at(at: _Bytes, pos: np.ndarray, live: np.ndarray):
    """(shared, key_start, value_start, value_stop) of the entries at ``pos``; value_stop
    lies past the block where a length is not a varint of at most ``_VARINT_BYTES``."""
    shared, p, ok = at.varints(pos, live)
    non_shared, p, ok2 = at.varints(p, live)
    value_len, key_start, ok3 = at.varints(p, live)
    value_start = key_start + non_shared
    value_stop = np.where(ok & ok2 & ok3, value_start + value_len, at.last + 2)
    return shared, key_start, value_start, value_stop


def _decode_all(block: bytes, layout: _Layout, keys: list, entries: list, heads: dict, errors: list) -> None:
    text = block.decode("latin-1")
    key = ""
    add = keys.append
    for shared, start, stop in zip(layout.shared.tolist(), layout.key_start.tolist(), layout.value_start.tolist()):
        key = key[:shared] + text[start:stop] if shared else text[start:stop]
        add(key)
    entries.extend(_values(block, layout.value_start, layout.value_stop, heads, errors))


def _values(block: bytes, start: np.ndarray, stop: np.ndarray, heads: dict, errors: list) -> List[Optional[tuple]]:
    """The BundleEntryProto of each [start, stop) of ``block``."""
    if not len(start):
        return []
    at = _Bytes(block)
    # dtype (0x08, one byte) and shape (0x12, one-byte length), as TF writes every entry.
    fast = (stop - start >= 4) & (at(start) == 0x08) & (at(start + 1) < 0x80) & (at(start + 2) == 0x12) \
        & (at(start + 3) < 0x80)
    p = start + 4 + at(start + 3)
    fast &= p <= stop
    known = _heads(block, start.tolist(), np.where(fast, p, start).tolist(), heads)
    fast &= np.fromiter(map(bool, known), bool, len(known))
    shard, p, fast = _field(at, p, stop, fast, 0x18)
    offset, p, fast = _field(at, p, stop, fast, 0x20)
    size, p, fast = _field(at, p, stop, fast, 0x28)
    has_crc = (p + 5 == stop) & (at(p) == 0x35)
    crc = at(p + 1) | at(p + 2) << 8 | at(p + 3) << 16 | at(p + 4) << 24
    fast &= has_crc | (p == stop)
    crcs = np.where(has_crc, crc, -1).tolist()
    rows = zip([k[0] if k else 0 for k in known], [k[1] if k else None for k in known], shard.tolist(),
               offset.tolist(), size.tolist(), [None if c < 0 else c for c in crcs], repeat(()))
    out: List[Optional[tuple]] = list(rows)  # plain tuples in Entry's field order: see index.Entries
    for i in np.flatnonzero(~fast).tolist():
        out[i] = entry_or_none(block[start[i]:stop[i]], errors)
    return out


def _heads(block: bytes, starts: list, stops: list, cache: dict) -> list:
    """(dtype, shape) of each entry's leading bytes [start, stop), () where they are not
    exactly those two fields. Entries of one dtype and shape share their leading bytes."""
    out = []
    add = out.append
    get = cache.get
    for start, stop in zip(starts, stops):
        raw = block[start:stop]
        known = get(raw)
        if known is None:
            known = cache[raw] = known_head(raw)
        add(known)
    return out


def _field(at: _Bytes, p: np.ndarray, stop: np.ndarray, fast: np.ndarray, tag: int):
    """An optional varint field ``tag`` at ``p`` (0 where absent, as protobuf reads it): its
    values, the position after it, and ``fast`` cleared where it does not fit the entry."""
    present = fast & (p < stop) & (at(p) == tag)
    value, end, complete = at.varints(p + 1, present)
    fast = fast & complete & (~present | (end <= stop))
    return np.where(present, value, 0), np.where(present, end, p), fast
