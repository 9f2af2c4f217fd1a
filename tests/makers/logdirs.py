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


def stop_reloading(timeout: float = 60) -> None:
    """Stop TensorBoard's "Reloader" daemon threads (``--reload_task thread``) and wait for them.

    TensorBoard gives that thread no way to stop. Left running, it is torn down at interpreter
    exit, possibly inside TensorFlow's C++ file-system code, whose catch-all swallows the
    thread's forced unwind: glibc aborts the process ("FATAL: exception not rethrown", exit 134)
    after every test passed. SystemExit raised in the thread ends its loop at the next bytecode
    (within one reload interval); threading ignores SystemExit in a thread."""
    import ctypes
    import threading

    reloaders = [t for t in threading.enumerate() if t.name == "Reloader" and t.is_alive()]
    for thread in reloaders:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(SystemExit))
    for thread in reloaders:
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError("TensorBoard's reload thread did not stop")


def plugin_of(app):
    """The Checkpoint Diff plugin inside an app tensorboard_app() made."""
    return next(p for p in app._plugins if p.plugin_name == "ckptdiff")


PLUGIN_ROUTES = "/data/plugin/ckptdiff/"


def get_route(client, route: str, **args):
    """(status, decoded JSON) of one plugin route through a werkzeug test client."""
    import json

    response = client.get(PLUGIN_ROUTES + route, query_string=args)
    return response.status_code, json.loads(response.get_data())


def settled(ask, seconds: float = 120.0) -> dict:
    """The /runs body ``ask()`` returns once it says ``scanning: false``: the walk has ended
    and every checkpoint it found has been read (until then plausible ones are "pending")."""
    import time

    deadline = time.monotonic() + seconds
    body = ask()
    while body["scanning"] and time.monotonic() < deadline:
        time.sleep(0.05)
        body = ask()
    assert not body["scanning"], "the plugin never finished reading the logdir"
    return body


def settled_runs(client, seconds: float = 120.0) -> dict:
    """/runs through a werkzeug test client, once settled (see settled())."""
    def ask():
        status, body = get_route(client, "runs")
        assert status == 200, body
        return body

    return settled(ask, seconds)


DEMO_LOGS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "demo_logs")
LONG = "sweep_lr=3e-4_batch=512_warmup=10000_label_smoothing=0.1_seed=20251129_with_a_name_nobody_shortened"


def corrupt_checkpoints(directory: str, bundle_prefix: str) -> dict:
    """Files whose first bytes look right and whose metadata is wrong, so only a read tells:
    an index with a flipped byte (a block CRC fails), an index whose footer points 1 TiB into
    the file, a safetensors header that claims 2^40 bytes, an empty .keras archive. Returns
    {what: file name}."""
    import struct

    from tensorboard_plugin_ckptdiff.formats._bundle import proto

    def _varint(n):
        out = bytearray()
        proto.put_varint(out, n)
        return bytes(out)

    os.makedirs(directory, exist_ok=True)
    made = {}
    copy_bundle(bundle_prefix, os.path.join(directory, "ckpt-1"))
    index = os.path.join(directory, "ckpt-1.index")
    with open(index, "r+b") as f:
        f.seek(20)
        byte = f.read(1)
        f.seek(20)
        f.write(bytes([byte[0] ^ 0x40]))
    made["flipped_byte"] = "ckpt-1"
    copy_bundle(bundle_prefix, os.path.join(directory, "ckpt-2"))
    index = os.path.join(directory, "ckpt-2.index")
    with open(index, "r+b") as f:
        f.seek(-48, os.SEEK_END)
        footer = f.read(48)
        handles = bytes([0, 0]) + _varint(1 << 40) + _varint(100)
        f.seek(-48, os.SEEK_END)
        f.write(handles.ljust(40, b"\0") + footer[40:])
    made["huge_offset"] = "ckpt-2"
    with open(os.path.join(directory, "huge_header.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", 1 << 40) + b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}')
    made["huge_header"] = "huge_header.safetensors"
    open(os.path.join(directory, "empty.keras"), "wb").close()
    made["empty_keras"] = "empty.keras"
    return made


def messy_logdir(logdir: str) -> dict:
    """A logdir as a busy user leaves it: demo_logs/'s runs (copied, some under long nested
    names, some twice), a run whose model changed between checkpoints, and a run that sorts
    first and holds nothing but unreadable files. No TensorFlow needed: the files are
    demo_logs/'s, copied and corrupted."""
    copies = {
        "added_layer": "added_layer",
        "dtype_change": "dtype_change",
        "fine_tuning": "fine_tuning",
        "keras_fit": "keras_fit",
        "renamed_layer_keras": "renamed_layer_keras",
        "renamed_layer_tf1": "renamed_layer_tf1",
        "tf1_saver": "tf1_saver",
        "tf2_training": "tf2_training",
        f"experiments/2025-11-29/{LONG}/added_layer": "added_layer",
        f"experiments/2025-11-29/{LONG}/keras_fit": "keras_fit",
        f"experiments/2025-11-30/{LONG}_again/tf2_training": "tf2_training",
        "ablations/no_dropout/fine_tuning": "fine_tuning",
        "ablations/wider_head/fine_tuning": "fine_tuning",
        "ablations/fp16/dtype_change": "dtype_change",
        "changed_mid_run": "tf2_training",
    }
    for name, source in copies.items():
        shutil.copytree(os.path.join(DEMO_LOGS, source), os.path.join(logdir, name))
    # The model changed after step 1: its first checkpoint is another model's.
    changed = os.path.join(logdir, "changed_mid_run", "ckpt")
    for name in os.listdir(changed):
        if name.startswith("ckpt-1."):
            os.remove(os.path.join(changed, name))
    copy_bundle(os.path.join(DEMO_LOGS, "dtype_change", "ckpt", "ckpt-1"), os.path.join(changed, "ckpt-1"))
    broken = os.path.join(logdir, "000_unreadable_everything")
    made = corrupt_checkpoints(broken, os.path.join(DEMO_LOGS, "tf2_training", "ckpt", "ckpt-3"))
    with open(os.path.join(broken, "notes.weights.h5"), "w") as f:
        f.write("not an hdf5 file")
    made["not_hdf5"] = "notes.weights.h5"
    return {"runs": sorted(copies) + ["000_unreadable_everything"], "broken": "000_unreadable_everything",
            "corrupt": {what: f"000_unreadable_everything/{name}" for what, name in made.items()},
            "changed": "changed_mid_run"}
