"""TF1 architectures from a GraphDef or a MetaGraphDef (a run graph, a ``.meta`` file), without TF.

What a Saver restores is what its ops name: a graph with a Saver holds ``save/SaveV2`` (and
``save/RestoreV2``) whose constant ``tensor_names`` and ``shape_and_slices`` list every saved
variable under its checkpoint name with its full shape, and the op's ``dtypes`` their types.
That list is the architecture wherever it exists: it leaves out local and metric variables
(``mean_1/total``), names a partitioned variable once, and is exactly what ``Saver.restore``
looks up. Without a Saver in the graph, a MetaGraphDef's variable collections (global, less
local and metric ones) come next, each part's save-slice info giving the full name and shape.
A bare GraphDef without a Saver shows only variable ops: parts ``x/part_k`` are folded into
``x``, and local variables are recognised by the names tf.compat.v1.metrics gives them.
"""

from __future__ import annotations

import re
from typing import Dict, Iterable, List, Optional, Tuple

from google.protobuf.message import DecodeError
from tensorboard.compat.proto import graph_pb2, meta_graph_pb2, types_pb2, variable_pb2

from tensorboard_plugin_ckptdiff import errors, records, storage
from tensorboard_plugin_ckptdiff.architectures import size_of

VARIABLE_OPS = {"VariableV2", "VarHandleOp", "Variable", "VariableV1"}
FRAMEWORK = "tf1_graph"
_PART = re.compile(r"^(.*)/part_(\d+)(/.*)?$")
# Collections whose variables a Saver does not save by default.
_UNSAVED = ("local_variables", "metric_variables")
# What tf.compat.v1.metrics names its local variables: <metric>[_N]/<accumulator>.
_LOCAL = re.compile(
    r"(^|/)(mean|accuracy|auc|precision|recall|mean_absolute_error|mean_squared_error|"
    r"root_mean_squared_error|mean_iou|mean_per_class_accuracy|mean_relative_error|mean_cosine_distance|"
    r"percentage_below|true_positives|false_positives|true_negatives|false_negatives|"
    r"precision_at_thresholds|recall_at_thresholds|sensitivity_at_specificity|specificity_at_sensitivity)"
    r"(_\d+)?/(total|count|total_confusion_matrix|true_positives|false_positives|true_negatives|"
    r"false_negatives|accumulator)(_\d+)?$")
_MAX_META_BYTES = 2 << 30  # protobuf refuses messages over 2 GiB anyway


def from_graph_def(graph_def, **fields) -> records.Architecture:
    """The variables a Saver of this GraphDef (proto or bytes) would restore."""
    graph_def = _parse(graph_pb2.GraphDef, graph_def, "GraphDef")
    saved = saver_variables(graph_def)
    if saved:
        return _architecture("graph", saved, fields)
    nodes = _variable_nodes(graph_def)
    groups: Dict[str, List[Tuple[int, records.Shape]]] = {}
    dtypes: Dict[str, str] = {}
    for name, (dtype, shape) in nodes.items():
        full, part = _fold(name)
        if _LOCAL.search(full):
            # Last resort, without a Saver or collections to ask: tf.compat.v1.metrics keeps its
            # totals and counts in local variables, which no Saver saves by default.
            continue
        groups.setdefault(full, []).append((part, shape))
        dtypes.setdefault(full, dtype)
    saved_shapes = _saver_full_shapes(graph_def)
    resource = _resource_flags(graph_def)
    variables = tuple(
        _variable(full, dtypes[full], saved_shapes.get(full) or _joined_shape(parts),
                  resource.get(full) if full in nodes and len(parts) == 1 else None)  # whole, not x/part_k
        for full, parts in groups.items())
    return _architecture("graph", variables, fields)


def from_meta_graph(meta_graph, **fields) -> records.Architecture:
    """The variables a Saver of this MetaGraphDef (proto or bytes) would save."""
    meta = _parse(meta_graph_pb2.MetaGraphDef, meta_graph, "MetaGraphDef")
    scope = meta.saver_def.save_tensor_name.split("/", 1)[0] if "/" in meta.saver_def.save_tensor_name else None
    saved = saver_variables(meta.graph_def, scope)
    if saved:
        return _architecture("meta_graph", saved, fields)
    defs = _variable_defs(meta, "variables")
    if not defs:
        # No collections (a graph exported by hand): the graph's variable ops are all we have.
        folded = from_graph_def(meta.graph_def)
        return _architecture("meta_graph", folded.variables, fields)
    unsaved = {d.variable_name for c in _UNSAVED for d in _variable_defs(meta, c)}
    nodes = _variable_nodes(meta.graph_def)
    resource = _resource_flags(meta.graph_def)
    seen = {}
    for d in defs:
        if d.variable_name in unsaved:
            continue
        node_name = d.variable_name.split(":", 1)[0]
        dtype, shape = nodes.get(node_name, ("unknown", None))
        info = d.save_slice_info_def
        if info.full_name:
            # One entry per partitioned variable, under the name and shape the Saver uses.
            name, shape, whole = info.full_name, tuple(int(x) for x in info.full_shape), False
        else:
            name, whole = node_name, True
        if name not in seen:
            seen[name] = _variable(name, dtype, shape, resource.get(name) if whole else None)
    return _architecture("meta_graph", tuple(seen.values()), fields)


def from_meta_graph_file(fs, path: str, **fields) -> records.Architecture:
    """The architecture a TF1 checkpoint's ``.meta`` file describes.

    Raises errors.CheckpointError when the file cannot be read as a MetaGraphDef.
    """
    fs = fs or storage.for_path(path)
    st = fs.stat(path)
    if st is None:
        raise errors.CheckpointError("the .meta file does not exist or cannot be opened.", path)
    if st.size > _MAX_META_BYTES:
        raise errors.CheckpointError(f"the .meta file is {st.size} bytes, over protobuf's 2 GiB limit.", path)
    with fs.open(path) as f:
        data = f.read(st.size)
    try:
        return from_meta_graph(data, **fields)
    except ValueError as e:
        raise errors.CheckpointError(str(e), path) from None


# --- parts ------------------------------------------------------------------------------


def _parse(cls, value, what: str):
    if isinstance(value, cls):
        return value
    if hasattr(value, "SerializeToString"):  # TF's own copy of the same proto class
        value = value.SerializeToString()
    out = cls()
    try:
        out.ParseFromString(bytes(value))
    except (DecodeError, TypeError, ValueError) as e:
        raise ValueError(f"not a valid {what} ({e}).") from None
    return out


def _variable_defs(meta, collection: str) -> List[variable_pb2.VariableDef]:
    if collection not in meta.collection_def:
        return []
    out = []
    for raw in meta.collection_def[collection].bytes_list.value:
        d = variable_pb2.VariableDef()
        try:
            d.ParseFromString(raw)
        except DecodeError:
            continue  # one bad entry should not hide the others
        out.append(d)
    return out


def _variable_nodes(graph_def) -> Dict[str, Tuple[str, records.Shape]]:
    """node name -> (dtype, shape) for every variable op, in graph order."""
    out = {}
    for node in graph_def.node:
        if node.op in VARIABLE_OPS:
            out[node.name] = (_dtype(node.attr["dtype"].type), _shape(node.attr["shape"].shape)
                              if "shape" in node.attr else None)
    return out


def _resource_flags(graph_def) -> Dict[str, bool]:
    """name -> whether the variable op of that name is a resource variable's (VarHandleOp) or a
    ref variable's; parts ``x/part_k`` answer for ``x`` (the callers ask only of whole variables).
    A name whose ops disagree is left out: not known."""
    out: Dict[str, bool] = {}
    mixed = set()
    for node in graph_def.node:
        if node.op in VARIABLE_OPS:
            name = _fold(node.name)[0]
            flag = node.op == "VarHandleOp"
            if out.setdefault(name, flag) != flag:
                mixed.add(name)
    for name in mixed:
        del out[name]
    return out


def _saver_full_shapes(graph_def) -> Dict[str, records.Shape]:
    """name -> full shape of each sliced variable a Saver in the graph saves.

    A Saver's SaveV2 op takes its tensor names and "shape and slice" specs ("4 6 0,4:0,3":
    the full shape, then the slice) from two constants: the exact answer for partitioned
    variables, where the parts' own shapes leave the partition axis to guesswork.
    """
    consts = {n.name: n.attr["value"].tensor for n in graph_def.node if n.op == "Const"}
    out = {}
    for node in graph_def.node:
        if node.op != "SaveV2" or len(node.input) < 3:
            continue
        names, specs = (consts.get(i.split(":", 1)[0]) for i in node.input[1:3])
        if names is None or specs is None:
            continue
        for name, spec in zip(names.string_val, specs.string_val):
            dims = spec.decode("utf-8", "replace").split(" ")[:-1]  # the last token is the slice
            if dims and all(d.isdigit() for d in dims):
                out[name.decode("utf-8", "replace")] = tuple(int(d) for d in dims)
    return out


def saver_variables(graph_def, scope: Optional[str] = None) -> Tuple[records.Variable, ...]:
    """The variables a Saver in the graph saves and restores, from its SaveV2 ops' constants.

    ``scope``: the Saver's name scope (a MetaGraphDef's saver_def says which); otherwise the
    default Saver's ``save``, else the one that saves the most. A sharded Saver has one
    SaveV2 per device in its scope: their lists are joined."""
    by_name = {n.name: n for n in graph_def.node}
    savers: Dict[str, list] = {}
    for node in graph_def.node:
        if node.op == "SaveV2" and len(node.input) >= 3:
            savers.setdefault(node.name.split("/", 1)[0], []).append(node)
    if not savers:
        return ()
    if scope not in savers:
        scope = "save" if "save" in savers else max(savers, key=lambda k: sum(len(n.input) for n in savers[k]))
    variables_ops = _variable_nodes(graph_def)
    resource = _resource_flags(graph_def)
    out: Dict[str, records.Variable] = {}
    for node in savers[scope]:
        names, specs = (by_name.get(i.split(":", 1)[0]) for i in node.input[1:3])
        if names is None or specs is None or names.op != "Const" or specs.op != "Const":
            continue
        names, specs = names.attr["value"].tensor.string_val, specs.attr["value"].tensor.string_val
        dtypes = list(node.attr["dtypes"].list.type)
        inputs = list(node.input[3:])
        for i, raw in enumerate(names):
            name = raw.decode("utf-8", "replace")
            if name in out:
                continue  # a partitioned variable: one entry per slice, one variable
            spec = specs[i].decode("utf-8", "replace").split(" ") if i < len(specs) else [""]
            dims = spec[:-1]
            sliced = bool(dims) and all(d.isdigit() for d in dims)
            if sliced:
                shape = tuple(int(d) for d in dims)  # the full shape of a sliced variable
            else:
                shape = _saved_shape(by_name, variables_ops, name, inputs[i] if i < len(inputs) else None)
            dtype = _dtype(dtypes[i]) if i < len(dtypes) else variables_ops.get(name, ("unknown", None))[0]
            # A slice is restored against its full shape, which RestoreV2 checks, resource or not.
            out[name] = _variable(name, dtype, shape, None if sliced else resource.get(name))
    # The Saver lists names sorted; the graph's own order (the model's) reads better.
    position: Dict[str, int] = {}
    for index, op_name in enumerate(variables_ops):
        position.setdefault(_fold(op_name)[0], index)
    return tuple(sorted(out.values(), key=lambda v: position.get(v.name, len(position))))


def _saved_shape(by_name, variable_ops, name: str, tensor: Optional[str]) -> records.Shape:
    """The shape of what a Saver saves under ``name``: its variable op's, found by name or by
    following the saved tensor back through reads and identities."""
    if name in variable_ops:
        return variable_ops[name][1]
    node = by_name.get(tensor.split(":", 1)[0].lstrip("^")) if tensor else None
    for _ in range(8):
        if node is None:
            return None
        if node.op in VARIABLE_OPS:
            return variable_ops.get(node.name, (None, None))[1]
        node = by_name.get(node.input[0].split(":", 1)[0].lstrip("^")) if node.input else None
    return None


def _dtype(enum: int) -> str:
    try:
        name = types_pb2.DataType.Name(enum)
    except ValueError:
        return "unknown"
    name = name[3:].lower()  # DT_INT32 -> int32
    if name.endswith("_ref"):  # VariableV2 outputs *_REF types in old graphs
        name = name[:-4]
    return {"float": "float32", "double": "float64", "half": "float16"}.get(name, name)


def _shape(proto) -> records.Shape:
    if proto.unknown_rank:
        return None
    return tuple(None if d.size < 0 else int(d.size) for d in proto.dim)


def _fold(name: str) -> Tuple[str, int]:
    """("x", k) for "x/part_k"; ("x/Adam", k) for "x/part_k/Adam"; (name, 0) otherwise."""
    m = _PART.match(name)
    if not m:
        return name, 0
    return m.group(1) + (m.group(3) or ""), int(m.group(2))


def _joined_shape(parts: Iterable[Tuple[int, records.Shape]]) -> records.Shape:
    """The full shape of a variable from its parts' shapes.

    TF's partitioners cut along one axis; the GraphDef does not say which, so it is the
    axis along which the parts differ, else axis 0 (fixed_size_partitioner's default).
    """
    shapes = [shape for _, shape in sorted(parts)]
    if len(shapes) == 1 or any(s is None for s in shapes):
        return shapes[0]
    ranks = {len(s) for s in shapes}
    if len(ranks) != 1 or not shapes[0]:
        return None
    differing = [axis for axis in range(len(shapes[0])) if len({s[axis] for s in shapes}) > 1]
    axis = differing[0] if len(differing) == 1 else 0
    if any(s[axis] is None for s in shapes):
        return None
    full = list(shapes[0])
    full[axis] = sum(s[axis] for s in shapes)
    return tuple(full)


def _variable(name: str, dtype: str, shape: records.Shape, resource: Optional[bool] = None) -> records.Variable:
    kind = records.kind_of(name)
    return records.Variable(
        key=name, name=name, shape=shape, dtype=dtype, size_bytes=size_of(shape, dtype),
        kind=kind, layer=_layer(name, kind), full_name=name, resource=resource)


def _layer(name: str, kind: str) -> Optional[str]:
    """The scope a variable lives in ("dense_1" for "dense_1/kernel" and its slots)."""
    if kind == records.OPTIMIZER and "/" in name:
        name = name.rsplit("/", 1)[0]  # drop the slot name
    return name.rsplit("/", 1)[0] if "/" in name else None


def _architecture(source: str, variables, fields) -> records.Architecture:
    fields = dict(fields)
    fields.setdefault("id", source)
    fields.setdefault("framework", FRAMEWORK)
    return records.Architecture(source=source, variables=tuple(variables), **fields)
