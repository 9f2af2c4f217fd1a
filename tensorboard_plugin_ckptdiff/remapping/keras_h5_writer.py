"""Writing remapped Keras HDF5 weights: Keras 3 ``.weights.h5``, legacy ``.h5``, and ``.keras``.

- Keras 3 loads by layer slot (``layers/dense_1/vars/0``): layers the file holds in the wrong
  slot (a layer was inserted or removed before them) move to the slot the model reads.
- Legacy ``.h5`` lists its layers (``layer_names``) and each layer's weights (``weight_names``):
  a rename for ``load_weights(by_name=True)`` or transformers' ``from_pretrained`` renames the
  layer's group, its entry in ``layer_names`` and its weights' names, in the order they had.
- ``.keras``: its ``model.weights.h5`` as above; ``config.json``, ``metadata.json`` and any
  other member are copied unchanged (a remap moves weights, not the model they describe: load
  the result with ``model.load_weights``).

The input is read through the readers (hdf5.py: the tree, attributes and bounded slabs of
values); every group and attribute is carried over. Values are written slab by slab in bounded
memory with h5py, the one HDF5 writer: an optional dependency (``pip install
tensorboard_plugin_ckptdiff[remap]``), imported only here and only to write bytes we build.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import shutil
import zipfile
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple

from tensorboard_plugin_ckptdiff.diff import from_pretrained, pairing
from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.errors import CheckpointError, InvalidArgument
from tensorboard_plugin_ckptdiff.formats import hdf5, keras_archive, keras_legacy_h5

FORMAT = "keras_h5"  # writes the three Keras HDF5 formats; remapping.py picks this module for each
CHUNK = 16 << 20  # bounded slabs of one dataset
_NAME_LISTS = ("layer_names", "weight_names")  # rewritten, not copied (Keras may split them)
_HDF5_OBJECT_HEADER_LIMIT = 64512  # what Keras's save_attributes_to_hdf5_group keeps under


class _Dataset(NamedTuple):
    source: str  # its path in the input
    key: str  # its path in the output
    dtype: Optional[str]  # the dtype it is cast to, or None
    group: Optional[str] = None  # legacy: the output group whose ``weight_names`` lists it
    weight: Optional[str] = None  # ... under this name


class Layout(NamedTuple):
    format: str
    datasets: List[_Dataset]
    groups: Dict[str, Optional[str]]  # output group -> the input group whose attributes it takes
    layer_names: Dict[str, List[str]]  # legacy: output group holding ``layer_names`` -> the names
    weight_names: Dict[str, List[str]]  # legacy: output group holding ``weight_names`` -> the names
    not_moved: Tuple[Tuple[str, str], ...] = ()


def output_files(out: str, layout: Layout) -> List[str]:
    return [out]


def input_files(fs, target: records.Checkpoint, layout: Layout) -> List[str]:
    return [target.path]


@contextlib.contextmanager
def _source(fs, target: records.Checkpoint) -> Iterator[Tuple[object, int]]:
    """(the input's HDF5 tree, the size of the file holding it)."""
    if target.format == records.KERAS_ARCHIVE:
        with keras_archive.opened(fs, target.path) as (_, h5, size):
            yield h5, size
        return
    if target.path.endswith(".json"):
        raise InvalidArgument("sharded Keras weights (.weights.json) are not remapped: load them with "
                              "model.load_weights and save them unsharded first")
    with hdf5.opened(fs, target.path) as (h5, size):
        yield h5, size


# ---------------------------------------------------------------- the layout


def layout(fs, target: records.Checkpoint, plan) -> Layout:
    legacy = target.format == records.KERAS_LEGACY_H5
    if plan.renames and not (legacy and plan.mode in (pairing.NAME, pairing.TRANSFORMERS)):
        raise plan.unsupported("Keras 3 files are read by layer slot (remap moves whole layers in keras_order "
                               "mode); a legacy .h5 by name or by transformers' rule")
    with _source(fs, target) as (h5, _), hdf5.h5_errors("cannot read the HDF5 tree"):
        paths = [found.path for found in hdf5.walk(h5)]
        if legacy:
            return _legacy_layout(h5, target, plan, paths)
        moves = dict(plan.slot_moves)
        datasets = [_Dataset(p, _moved(p, moves), plan.casts.get(p)) for p in paths if p not in plan.drops]
        return Layout(target.format, datasets, _with_empty_groups(h5, _groups(datasets)), {}, {})


def _moved(path: str, moves: Dict[str, str]) -> str:
    for old, new in moves.items():
        if path.startswith(old + "/"):
            return new + path[len(old):]
    return path


def _groups(datasets: List[_Dataset]) -> Dict[str, Optional[str]]:
    """Every group the output needs (the datasets' ancestors), each with the input group at the
    same place under the dataset it was found from."""
    out: Dict[str, Optional[str]] = {"": ""}
    for d in datasets:
        new, old = d.key.split("/")[:-1], d.source.split("/")[:-1]
        while new:
            path = "/".join(new)
            if path not in out:
                out[path] = "/".join(old) if old else None
            new.pop()
            if old:
                old.pop()
    seen = set()
    for d in datasets:
        if d.key in seen:
            raise CheckpointError(f"the remap would store two tensors at {d.key!r}")
        seen.add(d.key)
    return out


def _with_empty_groups(h5, groups: Dict[str, Optional[str]]) -> Dict[str, Optional[str]]:
    """The groups, and the empty groups beside them in the input (Keras 3 writes the model's own
    ``vars`` group even when it holds nothing): carried over, so nothing of the tree is lost."""
    out = dict(groups)
    for new, old in groups.items():
        if old is None or (old and old not in h5):
            continue
        group = h5[old] if old else h5
        for name in group.keys():
            try:
                child = group[name]
            except (CheckpointError, KeyError):
                continue  # a link to elsewhere: not followed, not copied
            path = f"{new}/{name}" if new else name
            if hasattr(child, "keys") and not child.keys() and path not in out:
                out[path] = f"{old}/{name}" if old else name
    return out


def _legacy_layout(h5, target, plan, paths) -> Layout:
    prefix = keras_legacy_h5.MODEL_WEIGHTS if keras_legacy_h5.MODEL_WEIGHTS in h5 else ""
    root = h5[prefix] if prefix else h5
    layers = hdf5.name_attribute(root, "layer_names") or []
    listed: Dict[str, List[str]] = {}  # input group -> its weight names
    for layer in layers:
        listed[_join(prefix, layer)] = hdf5.name_attribute(h5[_join(prefix, layer)], "weight_names") or []
    for group in (_join(prefix, keras_legacy_h5.TOP_LEVEL), keras_legacy_h5.OPTIMIZER_WEIGHTS):
        if group in h5 and group not in listed:
            listed[group] = hdf5.name_attribute(h5[group], "weight_names") or []
    new_layer: Dict[str, str] = {}  # input layer -> output layer
    renamed: Dict[str, Tuple[str, str]] = {}  # input dataset -> (output group, output weight name)
    for group, weights in listed.items():
        layer = group[len(prefix) + 1:] if prefix else group
        for weight in weights:
            source = f"{group}/{weight}"
            base = plan.renames.get(source)
            if base is None:
                continue
            to_layer, to_weight = _legacy_name(plan, base, layer if layer in layers else None, weight)
            if layer in layers:
                if new_layer.setdefault(layer, to_layer) != to_layer:
                    raise CheckpointError(f"the weights of layer {layer!r} would go to two layers, "
                                          f"{new_layer[layer]!r} and {to_layer!r}: a layer is renamed whole")
                to_group = _join(prefix, to_layer)
            else:
                to_group = group
            renamed[source] = (to_group, to_weight)
    groups_moved = {_join(prefix, old): _join(prefix, new) for old, new in new_layer.items()}
    weight_names: Dict[str, List[str]] = {}
    datasets: List[_Dataset] = []
    for group, weights in listed.items():
        to_group = groups_moved.get(group, group)
        kept = []
        for weight in weights:
            source = f"{group}/{weight}"
            if source in plan.drops:
                continue
            out_group, out_weight = renamed.get(source, (to_group, weight))
            kept.append(out_weight)
            datasets.append(_Dataset(source, f"{out_group}/{out_weight}", plan.casts.get(source), out_group, out_weight))
        weight_names[to_group] = kept
    listed_paths = {d.source for d in datasets} | {f"{g}/{w}" for g, ws in listed.items() for w in ws}
    datasets += [_Dataset(p, p, plan.casts.get(p)) for p in paths if p not in listed_paths and p not in plan.drops]
    emptied = {layer for layer in layers if listed[_join(prefix, layer)]
               and not weight_names.get(groups_moved.get(_join(prefix, layer), _join(prefix, layer)))}
    names = [new_layer.get(layer, layer) for layer in layers if layer not in emptied]
    if len(set(names)) != len(names):
        raise CheckpointError("the remap would give two layers of the file the same name")
    groups = _groups(datasets)
    for layer in layers:  # every listed layer has a group, weights or not (tf-keras opens each)
        if layer not in emptied:
            groups.setdefault(_join(prefix, new_layer.get(layer, layer)), _join(prefix, layer))
    for old, new in groups_moved.items():
        groups[new] = old
    weight_names = {g: w for g, w in weight_names.items() if g in groups}
    return Layout(target.format, datasets, _with_empty_groups(h5, groups), {prefix: names}, weight_names)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def _legacy_name(plan, base: records.Variable, layer: Optional[str], weight: str) -> Tuple[str, str]:
    """(output layer, output weight name) of a renamed legacy weight."""
    suffix = ":0" if weight.endswith(":0") else ""
    if plan.mode == pairing.TRANSFORMERS:
        to_layer, stripped = plan.base_identity(base)  # the weight's name less the model's own, ':0' kept
        return to_layer, f"{weight.split('/', 1)[0]}/{stripped}"
    name = pairing.name_of(base)
    if layer is not None and weight.startswith(layer + "/"):
        return name.split("/", 1)[0], name + suffix  # tf-keras names a layer's weights <layer>/<weight>
    return layer or "", name + suffix


# ---------------------------------------------------------------- what the output will read as


def planned(fs, target: records.Checkpoint, layout: Layout, out: str) -> records.Checkpoint:
    """The output's variables as the reader will read them (no value read or written)."""
    by_source = {d.source: d for d in layout.datasets}
    variables = []
    for v in target.variables:
        d = by_source.get(v.key)
        if d is None:
            continue
        fields = {"key": d.key, "full_name": d.key}
        if d.dtype is not None:
            fields.update(dtype=d.dtype, size_bytes=_size(v, d.dtype))
        if layout.format == records.KERAS_LEGACY_H5:
            fields.update(_legacy_fields(v, d, layout))
        elif v.layer_path is not None and d.key != v.key:
            fields["layer_path"] = d.key.rsplit("/vars/", 1)[0]
        variables.append(dataclasses.replace(v, **fields))
    writer = target.writer
    if layout.format == records.KERAS_LEGACY_H5:
        writer = from_pretrained.WRITER if from_pretrained.written_by_transformers_h5(variables) else None
        if writer:
            variables = [dataclasses.replace(v, name=from_pretrained.display_name(v.full_name)) for v in variables]
    return dataclasses.replace(target, id=out, path=out, location=None, variables=tuple(variables), writer=writer)


def _size(v: records.Variable, dtype: str) -> Optional[int]:
    from tensorboard_plugin_ckptdiff.architectures import size_of

    return size_of(v.shape, dtype)


def _legacy_fields(v: records.Variable, d: _Dataset, layout: Layout) -> dict:
    """What keras_legacy_h5 reads for a weight: its name from ``weight_names``, its layer, its
    index in the layer and the layer's place among the layers that have weights."""
    ((prefix, layers),) = layout.layer_names.items()
    if d.weight is None:  # a dataset no list names: named by its path
        name = d.key[len(prefix) + 1:] if prefix and d.key.startswith(prefix + "/") else d.key
        name = records.strip_output_suffix(name)
        return {"name": name, "full_name": name}
    name = records.strip_output_suffix(d.weight)
    fields = {"name": name, "full_name": name, "index": layout.weight_names[d.group].index(d.weight)}
    if v.layer_path is not None and v.layer_path != keras_legacy_h5.TOP_LEVEL:
        layer = d.group[len(prefix) + 1:] if prefix else d.group
        weighted = [n for n in layers if layout.weight_names.get(_join(prefix, n))]
        fields.update(layer=layer, layer_path=layer, layer_index=weighted.index(layer))
    return fields


# ---------------------------------------------------------------- writing


def _h5py():
    try:
        import h5py
    except ImportError:
        raise InvalidArgument("writing HDF5 needs h5py: pip install 'tensorboard_plugin_ckptdiff[remap]'") from None
    return h5py


def write(fs, target: records.Checkpoint, layout: Layout, out: str, staging) -> Tuple[List[str], List[str]]:
    h5py = _h5py()
    if target.format != records.KERAS_ARCHIVE:
        with _source(fs, target) as (h5, size), h5py.File(staging.path(out), "w") as dest:
            _copy_tree(h5, size, layout, dest)
        return [out], [out]
    weights = staging.scratch(keras_archive.WEIGHTS)  # not moved anywhere: it goes into the archive
    with keras_archive.opened(fs, target.path) as (zf, h5, size):
        with h5py.File(weights, "w") as dest:
            _copy_tree(h5, size, layout, dest)
        with zipfile.ZipFile(staging.path(out), "w") as archive:
            for info in zf.infolist():
                if info.filename == keras_archive.WEIGHTS:
                    archive.write(weights, keras_archive.WEIGHTS, compress_type=zipfile.ZIP_STORED)
                    continue
                with hdf5.h5_errors(f"cannot copy {info.filename} from the archive"), zf.open(info) as src, \
                        archive.open(zipfile.ZipInfo(info.filename, info.date_time), "w") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
    return [out], [out]


def _copy_tree(h5, size: int, layout: Layout, dest) -> None:
    for group, source in sorted(layout.groups.items(), key=lambda item: item[0].count("/") if item[0] else -1):
        node = dest.require_group(group) if group else dest
        old = (h5[source] if source else h5) if source is not None and (source == "" or source in h5) else None
        if old is not None:
            _copy_attributes(old, node)
        if group in layout.layer_names:
            _put_names(node, "layer_names", layout.layer_names[group])
        if group in layout.weight_names:
            _put_names(node, "weight_names", layout.weight_names[group])
    for d in layout.datasets:
        _copy_dataset(h5, size, d, dest)


def _copy_attributes(source, node) -> None:
    for name, value in source.attrs.items():
        if name.rstrip("0123456789") in _NAME_LISTS:
            continue
        node.attrs[name] = value


def _put_names(node, name: str, names: List[str]) -> None:
    """A list of names as Keras's save_attributes_to_hdf5_group writes it: one array of UTF-8
    bytes (every Keras loader decodes bytes or takes text), split into ``name0``, ``name1``...
    when it would not fit an HDF5 object header."""
    import numpy as np

    data = np.asarray([n.encode("utf-8") for n in names]) if names else np.asarray([], dtype="S1")
    chunks = 1
    parts = np.array_split(data, chunks)
    while any(p.nbytes > _HDF5_OBJECT_HEADER_LIMIT for p in parts) and chunks < len(data):
        chunks += 1
        parts = np.array_split(data, chunks)
    if chunks > 1:
        for i, part in enumerate(parts):
            node.attrs[f"{name}{i}"] = part
    else:
        node.attrs[name] = data


def _copy_dataset(h5, size: int, d: _Dataset, dest) -> None:
    import numpy as np

    with hdf5.h5_errors(f"cannot read tensor {d.source!r}"):
        source = hdf5.dataset_at(h5, d.source)
        shape = hdf5.shape_of(source)
        stored = hdf5.dtype_name(source)
    if stored == "string":
        values = np.concatenate([c for c in hdf5.iter_values(h5, source, d.source, size, CHUNK)] or [np.empty(0, object)])
        dest.create_dataset(d.key, data=values.reshape(shape), dtype=_h5py().string_dtype())
        return
    dtype = _numpy(d.dtype) if d.dtype else hdf5.numpy_dtype(source)
    out = dest.create_dataset(d.key, shape=shape, dtype=dtype)
    for name, value in source.attrs.items():
        if not (d.dtype and name == "dtype"):  # Keras tags bfloat16 datasets; a cast one is not
            out.attrs[name] = value
    if d.dtype == "bfloat16":
        out.attrs["dtype"] = "bfloat16"
    done = 0
    for chunk in hdf5.iter_values(h5, source, d.source, size, CHUNK):  # bounded slabs, in C order
        if d.dtype:
            chunk = chunk.astype(dtype)
        for selection, start, stop in _slabs(shape, done, done + chunk.size):
            out[selection] = chunk[start - done:stop - done].reshape(_selected_shape(shape, selection))
        done += chunk.size
    if done != math.prod(shape):
        raise CheckpointError(f"tensor {d.source!r} gave {done} values for its shape {list(shape)}")


def _numpy(name: str):
    from tensorboard_plugin_ckptdiff.formats import dtypes

    found = dtypes.numpy_dtype(name)
    if found is None:
        raise CheckpointError(f"no numeric type holds {name} values")
    return found


def _slabs(shape, start: int, stop: int):
    """The values [start, stop) of an array of ``shape`` in C order, as (selection, start,
    stop) hyperslabs: a partial row, whole rows, a partial row."""
    if not shape:
        if start < stop:
            yield (), start, stop
        return
    inner = math.prod(shape[1:])
    if inner == 0 or start >= stop:
        return
    row, offset = divmod(start, inner)
    pos = start
    if offset:
        end = min(stop, (row + 1) * inner)
        for selection, a, b in _slabs(shape[1:], offset, end - row * inner):
            yield (row,) + selection, a + row * inner, b + row * inner
        pos, row = end, row + 1
    full = (stop - pos) // inner
    if full:
        yield (slice(row, row + full),), pos, pos + full * inner
        pos, row = pos + full * inner, row + full
    if pos < stop:
        for selection, a, b in _slabs(shape[1:], 0, stop - pos):
            yield (row,) + selection, a + pos, b + pos


def _selected_shape(shape, selection) -> Tuple[int, ...]:
    out = []
    for axis, sel in enumerate(selection):
        if isinstance(sel, slice):
            out.append(sel.stop - sel.start)
    return tuple(out) + tuple(shape[len(selection):])
