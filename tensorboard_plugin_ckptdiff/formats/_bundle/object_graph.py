"""Readable names, kinds and layers for bundle keys, from the object graph or the key itself.

Object-based keys are built from a node's shortest path, which for Keras 3 with
``tf.train.Checkpoint(model=, optimizer=)`` runs through ``optimizer/_trainable_variables/N``;
the model's own path exists only in the graph. A variable is named as the model names it:
the graph's ``full_name`` (Keras's ``variable.path``: ``sequential/dense/kernel``, and for an
optimizer's slots ``adam/sequential_dense_kernel_momentum``) when it is a path that no other
variable shares; otherwise its shortest path that avoids optimizer objects (a slot: its
variable's name and the slot's). What only an optimizer reaches is optimizer state. The
object path stays the key and the pairing identity: names are for people.
"""

from __future__ import annotations

import re
import sys
from typing import Dict, NamedTuple, Optional

from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.errors import CheckpointError
from tensorboard_plugin_ckptdiff.formats._bundle.proto import skip_field, varint

VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
_ATTRIBUTES = "/.ATTRIBUTES/"
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
_HAS_VALUES = (b"*\x02\x08\x01", b"*\x02\x08\x00")  # TrackableObject.has_checkpoint_values

# Counters that say how far training got, not what the model learned.
_METADATA_NAMES = {"save_counter", "global_step", "iterations", "_iterations", "iter", "iteration",
                   OBJECT_GRAPH_KEY}
# TF1 slot and accumulator names (Saver keys like dense/kernel/Adam_1, beta1_power).
_TF1_SLOT = re.compile(r"^(Adam|AdamW|Momentum|RMSProp|Adagrad|AdagradDA|Adadelta|Ftrl|Nadam|Adamax|"
                       r"ExponentialMovingAverage|LazyAdam|ProximalAdagrad)(_\d+)?$")
_TF1_OPTIMIZER_SCALARS = re.compile(r"^(beta1_power|beta2_power)(_\d+)?$")
_OPTIMIZER_CHILDREN = {"_iterations", "iter", "_learning_rate", "learning_rate"}


class Naming(NamedTuple):
    name: str
    kind: str
    layer: Optional[str]
    full_name: Optional[str]
    object_path: str


def strip_output(name: str) -> str:
    return name[:-2] if name.endswith(":0") else name


def name_based(key: str) -> Naming:
    """A TF1 Saver key: the key is the variable name."""
    parts = key.split("/")
    last = parts[-1]
    if last in _METADATA_NAMES or key == OBJECT_GRAPH_KEY:
        kind, owner = records.METADATA, parts[:-1]
    elif _TF1_SLOT.match(last) and len(parts) > 1:
        kind, owner = records.OPTIMIZER, parts[:-2]
    elif _TF1_OPTIMIZER_SCALARS.match(last):
        kind, owner = records.OPTIMIZER, []
    else:
        kind, owner = records.WEIGHT, parts[:-1]
    return Naming(key, kind, owner[-1] if owner else None, key, key)


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
        nodes = _decode_in_order(raw)
    return records.ObjectGraph(nodes=nodes)


def _decode_in_order(raw: bytes) -> tuple:
    """The nodes, read one after another; raises for the first thing wrong."""
    rows = []
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
                        if full_name[-2:] == ":0":
                            full_name = full_name[:-2]
                        add({"children": none, "attributes": ((name, key, full_name),), "slot_variables": none})
                        continue
            add(_node(raw, start, stop, text))
    except UnicodeDecodeError as e:
        raise CheckpointError("the object graph holds a name that is not UTF-8: the checkpoint is corrupt") from e
    if not rows:
        raise CheckpointError("the object graph has no nodes: the checkpoint is corrupt")
    nodes = records.assemble(records.ObjectNode, rows)
    count = len(nodes)
    for node in nodes:
        for _, child in node.children:
            if child >= count:
                raise CheckpointError(f"the object graph names node {child} of {count}: the checkpoint is corrupt")
    return nodes


def _decode_fast(raw: bytes) -> Optional[tuple]:
    """The nodes, or None when the graph holds anything the in-order decoder must judge."""
    import numpy as np

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
    count = len(tags)
    if pos != end or not count:
        return None
    buf = np.frombuffer(raw, np.uint8)
    last = end - 1

    def byte(index):  # clipped: rows whose layout is wrong may point anywhere, and are dropped
        return buf[np.minimum(index, last)].astype(np.intp)

    stop = np.array(tags[1:] + [end], np.intp)
    start = np.array(tags, np.intp) + 2
    for i, at in long_starts.items():
        start[i] = at
    starts, stops = start.tolist(), stop.tolist()
    text = raw.decode("latin-1")

    # A variable's node: the same tests as _decode_in_order makes inline, for every node.
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

    # Any other node: children (0x0A) and has_checkpoint_values (0x2A) only, else _node.
    child_at = []
    add_child = child_at.append
    spans, general = [], []
    for i in np.flatnonzero(~var).tolist():
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
            spans.append((i, first, len(child_at)))
        else:
            del child_at[first:]
            general.append(i)

    children_of = [()] * count
    if child_at:
        # The child layout _node reads inline: 0x0A n, 0x08 node_id (at most three bytes),
        # 0x12 m local_name, all lengths one byte.
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
        for i, lo, hi in spans:
            if bad[hi] != bad[lo]:
                general.append(i)
            elif hi != lo:
                children_of[i] = tuple(pairs[lo:hi])

    attributes_of = [()] * count
    index = np.flatnonzero(var)
    if len(index):
        start, f_at, k_at, a_stop = start[index], f_at[index], k_at[index], a_stop[index]
        # Nearly every attribute is a VARIABLE_VALUE: one string for all of them, not a copy each.
        value = np.flatnonzero(f_at - start == 4 + len(_VALUE))
        value = value[(byte((start[value] + 4)[:, None] + np.arange(len(_VALUE))) == _VALUE_BYTES).all(1)]
        named = np.ones(len(index), bool)
        named[value] = False
        named = np.flatnonzero(named)
        # full_name without its ":0", as strip_output would leave it
        full_stop = k_at - 2 * ((k_at - f_at >= 4) & (byte(k_at - 2) == 0x3A) & (byte(k_at - 1) == 0x30))
        names = [_VALUE] * len(index)
        for i, a, b in zip(named.tolist(), (start[named] + 4).tolist(), f_at[named].tolist()):
            names[i] = text[a:b]
        full_names = [text[a:b] for a, b in zip((f_at + 2).tolist(), full_stop.tolist())]
        keys = [text[a:b] for a, b in zip((k_at + 2).tolist(), a_stop.tolist())]
        ascii = "".join(names).isascii() and "".join(full_names).isascii() and "".join(keys).isascii()
        rows = index.tolist()
        for _ in map(attributes_of.__setitem__, rows, zip(zip(names, keys, full_names))):
            pass
        if not ascii:
            for i, name, full_name, key in zip(rows, names, full_names, keys):
                if not (name.isascii() and full_name.isascii() and key.isascii()):
                    attributes_of[i] = ()
                    general.append(i)

    slots_of = [()] * count
    for i in general:
        fields = _node(raw, starts[i], stops[i], text)
        if any(child >= count for _, child in fields["children"]):
            return None
        children_of[i], attributes_of[i], slots_of[i] = (
            fields["children"], fields["attributes"], fields["slot_variables"])
    return records.assemble(records.ObjectNode, [{"children": c, "attributes": a, "slot_variables": s}
                                                 for c, a, s in zip(children_of, attributes_of, slots_of)])


def _corrupt_graph() -> CheckpointError:
    return CheckpointError("the object graph is truncated or corrupt")


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


def _node(raw: bytes, pos: int, end: int, text: str) -> dict:
    """The fields of one ObjectNode, read by the general decoder (``text``: ``raw`` as latin-1)."""
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
            attributes.append((fields[0x0A], fields[0x1A], strip_output(fields[0x12])))
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
    return {"children": tuple(children), "attributes": tuple(attributes), "slot_variables": tuple(slots)}


def _is_optimizer(local_name: str, node: records.ObjectNode) -> bool:
    if node.slot_variables or "optimizer" in local_name.lower():
        return True
    if not node.children:
        return False
    names = {name for name, _ in node.children}
    return bool(names & _OPTIMIZER_CHILDREN) and ("_variables" in names or "_trainable_variables" in names
                                                 or "iter" in names)


# A node's first (shortest) path from the root as (joined path, last local name, the one
# before it or None); the root's is () so that, like an empty path, it reads as no path.
Path = tuple


def _model_paths(nodes) -> Dict[int, Path]:
    """node id -> Path, breadth first, never entering an optimizer object."""
    paths: Dict[int, Path] = {0: ()}
    queue = [0]
    for node_id in queue:  # the list grows while it is walked: a FIFO without a deque
        base = paths[node_id]
        prefix, parent = (base[0] + "/", base[1]) if base else ("", None)
        for local_name, cid in nodes[node_id].children:
            if cid in paths:
                continue
            child = nodes[cid]
            # _is_optimizer, its cheap tests first: most children are plain variables.
            if child.slot_variables or child.children and _is_optimizer(local_name, child) \
                    or "optimizer" in local_name.lower():
                continue
            paths[cid] = (prefix + local_name, local_name, parent)
            if child.children:  # a leaf would only cost its prefix: most nodes are variables
                queue.append(cid)
    return paths


def object_based(graph: records.ObjectGraph) -> Dict[str, Naming]:
    """checkpoint key -> Naming, for every attribute of every node of the object graph."""
    nodes = graph.nodes
    model_paths = _model_paths(nodes)
    slots: Dict[int, tuple] = {}  # slot node -> (original node, slot name)
    for node in nodes:
        for original, slot_name, slot in node.slot_variables:
            slots[slot] = (original, slot_name)
    out: Dict[str, Naming] = {}
    make = tuple.__new__
    get_path = model_paths.get
    cut = -len(VALUE_SUFFIX)
    for node_id, node in enumerate(nodes):
        attributes = node.attributes
        if not attributes:
            continue
        path = get_path(node_id)
        model_variable = path and node_id not in slots
        for attribute, key, full_name in attributes:
            object_path = key[:cut] if key.endswith(VALUE_SUFFIX) else key
            full_name = full_name or None
            if model_variable and attribute == "VARIABLE_VALUE":
                # A model variable: what _object_naming would say, without its general cases.
                if full_name and "/" in full_name:
                    scope = full_name.rsplit("/", 2)
                    own_name, layer = scope[-1], scope[-2]
                else:
                    own_name, layer = full_name, path[2]
                if path[1] in _METADATA_NAMES or own_name in _METADATA_NAMES:
                    out[key] = make(Naming, (path[0], records.METADATA, None, full_name, object_path))
                else:
                    out[key] = make(Naming, (path[0], records.WEIGHT, layer, full_name, object_path))
                continue
            out[key] = _object_naming(node_id, attribute, key, object_path, full_name, model_paths, slots)
    return _readable(out)


def _readable(namings: Dict[str, Naming]) -> Dict[str, Naming]:
    """Each variable named by its full_name where that is a path shared by no other."""
    seen: Dict[str, int] = {}
    for n in namings.values():
        if n.full_name and "/" in n.full_name:
            seen[n.full_name] = seen.get(n.full_name, 0) + 1
    make = tuple.__new__
    for key, n in namings.items():
        if seen.get(n.full_name) == 1 and n.name != n.full_name:
            namings[key] = make(Naming, (n.full_name, n.kind, n.layer, n.full_name, n.object_path))
    return namings


def _object_naming(node_id, attribute, key, object_path, full_name, model_paths, slots) -> Naming:
    path = model_paths.get(node_id)
    if node_id in slots:
        original, slot_name = slots[node_id]
        owner = model_paths.get(original)
        name = owner[0] + "/" + slot_name if owner else object_path
        layer = owner[2] if owner else None
        return Naming(name, records.OPTIMIZER, layer, full_name, object_path)
    shortest = key.split(_ATTRIBUTES)[0].split("/")
    last = path[1] if path else shortest[-1]
    if path:
        name = path[0]
        kind = records.WEIGHT
    else:
        name = object_path
        kind = records.WEIGHT if "_trainable_variables" in shortest else records.OPTIMIZER
    if attribute != "VARIABLE_VALUE":
        name = f"{name}/{attribute}" if name else attribute
        kind = records.METADATA
    if last in _METADATA_NAMES or (full_name and full_name.split("/")[-1] in _METADATA_NAMES):
        kind = records.METADATA
    return Naming(name, kind, _layer(full_name, path, kind), full_name, object_path)


def _layer(full_name: Optional[str], path: Path, kind: str) -> Optional[str]:
    if kind != records.WEIGHT:
        return None
    if full_name and "/" in full_name:
        return full_name.split("/")[-2]
    if path:
        return path[2]
    return None
