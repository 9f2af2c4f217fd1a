"""Whole TensorBoard logdirs as users leave them: runs with event files and checkpoints,
written by real TensorFlow/Keras, plus broken and half-written neighbours.

Each function takes a directory, writes into it (TF and Keras imported inside) and returns
what a test needs to name: paths relative to the logdir.
"""

from __future__ import annotations

import os
import shutil

from makers import runs


def training_logdir(logdir: str) -> dict:
    """Every case of the runs maker (seed cases, a TF1 Saver run with .meta, a multi-step
    CheckpointManager run, a Keras fit with the TensorBoard callback and ModelCheckpoint),
    each under <logdir>/<case>/{train,ckpt}, plus the other formats and broken files."""
    made = {name: write(os.path.join(logdir, name)) for name, write in runs.ALL.items()}
    seed = seed_files(logdir)
    saved = saved_model(logdir)
    broken = broken_files(logdir, made["tf2_training"].checkpoints[0])
    return {"runs": made, "seed": seed, "saved_model": saved, "broken": broken}


def rel(logdir: str, path: str) -> str:
    """A path as the plugin names it: relative to the logdir, '/'-separated."""
    return os.path.relpath(path, logdir).replace(os.sep, "/")


def write_events(run_dir: str, steps=(0, 1, 2)) -> None:
    """A scalar per step, so ``run_dir`` is a TensorBoard run."""
    import tensorflow as tf

    writer = tf.summary.create_file_writer(run_dir)
    with writer.as_default():
        for step in steps:
            tf.summary.scalar("loss", 1.0 / (step + 1), step=step)
    writer.close()


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
    model.save_weights(os.path.join(directory, "sharded.weights.json"), max_shard_size=0.000003)
    save_file({"dense/kernel": np.ones((10, 64), "float32")}, os.path.join(directory, "tiny.safetensors"))
    ids = [f"{name}/{f}" for f in ("model_save_weights.weights.h5", "model.keras", "legacy.h5",
                                    "sharded.weights.json", "tiny.safetensors")]
    return {"run": name, "ids": ids}


def saved_model(logdir: str, name: str = "export") -> dict:
    """tf.saved_model.save of a small tf.Module into <name>/1 (a serving layout)."""
    import tensorflow as tf

    module = tf.Module()
    module.w = tf.Variable([[1.0, 2.0], [3.0, 4.0]], name="w")
    module.f = tf.function(lambda x: tf.matmul(x, module.w),
                           input_signature=[tf.TensorSpec((None, 2), tf.float32)])
    tf.saved_model.save(module, os.path.join(logdir, name, "1"))
    return {"run": name, "ids": [f"{name}/1"]}


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


PLUGIN_ROUTES = "/data/plugin/ckptdiff/"


def get_route(client, route: str, **args):
    """(status, decoded JSON) of one plugin route through a werkzeug test client."""
    import json

    response = client.get(PLUGIN_ROUTES + route, query_string=args)
    return response.status_code, json.loads(response.get_data())
