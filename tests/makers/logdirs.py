"""Whole TensorBoard logdirs as users leave them: runs with event files and checkpoints,
written by real TensorFlow/Keras, plus broken and half-written neighbours.

Each function takes a directory, writes into it (TF and Keras imported inside) and returns
what a test needs to name: paths relative to the logdir.
"""

from __future__ import annotations

import os
import shutil

import bundles


def _tf():
    return bundles._tf()


def write_events(run_dir: str, steps=(0, 1, 2)) -> None:
    """A scalar per step, so ``run_dir`` is a TensorBoard run."""
    tf = _tf()
    writer = tf.summary.create_file_writer(run_dir)
    with writer.as_default():
        for step in steps:
            tf.summary.scalar("loss", 1.0 / (step + 1), step=step)
    writer.close()


def manager_run(logdir: str, name: str = "manager", steps: int = 3) -> dict:
    """A TF2 CheckpointManager run: events in <name>/, checkpoints in <name>/ckpts/."""
    run = os.path.join(logdir, name)
    write_events(run)
    bundles.keras_tf2_checkpoint(os.path.join(run, "ckpts"), steps=steps)
    return {"run": name, "ids": [f"{name}/ckpts/ckpt-{k}" for k in range(1, steps + 1)]}


def tf1_run(logdir: str, name: str = "tf1") -> dict:
    """A TF1 Saver run: model.ckpt-3 with its .meta, and the graph in an event file."""
    tf = _tf()
    run = os.path.join(logdir, name)
    os.makedirs(run, exist_ok=True)
    bundles.tf1_saver_checkpoint(run, step=3)
    with tf.Graph().as_default() as graph:
        tf.constant(1.0, name="c")
        writer = tf.compat.v1.summary.FileWriter(run, graph)
        writer.close()
    return {"run": name, "ids": [f"{name}/model.ckpt-3"]}


def keras_run(logdir: str, name: str = "keras", epochs: int = 2) -> dict:
    """model.fit with the Keras TensorBoard callback (events in <name>/logs/train) and
    ModelCheckpoint writing <name>/ckpt/weights.NN.weights.h5 each epoch."""
    import keras
    import numpy as np

    root = os.path.join(logdir, name)
    model = bundles._small_keras_model()
    model.compile(optimizer="adam", loss="mse")
    callbacks = [
        keras.callbacks.TensorBoard(log_dir=os.path.join(root, "logs")),
        keras.callbacks.ModelCheckpoint(os.path.join(root, "ckpt", "weights.{epoch:02d}.weights.h5"),
                                        save_weights_only=True),
    ]
    x = np.linspace(0, 1, 32, dtype="float32").reshape(8, 4)
    y = np.zeros((8, 2), "float32")
    model.fit(x, y, epochs=epochs, batch_size=4, verbose=0, callbacks=callbacks)
    ids = [f"{name}/ckpt/weights.{e:02d}.weights.h5" for e in range(1, epochs + 1)]
    return {"run": f"{name}/ckpt", "train": f"{name}/logs/train", "ids": ids}


def seed_files(logdir: str, name: str = "seed") -> dict:
    """The seed article's cases in Keras 3 spelling: weights file, full .keras model, legacy
    .h5 model, sharded weights, and a safetensors file, in a checkpoint-only directory."""
    import keras
    import numpy as np
    from safetensors.numpy import save_file

    directory = os.path.join(logdir, name)
    os.makedirs(directory, exist_ok=True)
    model = keras.Sequential([
        keras.Input((10,)),
        keras.layers.Dense(64, activation="relu", name="dense_1"),
        keras.layers.Dense(10, activation="softmax", name="dense_output"),
    ])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.save_weights(os.path.join(directory, "model_save_weights.weights.h5"))
    model.save(os.path.join(directory, "model.keras"))
    model.save(os.path.join(directory, "legacy.h5"))
    model.save_weights(os.path.join(directory, "sharded.weights.json"), max_shard_size=0.000002)
    save_file({"dense/kernel": np.ones((10, 64), "float32")}, os.path.join(directory, "tiny.safetensors"))
    ids = [f"{name}/{f}" for f in ("model_save_weights.weights.h5", "model.keras", "legacy.h5",
                                    "sharded.weights.json", "tiny.safetensors")]
    return {"run": name, "ids": ids}


def saved_model_run(logdir: str, name: str = "export") -> dict:
    bundles.module_saved_model(os.path.join(logdir, name))
    return {"run": name, "ids": [f"{name}/module_sm"]}


def copy_bundle(src_prefix: str, dst_prefix: str, skip_data: bool = False) -> None:
    """A copy of a bundle under another prefix (a new checkpoint appearing, or without its
    data shards: one still being written)."""
    directory = os.path.dirname(src_prefix)
    base = os.path.basename(src_prefix)
    for name in os.listdir(directory):
        if name.startswith(base + ".") and not (skip_data and ".data-" in name):
            shutil.copyfile(os.path.join(directory, name),
                            os.path.join(os.path.dirname(dst_prefix), os.path.basename(dst_prefix) + name[len(base):]))


def broken_files(logdir: str, bundle_prefix: str, name: str = "broken") -> dict:
    """Corrupted copies of real files and writers' temp files, in a checkpoint-only dir."""
    directory = os.path.join(logdir, name)
    os.makedirs(directory, exist_ok=True)
    copy_bundle(bundle_prefix, os.path.join(directory, "truncated"))
    index = os.path.join(directory, "truncated.index")
    with open(index, "r+b") as f:
        f.truncate(os.path.getsize(index) // 2)
    copy_bundle(bundle_prefix, os.path.join(directory, "writing"), skip_data=True)
    with open(os.path.join(directory, "notes.weights.h5"), "w") as f:
        f.write("not an hdf5 file")
    # Temp names writers use while saving: none of these is a checkpoint.
    open(os.path.join(directory, "checkpoint.tempstate8812"), "w").close()
    os.makedirs(os.path.join(directory, "ckpt-10_temp"), exist_ok=True)
    copy_bundle(bundle_prefix, os.path.join(directory, "ckpt-10_temp", "part-00000-of-00001"))
    return {"run": name, "truncated": f"{name}/truncated", "writing": f"{name}/writing",
            "not_hdf5": f"{name}/notes.weights.h5"}


def tensorboard_app(*argv: str):
    """The real TensorBoard WSGI app with this plugin and a real data provider, from
    command-line flags as `tensorboard` would parse them (e.g. "--logdir", path)."""
    from tensorboard import program
    from tensorboard.backend import application
    from tensorboard.backend.event_processing import data_ingester
    from tensorboard.plugins.core import core_plugin

    from tensorboard_plugin_ckptdiff.plugin import CheckpointDiffPlugin

    plugins = [core_plugin.CorePluginLoader(), CheckpointDiffPlugin]
    tb = program.TensorBoard(plugins=plugins)
    tb.configure(["tensorboard", "--reload_interval", "0", "--reload_task", "blocking", *argv])
    ingester = data_ingester.LocalDataIngester(tb.flags)
    ingester.start()
    return application.TensorBoardWSGIApp(tb.flags, plugins, ingester.data_provider)
