"""Real TensorBoard runs with real checkpoints: the seed's three cases and a few more.

Each function writes ``<directory>/train`` (event files, with an architecture summary the
dashboard can diff against) and ``<directory>/ckpt`` (checkpoints written by the real
writer) and returns a MadeRun. Models are tiny and seeded; TF and Keras are imported inside.
"""

from __future__ import annotations

import os
from typing import List, NamedTuple


class MadeRun(NamedTuple):
    train: str  # the TensorBoard run: event files
    ckpt: str  # the checkpoints beside it
    checkpoints: List[str]  # what a loader is pointed at: files or bundle prefixes


def _dirs(directory):
    train, ckpt = os.path.join(directory, "train"), os.path.join(directory, "ckpt")
    os.makedirs(train, exist_ok=True)
    os.makedirs(ckpt, exist_ok=True)
    return train, ckpt


def _seed():
    import keras

    keras.utils.set_random_seed(0)


def write_model_spec(run_dir, model, step=0):
    """This package's model_spec summary of ``model`` into the run ``run_dir``."""
    import tensorflow as tf

    from tensorboard_plugin_ckptdiff import summary

    writer = tf.summary.create_file_writer(run_dir)
    with writer.as_default():
        summary.model_spec(model, step=step)
    writer.close()


def write_keras_config(run_dir, model, step=0):
    """The Keras config summary exactly as keras.callbacks.TensorBoard writes it (tag keras)."""
    import tensorflow as tf
    from keras.src.callbacks.tensorboard import keras_model_summary

    writer = tf.summary.create_file_writer(run_dir)
    with writer.as_default():
        keras_model_summary("keras", model, step=step)
    writer.close()


def _dense_stack(units, name, input_dim=10, dtype=None):
    import keras

    layers = [keras.Input((input_dim,), name="features")]
    for i, n in enumerate(units):
        layers.append(keras.layers.Dense(n, activation="relu" if i < len(units) - 1 else None,
                                         name=f"dense_{i}" if i else "dense", dtype=dtype))
    return keras.Sequential(layers, name=name)


# --- (a) layer added after saving -----------------------------------------------------------


def added_layer(directory) -> MadeRun:
    """Keras 3: weights saved from Dense(64)-Dense(10); the run's model has Dense(32) between.

    Keras 3 pairs ``.weights.h5`` by layer slot, so everything after the new layer shifts.
    """
    _seed()
    train, ckpt = _dirs(directory)
    saved = _dense_stack([64, 10], name="classifier")
    path = os.path.join(ckpt, "model.weights.h5")
    saved.save_weights(path)
    current = _dense_stack([64, 32, 10], name="classifier")
    write_model_spec(train, current)
    write_keras_config(train, current)
    return MadeRun(train, ckpt, [path])


# --- (b) layer renamed ----------------------------------------------------------------------


def _tf1_dense(scope, shape):
    import tensorflow as tf

    with tf.compat.v1.variable_scope(scope):
        kernel = tf.compat.v1.get_variable("kernel", shape, initializer=tf.compat.v1.glorot_uniform_initializer(seed=1))
        bias = tf.compat.v1.get_variable("bias", shape[-1:], initializer=tf.compat.v1.zeros_initializer())
    return kernel, bias


def renamed_layer_tf1(directory) -> MadeRun:
    """TF1 Saver checkpoint with scope ``dense_1``; the run graph calls it ``incorrect_name``.

    A name-based Saver looks variables up by name: every variable of the scope is missing.
    """
    import tensorflow as tf

    train, ckpt = _dirs(directory)
    prefix = os.path.join(ckpt, "model.ckpt")
    for scope, save in (("dense_1", True), ("incorrect_name", False)):
        with tf.Graph().as_default() as graph:
            _tf1_dense(scope, [10, 64])
            _tf1_dense("dense_output", [64, 10])
            tf.compat.v1.train.get_or_create_global_step()
            with tf.compat.v1.Session() as sess:
                sess.run(tf.compat.v1.global_variables_initializer())
                if save:
                    path = tf.compat.v1.train.Saver().save(sess, prefix, global_step=0)
                else:
                    writer = tf.compat.v1.summary.FileWriter(train, graph)
                    writer.close()
    return MadeRun(train, ckpt, [path])


def renamed_layer_keras(directory) -> MadeRun:
    """Keras 3 ``.weights.h5`` saved with a Dense named dense_1; the run's is incorrect_name.

    Keras 3 pairs by layer slot (``layers/dense``), not by name: this one restores.
    """
    import keras

    _seed()
    train, ckpt = _dirs(directory)
    models = {}
    for name in ("dense_1", "incorrect_name"):
        models[name] = keras.Sequential([
            keras.Input((10,)),
            keras.layers.Dense(64, activation="relu", name=name),
            keras.layers.Dense(10, name="dense_output"),
        ], name="classifier")
    path = os.path.join(ckpt, "model.weights.h5")
    models["dense_1"].save_weights(path)
    write_model_spec(train, models["incorrect_name"])
    write_keras_config(train, models["incorrect_name"])
    return MadeRun(train, ckpt, [path])


# --- (c) dtype changed ---------------------------------------------------------------------


def dtype_change(directory) -> MadeRun:
    """A TF2 object-based checkpoint of a float16 model; the run's model is float32.

    TF's RestoreV2 refuses a dtype change (Keras 3 ``load_weights`` would cast silently).
    """
    import tensorflow as tf

    _seed()
    train, ckpt = _dirs(directory)
    saved = _dense_stack([64], name="regressor", dtype="float16")
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=saved), ckpt, max_to_keep=1)
    path = manager.save(checkpoint_number=1)
    current = _dense_stack([64], name="regressor", dtype="float32")
    write_model_spec(train, current)
    return MadeRun(train, ckpt, [path])


# --- (d) multi-step TF2 run with optimizer state --------------------------------------------


def tf2_training(directory, steps=3) -> MadeRun:
    """A compiled Keras 3 model trained for ``steps`` steps, saved after each with a
    CheckpointManager (model and optimizer): object-based bundles with optimizer slots."""
    import numpy as np
    import tensorflow as tf

    _seed()
    train, ckpt = _dirs(directory)
    model = _dense_stack([16, 4], name="tf2_model")
    model.compile(optimizer="adam", loss="mse")
    x = np.linspace(0, 1, 8 * 10, dtype="float32").reshape(8, 10)
    y = np.linspace(1, 0, 8 * 4, dtype="float32").reshape(8, 4)
    model.train_on_batch(x, y)  # builds the optimizer, so the spec carries its slots
    write_model_spec(train, model, step=1)
    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(model=model, optimizer=model.optimizer), ckpt, max_to_keep=steps)
    paths = [manager.save(checkpoint_number=1)]
    for step in range(2, steps + 1):
        model.train_on_batch(x, y)
        paths.append(manager.save(checkpoint_number=step))
    return MadeRun(train, ckpt, paths)


# --- (e) TF1 Saver run with .meta and a run graph -------------------------------------------


def tf1_saver(directory, steps=2) -> MadeRun:
    """A TF1 graph (a partitioned embedding, a dense layer, Adam, global_step) trained with a
    name-based Saver: ``.meta`` files beside the bundles, the graph and the meta graph in
    the run. Local (metric) variables exist in the graph but are never saved."""
    import numpy as np
    import tensorflow as tf

    from tensorboard_plugin_ckptdiff import summary

    train, ckpt = _dirs(directory)
    with tf.Graph().as_default() as graph:
        tf.compat.v1.set_random_seed(0)
        ids = tf.compat.v1.placeholder(tf.int32, [None], name="ids")
        target = tf.compat.v1.placeholder(tf.float32, [None, 4], name="target")
        embedding = tf.compat.v1.get_variable(
            "embedding", [12, 8], partitioner=tf.compat.v1.fixed_size_partitioner(3),
            initializer=tf.compat.v1.random_normal_initializer(seed=2))
        hidden = tf.nn.embedding_lookup(embedding, ids)
        kernel, bias = _tf1_dense("dense", [8, 4])
        logits = tf.matmul(hidden, kernel) + bias
        loss = tf.reduce_mean(tf.square(logits - target))
        global_step = tf.compat.v1.train.get_or_create_global_step()
        train_op = tf.compat.v1.train.AdamOptimizer(0.01).minimize(loss, global_step=global_step)
        _, update_mean = tf.compat.v1.metrics.mean(loss)  # a local variable: never saved
        saver = tf.compat.v1.train.Saver(max_to_keep=steps)
        feed = {ids: np.arange(6) % 12, target: np.ones((6, 4), "float32")}
        writer = tf.compat.v1.summary.FileWriter(train, graph)
        writer.add_summary(summary.meta_graph_pb(saver.export_meta_graph()).SerializeToString(), 0)
        paths = []
        with tf.compat.v1.Session() as sess:
            sess.run([tf.compat.v1.global_variables_initializer(), tf.compat.v1.local_variables_initializer()])
            for _ in range(steps):
                # global_step read in its own run: fetched beside train_op, TF may read it
                # before or after the increment, so two saves could share a step (and one
                # file), leaving a run one checkpoint short now and then.
                sess.run([train_op, update_mean], feed)
                step = sess.run(global_step)
                paths.append(saver.save(sess, os.path.join(ckpt, "model.ckpt"), global_step=int(step)))
        writer.close()
    return MadeRun(train, ckpt, paths)


# --- (f) fine-tuning: a new head -----------------------------------------------------------


def _conv_net(classes, name):
    import keras

    return keras.Sequential([
        keras.Input((16, 16, 3), name="image"),
        keras.layers.Conv2D(8, 3, activation="relu", name="conv"),
        keras.layers.BatchNormalization(name="bn"),
        keras.layers.GlobalAveragePooling2D(name="pool"),
        keras.layers.Dense(classes, name="head"),
    ], name=name)


def fine_tuning(directory) -> MadeRun:
    """A small conv net saved with a 1000-class head; the run fine-tunes it with 10 classes.

    Every layer but the head matches: the head is a shape mismatch, to skip on load.
    """
    _seed()
    train, ckpt = _dirs(directory)
    pretrained = _conv_net(1000, name="convnet")
    path = os.path.join(ckpt, "pretrained.weights.h5")
    pretrained.save_weights(path)
    write_model_spec(train, _conv_net(10, name="convnet"))
    return MadeRun(train, ckpt, [path])


# --- (g) a Keras fit with the TensorBoard callback, ModelCheckpoint and ModelSpecCallback ----


def keras_fit(directory, epochs=2) -> MadeRun:
    """``fit`` with keras.callbacks.TensorBoard(write_graph=True), ModelCheckpoint and this
    package's ModelSpecCallback: events in ``exp/train``, ``.weights.h5`` files in ``exp/ckpt``."""
    import keras
    import numpy as np

    from tensorboard_plugin_ckptdiff.keras import ModelSpecCallback

    _seed()
    ckpt = os.path.join(directory, "ckpt")
    os.makedirs(ckpt, exist_ok=True)
    model = _dense_stack([16, 3], name="keras_fit")
    model.compile(optimizer="adam", loss="mse")
    x = np.linspace(-1, 1, 16 * 10, dtype="float32").reshape(16, 10)
    y = np.linspace(0, 1, 16 * 3, dtype="float32").reshape(16, 3)
    pattern = os.path.join(ckpt, "model-{epoch:02d}.weights.h5")
    model.fit(x, y, epochs=epochs, batch_size=8, verbose=0, callbacks=[
        keras.callbacks.TensorBoard(log_dir=directory, write_graph=True),
        keras.callbacks.ModelCheckpoint(pattern, save_weights_only=True),
        ModelSpecCallback(directory),
    ])
    paths = [pattern.format(epoch=e) for e in range(1, epochs + 1)]
    return MadeRun(os.path.join(directory, "train"), ckpt, paths)


ALL = {
    "added_layer": added_layer,
    "renamed_layer_tf1": renamed_layer_tf1,
    "renamed_layer_keras": renamed_layer_keras,
    "dtype_change": dtype_change,
    "tf2_training": tf2_training,
    "tf1_saver": tf1_saver,
    "fine_tuning": fine_tuning,
    "keras_fit": keras_fit,
}
