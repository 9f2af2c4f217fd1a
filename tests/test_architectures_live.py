"""A live model's architecture carries the keys the real loaders use, checked against real files."""

import h5py
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.compat.proto import trackable_object_graph_pb2

from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.architectures import live


def _keras3_sequential():
    import keras

    keras.utils.set_random_seed(1)
    inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3), keras.layers.Dense(3, use_bias=False)],
                             name="inner")
    model = keras.Sequential([
        keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization(), inner,
        keras.layers.Dropout(0.1), keras.layers.Dense(2, name="incorrect_name"),
    ], name="outer")
    model.compile(optimizer="adam", loss="mse")
    model.train_on_batch(np.ones((2, 4), "float32"), np.ones((2, 2), "float32"))  # builds the optimizer
    return model


def _keras3_subclassed():
    import keras

    class Tower(keras.Model):
        def __init__(self):
            super().__init__(name="tower")
            self.blocks = [keras.layers.Dense(3), keras.layers.Dense(3)]
            self.head = keras.layers.Dense(2)
            self.scale = self.add_weight(shape=(), name="scale", initializer="ones")

        def call(self, x):
            for block in self.blocks:
                x = block(x)
            return self.head(x) * self.scale

    model = Tower()
    model(np.ones((1, 4), "float32"))
    return model


@pytest.fixture(scope="module", params=["sequential", "subclassed"])
def keras3_model(request):
    return _keras3_sequential() if request.param == "sequential" else _keras3_subclassed()


def _values_by_key(model, architecture):
    variables = {v.path: v for v in list(model.weights) + list(getattr(model, "optimizer", None).variables if getattr(model, "optimizer", None) else [])}
    return {a.key: np.asarray(variables[a.key].numpy()) for a in architecture.variables}


def _h5_datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def test_keras3_layer_slots_are_the_weights_h5_datasets(keras3_model, tmp_path):
    path = str(tmp_path / "m.weights.h5")
    keras3_model.save_weights(path)
    datasets = _h5_datasets(path)
    architecture = live.from_model(keras3_model)
    slots = {f"{v.layer_path}/vars/{v.index}".lstrip("/"): v.key for v in architecture.variables}
    assert set(slots) == set(datasets)


def test_keras3_layer_slots_hold_each_variables_own_value(keras3_model, tmp_path):
    path = str(tmp_path / "m.weights.h5")
    keras3_model.save_weights(path)
    datasets = _h5_datasets(path)
    architecture = live.from_model(keras3_model)
    values = _values_by_key(keras3_model, architecture)
    for v in architecture.variables:
        np.testing.assert_array_equal(datasets[f"{v.layer_path}/vars/{v.index}".lstrip("/")], values[v.key],
                                      err_msg=v.key)


def _object_graph(prefix):
    reader = tf.train.load_checkpoint(prefix)
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    return reader, graph


def _walk(graph, path, start):
    node = start
    for part in path.split("/"):
        node = next(c.node_id for c in graph.nodes[node].children if c.local_name == part)
    return graph.nodes[node]


def _model_node(graph):
    return next(c.node_id for c in graph.nodes[0].children if c.local_name == "model")


def test_keras3_object_paths_lead_to_each_variables_value_in_a_checkpoint(keras3_model, tmp_path):
    prefix = tf.train.Checkpoint(model=keras3_model).write(str(tmp_path / "ckpt"))
    reader, graph = _object_graph(prefix)
    architecture = live.from_model(keras3_model)
    values = _values_by_key(keras3_model, architecture)
    for v in (v for v in architecture.variables if v.object_path is not None):
        node = _walk(graph, v.object_path, _model_node(graph))
        key = next(a.checkpoint_key for a in node.attributes if a.name == "VARIABLE_VALUE")
        np.testing.assert_array_equal(reader.get_tensor(key), values[v.key], err_msg=v.key)


def test_keras3_variables_without_object_path_are_the_ones_a_checkpoint_leaves_out(keras3_model, tmp_path):
    # Keras 3 layers held in a plain list attribute are not TF trackable children: an
    # object-based checkpoint silently leaves them out, and so has no path for them.
    prefix = tf.train.Checkpoint(model=keras3_model).write(str(tmp_path / "ckpt"))
    stored = [k for k, _ in tf.train.list_variables(prefix) if k != "_CHECKPOINTABLE_OBJECT_GRAPH"]
    with_path = [v for v in live.from_model(keras3_model).variables if v.object_path is not None]
    assert len(with_path) == len(stored)


def test_keras3_object_path_of_a_variable_only_the_model_holds_is_its_checkpoint_key(tmp_path):
    model = _keras3_sequential()
    prefix = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))
    keys = {name for name, _ in tf.train.list_variables(prefix)}
    moving = [v for v in live.from_model(model).variables if v.key.endswith("moving_mean")]
    assert moving and all(f"model/{v.object_path}/.ATTRIBUTES/VARIABLE_VALUE" in keys for v in moving)


def test_keras3_object_paths_avoid_the_optimizer_for_model_weights():
    # A checkpoint written before the optimizer was built has only the model's own path.
    architecture = live.from_model(_keras3_sequential())
    weights = [v for v in architecture.variables if v.kind == records.WEIGHT]
    assert weights and not any(v.object_path.startswith("optimizer/") for v in weights)


def test_keras3_full_name_is_the_object_graphs_full_name(tmp_path):
    model = _keras3_sequential()
    prefix = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))
    _, graph = _object_graph(prefix)
    for v in live.from_model(model).variables:
        node = _walk(graph, v.object_path, _model_node(graph))
        full_name = next(a.full_name for a in node.attributes if a.name == "VARIABLE_VALUE")
        assert full_name.removesuffix(":0") == v.full_name


def test_keras3_key_and_name_are_the_variable_path():
    model = _keras3_sequential()
    architecture = live.from_model(model)
    paths = [v.path for v in list(model.weights) + list(model.optimizer.variables)]
    assert [v.key for v in architecture.variables] == paths
    assert [v.name for v in architecture.variables] == paths


def test_keras3_kinds_weights_include_non_trainable_and_optimizer_state_is_apart():
    model = _keras3_sequential()
    kinds = {v.key: v.kind for v in live.from_model(model).variables}
    assert {kinds[w.path] for w in model.weights} == {records.WEIGHT}
    assert kinds[model.optimizer.iterations.path] == records.METADATA
    others = [v.path for v in model.optimizer.variables if v is not model.optimizer.iterations]
    assert {kinds[p] for p in others} == {records.OPTIMIZER}


def test_keras3_shapes_dtypes_and_sizes_are_the_variables(keras3_model):
    architecture = live.from_model(keras3_model)
    values = _values_by_key(keras3_model, architecture)
    for v in architecture.variables:
        value = values[v.key]
        assert (v.shape, v.dtype, v.size_bytes) == (value.shape, value.dtype.name, value.nbytes), v.key


def test_keras3_framework_is_keras3(keras3_model):
    assert live.from_model(keras3_model).framework == live.KERAS3


# --- tf-keras ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tf_keras_model():
    import tf_keras

    tf_keras.utils.set_random_seed(2)
    model = tf_keras.Sequential([
        tf_keras.layers.Dense(5, input_shape=(4,), name="d1"),
        tf_keras.layers.Dropout(0.1, name="drop"),
        tf_keras.layers.BatchNormalization(name="bn"),
        tf_keras.layers.Dense(2, name="a_out"),  # sorts before d1: order is by model, not by name
    ])
    model.compile(optimizer="adam", loss="mse")
    model.train_on_batch(np.ones((2, 4), "float32"), np.ones((2, 2), "float32"))
    return model


def test_tf_keras_layer_index_and_index_follow_the_legacy_h5_file(tf_keras_model, tmp_path):
    path = str(tmp_path / "w.h5")
    tf_keras_model.save_weights(path)
    values = {v.name: v.numpy() for v in tf_keras_model.weights}
    architecture = live.from_model(tf_keras_model)
    with h5py.File(path, "r") as f:
        names = [_text(n) for n in f.attrs["layer_names"]]
        weighted = [n for n in names if len(f[n].attrs["weight_names"])]
        for v in (v for v in architecture.variables if v.kind == records.WEIGHT):
            layer = weighted[v.layer_index]
            weight_name = _text(f[layer].attrs["weight_names"][v.index])
            assert layer == v.layer_path
            np.testing.assert_array_equal(f[layer][weight_name][()], values[v.key + ":0"])


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def test_tf_keras_key_is_the_variable_name_without_its_output_index(tf_keras_model):
    architecture = live.from_model(tf_keras_model)
    weights = [v.key for v in architecture.variables if v.kind == records.WEIGHT]
    assert weights == [v.name.removesuffix(":0") for v in tf_keras_model.weights]


def test_tf_keras_optimizer_state_is_listed_once_built(tf_keras_model):
    architecture = live.from_model(tf_keras_model)
    optimizer = [v.key for v in architecture.variables if v.kind != records.WEIGHT]
    assert optimizer == [v.name.removesuffix(":0") for v in tf_keras_model.optimizer.variables]


def test_tf_keras_framework_is_tf_keras(tf_keras_model):
    assert live.from_model(tf_keras_model).framework == live.TF_KERAS


# --- tf.Module -----------------------------------------------------------------------------


class _Block(tf.Module):
    def __init__(self, n):
        super().__init__()
        self.w = tf.Variable(tf.ones([n, n]))  # every one of these is named "Variable"
        self.b = tf.Variable(tf.zeros([n]), name="b")


class _Net(tf.Module):
    def __init__(self):
        super().__init__()
        self.blocks = [_Block(2), _Block(3)]
        self.step = tf.Variable(0, dtype=tf.int64, name="global_step")


def test_tf_module_object_paths_are_its_checkpoint_keys(tmp_path):
    net = _Net()
    prefix = tf.train.Checkpoint(model=net).write(str(tmp_path / "ckpt"))
    keys = {name for name, _ in tf.train.list_variables(prefix)} - {"_CHECKPOINTABLE_OBJECT_GRAPH"}
    paths = {f"model/{v.object_path}/.ATTRIBUTES/VARIABLE_VALUE" for v in live.from_model(net).variables}
    assert paths == keys


def test_tf_module_variables_sharing_a_name_get_distinct_keys():
    architecture = live.from_model(_Net())
    keys = [v.key for v in architecture.variables]
    assert len(keys) == len(set(keys)) == len(_Net().variables)


def test_tf_module_step_counter_is_metadata():
    kinds = {v.name: v.kind for v in live.from_model(_Net()).variables}
    assert kinds["global_step"] == records.METADATA and kinds["b"] == records.WEIGHT


def test_tf_module_framework_is_tf_module():
    assert live.from_model(_Net()).framework == live.TF_MODULE
