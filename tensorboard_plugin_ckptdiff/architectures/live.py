"""The architecture of a live model (Keras 3, tf-keras or tf.Module), with every loader's key.

Each key is computed with the loader's own traversal, not guessed from names: TF's object
graph view for object paths, Keras 3's saving walk for ``.weights.h5`` slots, tf-keras's
weighted-layer order for legacy ``.h5`` files. TF and Keras are imported here only.
"""

from __future__ import annotations

import collections
from typing import Dict, List, Optional, Tuple

from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.architectures import size_of

KERAS3 = "keras3"
TF_KERAS = "tf_keras"
TF_MODULE = "tf_module"
TRANSFORMERS = "transformers"  # a TFPreTrainedModel: tf-keras underneath, loaded by from_pretrained

def from_model(model, id: str = "live", run: Optional[str] = None) -> records.Architecture:
    """The variables ``model`` expects, weights first, then its built optimizer's state."""
    framework = framework_of(model)
    if framework == KERAS3:
        variables = _keras3_variables(model)
    elif framework == TF_KERAS:
        variables = _tf_keras_variables(model)
    elif framework == TRANSFORMERS:
        variables = _transformers_variables(model)
    else:
        variables = _module_variables(model)
    return records.Architecture(
        id=id, source="live_model", run=run, variables=tuple(variables), framework=framework)


def framework_of(model) -> str:
    # By the packages the class comes from, so a tf.Module never imports Keras.
    roots = {cls.__module__.split(".", 1)[0] for cls in type(model).__mro__}
    from tensorboard_plugin_ckptdiff.diff import from_pretrained

    if "transformers" in roots and from_pretrained.is_transformers_model(model):
        return TRANSFORMERS
    if "tf_keras" in roots:
        return TF_KERAS
    if "keras" in roots:
        return KERAS3
    return TF_MODULE


# --- shared ---------------------------------------------------------------------------


def _dtype_name(dtype) -> str:
    if isinstance(dtype, str):
        name = dtype
    else:
        import tensorflow as tf

        name = tf.as_dtype(dtype).name
    return {"half": "float16", "float": "float32", "double": "float64"}.get(name, name)


def _shape(shape) -> records.Shape:
    if shape is None:
        return None
    dims = shape.as_list() if hasattr(shape, "as_list") else list(shape)
    return tuple(None if d is None else int(d) for d in dims)


def _optimizer_variables(optimizer) -> list:
    if optimizer is None or isinstance(optimizer, str):
        return []
    found = getattr(optimizer, "variables", None)
    if callable(found):  # tf-keras legacy optimizers expose a method
        found = found()
    return list(found or [])


def object_paths(root, variables) -> Dict[int, str]:
    """id(variable) -> path from ``root`` in TF's trackable graph.

    The model's own path is preferred over one through its optimizer: a Keras 3 optimizer
    also holds every trainable variable (``optimizer/_trainable_variables/N``), but a
    checkpoint written before the optimizer was built has only the model's path.
    """
    try:
        from tensorflow.python.checkpoint import graph_view
        from tensorflow.python.trackable import trackable_utils
    except ImportError:
        return {}
    view = graph_view.ObjectGraphView(root)
    optimizers = {id(o) for o in _optimizer_objects(root)}
    own = _breadth_first(view, root, skip=optimizers)
    every = _breadth_first(view, root, skip=set())
    out = {}
    for var in variables:
        for candidate in (var, getattr(var, "value", None), getattr(var, "_value", None)):
            if candidate is None:
                continue
            path = own.get(id(candidate)) or every.get(id(candidate))
            if path:
                out[id(var)] = "/".join(trackable_utils.escape_local_name(p) for p in path)
                break
    return out


def _optimizer_objects(root) -> list:
    optimizer = getattr(root, "optimizer", None)
    return [] if optimizer is None or isinstance(optimizer, str) else [optimizer]


def _breadth_first(view, root, skip) -> Dict[int, Tuple[str, ...]]:
    """The same traversal as TF's ``ObjectGraphView.breadth_first_traversal``, with
    some objects left out; first reached is shortest."""
    paths = {id(root): ()}
    queue = collections.deque([root])
    keep = [root]  # ids are only unique while the objects live
    while queue:
        obj = queue.popleft()
        try:
            children = view.children(obj)
        except Exception:  # a broken child should not hide the rest of the model
            continue
        for name, child in children.items():
            if id(child) in paths or id(child) in skip:
                continue
            paths[id(child)] = paths[id(obj)] + (name,)
            keep.append(child)
            queue.append(child)
    return paths


def _variable(var, key, name, kind, paths, **fields) -> records.Variable:
    shape = _shape(var.shape)
    dtype = _dtype_name(var.dtype)
    return records.Variable(
        key=key, name=name, shape=shape, dtype=dtype, size_bytes=size_of(shape, dtype),
        kind=kind, object_path=paths.get(id(var)), **fields)


def _legacy_slots(model) -> Dict[int, Tuple[str, int, int]]:
    """id(variable) -> (layer name, index in the layer, weighted-layer index): the order a
    legacy ``.h5`` weights file is loaded in (tf-keras ``load_weights_from_hdf5_group``)."""
    out = {}
    position = 0
    for layer in getattr(model, "layers", ()):
        weights = list(layer.trainable_weights) + list(layer.non_trainable_weights)
        if not weights:
            continue
        for index, var in enumerate(weights):
            out.setdefault(id(var), (layer.name, index, position))
        position += 1
    return out


# --- Keras 3 -----------------------------------------------------------------------------


def _keras3_variables(model) -> List[records.Variable]:
    weights = list(model.weights)
    optimizer_vars = _optimizer_variables(getattr(model, "optimizer", None))
    slots = keras3_h5_slots(model)
    legacy = _legacy_slots(model)
    paths = object_paths(model, weights + optimizer_vars)
    out = []
    for var in weights:
        layer_path, index, owner = slots.get(id(var), (None, None, None))
        legacy_slot = legacy.get(id(var))
        out.append(_variable(
            var, var.path, var.path, records.WEIGHT, paths,
            layer=owner, full_name=records.strip_output_suffix(_backend_name(var)), layer_path=layer_path, index=index,
            layer_index=legacy_slot[2] if legacy_slot else None))
    for var in optimizer_vars:
        layer_path, index, _ = slots.get(id(var), (None, None, None))
        kind = records.METADATA if var.name in records.COUNTERS else records.OPTIMIZER
        out.append(_variable(
            var, var.path, var.path, kind, paths,
            full_name=records.strip_output_suffix(_backend_name(var)), layer_path=layer_path, index=index))
    return out


def _backend_name(var) -> str:
    # The TF variable behind a Keras 3 variable is named by its path; object-based
    # checkpoints record that name as full_name.
    value = getattr(var, "value", None)
    return getattr(value, "name", None) or var.path


def keras3_h5_slots(model) -> Dict[int, Tuple[str, int, Optional[str]]]:
    """id(variable) -> (h5 layer path, index, owner name), by Keras 3's own saving walk.

    Mirrors ``saving_lib._save_state``: the same attribute walk (Keras's ``_walk_saveable``),
    the same container naming (snake_case class name + counter), the same visited sets; each
    saveable's own variables are what its ``save_own_variables`` writes, in order.
    """
    from keras.src.saving import saving_lib
    from keras.src.saving.keras_saveable import KerasSaveable
    from keras.src.utils import naming

    slots: Dict[int, Tuple[str, int, Optional[str]]] = {}
    visited = set()

    def join(inner, child):
        return f"{inner}/{child}" if inner else child

    def save_state(saveable, inner):
        if id(saveable) in visited:
            return
        if hasattr(saveable, "save_own_variables"):
            owner = getattr(saveable, "name", None)
            for index, var in enumerate(_own_variables(saveable)):
                slots.setdefault(id(var), (inner, index, owner if isinstance(owner, str) else None))
        visited.add(id(saveable))
        for attr, child in saving_lib._walk_saveable(saveable):
            if isinstance(child, KerasSaveable):
                save_state(child, join(inner, attr))
            elif isinstance(child, (list, dict, tuple)):
                save_container(child, join(inner, attr), set())

    def save_container(container, inner, visited_containers):
        if id(container) in visited_containers:
            return
        visited_containers.add(id(container))
        used: Dict[str, int] = {}
        items = list(container.values()) if isinstance(container, dict) else container
        for item in items:
            if isinstance(item, KerasSaveable):
                name = saving_lib._get_unique_name(naming.to_snake_case(item.__class__.__name__), used)
                save_state(item, join(inner, name))
            elif isinstance(item, (list, dict, tuple)):
                name = saving_lib._get_unique_name("container", used)
                save_container(item, join(inner, name), visited_containers)

    save_state(model, "")
    return slots


def _own_variables(saveable) -> list:
    """The variables ``save_own_variables`` writes, in its order (store keys "0", "1"...)."""
    from keras.src.optimizers.base_optimizer import BaseOptimizer

    if isinstance(saveable, BaseOptimizer):
        # It stores ``variable.numpy()`` for each of these: asking it would copy every value.
        return list(saveable.variables)
    store = _RecordingStore()
    saveable.save_own_variables(store)
    own = list(getattr(saveable, "_trainable_variables", [])) + list(
        getattr(saveable, "_non_trainable_variables", []))
    out = []
    for value in store.values:
        var = next((v for v in own if v is value), None)
        if var is None:
            # Layers that override save_own_variables may store a tensor computed from a
            # variable (Dense merges a LoRA delta into its kernel): the variable it stands
            # for is the first one left with its shape.
            var = next((v for v in own if tuple(v.shape) == tuple(value.shape)
                        and all(v is not o for o in out)), None)
        if var is not None:
            out.append(var)
    return out


class _RecordingStore(dict):
    """Stands in for the h5 store: keeps what a layer writes, in order."""

    def __init__(self):
        super().__init__()
        self.values = []

    def __setitem__(self, key, value):
        self.values.append(value)


# --- tf-keras ------------------------------------------------------------------------------


def _tf_keras_variables(model) -> List[records.Variable]:
    weights = list(model.weights)
    optimizer_vars = _optimizer_variables(getattr(model, "optimizer", None))
    legacy = _legacy_slots(model)
    paths = object_paths(model, weights + optimizer_vars)
    out = []
    for var in weights:
        name = records.strip_output_suffix(var.name)
        layer, index, layer_index = legacy.get(id(var), (None, None, None))
        out.append(_variable(
            var, name, name, records.WEIGHT, paths, layer=layer, full_name=name,
            layer_path=layer, index=index, layer_index=layer_index))
    for var in optimizer_vars:
        name = records.strip_output_suffix(var.name)
        kind = records.METADATA if name.rsplit("/", 1)[-1] in records.COUNTERS else records.OPTIMIZER
        out.append(_variable(var, name, name, kind, paths, full_name=name))
    return out


def _transformers_variables(model) -> List[records.Variable]:
    """tf-keras variables, read as transformers names them (the model's own name dropped:
    ``bert/encoder/layer_._0/...``, as in its tf_model.h5 and safetensors); ``full_name`` keeps
    the TF name from_pretrained strips itself."""
    import dataclasses

    from tensorboard_plugin_ckptdiff.diff import from_pretrained

    return [dataclasses.replace(v, name=from_pretrained.display_name(v.full_name)) if v.kind == records.WEIGHT else v
            for v in _tf_keras_variables(model)]


# --- tf.Module -------------------------------------------------------------------------------


def _module_variables(module) -> List[records.Variable]:
    variables = list(module.variables)
    paths = object_paths(module, variables)
    names = [records.strip_output_suffix(v.name) for v in variables]
    counts = collections.Counter(names)
    out = []
    for var, name in zip(variables, names):
        # A plain tf.Variable is named "Variable" wherever it sits: two of them would share a
        # key, so a repeated name is keyed by its object path instead.
        key = name if counts[name] == 1 else (paths.get(id(var)) or name)
        kind = records.kind_of(name)
        out.append(_variable(var, key, name, kind, paths, full_name=name))
    return out
