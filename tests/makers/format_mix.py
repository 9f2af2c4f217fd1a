"""A big logdir of mixed checkpoint formats, from a few runs written by real TensorFlow/Keras.

``families()`` writes one run per way of saving (TF2 CheckpointManager, TF1 Saver with
``.meta``, Keras ``ModelCheckpoint`` weights, ``.keras`` archives, legacy ``.h5``, safetensors),
each with its model's architecture in its events. ``copies()`` lays out many runs from them
by copying files, the way a sweep leaves a logdir: run ``expNNN`` is family ``NNN % 6``, its
events and checkpoints side by side in one directory; every fifth run's events are another
family's, so its checkpoints do not restore into its model.
"""

from __future__ import annotations

import os
import shutil
from typing import Dict, List

from makers import runs

FAMILIES = ("tf2_object", "tf1_saver", "keras_weights", "keras_archive", "legacy_h5", "safetensors")


def _keras_saves(directory: str, per_run: int, save) -> runs.MadeRun:
    """A small Keras model trained one batch at a time, ``save(model, ckpt_dir, step)`` after
    each, and its model_spec in the run: for the formats no training callback writes."""
    import numpy as np

    runs._seed()
    train, ckpt = runs._dirs(directory)
    model = runs._dense_stack([16, 4], name="mixed")
    model.compile(optimizer="adam", loss="mse")
    x = np.linspace(0, 1, 8 * 10, dtype="float32").reshape(8, 10)
    y = np.linspace(1, 0, 8 * 4, dtype="float32").reshape(8, 4)
    paths = []
    for step in range(1, per_run + 1):
        model.train_on_batch(x, y)
        paths.append(save(model, ckpt, step))
    runs.write_model_spec(train, model)
    return runs.MadeRun(train, ckpt, paths)


def _save_archive(model, ckpt, step):
    path = os.path.join(ckpt, f"model-{step:02d}.keras")
    model.save(path)
    return path


def _save_legacy(model, ckpt, step):
    path = os.path.join(ckpt, f"model-{step:02d}.h5")
    model.save(path)  # Keras 3 writes the legacy whole-model HDF5 layout for .h5
    return path


def _save_safetensors(model, ckpt, step):
    import numpy as np
    from safetensors.numpy import save_file

    path = os.path.join(ckpt, f"model-{step:02d}.safetensors")
    save_file({w.path: np.asarray(w) for w in model.weights}, path, metadata={"step": str(step)})
    return path


def families(directory: str, per_run: int = 5) -> Dict[str, runs.MadeRun]:
    """{family: run} for every family in FAMILIES, ``per_run`` checkpoints each, written by
    the real writers under ``directory/<family>/{train,ckpt}``."""
    writers = {
        "tf2_object": lambda d: runs.tf2_training(d, steps=per_run),
        "tf1_saver": lambda d: runs.tf1_saver(d, steps=per_run),
        "keras_weights": lambda d: runs.keras_fit(d, epochs=per_run),
        "keras_archive": lambda d: _keras_saves(d, per_run, _save_archive),
        "legacy_h5": lambda d: _keras_saves(d, per_run, _save_legacy),
        "safetensors": lambda d: _keras_saves(d, per_run, _save_safetensors),
    }
    return {name: writers[name](os.path.join(directory, name)) for name in FAMILIES}


def _files(directory: str) -> List[str]:
    return sorted(os.path.join(directory, n) for n in os.listdir(directory)
                  if os.path.isfile(os.path.join(directory, n)))


def copies(made: Dict[str, runs.MadeRun], logdir: str, count: int) -> List[str]:
    """``count`` runs ``exp000``... under ``logdir`` copied from ``made`` (see the module
    docstring); returns their names."""
    names = []
    for r in range(count):
        family = made[FAMILIES[r % len(FAMILIES)]]
        events_from = made[FAMILIES[(r + 1) % len(FAMILIES)]] if r % 5 == 4 else family
        run = os.path.join(logdir, f"exp{r:03d}")
        os.makedirs(run)
        for path in _files(family.ckpt) + [p for p in _files(events_from.train) if "tfevents" in p]:
            shutil.copyfile(path, os.path.join(run, os.path.basename(path)))
        names.append(f"exp{r:03d}")
    return names
