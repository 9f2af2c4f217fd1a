"""Real checkpoints of one model at two training steps, written by TensorFlow / Keras / h5py.

Each function takes a directory, writes into it (TF imported inside) and returns the paths
it wrote. The Keras model has a frozen layer (trainable=False: no drift), float16 and
bfloat16 layers, and a head re-initialised before the second save (the largest drift).
"""

from __future__ import annotations

import os
from typing import Dict, NamedTuple


class TwoSteps(NamedTuple):
    base: str
    target: str


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf

    return tf


def _model():
    import keras

    keras.utils.set_random_seed(7)
    frozen = keras.layers.Dense(16, activation="tanh", name="frozen")
    frozen.trainable = False
    return keras.Sequential([
        keras.Input((8,)),
        frozen,
        keras.layers.Dense(16, activation="tanh", name="hidden"),
        keras.layers.Dense(12, activation="tanh", dtype="float16", name="half"),
        keras.layers.Dense(12, activation="tanh", dtype="bfloat16", name="brain"),
        keras.layers.Dense(4, name="head"),
    ], name="drifter")


def _train(model, optimizer, steps: int) -> None:
    import numpy as np

    tf = _tf()
    rng = np.random.default_rng(3)
    for _ in range(steps):
        x = tf.constant(rng.normal(size=(16, 8)).astype("float32"))
        y = tf.constant(rng.normal(size=(16, 4)).astype("float32"))
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((tf.cast(model(x), "float32") - y) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))


def _reinitialise_head(model) -> None:
    import numpy as np

    head = model.get_layer("head")
    rng = np.random.default_rng(11)
    for variable in head.weights:
        variable.assign(rng.normal(scale=3.0, size=variable.shape).astype("float32"))


def keras_two_steps(directory: str) -> Dict[str, TwoSteps]:
    """The Keras model after 3 and after 6 SGD-with-momentum steps (head re-initialised before the second
    save), each saved as a TF2 object-based checkpoint (model + optimizer), a sharded TF2
    checkpoint (MaxShardSizePolicy), a Keras 3 ``.weights.h5`` and a ``.keras`` archive."""
    import keras

    tf = _tf()
    model = _model()
    optimizer = keras.optimizers.SGD(0.5, momentum=0.9)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    sharding = tf.train.CheckpointOptions(
        experimental_sharding_callback=tf.train.experimental.MaxShardSizePolicy(max_shard_size=400))
    out = {"tf2": [], "tf2_sharded": [], "weights_h5": [], "keras": []}
    for step, steps in (("a", 3), ("b", 3)):
        _train(model, optimizer, steps)
        if step == "b":
            _reinitialise_head(model)
        out["tf2"].append(checkpoint.write(os.path.join(directory, f"tf2-{step}", "ckpt")))
        out["tf2_sharded"].append(checkpoint.write(os.path.join(directory, f"sharded-{step}", "ckpt"), options=sharding))
        h5 = os.path.join(directory, f"model-{step}.weights.h5")
        model.save_weights(h5)
        out["weights_h5"].append(h5)
        archive = os.path.join(directory, f"model-{step}.keras")
        model.save(archive)
        out["keras"].append(archive)
    return {name: TwoSteps(*paths) for name, paths in out.items()}


def tf1_partitioned_two_steps(directory: str) -> TwoSteps:
    """A TF1 Saver model at two steps: in the base checkpoint ``embedding`` is partitioned
    (fixed_size_partitioner(3)), in the target it is one variable restored from the base
    and trained on; ``frozen`` is not trained (trainable=False)."""
    import numpy as np

    tf = _tf()
    v1 = tf.compat.v1
    rng = np.random.default_rng(5)
    x_value = rng.normal(size=(6, 4)).astype("float32")

    def build(partitioned: bool):
        partitioner = v1.fixed_size_partitioner(3) if partitioned else None
        embedding = v1.get_variable("embedding", (9, 4), partitioner=partitioner,
                                    initializer=v1.random_normal_initializer(seed=1))
        frozen = v1.get_variable("frozen", (4, 4), trainable=False, initializer=v1.random_normal_initializer(seed=2))
        with v1.variable_scope("dense"):
            kernel = v1.get_variable("kernel", (4, 3), initializer=v1.random_normal_initializer(seed=3))
            bias = v1.get_variable("bias", (3,), initializer=v1.zeros_initializer())
        x = tf.constant(x_value)
        rows = tf.nn.embedding_lookup(embedding, [0, 2, 4, 6, 7, 8]) if partitioned else tf.gather(embedding, [0, 2, 4, 6, 7, 8])
        loss = tf.reduce_sum((tf.matmul(tf.tanh(tf.matmul(x + rows, frozen)), kernel) + bias) ** 2)
        train = v1.train.GradientDescentOptimizer(0.01).minimize(loss)
        return train

    paths = []
    for step, partitioned in ((1, True), (2, False)):
        with tf.Graph().as_default():
            train = build(partitioned)
            saver = v1.train.Saver()
            with v1.Session() as session:
                if paths:
                    saver.restore(session, paths[-1])
                else:
                    session.run(v1.global_variables_initializer())
                for _ in range(3):
                    session.run(train)
                folder = os.path.join(directory, f"tf1-{step}")
                os.makedirs(folder, exist_ok=True)
                paths.append(saver.save(session, os.path.join(folder, "model"), global_step=step))
    return TwoSteps(*paths)


def big_weights_h5_pair(directory: str, megabytes: int = 1024) -> TwoSteps:
    """Two Keras 3 ``.weights.h5`` files holding one float32 variable of ``megabytes`` MiB
    each (layout of Keras's own H5IOStore: ``layers/<name>/vars/<i>``), written with h5py
    block by block so the writer itself never holds the tensor."""
    import h5py
    import numpy as np

    count = megabytes * (1 << 20) // 4
    rows = 1 << 12
    cols = count // rows
    paths = []
    for step, scale in (("a", 0.0), ("b", 0.01)):
        path = os.path.join(directory, f"big-{step}.weights.h5")
        with h5py.File(path, "w") as f:
            f.attrs["date_saved"] = "2025-01-01@00:00:00"
            f.attrs["keras_version"] = "3.15.1"
            layer = f.create_group("layers").create_group("dense")
            vars_group = layer.create_group("vars")
            dataset = vars_group.create_dataset("0", shape=(rows, cols), dtype="float32")
            f.create_group("optimizer").create_group("vars")
            f.create_group("vars")
            block = 256
            for r in range(0, rows, block):
                base = np.arange(r * cols, (r + block) * cols, dtype=np.float64).reshape(block, cols)
                values = np.sin(base * 1e-3) + scale * np.cos(base * 7e-3)
                dataset[r:r + block] = values.astype("float32")
        paths.append(path)
    return TwoSteps(*paths)


def mismatched_pair(directory: str) -> TwoSteps:
    """Two tf.Module checkpoints whose variables cannot all be compared: ``same`` moved,
    ``grown`` changed shape, ``recast`` changed dtype, ``gone`` and ``added`` are on one side
    only, ``text`` holds strings."""
    import numpy as np

    tf = _tf()

    def save(name, variables):
        module = tf.Module()
        for key, value in variables.items():
            setattr(module, key, tf.Variable(value))
        return tf.train.Checkpoint(model=module).write(os.path.join(directory, name, "ckpt"))

    # gone and added differ in shape, so the diff cannot take one for the other renamed.
    base = save("base", {"same": np.float32([1, 2, 3]), "grown": np.zeros(2, "float32"),
                         "recast": np.ones(3, "float32"), "gone": np.ones(5, "float32"), "text": tf.constant("a")})
    target = save("target", {"same": np.float32([1, 2, 4]), "grown": np.zeros(3, "float32"),
                             "recast": np.ones(3, "float64"), "added": np.ones((4, 4), "float32"), "text": tf.constant("b")})
    return TwoSteps(base, target)


def big_bundle_pair(directory: str, megabytes: int = 1024) -> TwoSteps:
    """Two name-based tensor bundles (what TF1's Saver writes: the SaveV2 op) holding one
    float32 variable ``big`` of ``megabytes`` MiB each; TF holds one tensor at a time."""
    tf = _tf()
    count = megabytes * (1 << 20) // 4
    shape = (1 << 12, count >> 12)
    paths = []
    for step, seed in (("a", 1), ("b", 2)):
        os.makedirs(os.path.join(directory, step), exist_ok=True)
        prefix = os.path.join(directory, step, "model")
        values = tf.random.stateless_uniform(shape, seed=(seed, 7), minval=-1.0, maxval=1.0)
        tf.raw_ops.SaveV2(prefix=prefix, tensor_names=["big"], shape_and_slices=[""], tensors=[values])
        del values
        paths.append(prefix)
    return TwoSteps(*paths)


# ------------------------------------------------------------------ truth from the real libraries


def tf_values(path, key):
    """What TF's own restore op (RestoreV2) reads: CheckpointReader.get_tensor refuses some
    float16 tensors of sharded checkpoints ("Dtype half not supported")."""
    import tensorflow as tf

    dtype = tf.train.load_checkpoint(path).get_variable_to_dtype_map()[key]
    (tensor,) = tf.raw_ops.RestoreV2(prefix=path, tensor_names=[key], shape_and_slices=[""], dtypes=[dtype])
    return tensor.numpy()


def h5_values(path, key):
    import h5py
    import ml_dtypes

    with h5py.File(path, "r") as f:
        dataset = f[key]
        values = dataset[()]
        if dataset.attrs.get("dtype") == "bfloat16":  # Keras stores bfloat16 as opaque 2-byte items
            values = values.view(ml_dtypes.bfloat16)
    return values


def loader(path):
    return h5_values if path.endswith(".h5") else tf_values
