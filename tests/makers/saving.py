"""A training job that keeps saving checkpoints (and deleting old ones) while tests read them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
# ---------------------------------------------------------------- a writer that keeps going


def keep_saving(directory: str, saves: int, log_path: str, pause: float = 0.05) -> None:
    """A training job: a Keras model saved ``saves`` times by tf.train.CheckpointManager
    (max_to_keep=2, so older checkpoints are deleted), with a train step between saves.
    After each save returns, one JSON line names the complete checkpoint and its size."""
    import time

    import keras

    from makers import bundles

    tf = bundles._tf()
    model = bundles._small_keras_model()
    optimizer = keras.optimizers.Adam(0.01)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model, optimizer=optimizer), directory,
                                         max_to_keep=2)
    with open(log_path, "a") as log:
        for _ in range(saves):
            bundles._train_one_step(model, optimizer)
            prefix = manager.save()
            base = os.path.basename(prefix)
            size = sum(os.path.getsize(os.path.join(directory, n)) for n in os.listdir(directory)
                       if n.startswith(base + "."))
            log.write(json.dumps({"prefix": base, "size": size}) + "\n")
            log.flush()
            time.sleep(pause)


def start_saving(directory: str, saves: int, log_path: str) -> subprocess.Popen:
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=tests + os.pathsep + os.environ.get("PYTHONPATH", ""),
               TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    code = f"from makers import saving; saving.keep_saving({directory!r}, {saves}, {log_path!r})"
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
