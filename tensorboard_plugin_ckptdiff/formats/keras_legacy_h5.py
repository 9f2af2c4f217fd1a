"""Legacy Keras HDF5 files: tf-keras ``save_weights('x.h5')`` and ``model.save('x.h5')``.

The root (or the ``model_weights`` group of a whole-model file) lists its layers in the
``layer_names`` attribute; each layer group lists its weights, in load order, in
``weight_names`` (``d1/kernel:0``), each the path of a dataset under the layer group. The
loader pairs by the order of weighted layers, then by weight order (or by layer name with
``by_name=True``). A whole-model file keeps the optimizer's state under
``optimizer_weights``, listed the same way.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Iterator, List, Optional, Tuple

from tensorboard_plugin_ckptdiff.diff import from_pretrained
from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.errors import CheckpointError
from tensorboard_plugin_ckptdiff.formats import hdf5

FORMAT = records.KERAS_LEGACY_H5
MODEL_WEIGHTS = "model_weights"
OPTIMIZER_WEIGHTS = "optimizer_weights"
TOP_LEVEL = "top_level_model_weights"  # the model's own weights, outside any layer
DEFAULT_CHUNK = 64 << 20


SUFFIXES = (".h5", ".hdf5")


def glance(fs, path: str) -> Tuple[Optional[str], Optional[str]]:
    return None, hdf5.glance(fs, path)


def claims(name: str) -> bool:
    base = re.split(r"[/\\]", name)[-1]
    return base.endswith(SUFFIXES) and not base.endswith(".weights.h5")


def sniff(fs, path: str, head: bytes) -> bool:
    kind = hdf5.tree_kind(fs, path, head)
    if kind == "":
        return claims(fs.basename(path))
    return kind == hdf5.LEGACY


def _variable(h5, key: str, weight_name: str, **fields) -> records.Variable:
    if key not in h5:
        raise CheckpointError(f"weight {weight_name!r} is listed in 'weight_names' but there is no dataset {key!r}")
    ds = hdf5.dataset_at(h5, key)
    name = records.strip_output_suffix(weight_name)
    shape, dtype, size = hdf5.facts(ds)
    return records.Variable(key=key, name=name, shape=shape, dtype=dtype, size_bytes=size, full_name=name, **fields)


def _layer_variables(h5, prefix: str) -> List[records.Variable]:
    root = h5[prefix.rstrip("/")] if prefix else h5
    layer_names = hdf5.name_attribute(root, "layer_names") or []
    out = []
    position = 0
    for layer in layer_names:
        if layer not in root:
            raise CheckpointError(f"layer {layer!r} is listed in 'layer_names' but the file has no group for it")
        weight_names = hdf5.name_attribute(root[layer], "weight_names") or []
        for index, weight in enumerate(weight_names):
            out.append(_variable(h5, f"{prefix}{layer}/{weight}", weight, kind=records.WEIGHT, layer=layer,
                                 layer_path=layer, index=index, layer_index=position))
        position += bool(weight_names)
    if TOP_LEVEL in root and TOP_LEVEL not in layer_names:
        weights = hdf5.name_attribute(root[TOP_LEVEL], "weight_names") or []
        for index, weight in enumerate(weights):
            out.append(_variable(h5, f"{prefix}{TOP_LEVEL}/{weight}", weight, kind=records.WEIGHT,
                                 layer_path=TOP_LEVEL, index=index))
    return out


def _optimizer_variables(h5) -> List[records.Variable]:
    if OPTIMIZER_WEIGHTS not in h5:
        return []
    out = []
    for index, weight in enumerate(hdf5.name_attribute(h5[OPTIMIZER_WEIGHTS], "weight_names") or []):
        base = records.strip_output_suffix(weight).rsplit("/", 1)[-1]
        kind = records.METADATA if base in records.COUNTERS else records.OPTIMIZER
        out.append(_variable(h5, f"{OPTIMIZER_WEIGHTS}/{weight}", weight, kind=kind, index=index))
    return out


def variables_of(h5) -> List[records.Variable]:
    """The listed weights in load order, then any dataset no list names (kept, so nothing
    in the file is hidden from a diff)."""
    with hdf5.h5_errors("cannot read the HDF5 tree"):
        prefix = f"{MODEL_WEIGHTS}/" if MODEL_WEIGHTS in h5 else ""
        listed = _layer_variables(h5, prefix) + _optimizer_variables(h5)
        keys = {v.key for v in listed}
        unlisted = []
        for found in hdf5.walk(h5):
            if found.path in keys:
                continue
            name = records.strip_output_suffix(found.path[len(prefix):] if found.path.startswith(prefix) else found.path)
            kind = records.OPTIMIZER if found.path.startswith(OPTIMIZER_WEIGHTS + "/") else records.WEIGHT
            shape, dtype, size = hdf5.facts(found.dataset)
            unlisted.append(records.Variable(key=found.path, name=name, shape=shape, dtype=dtype, size_bytes=size,
                                             kind=kind, full_name=name))
    seen = set()
    out = []
    for var in listed + unlisted:
        if var.key not in seen:  # a weight listed twice is one dataset
            seen.add(var.key)
            out.append(var)
    return out


def read(fs, path: str) -> records.Checkpoint:
    with hdf5.opened(fs, path) as (h5, size):
        variables = variables_of(h5)
    writer = None
    if from_pretrained.written_by_transformers_h5(variables):
        # save_pretrained's tf_model.h5: from_pretrained reads it by name, model name dropped;
        # people read it the same way (bert/encoder/...), as in the TF safetensors it also writes.
        writer = from_pretrained.WRITER
        variables = [dataclasses.replace(v, name=from_pretrained.display_name(v.full_name or v.name))
                     for v in variables]
    return records.Checkpoint(id=path, path=path, format=FORMAT, size_bytes=size, variables=tuple(variables),
                              writer=writer)


def read_tensor(fs, path: str, key: str):
    with hdf5.opened(fs, path) as (h5, size):
        return hdf5.read_values(h5, hdf5.dataset_at(h5, key), key, size)


def iter_chunks(fs, path: str, key: str, max_bytes: int = DEFAULT_CHUNK) -> Iterator:
    with hdf5.opened(fs, path) as (h5, size):
        yield from hdf5.iter_values(h5, hdf5.dataset_at(h5, key), key, size, max_bytes)
