"""The tensor-bundle reader against TensorFlow's own reader, on checkpoints TF writes here."""

import gc
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from makers import bundles
from tensorboard_plugin_ckptdiff import formats, records, storage
from tensorboard_plugin_ckptdiff.errors import CheckpointError
from tensorboard_plugin_ckptdiff.formats._bundle import state_file
from tensorboard_plugin_ckptdiff.formats import tf_bundle

FS = storage.for_path("/")


def _tf():
    import tensorflow as tf

    return tf


@pytest.fixture(scope="session")
def keras_ckpt(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("keras_tf2"))
    path, model, optimizer = bundles.keras_tf2_checkpoint_and_model(directory, steps=2)
    return path, model, optimizer


def _written_by(maker, name):
    @pytest.fixture(scope="session")
    def fixture(tmp_path_factory):
        return maker(str(tmp_path_factory.mktemp(name)))

    return fixture


module_ckpt = _written_by(bundles.module_checkpoint, "module")
tf1_ckpt = _written_by(bundles.tf1_saver_checkpoint, "tf1")
sharded_ckpt = _written_by(bundles.sharded_tf2_checkpoint, "sharded")
dtypes_ckpt = _written_by(bundles.all_dtypes_bundle, "dtypes")


CASES = ["keras", "module", "tf1", "sharded", "dtypes"]


@pytest.fixture(params=CASES)
def prefix(request):
    value = request.getfixturevalue(f"{request.param}_ckpt")
    return value[0] if isinstance(value, tuple) else value


def _tf_maps(path):
    reader = _tf().train.load_checkpoint(path)
    shapes = reader.get_variable_to_shape_map()
    dtypes = reader.get_variable_to_dtype_map()
    return reader, {k: (tuple(shapes[k]), dtypes[k].name) for k in shapes}


def test_keys_shapes_and_dtypes_are_those_tf_reports(prefix):
    _, expected = _tf_maps(prefix)
    checkpoint = formats.read(prefix)
    assert {v.key: (v.shape, v.dtype) for v in checkpoint.variables} == expected


def test_ls_json_text_is_json_dumps_indent_1(prefix):
    import json

    from tensorboard_plugin_ckptdiff.cli import json_listing

    checkpoint = formats.read(prefix)
    assert json_listing.ls_json(checkpoint) == json.dumps(
        {"checkpoint": checkpoint.to_json(), "variables": [v.to_json() for v in checkpoint.variables],
         "total": len(checkpoint.variables)}, indent=1)


def test_each_key_is_listed_once(prefix):
    keys = [v.key for v in formats.read(prefix).variables]
    assert len(keys) == len(set(keys))


def test_read_tensor_equals_tf_get_tensor_for_every_key(prefix):
    reader, expected = _tf_maps(prefix)
    checkpoint = formats.read(prefix)
    for key in expected:
        ours = formats.read_tensor(checkpoint, key)
        theirs = reader.get_tensor(key)
        if expected[key][1] == "string":
            assert ours.shape == np.shape(theirs) and [bytes(x) for x in ours.ravel()] == (
                [theirs] if isinstance(theirs, bytes) else [bytes(x) for x in np.ravel(theirs)]), key
        else:
            assert ours.dtype == theirs.dtype, key
            np.testing.assert_array_equal(ours, theirs, err_msg=key)


def test_every_dtype_tf_can_write_is_read(dtypes_ckpt):
    _, expected = _tf_maps(dtypes_ckpt)
    written = set(bundles.every_dtype(_tf()))
    assert set(expected) == written
    assert {v.dtype for v in formats.read(dtypes_ckpt).variables} == {d for _, d in expected.values()}


def test_size_bytes_is_what_numeric_values_occupy(dtypes_ckpt):
    reader, expected = _tf_maps(dtypes_ckpt)
    for variable in formats.read(dtypes_ckpt).variables:
        if variable.dtype != "string":
            assert variable.size_bytes == reader.get_tensor(variable.key).nbytes, variable.key


def test_sliced_tf2_variable_is_listed_once_with_full_shape_and_summed_size(sharded_ckpt):
    reader, expected = _tf_maps(sharded_ckpt)
    big = [v for v in formats.read(sharded_ckpt).variables if v.key.startswith("module/big/")]
    assert len(big) == 1
    assert big[0].shape == expected[big[0].key][0]
    assert big[0].size_bytes == reader.get_tensor(big[0].key).nbytes


def test_partitioned_tf1_variable_is_listed_once_under_its_full_name(tf1_ckpt):
    reader, expected = _tf_maps(tf1_ckpt)
    embedding = [v for v in formats.read(tf1_ckpt).variables if v.key == "embedding"]
    assert [(v.shape, v.size_bytes) for v in embedding] == [(expected["embedding"][0],
                                                            reader.get_tensor("embedding").nbytes)]


@pytest.mark.parametrize("max_bytes", [4, 100, 1000])
def test_iter_chunks_reassembles_a_two_axis_sliced_tensor(sharded_ckpt, max_bytes):
    reader, _ = _tf_maps(sharded_ckpt)
    key = "module/big/.ATTRIBUTES/VARIABLE_VALUE"
    chunks = list(tf_bundle.iter_chunks(FS, sharded_ckpt, key, max_bytes))
    expected = reader.get_tensor(key)
    np.testing.assert_array_equal(np.concatenate(chunks), expected.ravel())
    assert max(c.nbytes for c in chunks) <= max(max_bytes, expected[0].nbytes)


def test_iter_chunks_bounds_each_chunk_of_a_whole_tensor(keras_ckpt):
    prefix = keras_ckpt[0]
    reader, _ = _tf_maps(prefix)
    key = "optimizer/_trainable_variables/0/.ATTRIBUTES/VARIABLE_VALUE"
    chunks = list(tf_bundle.iter_chunks(FS, prefix, key, 8))
    assert all(c.nbytes <= 8 for c in chunks)
    np.testing.assert_array_equal(np.concatenate(chunks), reader.get_tensor(key).ravel())


def test_flavor_is_object_based_with_an_object_graph(keras_ckpt, tf1_ckpt):
    assert formats.read(keras_ckpt[0]).flavor == records.OBJECT_BASED
    assert formats.read(tf1_ckpt).flavor == records.NAME_BASED


def _tf_object_graph(prefix):
    from tensorboard.compat.proto import trackable_object_graph_pb2

    raw = _tf().train.load_checkpoint(prefix).get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH")
    return trackable_object_graph_pb2.TrackableObjectGraph.FromString(raw)


@pytest.mark.parametrize("case", ["keras", "module", "sharded"])
def test_object_graph_keeps_every_node_and_edge(request, case):
    value = request.getfixturevalue(f"{case}_ckpt")
    prefix = value[0] if isinstance(value, tuple) else value
    expected = _tf_object_graph(prefix)
    graph = formats.read(prefix).object_graph
    assert len(graph.nodes) == len(expected.nodes)
    for ours, theirs in zip(graph.nodes, expected.nodes):
        assert ours.children == tuple((c.local_name, c.node_id) for c in theirs.children)
        assert ours.attributes == tuple((a.name, a.checkpoint_key, a.full_name) for a in theirs.attributes)
        assert ours.slot_variables == tuple(
            (s.original_variable_node_id, s.slot_name, s.slot_variable_node_id) for s in theirs.slot_variables)


def test_steps_of_one_model_share_their_decoded_graph_only_while_one_is_held(keras_ckpt, module_ckpt, monkeypatch):
    latest = keras_ckpt[0]
    earlier = latest.rsplit("-", 1)[0] + "-1"  # the same model's first save, other values
    monkeypatch.setattr(tf_bundle, "_last_graph", None)
    alone = formats.read(latest)
    monkeypatch.setattr(tf_bundle, "_last_graph", None)  # forget it: `alone` is read unshared
    first = formats.read(earlier)
    second = formats.read(latest)
    # The same bytes: the second read shares the first's records, and is what a read alone is.
    assert second.object_graph is first.object_graph is not alone.object_graph
    # The same keys, shapes and dtypes as well (other values): the variables are shared too.
    assert second.variables is first.variables is not alone.variables
    assert second == alone
    # Its index too differs only in checksums: read like the first one's, as a read of its own.
    like = tf_bundle.load_index(FS, earlier)
    index_alike = tf_bundle.load_index(FS, latest, like=like)
    assert index_alike.table.alike is like.table
    assert dict.items(index_alike.entries) == dict.items(tf_bundle.load_index(FS, latest).entries)
    # Nothing is kept once no checkpoint holds the graph; other bytes share nothing.
    del first, second
    gc.collect()
    assert tf_bundle._last_graph is None and tf_bundle._last_variables is None
    other = formats.read(module_ckpt)
    assert tf_bundle._last_graph[1]() is other.object_graph
    assert formats.read(latest).object_graph is not alone.object_graph


def test_one_graph_over_other_shapes_shares_the_graph_and_not_the_variables(tmp_path, monkeypatch):
    # The object graph names variables and says nothing of their shapes: a layer made wider
    # between two saves writes the same graph bytes, and its reads must still differ there.
    tf = _tf()
    prefixes = {}
    for units in (4, 5):
        module = tf.Module()
        module.kernel = tf.Variable(tf.zeros([3, units]))
        module.bias = tf.Variable(tf.zeros([units], tf.float64 if units == 5 else tf.float32))
        prefixes[units] = tf.train.Checkpoint(model=module).write(str(tmp_path / f"units{units}" / "ckpt"))
    monkeypatch.setattr(tf_bundle, "_last_graph", None)
    narrow = formats.read(prefixes[4])
    wide = formats.read(prefixes[5])
    assert wide.object_graph is narrow.object_graph  # the same bytes, shared
    assert wide.variables is not narrow.variables
    facts = {v.name: (v.shape, v.dtype) for v in wide.variables}
    assert facts["model/kernel"] == ((3, 5), "float32") and facts["model/bias"] == ((5,), "float64")
    monkeypatch.setattr(tf_bundle, "_last_graph", None)
    assert formats.read(prefixes[5]) == wide  # what a read with nothing shared makes


def test_keras_kernels_stored_under_the_optimizer_are_named_as_the_model_names_them(keras_ckpt):
    prefix, model, _ = keras_ckpt
    checkpoint = formats.read(prefix)
    by_full_name = {v.full_name: v for v in checkpoint.variables}
    for weight in model.weights:
        variable = by_full_name[weight.path]
        assert variable.key.startswith("optimizer/_trainable_variables/")
        assert variable.name == weight.path  # what model.weights shows, not an object path
        node = checkpoint.object_graph.walk(variable.object_path)  # the key's own path stays
        assert checkpoint.object_graph.value_key(node) == variable.key
        assert variable.kind == records.WEIGHT


def test_keras_optimizer_slots_are_named_as_the_optimizer_names_them(keras_ckpt):
    prefix, _, optimizer = keras_ckpt
    checkpoint = formats.read(prefix)
    names = {v.name for v in checkpoint.variables if v.kind == records.OPTIMIZER}
    slots = {v.path for v in optimizer.variables if "momentum" in v.path or "velocity" in v.path}
    assert slots and slots <= names  # adam/sequential_hidden_kernel_momentum, not optimizer/_variables/2
    assert not any(n.startswith("optimizer/_variables/") for n in names)


def test_keras_weights_carry_their_layer_name(keras_ckpt):
    prefix, model, _ = keras_ckpt
    layers = {v.full_name: v.layer for v in formats.read(prefix).variables}
    for layer in model.layers:
        for weight in layer.weights:
            assert layers[weight.path] == layer.name


def test_keras_optimizer_state_is_optimizer_kind_and_counters_are_metadata(keras_ckpt):
    prefix, model, optimizer = keras_ckpt
    kinds = {v.full_name: v.kind for v in formats.read(prefix).variables}
    counters = {optimizer.iterations.path}
    for variable in optimizer.variables:
        expected = records.METADATA if variable.path in counters else records.OPTIMIZER
        assert kinds[variable.path] == expected, variable.path
    assert kinds["save_counter"] == records.METADATA
    assert sum(k == records.WEIGHT for k in kinds.values()) == len(model.weights)


def test_tf1_slots_are_optimizer_kind_and_global_step_metadata(tf1_ckpt):
    from tensorboard.compat.proto import meta_graph_pb2, variable_pb2

    meta = meta_graph_pb2.MetaGraphDef.FromString(open(tf1_ckpt + ".meta", "rb").read())
    trainable = meta.collection_def["trainable_variables"].bytes_list.value
    names = {variable_pb2.VariableDef.FromString(v).variable_name.split(":")[0] for v in trainable}
    names = {n.split("/part_")[0] for n in names}  # the partitioned variable's parts
    kinds = {v.key: v.kind for v in formats.read(tf1_ckpt).variables}
    assert {k for k, kind in kinds.items() if kind == records.WEIGHT} == names | {"label"}
    assert kinds["global_step"] == records.METADATA
    assert all(kinds[k] == records.OPTIMIZER for k in kinds if k.endswith(("/Adam", "/Adam_1", "_power")))


def test_tf1_step_comes_from_the_prefix(tf1_ckpt):
    assert formats.read(tf1_ckpt).step == 3


def test_metadata_reads_never_open_data_shards_of_a_name_based_bundle(tf1_ckpt):
    opened = []

    class Recording(type(FS)):
        def open(self, path):
            opened.append(path)
            return super().open(path)

    tf_bundle.read(Recording(), tf1_ckpt)
    assert opened == [tf1_ckpt + ".index"]


def test_state_file_latest_resolves_by_base_name_in_a_moved_directory(tf1_ckpt, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(os.path.dirname(tf1_ckpt), moved)
    assert open(moved / "checkpoint").read().count(os.path.dirname(tf1_ckpt)) > 0  # TF1 wrote absolute paths
    latest = state_file.latest(FS, str(moved))
    assert latest == str(moved / os.path.basename(tf1_ckpt))
    assert formats.read(str(moved)).path == latest


def test_state_file_entries_are_those_tf_lists_with_timestamps(keras_ckpt):
    directory = os.path.dirname(keras_ckpt[0])
    state = _tf().train.get_checkpoint_state(directory)
    entries = state_file.entries(FS, directory)
    assert [os.path.basename(p) for p, _ in entries] == [os.path.basename(p) for p in state.all_model_checkpoint_paths]
    assert [t for _, t in entries] == list(state.all_model_checkpoint_timestamps)
    assert state_file.latest(FS, directory) == keras_ckpt[0]


@pytest.mark.parametrize("hostile", ["../../outside/ckpt", "/etc/passwd", "..", "a/../../.."])
def test_hostile_state_file_cannot_name_a_file_outside_its_directory(tmp_path, hostile):
    (tmp_path / "checkpoint").write_text(f'model_checkpoint_path: "{hostile}"\n')
    latest = state_file.latest(FS, str(tmp_path))
    assert latest is None or os.path.dirname(latest) == str(tmp_path)
    with pytest.raises(CheckpointError):
        formats.read(str(tmp_path))


@pytest.mark.parametrize("name,claimed", [
    ("ckpt-1.index", True),
    ("ckpt-1.index.tempstate8123471234", False),
    ("ckpt-1.data-00000-of-00001", False),
    ("ckpt-1_temp/part-00000-of-00001.index", False),
    ("part-00000-of-00002.index", False),
])
def test_writer_temp_files_are_not_claimed(name, claimed):
    assert tf_bundle.claims(name) is claimed


def _ls(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "tensorboard_plugin_ckptdiff", "ls", *args],
                          capture_output=True, text=True, env=env, timeout=120)


def _ls_keys(path):
    import json

    done = _ls(path, "--json")
    assert done.returncode == 0, done.stderr
    return {v["key"] for v in json.loads(done.stdout)["variables"]}


def test_cli_ls_accepts_a_prefix_the_index_file_and_a_state_file_directory(tf1_ckpt):
    _, expected = _tf_maps(tf1_ckpt)
    for path in (tf1_ckpt, tf1_ckpt + ".index", os.path.dirname(tf1_ckpt)):
        assert _ls_keys(path) == set(expected), path


def test_cli_ls_text_lists_every_variable(keras_ckpt):
    done = _ls(keras_ckpt[0])
    assert done.returncode == 0
    for variable in formats.read(keras_ckpt[0]).variables:
        assert variable.key in done.stdout


def test_cli_ls_on_a_corrupt_index_exits_2_with_one_line(tf1_ckpt, tmp_path):
    broken = tmp_path / "broken"
    data = open(tf1_ckpt + ".index", "rb").read()
    (tmp_path / "broken.index").write_bytes(data[: len(data) // 2])
    done = _ls(str(broken))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "index" in done.stderr


def test_the_installed_ckptdiff_command_lists_a_checkpoint(tf1_ckpt):
    command = os.path.join(os.path.dirname(sys.executable), "ckptdiff")  # setup.py's console script
    done = subprocess.run([command, "ls", tf1_ckpt], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith(f"{tf1_ckpt}: tf_bundle (name_based)")
    assert subprocess.run([command, "ls", tf1_ckpt + ".missing"], capture_output=True, timeout=120).returncode == 2


def test_cli_ls_into_a_pipe_closed_early_stops_quietly(tmp_path):
    """`ckptdiff ls X | head -1`: no message about the closed pipe, the first line intact."""
    prefix = bundles.many_variables_checkpoint(str(tmp_path), 2000)  # ~200 KB: more than a pipe holds
    ls = subprocess.Popen([sys.executable, "-m", "tensorboard_plugin_ckptdiff", "ls", prefix],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = ls.stdout.readline()
    ls.stdout.close()
    stderr = ls.stderr.read()
    assert ls.wait(timeout=120) == 141, stderr
    assert first.startswith(prefix.encode()) and stderr == b"", stderr


def test_cli_ls_imports_neither_tensorflow_nor_tensorboard(keras_ckpt):
    code = ("import sys; from tensorboard_plugin_ckptdiff import cli; rc = cli.main(['ls', sys.argv[1]]); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tensorboard', 'keras')]; "
            "print('IMPORTED', bad, file=sys.stderr); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code, keras_ckpt[0]], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "IMPORTED []" in done.stderr
