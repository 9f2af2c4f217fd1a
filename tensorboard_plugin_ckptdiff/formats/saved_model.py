"""SavedModel directories: the variables bundle as a checkpoint, the object graph as its architecture.

``saved_model.pb`` is a SavedModel message (saved_model_schema_version 1, meta_graphs 2);
its MetaGraphDef's SavedObjectGraph names every variable the model tracks with its dtype and
shape, which is what a loader of this model expects. The values live in the ordinary tensor
bundle ``variables/variables``, read by tf_bundle.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Dict, List, Optional, Tuple

from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.errors import CheckpointError
from tensorboard_plugin_ckptdiff.formats._bundle import proto
from tensorboard_plugin_ckptdiff.formats import dtypes, tf_bundle

FORMAT = records.SAVED_MODEL
PB_NAME = "saved_model.pb"
SUFFIXES = ()  # a directory: its name is all there is
_MAX_PB_BYTES = 1 << 31  # protobuf's own limit for one message


def claims(name: str) -> bool:
    return name.replace("\\", "/").rsplit("/", 1)[-1] == PB_NAME


def _directory(fs, path: str) -> str:
    return fs.dirname(path) if claims(path) else path


def sniff(fs, path: str, head: bytes) -> bool:
    if head:
        return claims(path)
    st = fs.stat(fs.join(path, PB_NAME))
    return st is not None and not st.is_dir


def glance(fs, path: str) -> Tuple[Optional[str], Optional[str]]:
    """(flavor, error): a SavedModel without variables is object-based; else its bundle's."""
    index = tf_bundle.index_path(variables_prefix(fs, path))
    if fs.stat(index) is None:
        return records.OBJECT_BASED, None
    return tf_bundle.glance_index(fs, index)


def variables_prefix(fs, directory: str) -> str:
    return fs.join(directory, "variables", "variables")


def _meta_graphs(raw: bytes):
    """Each MetaGraphDef of a serialized SavedModel, parsed with TensorBoard's protos."""
    from tensorboard.compat.proto import meta_graph_pb2  # protobuf only, no TF

    end = len(raw)
    pos = 0
    out = []
    while pos < end:
        tag, pos = proto.varint(raw, pos, end)
        if tag == 0x12:
            length, pos = proto.varint(raw, pos, end)
            if pos + length > end:
                raise CheckpointError("saved_model.pb is truncated")
            try:
                out.append(meta_graph_pb2.MetaGraphDef.FromString(raw[pos:pos + length]))
            except Exception as e:  # protobuf's DecodeError
                raise CheckpointError(f"saved_model.pb holds a MetaGraphDef that does not parse: {e}") from e
            pos += length
        else:
            pos = proto.skip_field(raw, pos, end, tag & 7)
    return out


def _object_paths(graph) -> Dict[int, str]:
    """node id -> its shortest path from the root of a SavedObjectGraph."""
    count = len(graph.nodes)
    if not count:  # a damaged object graph may have no root at all
        return {}
    paths: Dict[int, str] = {0: ""}
    queue = deque([0])
    while queue:
        node_id = queue.popleft()
        for child in graph.nodes[node_id].children:
            if child.node_id < count and child.node_id not in paths:
                base = paths[node_id]
                paths[child.node_id] = f"{base}/{child.local_name}" if base else child.local_name
                queue.append(child.node_id)
    return paths


def architecture_of(graph, directory: str) -> records.Architecture:
    """The variables a SavedObjectGraph tracks, each once, by object path."""
    out: List[records.Variable] = []
    paths = _object_paths(graph)
    for node_id, node in enumerate(graph.nodes):
        if node.WhichOneof("kind") != "variable" or node_id not in paths:
            continue
        variable = node.variable
        shape = None if variable.shape.unknown_rank else tuple(
            d.size if d.size >= 0 else None for d in variable.shape.dim)
        full_name = records.strip_output_suffix(variable.name) or None
        parts = (full_name or paths[node_id]).split("/")
        out.append(records.Variable(
            key=paths[node_id], name=paths[node_id], shape=shape, dtype=dtypes.name(variable.dtype),
            kind=records.WEIGHT, layer=parts[-2] if len(parts) > 1 else None,
            full_name=full_name, object_path=paths[node_id]))
    return records.Architecture(id=directory, source=records.SAVED_MODEL, variables=tuple(out))


def _read_pb(fs, directory: str) -> Optional[bytes]:
    path = fs.join(directory, PB_NAME)
    st = fs.stat(path)
    if st is None or st.is_dir:
        raise CheckpointError(f"no {PB_NAME} in this directory: it is not a SavedModel")
    if st.size > _MAX_PB_BYTES:
        raise CheckpointError(f"{PB_NAME} is {st.size} bytes, larger than a protobuf message can be")
    with fs.open(path) as f:
        return f.read(st.size + 1)


def read(fs, path: str) -> records.Checkpoint:
    directory = _directory(fs, path)
    raw = _read_pb(fs, directory)
    metas = _meta_graphs(raw)
    if not metas:
        raise CheckpointError(f"{PB_NAME} holds no MetaGraphDef")
    architecture = None
    with_graph = [m for m in metas if m.HasField("object_graph_def")]
    if with_graph:
        architecture = architecture_of(with_graph[0].object_graph_def, directory)
    prefix = variables_prefix(fs, directory)
    if fs.stat(tf_bundle.index_path(prefix)) is None:
        bundle = records.Checkpoint(id=directory, path=directory, format=FORMAT)  # a model without variables
    else:
        bundle = tf_bundle.read(fs, prefix)
    pb_stat = fs.stat(fs.join(directory, PB_NAME))
    return dataclasses.replace(
        bundle, id=directory, path=directory, format=FORMAT, flavor=bundle.flavor or records.OBJECT_BASED,
        step=None, wall_time=pb_stat.mtime if pb_stat else bundle.wall_time,
        size_bytes=(bundle.size_bytes or 0) + len(raw), architecture=architecture)


def read_tensor(fs, path: str, key: str):
    return tf_bundle.read_tensor(fs, variables_prefix(fs, _directory(fs, path)), key)


def iter_chunks(fs, path: str, key: str, max_bytes: int = tf_bundle.DEFAULT_CHUNK):
    return tf_bundle.iter_chunks(fs, variables_prefix(fs, _directory(fs, path)), key, max_bytes)


def chunk_reader(fs, path: str):
    return tf_bundle.chunk_reader(fs, variables_prefix(fs, _directory(fs, path)))
