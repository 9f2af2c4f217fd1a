"""Keras 3 weights files: ``*.weights.h5``, and sharded ``*.weights.json`` with their parts.

Keras 3 stores each saveable's own variables as datasets ``<path>/vars/0``, ``/vars/1``...
where ``<path>`` is the saving walk's attribute path (``layers/dense_1``: snake_case class
name + counter, never ``layer.name``, which is kept only as the ``vars`` group's ``name``
attribute). The loader pairs by that path, then by index. A sharded save writes a JSON
index (``weight_map``: ``/<path>/vars`` -> part files) and parts ``<base>_00000.weights.h5``;
the parts belong to the index and are not checkpoints of their own.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import re
from typing import Dict, Iterator, List, Optional, Tuple

from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.errors import CheckpointError
from tensorboard_plugin_ckptdiff.formats import hdf5

FORMAT = records.KERAS_WEIGHTS_H5
INDEX_SUFFIX = ".weights.json"
SUFFIXES = (".weights.h5", INDEX_SUFFIX)
PART = re.compile(r"^(?P<base>.+)_\d{5}\.weights\.h5$")
_MAX_INDEX_BYTES = 64 << 20  # a weight map of a million layers is still smaller
_MAX_PARTS = 1 << 16
DEFAULT_CHUNK = 64 << 20


def part_of(name: str) -> Optional[str]:
    """The base name of the sharded ``.weights.json`` a part file (``base_00001.weights.h5``)
    would belong to, else None."""
    m = PART.match(name)
    return m.group("base") if m else None


def glance(fs, path: str) -> Tuple[Optional[str], Optional[str]]:
    if path.endswith(INDEX_SUFFIX):
        return None, None  # JSON: its parts are judged when it is read
    return None, hdf5.glance(fs, path)


def claims(name: str) -> bool:
    base = re.split(r"[/\\]", name)[-1]
    if base.endswith(INDEX_SUFFIX):
        return True
    return base.endswith(".weights.h5") and not PART.match(base)


def sniff(fs, path: str, head: bytes) -> bool:
    if head[:1] == b"{":
        return b'"weight_map"' in head or path.endswith(INDEX_SUFFIX)
    kind = hdf5.tree_kind(fs, path, head)
    if kind == "":
        return not fs.basename(path).endswith((".h5", ".hdf5")) or fs.basename(path).endswith(".weights.h5")
    return kind == hdf5.KERAS3


# ---------------------------------------------------------------- variables of one h5 tree


def _slot(path: str) -> Tuple[str, Optional[int]]:
    """(layer path, index) of a dataset path: ``layers/dense/vars/0`` -> ("layers/dense", 0)."""
    parent, _, leaf = path.rpartition("/")
    index = int(leaf) if leaf.isdigit() else None
    if parent == "vars":
        return "", index
    if parent.endswith("/vars"):
        return parent[: -len("/vars")], index
    return parent, None


def _kind(layer_path: str, index: Optional[int], dataset) -> str:
    if layer_path.split("/", 1)[0] != "optimizer":
        return records.WEIGHT
    # An optimizer's first variable is its step counter (``iterations``, int64 scalar).
    if index == 0 and dataset.shape == () and dataset.dtype.kind in "iu":
        return records.METADATA
    return records.OPTIMIZER


# Variables of common layers in the order save_own_variables writes them; an optional one
# is named with the config flag that drops it.
_VARIABLES = {
    **{k: (("kernel", None), ("bias", "use_bias")) for k in (
        "dense", "conv1d", "conv2d", "conv3d", "conv1d_transpose", "conv2d_transpose", "conv3d_transpose",
        "depthwise_conv1d", "depthwise_conv2d")},
    "einsum_dense": (("kernel", None), ("bias", "bias_axes")),
    **{k: (("depthwise_kernel", None), ("pointwise_kernel", None), ("bias", "use_bias")) for k in (
        "separable_conv1d", "separable_conv2d")},
    "batch_normalization": (("gamma", "scale"), ("beta", "center"), ("moving_mean", None), ("moving_variance", None)),
    "layer_normalization": (("gamma", "scale"), ("beta", "center")),
    "embedding": (("embeddings", None),),
}
_COUNTER = re.compile(r"_\d+$")


def snake_case(class_name: str) -> str:
    """Keras's naming.to_snake_case: the h5 slot name of a layer class."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def variable_names(snake: str, count: int, config: Optional[dict] = None) -> Optional[List[str]]:
    """Names of a layer's ``count`` variables: from its config's flags when known, else
    the one choice of optional variables that gives ``count``; None when unsure."""
    spec = _VARIABLES.get(snake)
    if spec is None:
        return None
    if config is not None:
        names = [n for n, flag in spec if flag is None or config.get(flag, True)]
        return names if len(names) == count else None
    optional = [n for n, flag in spec if flag is not None]
    fits = [[n for n, flag in spec if flag is None or n in chosen]
            for chosen in (set(c) for c in itertools.product(*[[o, None] for o in optional]))]
    fits = [names for names in fits if len(names) == count]
    return fits[0] if len(fits) == 1 else None


def _layer_variable_names(owner: str, layer_path: str, count: int, configs) -> Optional[List[str]]:
    """The names of a layer's ``count`` variables where its class (from the config, else
    from its slot name ``layers/dense_1``) says what they are; None otherwise (each keeps
    ``<layer name>/<index>``)."""
    snake, config = (configs or {}).get(owner) or (_COUNTER.sub("", layer_path.rsplit("/", 1)[-1]), None)
    return variable_names(snake, count, config)


def variables_of(h5, configs: Optional[Dict[str, Tuple[str, dict]]] = None) -> List[records.Variable]:
    """Every dataset of a Keras 3 weights tree as a Variable, from metadata only.
    ``configs``: layer name -> (snake_case class, config), when a model config is at hand."""
    found_all = []  # (path, layer path, index, owning layer's name, dataset)
    layer_names: Dict[str, Optional[str]] = {}
    with hdf5.h5_errors("cannot read the HDF5 tree"):
        for found in hdf5.walk(h5):
            layer_path, index = _slot(found.path)
            if layer_path not in layer_names:
                group = h5[f"{layer_path}/vars" if layer_path else "vars"] if index is not None else None
                layer_names[layer_path] = hdf5.text_attribute(group, "name") if group is not None else None
            owner = layer_names[layer_path] or (layer_path.rsplit("/", 1)[-1] or None)
            found_all.append((found.path, layer_path, index, owner, found.dataset))
        # A layer's variables are named by how many it has: all are found before any is named.
        counts = collections.Counter(layer_path for _, layer_path, index, _, _ in found_all if index is not None)
        named: Dict[str, Optional[List[str]]] = {}  # layer path -> its variables' names, once per layer
        out = []
        for path, layer_path, index, owner, ds in found_all:
            kind = _kind(layer_path, index, ds)
            name = f"{owner}/{index}" if owner and index is not None else path
            if kind == records.WEIGHT and index is not None and owner:
                if layer_path not in named:
                    named[layer_path] = _layer_variable_names(owner, layer_path, counts[layer_path], configs)
                names = named[layer_path]
                if names and index < len(names):  # a damaged file may skip indices
                    name = f"{owner}/{names[index]}"
            shape, dtype, size = hdf5.facts(ds)
            out.append(records.Variable(key=path, name=name, shape=shape, dtype=dtype, size_bytes=size, kind=kind,
                                        layer=owner, full_name=path, layer_path=layer_path, index=index))
    return out


# ---------------------------------------------------------------- sharded index


def _read_index(fs, path: str) -> Dict[str, List[str]]:
    """The weight map of a sharded save: ``/<layer path>/vars`` -> part file names."""
    st = fs.stat(path)
    if st is None:
        raise CheckpointError(f"no such file {path!r}")
    if st.size > _MAX_INDEX_BYTES:
        raise CheckpointError(f"the sharded-weights index is {st.size} bytes, larger than any Keras writes")
    with fs.open(path) as f:
        data = f.read(_MAX_INDEX_BYTES + 1)
    try:
        config = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"the sharded-weights index is not valid JSON ({e})") from e
    weight_map = config.get("weight_map") if isinstance(config, dict) else None
    if not isinstance(weight_map, dict):
        raise CheckpointError("the sharded-weights index has no 'weight_map' object: not a Keras sharded save")
    out = {}
    for group, files in weight_map.items():
        files = [files] if isinstance(files, str) else files
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise CheckpointError(f"the weight map entry {group!r} does not name part files")
        for name in files:
            if not name or "/" in name or "\\" in name or name in (".", "..") or name.startswith("."):
                raise CheckpointError(f"the weight map names {name!r}, which is not a part file beside the index")
        out[str(group)] = files
    return out


def _parts(weight_map: Dict[str, List[str]]) -> List[str]:
    parts = list(dict.fromkeys(name for files in weight_map.values() for name in files))
    if len(parts) > _MAX_PARTS:
        raise CheckpointError(f"the weight map names {len(parts)} part files")
    return parts


def _part_path(fs, index_path: str, name: str) -> str:
    path = fs.join(fs.dirname(index_path), name)
    if fs.stat(path) is None:
        raise CheckpointError(f"part file {name!r} named by the sharded-weights index is missing")
    return path


def _read_sharded(fs, path: str) -> Tuple[List[records.Variable], int]:
    weight_map = _read_index(fs, path)
    seen = {}
    total = fs.stat(path).size
    for name in _parts(weight_map):
        part = _part_path(fs, path, name)
        total += fs.stat(part).size
        try:
            with hdf5.opened(fs, part) as (h5, _):
                for var in variables_of(h5):
                    seen.setdefault(var.key, var)
        except CheckpointError as e:
            raise CheckpointError(f"part file {name!r}: {e.message}") from e
    return sorted(seen.values(), key=lambda v: hdf5.natural_key(v.key)), total


def _check_not_a_part(fs, path: str) -> None:
    m = PART.match(fs.basename(path))
    if not m:
        return
    index = fs.join(fs.dirname(path), m.group("base") + INDEX_SUFFIX)
    if fs.stat(index) is None:
        return
    try:
        parts = _parts(_read_index(fs, index))
    except CheckpointError:
        return
    if fs.basename(path) in parts:
        raise CheckpointError(
            f"this file is one part of the sharded checkpoint {fs.basename(index)!r}: read that file instead")


# ---------------------------------------------------------------- reader interface


def read(fs, path: str) -> records.Checkpoint:
    if path.endswith(".json"):
        variables, size = _read_sharded(fs, path)
    else:
        _check_not_a_part(fs, path)
        with hdf5.opened(fs, path) as (h5, size):
            variables = variables_of(h5)
    return records.Checkpoint(id=path, path=path, format=FORMAT, size_bytes=size, variables=tuple(variables))


def _candidate_files(fs, path: str, key: str) -> List[str]:
    if not path.endswith(".json"):
        return [path]
    weight_map = _read_index(fs, path)
    layer_path, index = _slot(key)
    group = f"/{layer_path}/vars" if layer_path else "/vars"
    named = weight_map.get(group, []) if index is not None else []
    ordered = list(dict.fromkeys(named + _parts(weight_map)))
    return [_part_path(fs, path, name) for name in ordered]


@contextlib.contextmanager
def _located(fs, path: str, key: str):
    """(file, dataset, size of the file holding it) for ``key``, the file open while in use."""
    sharded = path.endswith(".json")
    for candidate in _candidate_files(fs, path, key):
        with hdf5.opened(fs, candidate) as (h5, size):
            with hdf5.h5_errors(f"cannot find tensor {key!r}"):
                present = not sharded or key.strip("/") in h5
            if present:
                yield h5, hdf5.dataset_at(h5, key), size
                return
    raise CheckpointError(f"no tensor {key!r} in this checkpoint")


def read_tensor(fs, path: str, key: str):
    with _located(fs, path, key) as (h5, dataset, size):
        return hdf5.read_values(h5, dataset, key, size)


def iter_chunks(fs, path: str, key: str, max_bytes: int = DEFAULT_CHUNK) -> Iterator:
    with _located(fs, path, key) as (h5, dataset, size):
        yield from hdf5.iter_values(h5, dataset, key, size, max_bytes)
