"""TF1 architectures from a GraphDef or a MetaGraphDef (a run graph, a ``.meta`` file), without TF.

A GraphDef shows each variable op with its dtype and shape; a partitioned variable appears
as ``x/part_0..k`` (and its slots as ``x/part_0/Adam``) while a Saver stores ``x`` and
``x/Adam``, so parts are folded. A MetaGraphDef also carries the variable collections (global
variables only: local and metric variables are never saved) and each part's save-slice info
(the full name and full shape), which is preferred when present.
"""

from __future__ import annotations

import re
from typing import Dict, Iterable, List, Optional, Tuple

from google.protobuf.message import DecodeError
from tensorboard.compat.proto import graph_pb2, meta_graph_pb2, types_pb2, variable_pb2

from tensorboard_plugin_ckptdiff import errors, records, storage
from tensorboard_plugin_ckptdiff.architectures import kind_of_name, size_of

VARIABLE_OPS = {"VariableV2", "VarHandleOp", "Variable", "VariableV1"}
FRAMEWORK = "tf1_graph"
_PART = re.compile(r"^(.*)/part_(\d+)(/.*)?$")
# Collections whose variables a Saver does not save by default.
_UNSAVED = ("local_variables", "metric_variables")
_MAX_META_BYTES = 2 << 30  # protobuf refuses messages over 2 GiB anyway


def from_graph_def(graph_def, **fields) -> records.Architecture:
    """The variables of a GraphDef (proto or bytes), partitions folded into one variable."""
    graph_def = _parse(graph_pb2.GraphDef, graph_def, "GraphDef")
    nodes = _variable_nodes(graph_def)
    groups: Dict[str, List[Tuple[int, records.Shape]]] = {}
    dtypes: Dict[str, str] = {}
    for name, (dtype, shape) in nodes.items():
        full, part = _fold(name)
        groups.setdefault(full, []).append((part, shape))
        dtypes.setdefault(full, dtype)
    saved_shapes = _saver_full_shapes(graph_def)
    variables = tuple(
        _variable(full, dtypes[full], saved_shapes.get(full) or _joined_shape(parts))
        for full, parts in groups.items())
    return _architecture("graph", variables, fields)


def from_meta_graph(meta_graph, **fields) -> records.Architecture:
    """The variables a Saver of this MetaGraphDef (proto or bytes) would save."""
    meta = _parse(meta_graph_pb2.MetaGraphDef, meta_graph, "MetaGraphDef")
    defs = _variable_defs(meta, "variables")
    if not defs:
        # No collections (a graph exported by hand): the graph's variable ops are all we have.
        folded = from_graph_def(meta.graph_def)
        return _architecture("meta_graph", folded.variables, fields)
    unsaved = {d.variable_name for c in _UNSAVED for d in _variable_defs(meta, c)}
    nodes = _variable_nodes(meta.graph_def)
    seen = {}
    for d in defs:
        if d.variable_name in unsaved:
            continue
        node_name = d.variable_name.split(":", 1)[0]
        dtype, shape = nodes.get(node_name, ("unknown", None))
        info = d.save_slice_info_def
        if info.full_name:
            # One entry per partitioned variable, under the name and shape the Saver uses.
            name, shape = info.full_name, tuple(int(x) for x in info.full_shape)
        else:
            name = node_name
        if name not in seen:
            seen[name] = _variable(name, dtype, shape)
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


def _variable(name: str, dtype: str, shape: records.Shape) -> records.Variable:
    kind = kind_of_name(name)
    return records.Variable(
        key=name, name=name, shape=shape, dtype=dtype, size_bytes=size_of(shape, dtype),
        kind=kind, layer=_layer(name, kind), full_name=name)


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
