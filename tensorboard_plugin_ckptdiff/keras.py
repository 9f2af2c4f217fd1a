"""ModelSpecCallback: write the model's variable spec when ``fit`` starts."""

from __future__ import annotations

import contextlib
import os

import keras

from tensorboard_plugin_ckptdiff import summary


class ModelSpecCallback(keras.callbacks.Callback):
    """Writes the model's architecture into ``<log_dir>/train``, the run Keras's TensorBoard
    callback writes to, at the start of each ``fit``.

    Keras's own callback writes the model config only for Sequential and Functional models;
    this spec covers subclassed models and custom layers too, with shapes and dtypes. The
    step is the optimizer's iteration count, so a resumed run that changed its model shows
    the new architecture at the step it took effect.
    """

    def __init__(self, log_dir: str = "logs"):
        super().__init__()
        self.log_dir = str(log_dir)

    def on_train_begin(self, logs=None):
        import tensorflow as tf

        _build_optimizer(self.model)
        writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "train"))
        with writer.as_default():
            summary.model_spec(self.model, step=_step(self.model))
        writer.flush()
        writer.close()


def _step(model) -> int:
    iterations = getattr(getattr(model, "optimizer", None), "iterations", None)
    try:
        return int(iterations.numpy()) if iterations is not None else 0
    except (AttributeError, TypeError, ValueError):
        return 0


def _build_optimizer(model):
    """Build the optimizer as fit's first step would, so the spec lists its slots too.

    Keras 3 builds it lazily, when the train function is first traced, after
    on_train_begin; this is the same call (``optimizer.build(trainable_variables)``).
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "build") or getattr(optimizer, "built", True):
        return
    if not model.trainable_variables:
        return
    strategy = getattr(model, "distribute_strategy", None)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        optimizer.build(model.trainable_variables)
