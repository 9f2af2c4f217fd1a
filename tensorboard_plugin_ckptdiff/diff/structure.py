"""Pairing across formats through the model's structure: layer order, then variable order.

A Keras model saved as a TF2 object-based checkpoint, as ``.weights.h5`` and as ``.keras``
shares no key between the files (``model/_functional/_operations/1/_kernel`` against
``layers/dense/vars/0``), and no loader reads one into another. What they share is the
model: the same layers in the same order, each with its variables in order. Each variable
of a TF2 checkpoint is given the slot Keras 3's saving walk would give it (the ``N``-th layer
of a class is ``layers/<class>_N``, nested models ``layers/sequential/layers/...``, the
optimizer's ``N``-th variable ``optimizer/N``), found by walking the object graph's
``_operations`` lists; a layer's class comes from its auto-generated name when it has one,
else from its variables (gamma/beta/moving_mean: batch normalization; a rank-4 kernel: conv2d).
tf-keras checkpoints (``layer_with_weights-N``) pair with legacy ``.h5`` files by the same
ordinal of weighted layers that tf-keras's by-order loading uses.
"""

from __future__ import annotations

import collections
import re
from typing import Callable, Dict, Optional, Tuple

from tensorboard_plugin_ckptdiff import records

_TF2 = "tf2"
_KERAS3 = "keras3_h5"
_LEGACY = "legacy_h5"
_COUNTER = re.compile(r"_\d+$")
_WITH_WEIGHTS = re.compile(r"^layer_with_weights-(\d+)$")
# Layer classes whose variables say what they are (Keras 3 snake-case class names).
_KNOWN = {"dense", "einsum_dense", "conv1d", "conv2d", "conv3d", "conv1d_transpose", "conv2d_transpose",
          "conv3d_transpose", "depthwise_conv1d", "depthwise_conv2d", "separable_conv1d", "separable_conv2d",
          "batch_normalization", "layer_normalization", "group_normalization", "embedding"}


def family(side) -> Optional[str]:
    if not isinstance(side, records.Checkpoint):
        return None
    if side.format == records.TF_BUNDLE and side.object_graph is not None and side.object_graph.nodes:
        return _TF2
    if side.format in (records.KERAS_WEIGHTS_H5, records.KERAS_ARCHIVE):
        return _KERAS3
    if side.format == records.KERAS_LEGACY_H5 and side.writer is None:
        return _LEGACY
    return None


def applies(base, target) -> bool:
    """Two files of different formats that only the model's structure can pair."""
    pair = {family(base), family(target)}
    return pair in ({_TF2, _KERAS3}, {_TF2, _LEGACY})


def identities(base, target) -> Tuple[Callable, Callable]:
    other = {base: family(target), target: family(base)}
    return _identity(base, other[base]), _identity(target, other[target])


def _identity(side, other: Optional[str]) -> Callable:
    kind = family(side)
    if kind == _KERAS3:
        return lambda v: None if v.index is None else (v.layer_path, v.index)
    if kind == _LEGACY:
        return lambda v: None if v.layer_index is None or v.index is None else ("#", v.layer_index, v.index)
    if kind == _TF2:
        slots = legacy_slots(side) if other == _LEGACY else keras3_slots(side)
        return lambda v: slots.get(v.key)
    return lambda v: None


# --- TF2 object graphs ------------------------------------------------------------------------


def _model_node(graph: records.ObjectGraph) -> int:
    found = graph.child(0, "model")
    return 0 if found is None else found


def _variables_of(graph, node_id: int):
    """(local name, checkpoint key) of a node's variables, in the node's own order."""
    out = []
    for name, child in graph.nodes[node_id].children:
        key = graph.value_key(child) if 0 <= child < len(graph.nodes) else None
        if key is not None:
            out.append((name, key))
    return out


def keras3_slots(checkpoint: records.Checkpoint) -> Dict[str, Tuple[str, int]]:
    """checkpoint key -> (Keras 3 h5 layer path, index) for a Keras 3 model's TF2 checkpoint."""
    graph = checkpoint.object_graph
    full_names = {v.key: (v.full_name, v.shape) for v in checkpoint.variables}
    out: Dict[str, Tuple[str, int]] = {}
    _container(graph, _model_node(graph), "", full_names, out, depth=0)
    optimizer = graph.child(0, "optimizer")
    listed = graph.child(optimizer, "_variables") if optimizer is not None else None
    if listed is not None:
        for name, child in graph.nodes[listed].children:
            key = graph.value_key(child) if name.isdigit() else None
            if key is not None:
                out[key] = ("optimizer", int(name))
    return out


def _operations(graph, node_id: int) -> Optional[int]:
    functional = graph.child(node_id, "_functional")  # a Sequential wraps a Functional
    return graph.child(functional if functional is not None else node_id, "_operations")


def _container(graph, node_id: int, prefix: str, full_names, out, depth: int) -> None:
    operations = _operations(graph, node_id)
    if operations is None or depth > 32:
        return
    used: Dict[str, int] = collections.Counter()
    children = sorted((int(name), child) for name, child in graph.nodes[operations].children if name.isdigit())
    for _, child in children:
        if _operations(graph, child) is not None:
            stem = "sequential" if graph.child(child, "_functional") is not None else "functional"
            _container(graph, child, f"{prefix}layers/{_unique(stem, used)}/", full_names, out, depth + 1)
            continue
        variables = _variables_of(graph, child)
        if not variables:
            continue
        slot = f"{prefix}layers/{_unique(_class_of(variables, full_names), used)}"
        for index, (_, key) in enumerate(variables):
            out[key] = (slot, index)


def _unique(stem: str, used: Dict[str, int]) -> str:
    """Keras's _get_unique_name: dense, dense_1, dense_2..."""
    n = used[stem]
    used[stem] += 1
    return stem if n == 0 else f"{stem}_{n}"


def _class_of(variables, full_names) -> str:
    # An auto-named layer (dense_3) says its class; a named one ("head") is known by its variables.
    full_name, shape = full_names.get(variables[0][1], (None, None))
    full_name = full_name or ""
    parts = full_name.split("/")
    stem = _COUNTER.sub("", parts[-2]) if len(parts) >= 2 else ""
    if stem in _KNOWN:
        return stem
    names = {name.lstrip("_") for name, _ in variables}
    if "moving_mean" in names:
        return "batch_normalization"
    if names and names <= {"gamma", "beta"}:
        return "layer_normalization"
    if names == {"embeddings"}:
        return "embedding"
    if "depthwise_kernel" in names:
        return "separable_conv2d" if "pointwise_kernel" in names else "depthwise_conv2d"
    if "kernel" in names:
        rank = len(shape) if shape is not None else 2
        return {2: "dense", 3: "conv1d", 4: "conv2d", 5: "conv3d"}.get(rank, "dense")
    return stem or "layer"


def legacy_slots(checkpoint: records.Checkpoint) -> Dict[str, Tuple[str, int, int]]:
    """checkpoint key -> ("#", weighted-layer ordinal, index) for a tf-keras model's TF2
    checkpoint: ``layer_with_weights-N`` is the N-th layer with weights, as in a legacy h5."""
    graph = checkpoint.object_graph
    model = _model_node(graph)
    out: Dict[str, Tuple[str, int, int]] = {}
    for name, child in graph.nodes[model].children:
        m = _WITH_WEIGHTS.match(name)
        if m:
            for index, (_, key) in enumerate(_variables_of(graph, child)):
                out[key] = ("#", int(m.group(1)), index)
    return out
