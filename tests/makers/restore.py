"""Real loaders run on real files, reporting what they did: whether the restore finished and
which variables received saved values. The diff's verdicts are held against these.

A variable "received a saved value" when it no longer holds the sentinel it was filled with
just before the load. TF and Keras are imported inside the functions.
"""

from __future__ import annotations

import os
from typing import FrozenSet, NamedTuple, Optional, Sequence, Tuple

from tensorboard_plugin_ckptdiff import records

SENTINEL = 7


class Outcome(NamedTuple):
    ok: bool  # the loader finished without error (and, for tf.train.Checkpoint, matched every object)
    restored: FrozenSet[str]  # keys (variable paths / TF1 names) that received saved values
    error: Optional[str]


def dense_model(units: Sequence[int], names=None, dtype=None, input_dim=3, model_name="model"):
    """Keras 3 Sequential of Dense layers, built."""
    import keras

    layers = [keras.Input((input_dim,))]
    for i, n in enumerate(units):
        layers.append(keras.layers.Dense(n, name=names[i] if names else None, dtype=dtype))
    return keras.Sequential(layers, name=model_name)


def _fill(variables):
    import numpy as np

    for v in variables:
        v.assign(np.full(tuple(v.shape), SENTINEL, dtype=str(v.dtype) if isinstance(v.dtype, str) else v.dtype.name))


def _changed(variables, key) -> FrozenSet[str]:
    import numpy as np

    return frozenset(key(v) for v in variables if not np.all(np.asarray(v.numpy(), dtype="float64") == SENTINEL))


def _keras_key(v) -> str:
    # Keras 3 variables are keyed by path; tf-keras ones by name (as live.from_model keys them).
    path = getattr(v, "path", None)
    return path if path is not None else v.name[:-2] if v.name.endswith(":0") else v.name


def keras_load(model, path, **options) -> Outcome:
    """``model.load_weights(path)`` (Keras 3 .weights.h5 / .keras, or tf-keras legacy h5)."""
    _fill(model.weights)
    try:
        model.load_weights(path, **options)
        error = None
    except Exception as e:  # the loader's own failure is the observation
        error = f"{type(e).__name__}: {e}"
    return Outcome(error is None, _changed(model.weights, _keras_key), error)


def tf2_read(model, path) -> Outcome:
    """``tf.train.Checkpoint(model=model).read(path)`` and ``assert_existing_objects_matched``."""
    import tensorflow as tf

    _fill(model.weights)
    try:
        status = tf.train.Checkpoint(model=model).read(path)
        try:
            status.assert_existing_objects_matched()
        finally:
            # These pairs are built not to match: what stays unrestored is what the test reads,
            # so TensorFlow need not warn about it when the status is collected at exit.
            status.expect_partial()
        error = None
    except Exception as e:
        error = f"{type(e).__name__}: {e}"
    return Outcome(error is None, _changed(model.weights, _keras_key), error)


def tf2_write(model, directory) -> str:
    import tensorflow as tf

    return tf.train.Checkpoint(model=model).write(os.path.join(directory, "ckpt"))


# --- TF1 graphs --------------------------------------------------------------------------------


def tf1_layers(layers: Sequence[Tuple[str, Sequence[int]]], dtype="float32", seed=1, resource=None):
    """Variables ``scope/kernel`` and ``scope/bias`` per (scope, kernel shape), in the default
    graph, plus a global step. ``resource``: get_variable's use_resource (None: TF's default,
    resource variables under TF2 behaviour; False: ref variables, as after disable_v2_behavior)."""
    import tensorflow as tf

    for scope, shape in layers:
        with tf.compat.v1.variable_scope(scope):
            tf.compat.v1.get_variable("kernel", shape, dtype=dtype, use_resource=resource,
                                      initializer=tf.compat.v1.glorot_uniform_initializer(seed=seed))
            tf.compat.v1.get_variable("bias", shape[-1:], dtype=dtype, use_resource=resource,
                                      initializer=tf.compat.v1.random_uniform_initializer(seed=seed))
    tf.compat.v1.train.get_or_create_global_step()


def tf1_save(layers, prefix, dtype="float32", resource=None) -> str:
    """A TF1 Saver checkpoint of ``tf1_layers(layers)``; returns its prefix."""
    import tensorflow as tf

    with tf.Graph().as_default():
        tf1_layers(layers, dtype, resource=resource)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            return tf.compat.v1.train.Saver().save(sess, prefix)


def tf1_architecture(layers, dtype="float32", resource=None):
    """The Architecture of ``tf1_layers(layers)`` from its MetaGraphDef, as a TF1 run would log it."""
    import tensorflow as tf

    from tensorboard_plugin_ckptdiff.architectures import meta_graph

    with tf.Graph().as_default():
        tf1_layers(layers, dtype, resource=resource)
        return meta_graph.from_meta_graph(tf.compat.v1.train.export_meta_graph(), id="tf1_graph")


def tf1_restore(layers, path, dtype="float32", resource=None) -> Outcome:
    """Build ``layers`` in a fresh graph, fill it with the sentinel, restore with a Saver over
    every global variable."""
    import tensorflow as tf

    with tf.Graph().as_default():
        tf1_layers(layers, dtype, resource=resource)
        variables = tf.compat.v1.global_variables()
        error = None
        with tf.compat.v1.Session() as sess:
            sess.run([v.assign(tf.fill(tf.shape(v), tf.cast(SENTINEL, v.dtype.base_dtype))) for v in variables])
            try:
                tf.compat.v1.train.Saver().restore(sess, path)
            except Exception as e:
                error = f"{type(e).__name__}: {e}"
            values = sess.run(variables)
    restored = frozenset(v.op.name for v, x in zip(variables, values) if not (x == SENTINEL).all())
    return Outcome(error is None, restored, error)


def tf1_layers_of(spec, input_dim=3):
    """A random spec's dense layers as tf1_layers' (scope, kernel shape) pairs, each taking the
    last one's width (a nested block's under its own scope); batch norm and dropout have no
    variables of this kind here and are left out."""
    layers, width = [], input_dim
    for block in spec["blocks"]:
        denses = [(block[1], block[2])] if block[0] == "dense" else (
            [(units, f"{block[2]}/{name}") for _, units, name in block[1]] if block[0] == "block" else [])
        for units, scope in denses:
            layers.append((scope, (width, units)))
            width = units
    return layers


def tf1_case(spec, edited, directory, resource):
    """A TF1 Saver checkpoint of ``spec``'s graph restored into ``edited``'s: (the diff of the
    edited graph's architecture against it, the real Saver's outcome)."""
    from tensorboard_plugin_ckptdiff import api

    saved, loaded = tf1_layers_of(spec), tf1_layers_of(edited)
    path = tf1_save(saved, os.path.join(directory, "model.ckpt"), spec["dtype"], resource=resource)
    report = api.compare(tf1_architecture(loaded, edited["dtype"], resource=resource), path)
    return report, tf1_restore(loaded, path, edited["dtype"], resource=resource)


def tf1_initialized_by(layers, code: str, dtype="float32"):
    """{name: value} after building ``layers`` in a fresh graph, running ``code`` (a pasted
    init_from_checkpoint snippet) and then the initializer, as the snippet says to."""
    import tensorflow as tf

    with tf.Graph().as_default():
        tf1_layers(layers, dtype)
        exec(compile(code, "<snippet>", "exec"), {})
        variables = tf.compat.v1.global_variables()
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            return dict(zip((v.op.name for v in variables), sess.run(variables)))


def tf1_values(path):
    """{name: value} of a TF1 checkpoint, read by TF's own reader."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


# --- random tiny models and random edits (the randomized agreement test and its benchmark) ---------

EDITS = ("none", "insert", "delete", "resize", "rename", "swap", "dtype")


def random_spec(rng, max_blocks=4):
    """A tiny model as data: a list of blocks, each ("dense", units, name), ("bn", name),
    ("dropout", name) or ("block", [dense blocks], name) for a nested Sequential."""
    blocks = []
    for i in range(rng.randint(1, max_blocks)):
        blocks.append(_random_block(rng, f"l{i}"))
    return {"blocks": blocks, "dtype": "float32", "next": len(blocks)}


def _random_block(rng, name):
    kind = rng.choice(("dense", "dense", "bn", "dropout", "block"))
    if kind == "dense":
        return ("dense", rng.randint(1, 4), name)
    if kind == "block":
        return ("block", [("dense", rng.randint(1, 4), f"{name}_{j}") for j in range(rng.randint(1, 2))], name)
    return (kind, name)


def random_edit(spec, rng, edit=None):
    """(edit name, edited copy of ``spec``)."""
    import copy

    spec = copy.deepcopy(spec)
    blocks = spec["blocks"]
    edit = edit or rng.choice(EDITS)
    denses = [(i, None) for i, b in enumerate(blocks) if b[0] == "dense"] + [
        (i, j) for i, b in enumerate(blocks) if b[0] == "block" for j in range(len(b[1]))]
    if edit == "insert":
        blocks.insert(rng.randint(0, len(blocks)), _random_block(rng, f"l{spec['next']}"))
        spec["next"] += 1
    elif edit == "delete" and len(blocks) > 1:
        blocks.pop(rng.randrange(len(blocks)))
    elif edit == "resize" and denses:
        i, j = rng.choice(denses)
        if j is None:
            blocks[i] = ("dense", blocks[i][1] + rng.randint(1, 3), blocks[i][2])
        else:
            inner = blocks[i][1]
            inner[j] = ("dense", inner[j][1] + rng.randint(1, 3), inner[j][2])
    elif edit == "rename":
        i = rng.randrange(len(blocks))
        blocks[i] = blocks[i][:-1] + (blocks[i][-1] + "_renamed",)
    elif edit == "swap" and len(blocks) > 1:
        i = rng.randrange(len(blocks) - 1)
        blocks[i], blocks[i + 1] = blocks[i + 1], blocks[i]
    elif edit == "dtype":
        spec["dtype"] = "float16"
    else:
        edit = "none"
    return edit, spec


def build(spec, input_dim=3, framework="keras"):
    """The model a spec describes, built with Keras 3 (``framework="keras"``) or tf-keras."""
    import importlib

    keras = importlib.import_module(framework)

    def layer(block, dtype):
        if block[0] == "dense":
            return keras.layers.Dense(block[1], name=block[2], dtype=dtype)
        if block[0] == "bn":
            return keras.layers.BatchNormalization(name=block[1], dtype=dtype)
        if block[0] == "dropout":
            return keras.layers.Dropout(0.5, name=block[1], dtype=dtype)
        return keras.Sequential([layer(b, dtype) for b in block[1]], name=block[2])

    return keras.Sequential([keras.Input((input_dim,))] + [layer(b, spec["dtype"]) for b in spec["blocks"]],
                            name="model")


def _write_weights_h5(model, directory):
    path = os.path.join(directory, "model.weights.h5")
    model.save_weights(path)
    return path


def _write_keras_archive(model, directory):
    path = os.path.join(directory, "model.keras")
    model.save(path)
    return path


def _write_legacy_h5(model, directory):
    path = os.path.join(directory, "model.h5")
    model.save_weights(path)  # tf-keras: the legacy weights file, loaded by weighted-layer order
    return path


def _write_tf_keras_checkpoint(model, directory):
    prefix = os.path.join(directory, "ckpt")
    model.save_weights(prefix)  # tf-keras without .h5: a TF object-based checkpoint of the model
    return prefix


def tf_keras_checkpoint_load(model, path) -> Outcome:
    """tf-keras ``load_weights`` of a TF-format checkpoint (object-based, from the model's root).
    It finishes leaving the weights the file lacks as they were, so ``ok`` also needs every
    weight to have received a saved value, as ``restorable`` does (API.md)."""
    outcome = keras_load(model, path)
    return outcome._replace(ok=outcome.ok and frozenset(map(_keras_key, model.weights)) <= outcome.restored)


# Each format: (framework the models are built with, write(model, directory) -> path,
# the real loader(model, path) -> Outcome).
FORMATS = {
    "keras_weights_h5": ("keras", _write_weights_h5, keras_load),
    "keras_archive": ("keras", _write_keras_archive, keras_load),
    "keras_legacy_h5": ("tf_keras", _write_legacy_h5, keras_load),
    "tf_bundle": ("keras", tf2_write, tf2_read),
    "tf_keras_checkpoint": ("tf_keras", _write_tf_keras_checkpoint, tf_keras_checkpoint_load),
}


def tf1_restored_values(build, path):
    """{name: value} of every global variable after ``build()`` (which makes a graph's variables)
    and a TF1 Saver restore from ``path`` in a fresh graph; the Saver's own error if it fails."""
    import tensorflow as tf

    with tf.Graph().as_default():
        build()
        variables = tf.compat.v1.global_variables()
        with tf.compat.v1.Session() as sess:
            tf.compat.v1.train.Saver().restore(sess, path)
            return dict(zip((v.op.name for v in variables), sess.run(variables)))


# --- holding a report against what the loader did


def predicted(report) -> frozenset:
    """Keys of the base weights the report says would receive saved values."""
    return frozenset(e.base.key for e in report.entries
                     if e.base is not None and e.base.kind == records.WEIGHT and e.restored)


def assert_agrees(report, outcome):
    """The verdict, and every weight's ``restored``, whether the load finished or raised; except
    a restore stopped by an assignment it refused (tf.train.Checkpoint; the TF1 Saver at a ref
    variable's shape), which stops in no promised order: the report counts none of it restored
    (see restored.py)."""
    assert report.restorable == outcome.ok, (report.verdict, outcome.error)
    paired = [e for e in report.entries if e.base is not None and e.target is not None]
    refused = any(e.status in (records.SHAPE_MISMATCH, records.DTYPE_MISMATCH) for e in paired)
    shape_refused = any(e.status == records.SHAPE_MISMATCH and not e.restored for e in paired)
    if report.mode == "object_path" and refused or report.mode == "name" and not outcome.ok and shape_refused:
        assert predicted(report) == frozenset()
    else:
        # The weights: a TF1 restore observes every global variable, global_step included.
        state = frozenset(e.base.key for e in report.entries if e.base is not None and e.base.kind != records.WEIGHT)
        assert predicted(report) == outcome.restored - state, (report.verdict, outcome.error)
