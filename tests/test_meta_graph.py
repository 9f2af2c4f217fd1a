"""TF1 architectures from real GraphDefs and `.meta` files, read without TensorFlow."""

import os
from typing import NamedTuple, Set

import pytest
import tensorflow as tf

from tensorboard_plugin_ckptdiff import errors, records, storage
from tensorboard_plugin_ckptdiff.architectures import meta_graph


class Tf1Model(NamedTuple):
    prefix: str  # the Saver's checkpoint
    meta_path: str
    graph_def: bytes
    optimizer_names: Set[str]  # what TF's own optimizer says its variables are, by saved name
    local_names: Set[str]


def _partition_along_axis_1(shape, dtype):
    return [1, 2]


@pytest.fixture(scope="module")
def tf1_model(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("tf1"))
    with tf.Graph().as_default() as graph:
        ids = tf.compat.v1.placeholder(tf.int32, [None])
        embedding = tf.compat.v1.get_variable(
            "embedding", [9, 4], partitioner=tf.compat.v1.fixed_size_partitioner(3))
        wide = tf.compat.v1.get_variable("wide", [4, 6], partitioner=_partition_along_axis_1)
        kernel = tf.compat.v1.get_variable("dense/kernel", [6, 2], dtype=tf.float64)
        hidden = tf.matmul(tf.nn.embedding_lookup(embedding, ids), wide)
        loss = tf.reduce_sum(tf.matmul(tf.cast(hidden, tf.float64), kernel))
        step = tf.compat.v1.train.get_or_create_global_step()
        optimizer = tf.compat.v1.train.AdamOptimizer()
        train = optimizer.minimize(loss, global_step=step)
        tf.compat.v1.metrics.mean(loss)
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            sess.run(train, {ids: [0, 1]})
            prefix = saver.save(sess, os.path.join(directory, "model.ckpt"))

        def saved_name(v):
            info = v._save_slice_info
            return info.full_name if info else v.op.name

        return Tf1Model(prefix, prefix + ".meta", graph.as_graph_def().SerializeToString(),
                        {saved_name(v) for v in optimizer.variables()},
                        {v.op.name for v in tf.compat.v1.local_variables()})


def _saved(prefix):
    reader = tf.train.load_checkpoint(prefix)
    dtypes = reader.get_variable_to_dtype_map()
    return {k: (tuple(s), dtypes[k].name) for k, s in reader.get_variable_to_shape_map().items()}


def test_meta_file_lists_exactly_what_the_saver_saved(tf1_model):
    architecture = meta_graph.from_meta_graph_file(storage.for_path(tf1_model.meta_path), tf1_model.meta_path)
    assert {v.name: (v.shape, v.dtype) for v in architecture.variables} == _saved(tf1_model.prefix)


def test_meta_file_architecture_is_a_meta_graph_of_a_tf1_graph(tf1_model):
    architecture = meta_graph.from_meta_graph_file(None, tf1_model.meta_path, id="x", run="r")
    assert (architecture.source, architecture.framework, architecture.id, architecture.run) == (
        "meta_graph", meta_graph.FRAMEWORK, "x", "r")


def test_graph_def_folds_partitions_and_their_slots_into_the_saved_names_and_shapes(tf1_model):
    architecture = meta_graph.from_graph_def(tf1_model.graph_def)
    shapes = {v.name: (v.shape, v.dtype) for v in architecture.variables}
    assert all(shapes[name] == saved for name, saved in _saved(tf1_model.prefix).items())


def test_graph_def_lists_what_its_saver_saves_and_not_the_local_metric_variables(tf1_model):
    architecture = meta_graph.from_graph_def(tf1_model.graph_def)
    assert {v.name: (v.shape, v.dtype) for v in architecture.variables} == _saved(tf1_model.prefix)
    assert tf1_model.local_names and not tf1_model.local_names & {v.name for v in architecture.variables}


def test_graph_def_and_meta_graph_give_the_same_variables(tf1_model):
    from_graph = meta_graph.from_graph_def(tf1_model.graph_def).variables
    from_meta = meta_graph.from_meta_graph_file(None, tf1_model.meta_path).variables
    assert {(v.name, v.shape, v.dtype, v.kind) for v in from_graph} == {
        (v.name, v.shape, v.dtype, v.kind) for v in from_meta}


def test_a_saver_over_some_variables_expects_only_those(tmp_path):
    with tf.Graph().as_default() as graph:
        kept = tf.compat.v1.get_variable("kept", [2, 3])
        tf.compat.v1.get_variable("other", [4])
        tf.compat.v1.train.Saver([kept], name="partial")
    (variable,) = meta_graph.from_graph_def(graph.as_graph_def()).variables
    assert (variable.name, variable.shape) == ("kept", (2, 3))


def test_without_a_saver_metric_variables_are_left_out_by_their_names():
    with tf.Graph().as_default() as graph:
        weight = tf.compat.v1.get_variable("w", [3])
        tf.compat.v1.metrics.mean(weight)
        tf.compat.v1.metrics.accuracy(tf.constant([1]), tf.constant([1]))
        local = {v.op.name for v in tf.compat.v1.local_variables()}
    names = {v.name for v in meta_graph.from_graph_def(graph.as_graph_def()).variables}
    assert local and names == {"w"}


def _resource_and_ref_variables(saver: bool):
    """A graph with a whole resource variable, a ref one and a partitioned resource one."""
    with tf.Graph().as_default() as graph:
        tf.compat.v1.get_variable("r", [2, 3])  # TF2 behaviour: a resource variable, in graph mode too
        tf.compat.v1.get_variable("f", [3], use_resource=False)
        tf.compat.v1.get_variable("p", [4, 2], partitioner=tf.compat.v1.fixed_size_partitioner(2))
        if saver:
            tf.compat.v1.train.Saver()
        return graph.as_graph_def(), tf.compat.v1.train.export_meta_graph()


@pytest.mark.parametrize("saver, read", [(True, "graph"), (True, "meta"), (False, "meta"), (False, "graph")],
                         ids=["saver in a graph", "saver in a meta graph", "collections", "graph alone"])
def test_whole_variables_say_whether_they_are_resource_variables_and_partitioned_ones_do_not(saver, read):
    graph_def, meta = _resource_and_ref_variables(saver)
    architecture = meta_graph.from_graph_def(graph_def) if read == "graph" else meta_graph.from_meta_graph(meta)
    # The Saver assigns a whole resource variable any shape; a ref variable, or a partitioned
    # variable's slices, it refuses (tests/test_restore_agreement.py runs both).
    assert {v.name: v.resource for v in architecture.variables} == {"r": True, "f": False, "p": None}


def test_optimizer_state_is_kind_optimizer_and_the_step_is_metadata(tf1_model):
    architecture = meta_graph.from_meta_graph_file(None, tf1_model.meta_path)
    by_kind = {}
    for v in architecture.variables:
        by_kind.setdefault(v.kind, set()).add(v.name)
    assert by_kind[records.OPTIMIZER] == tf1_model.optimizer_names
    assert by_kind[records.METADATA] == {"global_step"}


def test_a_file_that_is_not_a_meta_graph_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "broken.meta"
    path.write_bytes(b"\xff\xff\xff\xff not a protobuf")
    with pytest.raises(errors.CheckpointError, match="MetaGraphDef"):
        meta_graph.from_meta_graph_file(None, str(path))


def test_a_missing_meta_file_is_a_checkpoint_error(tmp_path):
    with pytest.raises(errors.CheckpointError, match="does not exist"):
        meta_graph.from_meta_graph_file(None, str(tmp_path / "absent.meta"))


def test_a_truncated_meta_file_is_a_checkpoint_error(tf1_model, tmp_path):
    path = tmp_path / "short.meta"
    with open(tf1_model.meta_path, "rb") as f:
        path.write_bytes(f.read()[:1000])
    with pytest.raises(errors.CheckpointError):
        meta_graph.from_meta_graph_file(None, str(path))


def test_graph_without_a_saver_folds_parts_of_different_sizes_along_their_axis():
    with tf.Graph().as_default() as graph:
        # 10 rows in 3 parts: 4, 3, 3; the differing axis is the partition axis.
        embedding = tf.compat.v1.get_variable("emb", [10, 2], partitioner=tf.compat.v1.fixed_size_partitioner(3))
        full_shape = tuple(embedding.get_shape().as_list())
    (variable,) = meta_graph.from_graph_def(graph.as_graph_def()).variables
    assert (variable.name, variable.shape) == ("emb", full_shape)


def test_tf1_saver_demo_gives_one_verdict_whichever_architecture_is_the_base():
    """demo_logs/tf1_saver: its run graph (with tf.compat.v1.metrics locals) and its .meta."""
    import glob

    from tensorboard.backend.event_processing import event_file_loader

    from tensorboard_plugin_ckptdiff import api

    run = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "demo_logs", "tf1_saver")
    graphs = [event.graph_def for path in glob.glob(os.path.join(run, "train", "events.*"))
              for event in event_file_loader.EventFileLoader(path).Load() if event.HasField("graph_def")]
    assert graphs
    prefixes = sorted(p[: -len(".index")] for p in glob.glob(os.path.join(run, "ckpt", "*.index")))
    for prefix in prefixes:
        from_graph = api.compare(meta_graph.from_graph_def(graphs[-1]), prefix)
        from_meta = api.compare(meta_graph.from_meta_graph_file(None, prefix + ".meta"), prefix)
        assert (from_graph.restorable, from_graph.verdict) == (from_meta.restorable, from_meta.verdict)
        assert from_graph.restorable and from_graph.summary == from_meta.summary
