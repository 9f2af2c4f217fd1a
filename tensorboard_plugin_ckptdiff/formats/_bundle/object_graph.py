"""A serialized TrackableObjectGraph (the ``_CHECKPOINTABLE_OBJECT_GRAPH`` tensor, stored in a
data shard like any string tensor) decoded to records.ObjectGraph: every node and edge kept.
Naming the variables from it is names.py's work.
"""

from __future__ import annotations

import sys
from typing import Optional

from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.errors import CheckpointError
from tensorboard_plugin_ckptdiff.formats._bundle.proto import skip_field, varint

_HAS_VALUES = (b"*\x02\x08\x01", b"*\x02\x08\x00")  # TrackableObject.has_checkpoint_values

# Below this many bytes the vectorized decoder's fixed cost (a few dozen numpy calls, about
# 0.1 ms) is more than the whole graph takes to read node by node.
_FAST_MIN = 8192
# It saves about 6 ms per megabyte of graph; a process that has not imported numpy yet (the
# ckptdiff command) would pay about 80 ms to, so there it is used only from this size on.
_NUMPY_PAYS_FROM = 16 << 20
_VALUE = "VARIABLE_VALUE"
_VALUE_BYTES = tuple(_VALUE.encode())


def decode_graph(raw: bytes, vectorized: Optional[bool] = None) -> records.ObjectGraph:
    """A serialized TrackableObjectGraph as records, every node and edge kept.

    Hand-decoded (TrackableObjectGraph: nodes 1; TrackableObject: children 1, attributes 2,
    slot_variables 3; ObjectReference: node_id 1, local_name 2; SerializedTensor: name 1,
    full_name 2, checkpoint_key 3; SlotVariableReference: original_variable_node_id 1,
    slot_name 2, slot_variable_node_id 3): a graph has a node per variable, and reading
    them through message objects costs more than the rest of the index together.

    Most nodes are either a variable's (one attribute whose three strings TF writes in
    field order with one-byte lengths) or a list of children written as TF writes them;
    a large graph (where numpy is loaded, or pays for its import) has both layouts checked
    and read for all nodes at once with numpy, and anything else read by the general
    ``_node``. Should anything look wrong, the graph is read again node by node so that the
    error raised is the one for the first bad byte.
    ``vectorized`` forces the choice (None: the faster one here)."""
    if vectorized is None:
        vectorized = len(raw) >= _FAST_MIN and ("numpy" in sys.modules or len(raw) >= _NUMPY_PAYS_FROM)
    nodes = None
    if vectorized:
        try:
            nodes = _decode_fast(raw)
        except (CheckpointError, IndexError):  # IndexError: a length that runs off the end
            nodes = None
    if nodes is None:
        try:
            nodes = _decode_in_order(raw)
        except CheckpointError as e:
            # The protobuf helpers speak of the index, where they mostly read; the graph is a
            # string tensor in a data shard, and that is the file a person should look at.
            if e.message.startswith(_INDEX_CORRUPT):
                raise CheckpointError(_GRAPH_CORRUPT + e.message[len(_INDEX_CORRUPT):], e.path) from e
            raise
    return records.ObjectGraph(nodes=nodes)


_INDEX_CORRUPT = "the index file is corrupt"
_GRAPH_CORRUPT = "the object graph (a string tensor in a data shard) is corrupt"


def _decode_in_order(raw: bytes) -> tuple:
    """The nodes, read one after another; raises for the first thing wrong."""
    rows = []  # (children, attributes, slot_variables) of each node
    add = rows.append
    end = len(raw)
    pos = 0
    none = ()
    # Byte i is character i: an ASCII name is a slice of this, with no bytes object between.
    text = raw.decode("latin-1")
    try:
        while pos < end:
            tag = raw[pos]
            if tag != 0x0A:
                tag, pos = varint(raw, pos, end)
                if tag != 0x0A:
                    pos = skip_field(raw, pos, end, tag & 7)
                    continue
                pos -= 1  # back onto the tag's last byte, as if it had been one byte long
            length = raw[pos + 1] if pos + 1 < end else 0x80
            if length < 0x80:
                start = pos + 2
            else:
                length, start = varint(raw, pos + 1, end)
            stop = start + length
            if stop > end:
                raise _corrupt_graph()
            pos = stop
            # 0x12 n [0x0A a name 0x12 f full_name 0x1A k key], all lengths one byte, then
            # at most has_checkpoint_values (field 5, which no record keeps).
            if length > 7 and raw[start] == 0x12 and raw[start + 2] == 0x0A:
                n = raw[start + 1]
                a_stop = start + 2 + n
                f_at = start + 4 + raw[start + 3]
                if (n < 0x80 and (a_stop == stop or a_stop == stop - 4 and raw[a_stop:stop] in _HAS_VALUES)
                        and raw[start + 3] < 0x80 and f_at + 1 < a_stop and raw[f_at] == 0x12):
                    k_at = f_at + 2 + raw[f_at + 1]
                    if (raw[f_at + 1] < 0x80 and k_at + 1 < a_stop and raw[k_at] == 0x1A
                            and raw[k_at + 1] == a_stop - k_at - 2 < 0x80):
                        name, full_name, key = text[start + 4:f_at], text[f_at + 2:k_at], text[k_at + 2:a_stop]
                        if not (name.isascii() and full_name.isascii() and key.isascii()):
                            name, full_name, key = (_text(raw, start + 4, f_at), _text(raw, f_at + 2, k_at),
                                                    _text(raw, k_at + 2, a_stop))
                        if full_name[-2:] == ":0":  # records.strip_output_suffix, inline
                            full_name = full_name[:-2]
                        add((none, ((name, key, full_name),), none))
                        continue
            add(_node(raw, start, stop, text))
    except UnicodeDecodeError as e:
        raise CheckpointError("the object graph holds a name that is not UTF-8: the checkpoint is corrupt") from e
    if not rows:
        raise CheckpointError("the object graph has no nodes: the checkpoint is corrupt")
    nodes = records.object_nodes(rows)
    count = len(nodes)
    for node in nodes:
        for _, child in node.children:
            if child >= count:
                raise CheckpointError(f"the object graph names node {child} of {count}: the checkpoint is corrupt")
    return nodes


def _decode_fast(raw: bytes) -> Optional[tuple]:
    """The nodes, or None when the graph holds anything the in-order decoder must judge."""
    import numpy as np

    spans = _node_spans(raw)
    if spans is None:
        return None
    starts, stops = spans
    count = len(starts)
    buf = np.frombuffer(raw, np.uint8)
    last = len(raw) - 1

    def byte(index):  # clipped: rows whose layout is wrong may point anywhere, and are dropped
        return buf[np.minimum(index, last)].astype(np.intp)

    start, stop = np.array(starts, np.intp), np.array(stops, np.intp)
    text = raw.decode("latin-1")
    var, fields = _variable_nodes(byte, start, stop)
    child_at, lists, general = _list_nodes(raw, starts, stops, np.flatnonzero(~var).tolist())
    children_of = _children(byte, text, child_at, lists, count, general)
    attributes_of = _attributes(byte, text, np.flatnonzero(var), start, fields, count, general)
    slots_of = [()] * count
    for i in general:
        children_of[i], attributes_of[i], slots_of[i] = _node(raw, starts[i], stops[i], text)
        if any(child >= count for _, child in children_of[i]):
            return None
    return records.object_nodes(zip(children_of, attributes_of, slots_of))


def _node_spans(raw: bytes):
    """([start], [stop]) of every node's bytes, or None unless the graph is nodes alone."""
    end = len(raw)
    tags = []  # where each node's tag is; its bytes start after a one-byte length, mostly
    add_tag = tags.append
    long_starts = {}
    pos = 0
    while pos < end:
        if raw[pos] != 0x0A:
            return None
        add_tag(pos)
        length = raw[pos + 1]
        if length < 0x80:
            pos += 2 + length
        else:
            length, long_starts[len(tags) - 1] = varint(raw, pos + 1, end)
            pos = long_starts[len(tags) - 1] + length
    if pos != end or not tags:
        return None
    starts = [t + 2 for t in tags]
    for i, at in long_starts.items():
        starts[i] = at
    return starts, tags[1:] + [end]


def _variable_nodes(byte, start, stop):
    """(mask of the nodes laid out as a variable's, (f_at, k_at, a_stop) for every node): the
    same tests as _decode_in_order makes inline, for all nodes at once."""
    n, r3 = byte(start + 1), byte(start + 3)
    a_stop, f_at = start + 2 + n, start + 4 + r3
    rf = byte(f_at + 1)
    k_at = f_at + 2 + rf
    key_length = a_stop - k_at - 2
    has_values = ((a_stop == stop - 4) & (byte(a_stop) == 0x2A) & (byte(a_stop + 1) == 2)
                  & (byte(a_stop + 2) == 8) & (byte(a_stop + 3) < 2))
    var = ((stop - start > 7) & (byte(start) == 0x12) & (byte(start + 2) == 0x0A) & (n < 0x80)
           & ((a_stop == stop) | has_values) & (r3 < 0x80) & (f_at + 1 < a_stop) & (byte(f_at) == 0x12)
           & (rf < 0x80) & (k_at + 1 < a_stop) & (byte(k_at) == 0x1A) & (byte(k_at + 1) == key_length)
           & (key_length < 0x80))
    return var, (f_at, k_at, a_stop)


def _list_nodes(raw: bytes, starts, stops, others):
    """Of the nodes that are not a variable's: (where each child starts, (node, first child,
    end) of those holding only children and has_checkpoint_values, the rest for _node)."""
    child_at = []
    add_child = child_at.append
    lists, general = [], []
    for i in others:
        pos, node_stop = starts[i], stops[i]
        first = len(child_at)
        while pos < node_stop:
            tag = raw[pos]
            if tag == 0x0A:
                while pos < node_stop and raw[pos] == 0x0A:  # a list's elements, back to back
                    add_child(pos)
                    pos += 2 + raw[pos + 1]
            elif tag == 0x2A and raw[pos + 1] < 0x80:
                pos += 2 + raw[pos + 1]
            else:
                break
        if pos == node_stop:
            lists.append((i, first, len(child_at)))
        else:
            del child_at[first:]
            general.append(i)
    return child_at, lists, general


def _children(byte, text: str, child_at, lists, count: int, general: list) -> list:
    """Each node's children, for the list nodes; a node with a child in another layout goes
    to ``general``. The child layout _node reads inline: 0x0A n, 0x08 node_id (at most three
    bytes), 0x12 m local_name, all lengths one byte."""
    import numpy as np

    children_of = [()] * count
    if not child_at:
        return children_of
    at = np.array(child_at, np.intp)
    c_stop = at + 2 + byte(at + 1)
    b0, b1, b2 = byte(at + 3), byte(at + 4), byte(at + 5)
    one, two = b0 < 0x80, b1 < 0x80
    three = ~one & ~two & (b2 < 0x80)
    two &= ~one
    ids = np.where(one, b0, np.where(two, b0 & 0x7F | b1 << 7, b0 & 0x7F | (b1 & 0x7F) << 7 | b2 << 14))
    name_at = at + 4 + ~one + three
    ok = ((byte(at + 1) < 0x80) & (byte(at + 2) == 0x08) & (one | two | three) & (name_at + 2 <= c_stop)
          & (byte(name_at) == 0x12) & (byte(name_at + 1) == c_stop - name_at - 2) & (ids < count))
    names = [text[a:b] for a, b in zip((name_at + 2).tolist(), c_stop.tolist())]
    if not "".join(names).isascii():  # a name that is not ASCII is left to _node, which checks its UTF-8
        ok &= np.fromiter(map(str.isascii, names), bool, len(names))
    bad = np.concatenate(([0], np.cumsum(~ok))).tolist()
    pairs = list(zip(names, ids.tolist()))
    for i, lo, hi in lists:
        if bad[hi] != bad[lo]:
            general.append(i)
        elif hi != lo:
            children_of[i] = tuple(pairs[lo:hi])
    return children_of


def _attributes(byte, text: str, index, start, fields, count: int, general: list) -> list:
    """Each variable node's one attribute; a node whose strings are not ASCII goes to ``general``."""
    import numpy as np

    attributes_of = [()] * count
    if not len(index):
        return attributes_of
    f_at, k_at, a_stop = (field[index] for field in fields)
    start = start[index]
    # Nearly every attribute is a VARIABLE_VALUE: one string for all of them, not a copy each.
    value = np.flatnonzero(f_at - start == 4 + len(_VALUE))
    value = value[(byte((start[value] + 4)[:, None] + np.arange(len(_VALUE))) == _VALUE_BYTES).all(1)]
    named = np.ones(len(index), bool)
    named[value] = False
    named = np.flatnonzero(named)
    # full_name without its ":0", as records.strip_output_suffix leaves it
    full_stop = k_at - 2 * ((k_at - f_at >= 4) & (byte(k_at - 2) == 0x3A) & (byte(k_at - 1) == 0x30))
    names = [_VALUE] * len(index)
    for i, a, b in zip(named.tolist(), (start[named] + 4).tolist(), f_at[named].tolist()):
        names[i] = text[a:b]
    full_names = [text[a:b] for a, b in zip((f_at + 2).tolist(), full_stop.tolist())]
    keys = [text[a:b] for a, b in zip((k_at + 2).tolist(), a_stop.tolist())]
    ascii = "".join(names).isascii() and "".join(full_names).isascii() and "".join(keys).isascii()
    for i, name, key, full_name in zip(index.tolist(), names, keys, full_names):
        if ascii or name.isascii() and full_name.isascii() and key.isascii():
            attributes_of[i] = ((name, key, full_name),)
        else:
            general.append(i)
    return attributes_of


def _corrupt_graph() -> CheckpointError:
    return CheckpointError(_GRAPH_CORRUPT + ": truncated")


def _text(raw: bytes, start: int, stop: int) -> str:
    try:
        return raw[start:stop].decode("utf-8")
    except UnicodeDecodeError as e:
        raise CheckpointError("the object graph holds a name that is not UTF-8: the checkpoint is corrupt") from e


def _submessage(raw: bytes, pos: int, end: int):
    """(field tag, value: int or (start, stop)) for each field of [pos, end)."""
    while pos < end:
        tag, pos = varint(raw, pos, end)
        wire = tag & 7
        if wire == 0:
            value, pos = varint(raw, pos, end)
            yield tag, value
        elif wire == 2:
            length, pos = varint(raw, pos, end)
            if pos + length > end:
                raise _corrupt_graph()
            yield tag, (pos, pos + length)
            pos += length
        else:
            pos = skip_field(raw, pos, end, wire)


def _node(raw: bytes, pos: int, end: int, text: str) -> tuple:
    """(children, attributes, slot_variables) of one ObjectNode, read by the general decoder
    (``text``: ``raw`` as latin-1)."""
    children, attributes, slots = [], [], []
    add_child = children.append
    while pos < end:
        # A list or dict of layers holds one child per element: TF writes each as 0x0A n,
        # 0x08 node_id (here at most three bytes), 0x12 m local_name; read those inline.
        # Reads run at most to pos + 5 (< end) and count only once checked to lie in the child.
        if raw[pos] == 0x0A and pos + 6 <= end and raw[pos + 2] == 0x08:
            stop = pos + 2 + raw[pos + 1]
            b0 = raw[pos + 3]
            if b0 < 0x80:
                node_id, at = b0, pos + 4
            elif raw[pos + 4] < 0x80:
                node_id, at = b0 & 0x7F | raw[pos + 4] << 7, pos + 5
            elif raw[pos + 5] < 0x80:
                node_id, at = b0 & 0x7F | (raw[pos + 4] & 0x7F) << 7 | raw[pos + 5] << 14, pos + 6
            else:
                at = end
            if (raw[pos + 1] < 0x80 and at + 2 <= stop <= end and raw[at] == 0x12
                    and raw[at + 1] == stop - at - 2):
                name = text[at + 2:stop]
                add_child((name if name.isascii() else _text(raw, at + 2, stop), node_id))
                pos = stop
                continue
        tag, pos = varint(raw, pos, end)
        if tag & 7 != 2:
            pos = skip_field(raw, pos, end, tag & 7)
            continue
        length, pos = varint(raw, pos, end)
        stop = pos + length
        if stop > end:
            raise _corrupt_graph()
        if tag == 0x0A:
            node_id, name = 0, ""
            for ftag, value in _submessage(raw, pos, stop):
                if ftag == 0x08:
                    node_id = value
                elif ftag == 0x12:
                    name = _text(raw, *value)
            children.append((name, node_id))
        elif tag == 0x12:
            fields = {0x0A: "", 0x12: "", 0x1A: ""}
            for ftag, value in _submessage(raw, pos, stop):
                if ftag in fields and isinstance(value, tuple):
                    fields[ftag] = _text(raw, *value)
            attributes.append((fields[0x0A], fields[0x1A], records.strip_output_suffix(fields[0x12])))
        elif tag == 0x1A:
            original, slot_name, slot = 0, "", 0
            for ftag, value in _submessage(raw, pos, stop):
                if ftag == 0x08:
                    original = value
                elif ftag == 0x12:
                    slot_name = _text(raw, *value)
                elif ftag == 0x18:
                    slot = value
            slots.append((original, slot_name, slot))
        pos = stop
    return tuple(children), tuple(attributes), tuple(slots)


