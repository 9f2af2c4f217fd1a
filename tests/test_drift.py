"""Value drift on real checkpoints of one model at two training steps: every figure equals
numpy's on the values TensorFlow (tf.train.load_checkpoint) or h5py load from the same files."""

import json
import os
import tempfile
import zipfile

import numpy as np
import pytest

from makers import drift as makers
from tensorboard_plugin_ckptdiff import cli, storage
from tensorboard_plugin_ckptdiff.values import drift as value_drift
from tensorboard_plugin_ckptdiff.errors import CheckpointError
from tensorboard_plugin_ckptdiff.formats import tf_bundle


@pytest.fixture(scope="session")
def keras_made(tmp_path_factory):
    return makers.keras_two_steps(str(tmp_path_factory.mktemp("keras_drift")))


@pytest.fixture(scope="session")
def tf1_made(tmp_path_factory):
    return makers.tf1_partitioned_two_steps(str(tmp_path_factory.mktemp("tf1_drift")))


@pytest.fixture(scope="session")
def mismatched(tmp_path_factory):
    return makers.mismatched_pair(str(tmp_path_factory.mktemp("mismatched")))


@pytest.fixture(scope="session")
def tf2_drift(keras_made):
    return value_drift.drift(*keras_made["tf2"])


def numpy_figures(x, y):
    x, y = np.asarray(x, np.float64).ravel(), np.asarray(y, np.float64).ravel()
    d = x - y
    l2, na, nb = np.linalg.norm(d), np.linalg.norm(x), np.linalg.norm(y)
    relative = 0.0 if l2 == 0 else (l2 / na if na else None)
    cosine = 1.0 if l2 == 0 else (float(x @ y) / (na * nb) if na and nb else None)
    return {"l2": l2, "relative": relative, "max_abs": np.abs(d).max() if len(d) else 0.0, "cosine": cosine}


def assert_equal_to_numpy(result, base_path, target_path):
    assert result.entries
    for e in result.entries:
        expected = numpy_figures(makers.loader(base_path)(base_path, e.base_key), makers.loader(target_path)(target_path, e.target_key))
        got = {"l2": e.l2, "relative": e.relative, "max_abs": e.max_abs, "cosine": e.cosine}
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), e.name


def by_layer(result):
    return {layer.layer: layer for layer in result.layers}


# ------------------------------------------------------------------ figures against numpy


def test_tf2_checkpoint_figures_equal_numpy_on_values_tf_loads(keras_made, tf2_drift):
    assert_equal_to_numpy(tf2_drift, *keras_made["tf2"])


def test_weights_h5_figures_equal_numpy_on_values_h5py_reads(keras_made):
    assert_equal_to_numpy(value_drift.drift(*keras_made["weights_h5"]), *keras_made["weights_h5"])


def test_tf1_saver_figures_equal_numpy_on_values_tf_loads(tf1_made):
    assert_equal_to_numpy(value_drift.drift(*tf1_made), *tf1_made)


def test_layer_relative_change_is_the_norm_of_its_variables_deltas_over_their_base_norm(keras_made, tf2_drift):
    base, target = keras_made["tf2"]
    hidden = [e for e in tf2_drift.entries if e.layer == "hidden"]
    deltas = [makers.tf_values(base, e.base_key).astype(np.float64) - makers.tf_values(target, e.target_key) for e in hidden]
    norms = [makers.tf_values(base, e.base_key).astype(np.float64) for e in hidden]
    expected = np.sqrt(sum((d ** 2).sum() for d in deltas)) / np.sqrt(sum((n ** 2).sum() for n in norms))
    assert len(hidden) == 2
    assert by_layer(tf2_drift)["hidden"].relative == pytest.approx(expected, rel=1e-9)


# ------------------------------------------------------------------ what training did


def test_frozen_layer_shows_zero_drift(tf2_drift):
    frozen = [e for e in tf2_drift.entries if e.layer == "frozen"]
    assert len(frozen) == 2
    assert all(e.l2 == 0 and e.max_abs == 0 and e.cosine == 1.0 for e in frozen)
    assert by_layer(tf2_drift)["frozen"].relative == 0


def test_trainable_false_tf1_variable_shows_zero_drift(tf1_made):
    result = value_drift.drift(*tf1_made)
    (frozen,) = [e for e in result.entries if e.name == "frozen"]
    assert frozen.l2 == 0 and frozen.relative == 0


def test_reinitialised_head_shows_the_largest_drift(tf2_drift):
    layers = by_layer(tf2_drift)
    assert max(layers, key=lambda name: layers[name].relative) == "head"
    assert tf2_drift.top(1)[0].layer == "head"


def test_same_model_state_in_two_formats_shows_zero_drift(keras_made):
    result = value_drift.drift(keras_made["weights_h5"].base, keras_made["keras"].base)
    assert len(result.entries) == 10
    assert all(e.l2 == 0 for e in result.entries)


def test_mixed_formats_figures_equal_numpy(keras_made):
    base, target = keras_made["weights_h5"].base, keras_made["keras"].target
    result = value_drift.drift(base, target)
    assert len(result.entries) == 10
    with zipfile.ZipFile(target) as archive, tempfile.TemporaryDirectory() as scratch:
        weights = archive.extract("model.weights.h5", scratch)  # h5py reads the archive's own weights file
        assert_equal_to_numpy(result, base, weights)


# ------------------------------------------------------------------ dtypes


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_variables_are_compared_in_float64(tf2_drift, keras_made, dtype):
    half = [e for e in tf2_drift.entries if e.dtype == dtype]
    assert len(half) == 2 and all(e.l2 > 0 for e in half)
    base, target = keras_made["tf2"]
    for e in half:
        expected = numpy_figures(makers.tf_values(base, e.base_key), makers.tf_values(target, e.target_key))
        assert (e.l2, e.cosine) == pytest.approx((expected["l2"], expected["cosine"]), rel=1e-12)


# ------------------------------------------------------------------ layouts on disk


def test_sharded_tf2_checkpoint_gives_the_figures_of_the_unsharded_one(keras_made, tf2_drift):
    base, target = keras_made["tf2_sharded"]
    bundle = tf_bundle.load_index(storage.for_path(base), base)
    assert bundle.header.num_shards > 1 and bundle.slices  # the policy split tensors across shards
    sharded = value_drift.drift(base, target)
    # Both were written from the same model state, and TF cannot restore a float16 tensor that
    # its sharding policy sliced ("Dtype half not supported"): numpy's truth comes from the
    # unsharded files, which hold the same values.
    assert_equal_to_numpy(sharded, *keras_made["tf2"])
    assert [e.to_json() for e in sharded.entries] == [e.to_json() for e in tf2_drift.entries]


def test_partitioned_variable_against_a_whole_one_equals_numpy(tf1_made):
    base, target = tf1_made
    assert "embedding" in tf_bundle.load_index(storage.for_path(base), base).slices
    assert "embedding" not in tf_bundle.load_index(storage.for_path(target), target).slices
    (embedding,) = [e for e in value_drift.drift(base, target).entries if e.name == "embedding"]
    expected = numpy_figures(makers.tf_values(base, "embedding"), makers.tf_values(target, "embedding"))
    assert embedding.l2 > 0
    got = {"l2": embedding.l2, "relative": embedding.relative, "max_abs": embedding.max_abs, "cosine": embedding.cosine}
    assert got == pytest.approx(expected, rel=1e-9)


def test_chunks_far_smaller_than_a_variable_give_the_same_figures(tf1_made, monkeypatch):
    whole = value_drift.drift(*tf1_made)
    # 3 values per read and 2 per block: slice boundaries and chunk boundaries all differ.
    monkeypatch.setattr(value_drift, "READ_BYTES", 12)
    monkeypatch.setattr(value_drift, "BLOCK_ELEMENTS", 2)
    tiny = value_drift.drift(*tf1_made)
    for a, b in zip(whole.entries, tiny.entries):
        assert (a.name, a.max_abs) == (b.name, b.max_abs)
        assert (a.l2, a.relative, a.cosine) == pytest.approx((b.l2, b.relative, b.cosine), rel=1e-12)


def test_each_bundle_index_is_parsed_once_per_drift(keras_made, monkeypatch):
    import tensorboard_plugin_ckptdiff as ckptdiff

    base, target = (ckptdiff.read(p) for p in keras_made["tf2"])
    parsed = []
    load_index = tf_bundle.load_index
    monkeypatch.setattr(tf_bundle, "load_index", lambda fs, prefix: parsed.append(prefix) or load_index(fs, prefix))
    assert len(value_drift.drift(base, target).entries) == 10
    assert sorted(parsed) == sorted(keras_made["tf2"])


# ------------------------------------------------------------------ what is not compared


def skipped_reasons(mismatched):
    return {s.name.split("/")[-1]: s.reason for s in value_drift.drift(*mismatched, kinds=None).skipped}


def test_shape_change_is_skipped_as_shape_mismatch(mismatched):
    assert skipped_reasons(mismatched)["grown"] == "shape_mismatch"


def test_dtype_change_is_skipped_as_dtype_mismatch(mismatched):
    assert skipped_reasons(mismatched)["recast"] == "dtype_mismatch"


def test_variable_only_in_base_is_skipped_as_missing(mismatched):
    assert skipped_reasons(mismatched)["gone"] == "missing"


def test_variable_only_in_target_is_skipped_as_unexpected(mismatched):
    assert skipped_reasons(mismatched)["added"] == "unexpected"


def test_string_variable_is_skipped_as_not_numeric(mismatched):
    assert skipped_reasons(mismatched)["text"] == "not_numeric"


def test_comparable_pair_beside_skipped_ones_is_compared(mismatched):
    result = value_drift.drift(*mismatched, kinds=None)
    (same,) = [e for e in result.entries if e.name.endswith("same")]
    assert same.max_abs == 1.0


def test_optimizer_state_is_left_out_unless_asked_for(keras_made):
    default = value_drift.drift(*keras_made["tf2"])
    everything = value_drift.drift(*keras_made["tf2"], kinds=("weight", "optimizer", "metadata"))
    assert {e.kind for e in default.entries} == {"weight"}
    assert "optimizer" in {e.kind for e in everything.entries}


# ------------------------------------------------------------------ progress, JSON, API, CLI


def test_progress_rises_to_one(keras_made):
    seen = []
    value_drift.drift(*keras_made["tf2"], progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0) and len(seen) == 10


def test_json_has_the_fields_api_md_promises(tf2_drift):
    body = json.loads(json.dumps(tf2_drift.to_json()))
    assert {"name", "base_key", "target_key", "l2", "relative", "max_abs", "cosine"} <= set(body["entries"][0])
    assert {"layer", "relative"} <= set(body["layers"][0])


def test_skipped_json_has_name_and_reason(mismatched):
    body = value_drift.drift(*mismatched, kinds=None).to_json()
    assert {"name", "reason"} <= set(body["skipped"][0])


def test_drift_accepts_checkpoints_read_by_the_python_api(keras_made):
    import tensorboard_plugin_ckptdiff as ckptdiff

    base, target = (ckptdiff.read(p) for p in keras_made["tf2"])
    result = ckptdiff.drift(base, target)
    assert len(result.entries) == 10


def test_cli_json_prints_the_route_json(keras_made, capsys, tf2_drift):
    assert cli.main(["drift", *keras_made["tf2"], "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["entries"] == json.loads(json.dumps(tf2_drift.to_json()))["entries"]


def test_cli_text_shows_the_top_variables_first(keras_made, capsys, tf2_drift):
    assert cli.main(["drift", *keras_made["tf2"], "--top", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("variable"))
    assert [line.split()[0] for line in lines[header + 1:header + 3]] == [e.name for e in tf2_drift.top(2)]


def test_cli_unreadable_checkpoint_exits_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.index"
    bad.write_bytes(b"not an index")
    assert cli.main(["drift", str(bad), str(bad)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_files_deleted_after_listing_give_a_checkpoint_error_not_an_os_error(keras_made, tmp_path):
    # CheckpointManager(max_to_keep) deletes old checkpoints while TensorBoard shows them.
    import glob
    import shutil

    from tensorboard_plugin_ckptdiff import formats

    base, target = keras_made["tf2"]
    copy = str(tmp_path / "doomed")
    for f in glob.glob(target + ".*"):
        shutil.copy(f, copy + f[len(target):])
    doomed = value_drift.Source.of(formats.read(copy))
    doomed.chunks(doomed.checkpoint.variables[-1], 1 << 20)  # opened, as a drift in progress has it
    for f in glob.glob(copy + ".data-*"):
        os.remove(f)
    with pytest.raises(CheckpointError, match="changed while they were read"):
        value_drift.drift(base, doomed)
