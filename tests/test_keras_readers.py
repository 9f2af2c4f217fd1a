"""Keras readers against files real Keras 3 and tf-keras wrote, checked with h5py and the real loaders."""

import io
import json
import os
import shutil
import zipfile

import h5py
import ml_dtypes
import numpy as np
import pytest

from makers import keras_files
from tensorboard_plugin_ckptdiff import formats, records, storage
from tensorboard_plugin_ckptdiff.errors import CheckpointError
from tensorboard_plugin_ckptdiff.formats import keras_archive, keras_legacy_h5, keras_weights_h5

KERAS3_MODELS = ("sequential", "functional", "subclassed", "application", "trained")


@pytest.fixture(scope="session")
def keras3(tmp_path_factory):
    return keras_files.keras3_files(str(tmp_path_factory.mktemp("keras3")))


@pytest.fixture(scope="session")
def tf_keras(tmp_path_factory):
    return keras_files.tf_keras_files(str(tmp_path_factory.mktemp("tf_keras")))


# ---------------------------------------------------------------- independent h5py views


def _h5_dtype(ds) -> str:
    # Keras 3's own convention (H5IOStore): bfloat16 is a 2-byte opaque type with this attribute.
    if ds.attrs.get("dtype") == "bfloat16":
        return "bfloat16"
    return "string" if h5py.check_string_dtype(ds.dtype) is not None else ds.dtype.name


def _h5_value(ds):
    value = ds[()]
    return value.view(ml_dtypes.bfloat16) if ds.attrs.get("dtype") == "bfloat16" else value


def h5_datasets(source) -> dict:
    """key -> (shape, dtype) of every dataset h5py's own walk finds."""
    out = {}
    with h5py.File(source, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, (tuple(obj.shape), _h5_dtype(obj)))
                     if isinstance(obj, h5py.Dataset) else None)
    return out


def h5_values(source) -> dict:
    out = {}
    with h5py.File(source, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, _h5_value(obj))
                     if isinstance(obj, h5py.Dataset) else None)
    return out


def archive_member(path: str) -> io.BytesIO:
    with zipfile.ZipFile(path) as zf:
        return io.BytesIO(zf.read("model.weights.h5"))


def sharded_parts(index_path: str):
    with open(index_path) as f:
        weight_map = json.load(f)["weight_map"]
    names = dict.fromkeys(n for files in weight_map.values() for n in files)
    return [os.path.join(os.path.dirname(index_path), n) for n in names]


def listed(checkpoint) -> dict:
    return {v.key: (v.shape, v.dtype) for v in checkpoint.variables}


def assert_same_values(ours, theirs):
    assert ours.dtype == theirs.dtype
    assert ours.shape == theirs.shape
    assert ours.tobytes() == theirs.tobytes()


# ---------------------------------------------------------------- Keras 3 .weights.h5


@pytest.mark.parametrize("model", KERAS3_MODELS)
def test_weights_h5_lists_exactly_the_datasets_h5py_finds(keras3, model):
    path = keras3[f"{model}.weights.h5"]
    checkpoint = formats.read(path)
    assert checkpoint.format == records.KERAS_WEIGHTS_H5
    assert listed(checkpoint) == h5_datasets(path)


@pytest.mark.parametrize("model", KERAS3_MODELS)
def test_weights_h5_read_tensor_equals_h5py(keras3, model):
    path = keras3[f"{model}.weights.h5"]
    checkpoint = formats.read(path)
    expected = h5_values(path)
    for v in checkpoint.variables:
        assert_same_values(formats.read_tensor(checkpoint, v.key), expected[v.key])


def test_weights_h5_size_bytes_is_the_values_size(keras3):
    path = keras3["functional.weights.h5"]
    expected = h5_values(path)
    assert {v.key: v.size_bytes for v in formats.read(path).variables} == {k: a.nbytes for k, a in expected.items()}


def test_weights_h5_keys_split_into_layer_path_and_index(keras3):
    for v in formats.read(keras3["sequential.weights.h5"]).variables:
        assert v.key == f"{v.layer_path}/vars/{v.index}"
        assert v.full_name == v.key


def test_layer_path_is_the_slot_keras_loads_not_the_layer_name(keras3):
    import keras

    model = keras.saving.load_model(keras3["sequential.keras"])
    checkpoint = formats.read(keras3["sequential.weights.h5"])
    named = [v for v in checkpoint.variables if v.layer == "incorrect_name"]
    assert {v.layer_path for v in named} == {"layers/dense"}
    kernel = next(v for v in named if v.index == 0)
    np.testing.assert_array_equal(formats.read_tensor(checkpoint, kernel.key),
                                  model.get_layer("incorrect_name").kernel.numpy())


def test_nested_sublayer_variables_sit_under_attribute_paths(keras3):
    import keras

    model = keras.saving.load_model(keras3["subclassed.keras"])
    checkpoint = formats.read(keras3["subclassed.weights.h5"])
    by_key = {v.key: v for v in checkpoint.variables}
    inner_kernel = by_key["block/inner/vars/0"]
    assert inner_kernel.layer_path == "block/inner" and inner_kernel.index == 0
    np.testing.assert_array_equal(formats.read_tensor(checkpoint, inner_kernel.key), model.block.inner.kernel.numpy())


def test_optimizer_state_is_kind_optimizer_and_its_counter_metadata(keras3):
    import keras

    model = keras.saving.load_model(keras3["trained.keras"])
    checkpoint = formats.read(keras3["trained.weights.h5"])
    kinds = [v.kind for v in checkpoint.variables]
    assert kinds.count(records.WEIGHT) == len(model.weights)
    assert kinds.count(records.OPTIMIZER) + kinds.count(records.METADATA) == len(model.optimizer.variables)
    (counter,) = [v for v in checkpoint.variables if v.kind == records.METADATA]
    assert int(formats.read_tensor(checkpoint, counter.key)) == int(model.optimizer.iterations.numpy())


def test_weights_h5_names_variables_by_layer_name_and_role(keras3):
    import keras

    model = keras.saving.load_model(keras3["sequential.keras"])
    names = {v.name for v in formats.read(keras3["sequential.weights.h5"]).variables}
    expected = {f"{layer.name}/{w.name}" for layer in model.layers for w in layer.weights}
    assert names == expected


# ---------------------------------------------------------------- sharded weights


def test_sharded_index_lists_the_datasets_of_all_its_parts(keras3):
    path = keras3["sharded.weights.json"]
    parts = sharded_parts(path)
    assert len(parts) > 1
    expected = {}
    for part in parts:
        expected.update(h5_datasets(part))
    checkpoint = formats.read(path)
    assert checkpoint.format == records.KERAS_WEIGHTS_H5
    assert listed(checkpoint) == expected
    assert listed(checkpoint) == h5_datasets(keras3["trained.weights.h5"])


def test_sharded_read_tensor_equals_the_part_holding_it(keras3):
    path = keras3["sharded.weights.json"]
    expected = {}
    for part in sharded_parts(path):
        expected.update(h5_values(part))
    checkpoint = formats.read(path)
    for v in checkpoint.variables:
        assert_same_values(formats.read_tensor(checkpoint, v.key), expected[v.key])


def test_sharded_part_file_is_not_claimed_as_a_checkpoint(keras3):
    for part in sharded_parts(keras3["sharded.weights.json"]):
        name = os.path.basename(part)
        assert not any(module.claims(name) for module in formats.readers())
    assert keras_weights_h5.claims("sharded.weights.json")


def test_reading_a_sharded_part_alone_points_to_its_index(keras3):
    part = sharded_parts(keras3["sharded.weights.json"])[-1]
    with pytest.raises(CheckpointError, match="sharded.weights.json"):
        formats.read(part)


# ---------------------------------------------------------------- .keras archives


@pytest.mark.parametrize("model", KERAS3_MODELS)
def test_keras_archive_lists_exactly_the_datasets_of_its_weights_member(keras3, model):
    path = keras3[f"{model}.keras"]
    checkpoint = formats.read(path)
    assert checkpoint.format == records.KERAS_ARCHIVE
    assert listed(checkpoint) == h5_datasets(archive_member(path))


@pytest.mark.parametrize("model", ("functional", "subclassed", "trained"))
def test_keras_archive_read_tensor_equals_h5py(keras3, model):
    path = keras3[f"{model}.keras"]
    checkpoint = formats.read(path)
    expected = h5_values(archive_member(path))
    for v in checkpoint.variables:
        assert_same_values(formats.read_tensor(checkpoint, v.key), expected[v.key])


def test_keras_archive_carries_its_architecture(keras3):
    checkpoint = formats.read(keras3["functional.keras"])
    arch = checkpoint.architecture
    assert arch.source == records.KERAS_ARCHIVE and arch.status == records.OK and arch.framework == "keras3"
    assert [(v.key, v.shape, v.dtype) for v in arch.variables] == [
        (v.key, v.shape, v.dtype) for v in checkpoint.variables]


@pytest.mark.parametrize("model", ("functional", "application"))
def test_keras_archive_names_come_from_the_configs_layers(keras3, model):
    import keras

    loaded = keras.saving.load_model(keras3[f"{model}.keras"])
    checkpoint = formats.read(keras3[f"{model}.keras"])
    for v in checkpoint.architecture.variables:
        layer_name, _, role = v.name.rpartition("/")
        if role.isdigit():
            continue  # a layer whose variables the config cannot name
        layer = loaded.get_layer(layer_name)
        assert layer.weights[v.index].name == role
        np.testing.assert_array_equal(formats.read_tensor(checkpoint, v.key), layer.weights[v.index].numpy())
    named = [v for v in checkpoint.architecture.variables if not v.name.rpartition("/")[2].isdigit()]
    assert len(named) == len(checkpoint.variables)


# ---------------------------------------------------------------- HDF5 beyond what Keras writes


@pytest.fixture(scope="session")
def variety(tmp_path_factory):
    return keras_files.h5_variety(str(tmp_path_factory.mktemp("variety")))


@pytest.mark.parametrize("name", ("earliest", "latest", "userblock"))
def test_hdf5_variety_lists_exactly_the_datasets_h5py_finds(variety, name):
    # Chunked, compressed, compact, empty, scalar, big-endian, bool, string and bfloat16
    # datasets; dense link and attribute storage; soft and external links; a user block.
    assert listed(formats.read(variety[name])) == h5_datasets(variety[name])


@pytest.mark.parametrize("name", ("earliest", "latest", "userblock"))
def test_hdf5_variety_sizes_are_what_h5py_stores(variety, name):
    # A size is its elements times the stored width (bfloat16: 2 bytes), and none for strings,
    # whose width is not their size; hdf5.facts names each dtype once for all three fields.
    expected = {}
    with h5py.File(variety[name], "r") as f:
        f.visititems(lambda key, ds: expected.__setitem__(
            key, None if _h5_dtype(ds) == "string" else ds.size * ds.dtype.itemsize)
            if isinstance(ds, h5py.Dataset) else None)
    sizes = {v.key: v.size_bytes for v in formats.read(variety[name]).variables}
    assert sizes == expected
    assert any(size is None for size in sizes.values()) and any(size for size in sizes.values())


@pytest.mark.parametrize("name", ("earliest", "userblock"))
def test_hdf5_variety_values_equal_h5py(variety, name):
    checkpoint = formats.read(variety[name])
    expected = h5_values(variety[name])
    for v in checkpoint.variables:
        ours = formats.read_tensor(checkpoint, v.key)
        if v.dtype == "string":
            assert ours.tolist() == expected[v.key].tolist()
        else:
            assert_same_values(ours, expected[v.key])


def test_hdf5_variety_chunks_stream_like_whole_reads(variety):
    path = variety["earliest"]
    checkpoint = formats.read(path)
    for key in ("layers/dense/vars/0", "layers/dense/vars/1", "layers/dense/vars/8", "layers/dense/vars/9"):
        whole = formats.read_tensor(checkpoint, key)
        chunks = list(keras_weights_h5.iter_chunks(storage.for_path(path), path, key, 24))
        assert_same_values(np.concatenate(chunks), whole.reshape(-1))


def test_hdf5_chunk_index_of_libver_latest_is_refused_by_name(variety):
    # pyfive 1.3 reads B-tree chunk indexes only; Keras writes no chunked datasets at all.
    checkpoint = formats.read(variety["latest"])
    with pytest.raises(CheckpointError, match="libver 'latest'"):
        formats.read_tensor(checkpoint, "layers/dense/vars/0")
    assert_same_values(formats.read_tensor(checkpoint, "layers/dense/vars/6"),
                       h5_values(variety["latest"])["layers/dense/vars/6"])


def test_hdf5_corrupt_fletcher32_checksum_is_refused(variety, tmp_path):
    data = bytearray(open(variety["earliest"], "rb").read())
    with h5py.File(variety["earliest"], "r") as f:
        offset, size = f["layers/dense/vars/0"].id.get_chunk_info(0).byte_offset, \
            f["layers/dense/vars/0"].id.get_chunk_info(0).size
    data[offset + size - 1] ^= 0xFF  # the stored checksum's last byte
    path = tmp_path / "x.weights.h5"
    path.write_bytes(bytes(data))
    checkpoint = formats.read(str(path))
    with pytest.raises(CheckpointError, match="Fletcher-32"):
        formats.read_tensor(checkpoint, "layers/dense/vars/0")


# ---------------------------------------------------------------- legacy tf-keras .h5


@pytest.mark.parametrize("name", ("weights.h5", "model.h5"))
def test_legacy_h5_lists_exactly_the_datasets_h5py_finds(tf_keras, name):
    path = tf_keras[name]
    checkpoint = formats.read(path)
    assert checkpoint.format == records.KERAS_LEGACY_H5
    assert listed(checkpoint) == h5_datasets(path)


@pytest.mark.parametrize("name", ("weights.h5", "model.h5"))
def test_legacy_h5_read_tensor_equals_h5py(tf_keras, name):
    path = tf_keras[name]
    checkpoint = formats.read(path)
    expected = h5_values(path)
    for v in checkpoint.variables:
        assert_same_values(formats.read_tensor(checkpoint, v.key), expected[v.key])


def _weighted_layers(model):
    return [layer for layer in model.layers if layer.weights]


@pytest.mark.parametrize("name", ("weights.h5", "model.h5"))
def test_legacy_order_is_the_order_tf_keras_loads_in(tf_keras, name):
    import tf_keras as keras2

    model = keras2.models.load_model(tf_keras["model.h5"])
    weights = [v for v in formats.read(tf_keras[name]).variables if v.kind == records.WEIGHT]
    expected = [(i, j, layer.name, w.name[:-2], tuple(w.shape))
                for i, layer in enumerate(_weighted_layers(model)) for j, w in enumerate(layer.weights)]
    assert [(v.layer_index, v.index, v.layer_path, v.name, v.shape) for v in weights] == expected


def test_legacy_full_model_keys_live_under_model_weights(tf_keras):
    checkpoint = formats.read(tf_keras["model.h5"])
    for v in checkpoint.variables:
        prefix = "model_weights/" if v.kind == records.WEIGHT else "optimizer_weights/"
        assert v.key.startswith(prefix)
        assert v.full_name == v.name and not v.name.endswith(":0")


def test_legacy_optimizer_weights_are_the_optimizers_variables(tf_keras):
    import tf_keras as keras2

    model = keras2.models.load_model(tf_keras["model.h5"])
    checkpoint = formats.read(tf_keras["model.h5"])
    state = [v for v in checkpoint.variables if v.kind != records.WEIGHT]
    # tf-keras sets the optimizer's variables from optimizer_weights in this order.
    assert len(state) == len(model.optimizer.variables)
    for v, w in zip(state, model.optimizer.variables):
        assert_same_values(formats.read_tensor(checkpoint, v.key), w.numpy())
    assert [v.kind for v in state] == [records.METADATA] + [records.OPTIMIZER] * (len(state) - 1)
    assert model.optimizer.variables[0] is model.optimizer.iterations


def test_legacy_content_wins_over_a_keras3_file_name(tf_keras, tmp_path):
    renamed = str(tmp_path / "legacy.weights.h5")
    shutil.copy(tf_keras["weights.h5"], renamed)
    assert formats.read(renamed).format == records.KERAS_LEGACY_H5


def test_keras3_content_wins_over_a_legacy_file_name(keras3, tmp_path):
    renamed = str(tmp_path / "model.h5")
    shutil.copy(keras3["trained.weights.h5"], renamed)
    assert formats.read(renamed).format == records.KERAS_WEIGHTS_H5


def test_claims_by_name():
    assert keras_weights_h5.claims("run/model.weights.h5")
    assert not keras_legacy_h5.claims("model.weights.h5")
    assert keras_legacy_h5.claims("model.h5") and keras_legacy_h5.claims("model.hdf5")
    assert keras_archive.claims("model.keras")


# ---------------------------------------------------------------- chunks and remote files


@pytest.mark.parametrize("fmt,path_of", [
    ("weights_h5", lambda k3, tk: k3["application.weights.h5"]),
    ("keras_archive", lambda k3, tk: k3["application.keras"]),
    ("legacy_h5", lambda k3, tk: tk["model.h5"]),
    ("sharded", lambda k3, tk: k3["sharded.weights.json"]),
])
def test_iter_chunks_are_bounded_and_concatenate_to_the_tensor(keras3, tf_keras, fmt, path_of):
    path = path_of(keras3, tf_keras)
    checkpoint = formats.read(path)
    module = formats.reader_for_format(checkpoint.format)
    fs = storage.for_path(path)
    biggest = sorted(checkpoint.variables, key=lambda v: -v.size_bytes)[:3]
    for v in biggest:
        whole = formats.read_tensor(checkpoint, v.key)
        max_bytes = max(whole.dtype.itemsize, whole.nbytes // 5)
        chunks = list(module.iter_chunks(fs, path, v.key, max_bytes))
        assert len(chunks) > 1
        assert all(c.nbytes <= max(max_bytes, whole.shape[-1] * whole.dtype.itemsize) for c in chunks)
        assert_same_values(np.concatenate(chunks), whole.reshape(-1))


def test_remote_files_read_through_fsspec_like_local_ones(keras3, tf_keras):
    import fsspec

    memory = fsspec.filesystem("memory")
    local = {"a.weights.h5": keras3["trained.weights.h5"], "b.keras": keras3["functional.keras"],
             "c.h5": tf_keras["model.h5"]}
    for name, path in local.items():
        with open(path, "rb") as src:
            memory.pipe(f"/ckptdiff-test/{name}", src.read())
    for name, path in local.items():
        remote = formats.read(f"memory://ckptdiff-test/{name}")
        here = formats.read(path)
        assert [(v.key, v.shape, v.dtype, v.kind) for v in remote.variables] == [
            (v.key, v.shape, v.dtype, v.kind) for v in here.variables]
        key = here.variables[0].key
        assert_same_values(formats.read_tensor(remote, key), formats.read_tensor(here, key))
