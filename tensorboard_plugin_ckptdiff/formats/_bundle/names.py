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

from typing import Dict, NamedTuple, Optional, Tuple

from tensorboard_plugin_ckptdiff import records

VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
_ATTRIBUTES = "/.ATTRIBUTES/"
_OPTIMIZER_CHILDREN = {"_iterations", "iter", "_learning_rate", "learning_rate"}


class Naming(NamedTuple):
    name: str
    kind: str
    layer: Optional[str]
    full_name: Optional[str]
    object_path: str


def name_based(key: str) -> Naming:
    """A TF1 Saver key: the key is the variable name; its layer is the scope it sits in (for
    an optimizer slot, the scope of the variable the slot is for)."""
    kind = records.kind_of(key)
    scopes = key.split("/")[:-2 if kind == records.OPTIMIZER else -1]
    return Naming(key, kind, scopes[-1] if scopes else None, key, key)


def _is_optimizer(local_name: str, node: records.ObjectNode) -> bool:
    if node.slot_variables or "optimizer" in local_name.lower():
        return True
    if not node.children:
        return False
    names = {name for name, _ in node.children}
    return bool(names & _OPTIMIZER_CHILDREN) and ("_variables" in names or "_trainable_variables" in names
                                                 or "iter" in names)


# A node's first (shortest) path from the root, avoiding optimizer objects: (joined, last,
# parent), e.g. ("model/layers/0/kernel", "kernel", "0"); parent is None at depth one. The root
# has none (None), so that, like a node no model path reaches, it reads as no path.
# A plain tuple, not a NamedTuple, read by unpacking in this module only: CPython untracks a
# tuple of strings at its first collection, never a NamedTuple, and a graph's 20,000 paths kept
# tracked through the naming loop reach the oldest generation and trigger full collections of
# everything TensorFlow holds (issue 14). tests/test_tf_bundle.py checks the names field by field.
Path = Tuple[str, str, Optional[str]]


def _model_paths(nodes) -> Dict[int, Optional[Path]]:
    """node id -> Path, breadth first, never entering an optimizer object."""
    paths: Dict[int, Optional[Path]] = {0: None}
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


def object_based(graph: records.ObjectGraph) -> Dict[str, tuple]:
    """checkpoint key -> a Naming's fields as a plain tuple, for every attribute of every node
    of the object graph (tf_bundle.variables unpacks them). Plain for the reason Path is: a
    Naming per variable, tracked while the dict is built, reached the oldest generation."""
    nodes = graph.nodes
    model_paths = _model_paths(nodes)
    slots: Dict[int, tuple] = {}  # slot node -> (original node, slot name)
    for node in nodes:
        for original, slot_name, slot in node.slot_variables:
            slots[slot] = (original, slot_name)
    out: Dict[str, tuple] = {}
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
                if path[1] in records.COUNTERS or own_name in records.COUNTERS:
                    out[key] = (path[0], records.METADATA, None, full_name, object_path)
                else:
                    out[key] = (path[0], records.WEIGHT, layer, full_name, object_path)
                continue
            out[key] = _object_naming(node_id, attribute, key, object_path, full_name, model_paths, slots)
    return _readable(out)


def _readable(namings: Dict[str, tuple]) -> Dict[str, tuple]:
    """Each variable named by its full_name where that is a path shared by no other."""
    seen: Dict[str, int] = {}
    for _, _, _, full_name, _ in namings.values():
        if full_name and "/" in full_name:
            seen[full_name] = seen.get(full_name, 0) + 1
    for key, (name, kind, layer, full_name, object_path) in namings.items():
        if seen.get(full_name) == 1 and name != full_name:
            namings[key] = (full_name, kind, layer, full_name, object_path)
    return namings


def _object_naming(node_id, attribute, key, object_path, full_name, model_paths, slots) -> tuple:
    path = model_paths.get(node_id)
    if node_id in slots:
        original, slot_name = slots[node_id]
        owner = model_paths.get(original)
        name = owner[0] + "/" + slot_name if owner else object_path
        layer = owner[2] if owner else None
        return (name, records.OPTIMIZER, layer, full_name, object_path)
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
    if last in records.COUNTERS or (full_name and full_name.split("/")[-1] in records.COUNTERS):
        kind = records.METADATA
    return (name, kind, _layer(full_name, path, kind), full_name, object_path)


def _layer(full_name: Optional[str], path: Optional[Path], kind: str) -> Optional[str]:
    if kind != records.WEIGHT:
        return None
    if full_name and "/" in full_name:
        return full_name.split("/")[-2]
    if path:
        return path[2]
    return None
