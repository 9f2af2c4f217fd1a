"""Readable names, kinds and layers for bundle keys, from the object graph or the key itself.

Object-based keys are built from a node's shortest path, which for Keras 3 with
``tf.train.Checkpoint(model=, optimizer=)`` runs through ``optimizer/_trainable_variables/N``;
the model's own path exists only in the graph. We name each variable by its shortest path
that avoids optimizer objects, and class what only an optimizer reaches as optimizer state.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Dict, List, NamedTuple, Optional

from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.errors import CheckpointError
from tensorboard_plugin_ckptdiff.formats.bundle_proto import skip_field, varint

VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
_ATTRIBUTES = "/.ATTRIBUTES/"
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"

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


def decode_graph(raw: bytes) -> records.ObjectGraph:
    """A serialized TrackableObjectGraph as records, every node and edge kept.

    Hand-decoded (TrackableObjectGraph: nodes 1; TrackableObject: children 1, attributes 2,
    slot_variables 3; ObjectReference: node_id 1, local_name 2; SerializedTensor: name 1,
    full_name 2, checkpoint_key 3; SlotVariableReference: original_variable_node_id 1,
    slot_name 2, slot_variable_node_id 3): a graph has a node per variable, and reading
    them through message objects costs more than the rest of the index together."""
    nodes = []
    end = len(raw)
    pos = 0
    while pos < end:
        tag, pos = varint(raw, pos, end)
        if tag == 0x0A:
            length, pos = varint(raw, pos, end)
            if pos + length > end:
                raise _corrupt_graph()
            nodes.append(_node(raw, pos, pos + length))
            pos += length
        else:
            pos = skip_field(raw, pos, end, tag & 7)
    if not nodes:
        raise CheckpointError("the object graph has no nodes: the checkpoint is corrupt")
    count = len(nodes)
    for node in nodes:
        for _, child in node.children:
            if child >= count:
                raise CheckpointError(f"the object graph names node {child} of {count}: the checkpoint is corrupt")
    return records.ObjectGraph(nodes=tuple(nodes))


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


def _node(raw: bytes, pos: int, end: int) -> records.ObjectNode:
    children, attributes, slots = [], [], []
    while pos < end:
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
    return records.ObjectNode(children=tuple(children), attributes=tuple(attributes), slot_variables=tuple(slots))


def _is_optimizer(local_name: str, node: records.ObjectNode) -> bool:
    if "optimizer" in local_name.lower() or node.slot_variables:
        return True
    names = {name for name, _ in node.children}
    return bool(names & _OPTIMIZER_CHILDREN) and ("_variables" in names or "_trainable_variables" in names
                                                 or "iter" in names)


def _bfs(graph: records.ObjectGraph, avoid_optimizers: bool) -> Dict[int, List[str]]:
    """node id -> first (shortest) path from the root, as a list of local names."""
    nodes = graph.nodes
    paths: Dict[int, List[str]] = {0: []}
    queue = deque([0])
    while queue:
        node_id = queue.popleft()
        base = paths[node_id]
        for local_name, cid in nodes[node_id].children:
            if cid in paths:
                continue
            if avoid_optimizers and _is_optimizer(local_name, nodes[cid]):
                continue
            paths[cid] = base + [local_name]
            queue.append(cid)
    return paths


def object_based(graph: records.ObjectGraph) -> Dict[str, Naming]:
    """checkpoint key -> Naming, for every attribute of every node of the object graph."""
    nodes = graph.nodes
    model_paths = _bfs(graph, avoid_optimizers=True)
    slots: Dict[int, tuple] = {}  # slot node -> (original node, slot name)
    for node in nodes:
        for original, slot_name, slot in node.slot_variables:
            slots[slot] = (original, slot_name)
    out: Dict[str, Naming] = {}
    for node_id, node in enumerate(nodes):
        for attribute, key, full_name in node.attributes:
            object_path = key[:-len(VALUE_SUFFIX)] if key.endswith(VALUE_SUFFIX) else key
            out[key] = _object_naming(node_id, attribute, key, object_path, full_name or None, model_paths, slots)
    return out


def _object_naming(node_id, attribute, key, object_path, full_name, model_paths, slots) -> Naming:
    path = model_paths.get(node_id)
    if node_id in slots:
        original, slot_name = slots[node_id]
        owner = model_paths.get(original)
        name = "/".join(owner + [slot_name]) if owner else object_path
        layer = owner[-2] if owner and len(owner) > 1 else None
        return Naming(name, records.OPTIMIZER, layer, full_name, object_path)
    shortest = key.split(_ATTRIBUTES)[0].split("/")
    last = (path or shortest)[-1] if (path or shortest) else key
    if path:
        name = "/".join(path)
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


def _layer(full_name: Optional[str], path: Optional[List[str]], kind: str) -> Optional[str]:
    if kind != records.WEIGHT:
        return None
    if full_name and "/" in full_name:
        return full_name.split("/")[-2]
    if path and len(path) > 1:
        return path[-2]
    return None
