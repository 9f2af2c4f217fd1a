"""Real Keras and safetensors files for reader tests: each function takes a directory, writes
files with the real library (Keras 3, tf-keras, safetensors) and returns their paths.

TensorFlow/Keras are imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import os
from typing import Dict


def _keras3_models():
    """name -> built Keras 3 model: the shapes of model a user saves."""
    import keras
    import numpy as np

    sequential = keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(5, name="incorrect_name"),  # stored under layers/dense, not its name
        keras.layers.BatchNormalization(),
        keras.layers.Dense(3, use_bias=False),
    ], name="seq")

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.LayerNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    branch = keras.layers.Dense(4, dtype="float16")(x)
    x = keras.layers.Concatenate()([x, branch])
    functional = keras.Model(inputs, keras.layers.Dense(2, dtype="bfloat16")(x), name="func")

    @keras.saving.register_keras_serializable(package="ckptdiff_tests")
    class Block(keras.layers.Layer):
        """A layer owning a sublayer and a variable of its own."""

        def __init__(self, units=3, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.inner = keras.layers.Dense(units)

        def build(self, input_shape):
            self.inner.build(input_shape)
            self.scale = self.add_weight(shape=(self.units,), initializer="ones", name="scale")

        def call(self, x):
            return self.inner(x) * self.scale

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    @keras.saving.register_keras_serializable(package="ckptdiff_tests")
    class Subclassed(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.embed = keras.layers.Dense(4)
            self.block = Block(3)
            self.step_count = self.add_weight(shape=(), dtype="int64", initializer="zeros", trainable=False,
                                              name="step_count")

        def call(self, x):
            return self.block(self.embed(x))

    subclassed = Subclassed(name="sub")
    subclassed(np.zeros((1, 5), "float32"))

    application = keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), minimalistic=True, weights=None, classes=4, include_preprocessing=False)

    trained = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1)], name="trained")
    trained.compile(optimizer=keras.optimizers.Adam(use_ema=True), loss="mse")  # EMA copies live in the optimizer
    trained.fit(np.ones((4, 4), "float32"), np.ones((4, 1), "float32"), epochs=1, batch_size=4, verbose=0)
    return {"sequential": sequential, "functional": functional, "subclassed": subclassed,
            "application": application, "trained": trained}


def keras3_files(directory: str) -> Dict[str, str]:
    """``<model>.weights.h5`` and ``<model>.keras`` for each model, and a sharded save
    ``sharded.weights.json`` (with its ``sharded_0000K.weights.h5`` parts) of the trained
    model, whose optimizer variables span two parts."""
    os.makedirs(directory, exist_ok=True)
    out = {}
    models = _keras3_models()
    for name, model in models.items():
        out[f"{name}.weights.h5"] = os.path.join(directory, f"{name}.weights.h5")
        model.save_weights(out[f"{name}.weights.h5"])
        out[f"{name}.keras"] = os.path.join(directory, f"{name}.keras")
        model.save(out[f"{name}.keras"])
    out["sharded.weights.json"] = os.path.join(directory, "sharded.weights.json")
    models["trained"].save_weights(out["sharded.weights.json"], max_shard_size=0.0000001)  # ~100 bytes a part
    return out


def tf_keras_files(directory: str) -> Dict[str, str]:
    """tf-keras 2.x legacy HDF5: a weights-only ``weights.h5`` and a whole-model ``model.h5``
    (with ``optimizer_weights`` after one step of training), of a model with a nested
    Sequential so weight names carry the inner model's scope."""
    import numpy as np
    import tf_keras

    os.makedirs(directory, exist_ok=True)
    inner = tf_keras.Sequential([tf_keras.layers.Dense(4, name="inner_dense")], name="inner")
    inputs = tf_keras.Input((5,))
    x = tf_keras.layers.Dense(6, name="d1")(inputs)
    x = tf_keras.layers.BatchNormalization(name="bn")(x)
    x = inner(x)
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(2, name="head")(x))
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 5), "float32"), np.ones((4, 2), "float32"), epochs=1, verbose=0)
    out = {"weights.h5": os.path.join(directory, "weights.h5"), "model.h5": os.path.join(directory, "model.h5")}
    model.save_weights(out["weights.h5"])
    model.save(out["model.h5"])
    return out


def safetensors_tensors():
    """name -> numpy array, one of each dtype the format defines and numpy/ml_dtypes hold."""
    import ml_dtypes
    import numpy as np

    rng = np.random.default_rng(0)
    floats = rng.standard_normal((3, 4))
    return {
        "model.embed.weight": floats.astype(np.float32),
        "model.layers.0.attn.q.weight": floats.astype(np.float16),
        "model.layers.0.attn.k.weight": floats.astype(ml_dtypes.bfloat16),
        "model.layers.0.mlp.fp8_e4m3": floats.astype(ml_dtypes.float8_e4m3fn),
        "model.layers.0.mlp.fp8_e5m2": floats.astype(ml_dtypes.float8_e5m2),
        "model.double": floats.astype(np.float64),
        "model.quant.int8": (floats * 40).astype(np.int8),
        "model.quant.uint8": (floats * 40 + 128).astype(np.uint8),
        "model.int16": np.arange(6, dtype=np.int16).reshape(2, 3),
        "model.int32": np.arange(6, dtype=np.int32),
        "model.int64": np.arange(4, dtype=np.int64).reshape(2, 2),
        "model.uint16": np.arange(3, dtype=np.uint16),
        "model.uint32": np.arange(3, dtype=np.uint32),
        "model.uint64": np.arange(3, dtype=np.uint64),
        "model.mask": floats > 0,
        "model.complex": (floats + 1j * floats).astype(np.complex64),
        "model.scalar": np.array(2.5, np.float32),
        "model.empty": np.zeros((0, 3), np.float32),
        "model.big_rows": rng.standard_normal((300, 7)).astype(np.float32),
    }


def safetensors_file(directory: str, name: str = "model.safetensors") -> str:
    from safetensors.numpy import save_file

    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    save_file(safetensors_tensors(), path, metadata={"format": "np", "writer": "ckptdiff tests"})
    return path


def h5_variety(directory: str) -> Dict[str, str]:
    """``.weights.h5`` files laid out as Keras lays them out, written by h5py with what Keras
    itself does not use but an HDF5 tool or another writer may (h5repack, libver="latest"):
    chunked datasets with gzip, shuffle and Fletcher-32, partial edge chunks, compact and
    never-written storage, scalars, empty and big-endian datasets, bools, strings, a
    bfloat16 opaque, many attributes and members (dense storage with libver="latest"), soft
    and external links, a committed datatype, and a user block before the superblock."""
    import h5py
    import ml_dtypes
    import numpy as np

    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(1)
    out = {}
    for name, options in (("earliest", {}), ("latest", {"libver": "latest"}), ("userblock", {"userblock_size": 512})):
        path = os.path.join(directory, f"variety_{name}.weights.h5")
        with h5py.File(path, "w", **options) as f:
            for k in range(12):  # past 8 attributes: dense attribute storage with libver="latest"
                f.attrs[f"note{k}"] = f"attribute {k}"
            f.attrs["layer_names_like"] = np.array([b"dense", b"strings"])
            dense = f.create_group("layers/dense/vars")
            dense.attrs["name"] = "dense"
            dense.create_dataset("0", data=rng.standard_normal((40, 30)).astype("float32"), chunks=(16, 7),
                                 compression="gzip", shuffle=True, fletcher32=True)
            dense.create_dataset("1", data=rng.standard_normal((10, 7)).astype("float16"), chunks=(3, 4),
                                 compression="gzip", compression_opts=9)
            dense.create_dataset("2", data=np.int64(7))
            dense.create_dataset("3", data=np.zeros((0, 4), "float32"))
            dense.create_dataset("4", data=rng.standard_normal(5) > 0)
            bf16 = dense.create_dataset("5", data=rng.standard_normal(6).astype(ml_dtypes.bfloat16).view("V2"))
            bf16.attrs["dtype"] = "bfloat16"
            dense.create_dataset("6", data=rng.standard_normal((2, 2)).astype(">f8"))
            dense.create_dataset("7", shape=(3,), dtype="float32")  # never written: fill values
            dense.create_dataset("8", shape=(4, 4), dtype="float32", chunks=(2, 2))  # no chunk written
            space = h5py.h5s.create_simple((3,))
            plist = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            plist.set_layout(h5py.h5d.COMPACT)
            compact = h5py.h5d.create(dense.id, b"9", h5py.h5t.NATIVE_INT32, space, dcpl=plist)
            compact.write(h5py.h5s.ALL, h5py.h5s.ALL, np.arange(3, dtype="int32"))
            f.create_dataset("layers/strings/vars/0", data=np.array(["a", "bc", "def"], dtype=h5py.string_dtype()))
            many = f.create_group("layers/many")  # past 8 members: dense link storage with libver="latest"
            for k in range(11):
                many.create_dataset(f"vars/{k}", data=np.full((2,), k, "int32")) if k == 0 else \
                    many.create_group(f"sub{k}").create_dataset("w", data=np.full((k,), k, "float32"))
            f["layers/soft"] = h5py.SoftLink("/layers/dense/vars/0")
            f["layers/outside"] = h5py.ExternalLink("elsewhere.h5", "/x")
            f["a_type"] = np.dtype("float32")  # a committed datatype: neither group nor dataset
        out[name] = path
    return out
