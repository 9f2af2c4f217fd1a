"""Real TensorFlow tensor bundles and SavedModels, written by TensorFlow itself.

Each function takes a directory, writes into it with TF (imported inside), and returns the
checkpoint prefix (or SavedModel directory) it wrote.
"""

from __future__ import annotations

import os


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf

    return tf


def _small_keras_model():
    import keras

    model = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(3, activation="relu", name="hidden"),
        keras.layers.Dense(2, name="out"),
    ])
    return model


def _train_one_step(model, optimizer):
    import numpy as np

    tf = _tf()
    x = tf.constant(np.arange(8, dtype="float32").reshape(2, 4) / 8)
    y = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((model(x) - y) ** 2)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))


def keras_tf2_checkpoint(directory: str, steps: int = 1) -> str:
    """tf.train.Checkpoint(model=, optimizer=) + CheckpointManager with a Keras 3 model and
    Adam after a train step (so slots exist). Saves ``steps`` times; returns the latest."""
    return keras_tf2_checkpoint_and_model(directory, steps)[0]


def keras_tf2_checkpoint_and_model(directory: str, steps: int = 1):
    """As keras_tf2_checkpoint, returning (latest prefix, model, optimizer)."""
    import keras

    tf = _tf()
    model = _small_keras_model()
    optimizer = keras.optimizers.Adam(0.01)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=5)
    for _ in range(steps):
        _train_one_step(model, optimizer)
        path = manager.save()
    return path, model, optimizer


def module_checkpoint(directory: str) -> str:
    """A plain tf.Module with a nested module, saved with tf.train.Checkpoint.write."""
    tf = _tf()

    class Block(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(tf.reshape(tf.range(6, dtype=tf.float32), (2, 3)), name="w")
            self.b = tf.Variable(tf.zeros((3,), tf.float64), name="b")

    class Net(tf.Module):
        def __init__(self):
            super().__init__()
            self.block = Block()
            self.scale = tf.Variable(2.5, name="scale")
            self.steps = tf.Variable(7, dtype=tf.int64, name="steps")

    net = Net()
    return tf.train.Checkpoint(net=net).write(os.path.join(directory, "module"))


def tf1_saver_checkpoint(directory: str, step: int = 3) -> str:
    """A TF1 graph-mode Saver checkpoint: global_step, Adam slots, a variable partitioned
    in 3 along axis 0, and a string variable. The state file holds absolute paths."""
    tf = _tf()
    v1 = tf.compat.v1
    with tf.Graph().as_default():
        global_step = v1.train.get_or_create_global_step()
        x = v1.placeholder(tf.float32, (None, 4))
        with v1.variable_scope("dense"):
            kernel = v1.get_variable("kernel", (4, 2), initializer=v1.random_normal_initializer(seed=1))
            bias = v1.get_variable("bias", (2,), initializer=v1.zeros_initializer())
        embedding = v1.get_variable(
            "embedding", (6, 2), partitioner=v1.fixed_size_partitioner(3),
            initializer=v1.random_normal_initializer(seed=2))
        label = v1.get_variable("label", (), dtype=tf.string, initializer=v1.constant_initializer("hello"),
                                trainable=False)
        del label
        logits = tf.matmul(x, kernel) + bias + tf.reduce_sum(embedding)
        loss = tf.reduce_mean(logits ** 2)
        train = v1.train.AdamOptimizer(0.01).minimize(loss, global_step=global_step)
        saver = v1.train.Saver()
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            for _ in range(step):
                sess.run(train, {x: [[1.0, 2.0, 3.0, 4.0]]})
            return saver.save(sess, os.path.join(directory, "model.ckpt"), global_step=global_step)


def sharded_tf2_checkpoint(directory: str) -> str:
    """A TF2 checkpoint whose sharding policy cuts one (4, 64) tensor into slices across
    six data shards, along both axes (a row is larger than a shard)."""
    tf = _tf()
    module = tf.Module()
    module.big = tf.Variable(tf.reshape(tf.range(4 * 64, dtype=tf.float32), (4, 64)))
    module.small = tf.Variable([1.0, 2.0])
    module.text = tf.Variable("a string kept whole")
    policy = tf.train.experimental.MaxShardSizePolicy(max_shard_size=200)
    options = tf.train.CheckpointOptions(experimental_sharding_callback=policy)
    return tf.train.Checkpoint(module=module).write(os.path.join(directory, "sharded"), options=options)


def every_dtype(tf):
    """{name: tensor} for every dtype TF can write into a bundle."""
    import ml_dtypes
    import numpy as np

    tensors = {}
    numeric = ["float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64",
               "uint8", "uint16", "uint32", "uint64"]
    for name in numeric:
        dtype = getattr(ml_dtypes, name, None) if name == "bfloat16" else np.dtype(name)
        tensors[name] = tf.constant(np.arange(-3, 9).reshape(3, 4).astype(dtype) if not name.startswith("uint")
                                    else np.arange(12).reshape(3, 4).astype(dtype))
    tensors["complex64"] = tf.constant(np.array([1 + 2j, -3.5j], np.complex64))
    tensors["complex128"] = tf.constant(np.array([[1 + 2j], [3 - 1j]], np.complex128))
    tensors["bool"] = tf.constant([[True, False, True]])
    tensors["string"] = tf.constant([b"", b"ab", b"\x00\xff" * 40, "é".encode()])
    tensors["string_scalar"] = tf.constant(b"scalar")
    tensors["empty"] = tf.zeros((0, 3), tf.float32)
    tensors["scalar"] = tf.constant(3.25, tf.float64)
    for name in ("float8_e4m3fn", "float8_e5m2", "int4", "uint4"):
        values = [[1, 2, 3]] if name.startswith("u") else [[1, 2, -1]]
        try:  # only where this TF can hold (and below, save) the dtype
            tensors[name] = tf.constant(np.array(values, dtype=getattr(ml_dtypes, name)))
        except (TypeError, ValueError, tf.errors.OpError):
            pass
    return tensors


def all_dtypes_bundle(directory: str) -> str:
    """A bundle written by TF's SaveV2 op with one tensor of every dtype it accepts."""
    tf = _tf()
    tensors = every_dtype(tf)
    prefix = os.path.join(directory, "dtypes")
    for name in [n for n in tensors if n.startswith(("float8", "int4", "uint4"))]:
        try:
            tf.raw_ops.SaveV2(prefix=os.path.join(directory, "probe"), tensor_names=[name],
                              shape_and_slices=[""], tensors=[tensors[name]])
        except tf.errors.OpError:
            del tensors[name]
    for leftover in os.listdir(directory):
        if leftover.startswith("probe"):
            os.remove(os.path.join(directory, leftover))
    names = sorted(tensors)
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tensors[n] for n in names])
    return prefix


def many_variables_checkpoint(directory: str, count: int = 20000, name: str = "v", step: float = 0.0) -> str:
    """A TF2 object-based checkpoint of a module holding ``count`` small variables, named
    ``{name}{i}``: another ``name`` writes another object graph (its full names) over the same
    object paths, keys, shapes and dtypes; another ``step`` other values (a later save)."""
    tf = _tf()
    module = tf.Module()
    module.layers = [tf.Variable(tf.fill((i % 7 + 1, 3), float(i) + step), name=f"{name}{i}") for i in range(count)]
    return tf.train.Checkpoint(model=module).write(os.path.join(directory, "many"))


def module_saved_model(directory: str) -> str:
    """tf.saved_model.save of a tf.Module with a tf.function."""
    tf = _tf()

    class Scale(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable([[1.0, 2.0], [3.0, 4.0]], name="w")
            self.b = tf.Variable([0.5, -0.5], name="b")

        @tf.function(input_signature=[tf.TensorSpec((None, 2), tf.float32)])
        def __call__(self, x):
            return tf.matmul(x, self.w) + self.b

    path = os.path.join(directory, "module_sm")
    tf.saved_model.save(Scale(), path)
    return path


def keras_saved_model(directory: str) -> str:
    """A Keras 3 model exported as a SavedModel with model.export."""
    model = _small_keras_model()
    path = os.path.join(directory, "keras_sm")
    model.export(path, verbose=False)
    return path


def index_pairs(data: bytes):
    """Every (key, value) of the table in ``data`` (a whole .index file), in key order: the
    tests' view of an index, below the entry decoders the reader uses."""
    from tensorboard_plugin_ckptdiff.formats._bundle import table

    out = []
    for block in table.data_blocks(data):
        table.block_entries(block, out)
    return out
