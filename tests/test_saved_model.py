"""SavedModel directories: variables as TF's reader sees them, architecture as tf.saved_model.load does."""

import os
import subprocess
import sys

import numpy as np
import pytest

from makers import bundles
from tensorboard_plugin_ckptdiff import formats, records


@pytest.fixture(scope="session", params=["module", "keras"])
def saved_model(request, tmp_path_factory):
    maker = bundles.module_saved_model if request.param == "module" else bundles.keras_saved_model
    return maker(str(tmp_path_factory.mktemp(f"sm_{request.param}")))


def _tf():
    import tensorflow as tf

    return tf


def _bundle_maps(directory):
    reader = _tf().train.load_checkpoint(os.path.join(directory, "variables", "variables"))
    shapes = reader.get_variable_to_shape_map()
    dtypes = reader.get_variable_to_dtype_map()
    return reader, {k: (tuple(shapes[k]), dtypes[k].name) for k in shapes}


def test_saved_model_directory_reads_as_saved_model_format(saved_model):
    checkpoint = formats.read(saved_model)
    assert (checkpoint.format, checkpoint.flavor) == (records.SAVED_MODEL, records.OBJECT_BASED)


def test_variables_are_those_tf_reads_from_the_variables_bundle(saved_model):
    _, expected = _bundle_maps(saved_model)
    assert {v.key: (v.shape, v.dtype) for v in formats.read(saved_model).variables} == expected


def test_read_tensor_equals_tf_for_every_variable(saved_model):
    reader, expected = _bundle_maps(saved_model)
    checkpoint = formats.read(saved_model)
    for key, (_, dtype) in expected.items():
        if dtype != "string":
            np.testing.assert_array_equal(formats.read_tensor(checkpoint, key), reader.get_tensor(key))


def test_architecture_lists_the_variables_the_loaded_model_tracks(saved_model):
    tf = _tf()
    loaded = tf.saved_model.load(saved_model)  # the view holds it weakly
    tracked = tf.train.TrackableView(loaded).descendants()
    expected = {(v.name.split(":")[0], tuple(v.shape), v.dtype.name) for v in tracked if isinstance(v, tf.Variable)}
    architecture = formats.read(saved_model).architecture
    assert architecture.source == records.SAVED_MODEL
    assert {(v.full_name, v.shape, v.dtype) for v in architecture.variables} == expected


def test_architecture_paths_lead_to_checkpoint_values(saved_model):
    checkpoint = formats.read(saved_model)
    keys = {v.key for v in checkpoint.variables}
    for variable in checkpoint.architecture.variables:
        assert f"{variable.object_path}/.ATTRIBUTES/VARIABLE_VALUE" in keys


def test_cli_ls_lists_a_saved_model_directory(saved_model):
    _, expected = _bundle_maps(saved_model)
    done = subprocess.run([sys.executable, "-m", "tensorboard_plugin_ckptdiff", "ls", saved_model],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert all(key in done.stdout for key in expected if not key.startswith("_CHECKPOINTABLE"))


def test_truncated_saved_model_pb_is_a_checkpoint_error(saved_model, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(saved_model, copy)
    pb = copy / "saved_model.pb"
    pb.write_bytes(pb.read_bytes()[:100])
    with pytest.raises(formats.CheckpointError):
        formats.read(str(copy))
