"""Architectures read from real runs through TensorBoard's own data provider."""

import os

import numpy as np
import pytest
import tensorflow as tf
from tensorboard import context
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.compat.proto import event_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from makers import runs
from tensorboard_plugin_ckptdiff import metadata, records, summary
from tensorboard_plugin_ckptdiff.architectures import events, live, spec


def _provider(logdir):
    # As TensorBoard builds it for --load_fast=false; the plugin only ever sees this API.
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    return data_provider.MultiplexerDataProvider(multiplexer, logdir)


def _read(logdir, **kwargs):
    return events.read_architectures(_provider(logdir), context.RequestContext(), "", **kwargs)


def _write_raw(run_dir, summary_pb, step=0):
    """An event written without TF, as any third-party writer could."""
    writer = EventFileWriter(run_dir)
    writer.add_event(event_pb2.Event(step=step, wall_time=1.0, summary=summary_pb))
    writer.close()


def _spec_model():
    import keras

    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4), keras.layers.BatchNormalization(),
                              keras.layers.Dense(2)], name="spec_model")
    model.compile(optimizer="sgd", loss="mse")
    model.train_on_batch(np.ones((2, 5), "float32"), np.ones((2, 2), "float32"))
    return model


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("logdir"))
    runs.added_layer(os.path.join(root, "added_layer"))
    runs.renamed_layer_tf1(os.path.join(root, "renamed_tf1"))
    runs.tf1_saver(os.path.join(root, "tf1"))
    runs.keras_fit(os.path.join(root, "fit"))
    runs.write_model_spec(os.path.join(root, "spec", "train"), _spec_model(), step=7)
    _write_raw(os.path.join(root, "corrupt", "train"),
               summary.model_spec_pb(records.Architecture(id="x", source="model_spec")), step=0)
    bad = summary.model_spec_pb(records.Architecture(id="x", source="model_spec"))
    bad.value[0].tensor.string_val[0] = b"\x1f\x8b not gzip at all"
    _write_raw(os.path.join(root, "corrupt", "train"), bad, step=1)
    return root


@pytest.fixture(scope="module")
def found(logdir):
    return _read(logdir)


def _by_source(found, run, source):
    return [a for a in found[run] if a.source == source]


def test_model_spec_reads_back_the_live_models_variables(found):
    # A second build of the same model gets new auto-generated layer names; its slots,
    # object paths, shapes and dtypes are the same.
    (architecture,) = _by_source(found, "spec/train", events.MODEL_SPEC)
    expected = live.from_model(_spec_model())
    fields = lambda v: (v.layer_path, v.index, v.object_path, v.shape, v.dtype, v.kind)  # noqa: E731
    assert [fields(v) for v in architecture.variables] == [fields(v) for v in expected.variables]


def test_model_spec_keeps_the_step_it_was_written_at(found):
    (architecture,) = _by_source(found, "spec/train", events.MODEL_SPEC)
    assert (architecture.step, architecture.status, architecture.framework) == (7, records.OK, "keras3")


def test_model_spec_callback_writes_the_fitted_models_spec_with_optimizer_state(logdir, found):
    (architecture,) = _by_source(found, "fit/train", events.MODEL_SPEC)
    kinds = {v.kind for v in architecture.variables}
    assert kinds == {records.WEIGHT, records.OPTIMIZER, records.METADATA}


def test_keras_config_from_the_tensorboard_callback_is_rebuilt_with_the_models_shapes(found):
    (config,) = _by_source(found, "fit/train", events.KERAS_CONFIG)
    (model_spec,) = _by_source(found, "fit/train", events.MODEL_SPEC)
    weights = [v for v in model_spec.variables if v.kind == records.WEIGHT]
    assert config.status == records.OK
    assert [(v.layer_path, v.index, v.shape, v.dtype) for v in config.variables] == \
        [(v.layer_path, v.index, v.shape, v.dtype) for v in weights]


def test_keras_config_without_keras_is_an_error_architecture_not_an_exception(logdir):
    def no_keras(config_json):
        raise ImportError("No module named 'keras'")

    found = _read(logdir, keras_loader=no_keras)
    (config,) = _by_source(found, "fit/train", events.KERAS_CONFIG)
    assert config.status == records.ERROR and "install keras" in config.error


def test_other_sources_still_read_when_keras_is_missing(logdir):
    found = _read(logdir, keras_loader=lambda config_json: (_ for _ in ()).throw(ImportError("no keras")))
    (model_spec,) = _by_source(found, "fit/train", events.MODEL_SPEC)
    assert model_spec.status == records.OK and model_spec.variables


def test_run_graph_lists_the_tf1_graphs_variables_under_their_scope(found):
    (graph,) = _by_source(found, "renamed_tf1/train", events.GRAPH)
    with tf.Graph().as_default():
        runs._tf1_dense("incorrect_name", [10, 64])
        runs._tf1_dense("dense_output", [64, 10])
        tf.compat.v1.train.get_or_create_global_step()
        expected = {v.op.name: tuple(v.shape.as_list()) for v in tf.compat.v1.global_variables()}
    assert {v.name: v.shape for v in graph.variables} == expected


def test_run_graph_folds_partitions_into_the_checkpoints_names(logdir, found):
    (graph,) = _by_source(found, "tf1/train", events.GRAPH)
    saved = dict(tf.train.list_variables(tf.train.latest_checkpoint(os.path.join(logdir, "tf1", "ckpt"))))
    shapes = {v.name: list(v.shape) for v in graph.variables}
    assert all(shapes[name] == shape for name, shape in saved.items())


def test_meta_graph_summary_lists_exactly_what_the_saver_saved(logdir, found):
    (meta,) = _by_source(found, "tf1/train", events.META_GRAPH)
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(os.path.join(logdir, "tf1", "ckpt")))
    dtypes = reader.get_variable_to_dtype_map()
    shapes = reader.get_variable_to_shape_map()
    assert {v.name: (list(v.shape), v.dtype) for v in meta.variables} == \
        {k: (shapes[k], dtypes[k].name) for k in shapes}


def test_runs_without_any_architecture_summary_are_absent(found):
    assert set(found) == {"added_layer/train", "renamed_tf1/train", "tf1/train", "fit/train", "spec/train",
                          "corrupt/train"}


def test_ids_are_unique_within_each_run(found):
    for archs in found.values():
        assert len({a.id for a in archs}) == len(archs)


def test_architectures_are_listed_oldest_first(found):
    for archs in found.values():
        assert [a.step for a in archs] == sorted(a.step for a in archs)


def test_bad_spec_bytes_give_an_error_architecture(found):
    (bad,) = [a for a in found["corrupt/train"] if a.step == 1]
    assert bad.status == records.ERROR and "gzip" in bad.error


def test_an_empty_but_valid_spec_reads_as_an_architecture_without_variables(found):
    (empty,) = [a for a in found["corrupt/train"] if a.step == 0]
    assert (empty.status, empty.variables) == (records.OK, ())


def test_unknown_spec_version_is_refused_with_the_version_in_the_message(tmp_path):
    import gzip
    import json

    payload = {"format": spec.FORMAT, "version": metadata.PROTO_VERSION + 1, "variables": []}
    run = str(tmp_path / "future" / "train")
    _write_raw(run, summary.model_spec_pb(records.Architecture(id="x", source="model_spec")))
    newer = summary.model_spec_pb(records.Architecture(id="x", source="model_spec"))
    newer.value[0].tensor.string_val[0] = gzip.compress(json.dumps(payload).encode())
    _write_raw(run, newer, step=5)
    (future,) = [a for a in _read(str(tmp_path))["future/train"] if a.step == 5]
    assert future.status == records.ERROR and f"version {metadata.PROTO_VERSION + 1}" in future.error


# --- the payload itself ------------------------------------------------------------------


def test_spec_bytes_round_trip_every_variable_field():
    architecture = live.from_model(_spec_model())
    again = spec.from_bytes(spec.to_bytes(architecture), id=architecture.id, source=architecture.source)
    assert again == architecture


def test_spec_bytes_are_the_same_for_the_same_model():
    # Same names included: layers named explicitly, as a deterministic demo log needs.
    first, second = (live.from_model(runs._dense_stack([4, 2], name="named")) for _ in range(2))
    assert spec.to_bytes(first) == spec.to_bytes(second)


def test_spec_refuses_a_payload_that_is_not_a_model_spec():
    with pytest.raises(spec.SpecError, match="format marker"):
        spec.from_bytes(b'{"version": 1, "variables": []}')


def test_summary_metadata_names_the_plugin_version_and_blob_data_class():
    from tensorboard.compat.proto import summary_pb2

    meta = summary.model_spec_pb(records.Architecture(id="x", source="model_spec")).value[0].metadata
    assert (meta.plugin_data.plugin_name, meta.plugin_data.content, meta.data_class) == (
        metadata.PLUGIN_NAME, str(metadata.PROTO_VERSION).encode(), summary_pb2.DATA_CLASS_BLOB_SEQUENCE)
