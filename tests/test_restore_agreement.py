"""The diff's verdicts held against the real loaders, run in the same test on real files.

For each case the real loader (Keras load_weights, tf.train.Checkpoint.read +
assert_existing_objects_matched, the TF1 Saver) says whether the restore finished and which
variables received saved values; the diff must say the same, per variable.
"""


import pytest
from makers import restore
from makers.restore import assert_agrees, predicted

from tensorboard_plugin_ckptdiff import api, records


# --- 1. a layer added after saving ---------------------------------------------------------------


def test_added_layer_keras3_h5_shifts_shapes_after_the_insert_and_leaves_the_last_layer_missing(tmp_path):
    path = str(tmp_path / "m.weights.h5")
    restore.dense_model([4, 3]).save_weights(path)
    model = restore.dense_model([4, 5, 3])
    report = api.compare(model, path)
    outcome = restore.keras_load(model, path)
    assert_agrees(report, outcome)
    statuses = [e.status for e in report.entries]
    assert statuses == ["match", "match", "shape_mismatch", "shape_mismatch", "missing", "missing"]
    assert report.entries[2].base.layer in outcome.error  # the verdict's layer is the one Keras names


def test_added_layer_tf2_object_based_refuses_the_shifted_shape(tmp_path):
    path = restore.tf2_write(restore.dense_model([4, 3]), str(tmp_path))
    model = restore.dense_model([4, 5, 3])
    report = api.compare(model, path)
    assert report.mode == "object_path"
    assert_agrees(report, restore.tf2_read(model, path))
    assert report.summary["shape_mismatch"] == 2 and report.summary["missing"] == 2


def test_added_layer_tf1_saver_fails_on_the_absent_layer(tmp_path):
    path = restore.tf1_save([("d0", (3, 4)), ("d1", (4, 3))], str(tmp_path / "model.ckpt"))
    layers = [("d0", (3, 4)), ("d1", (4, 5)), ("d2", (5, 3))]
    report = api.compare(restore.tf1_architecture(layers), path)
    outcome = restore.tf1_restore(layers, path)
    assert report.mode == "name"
    assert_agrees(report, outcome)
    assert {e.base.name: e.status for e in report.entries if e.base} == {
        "d0/kernel": "match", "d0/bias": "match", "d1/kernel": "shape_mismatch", "d1/bias": "shape_mismatch",
        "d2/kernel": "missing", "d2/bias": "missing", "global_step": "match"}


def test_added_layer_legacy_h5_refuses_another_layer_count(tmp_path):
    path = str(tmp_path / "m.h5")
    restore.build({"blocks": [("dense", 4, "a"), ("dense", 3, "b")], "dtype": "float32"},
                  framework="tf_keras").save_weights(path)
    model = restore.build({"blocks": [("dense", 4, "a"), ("dense", 5, "new"), ("dense", 3, "b")], "dtype": "float32"},
                          framework="tf_keras")
    report = api.compare(model, path)
    outcome = restore.keras_load(model, path)
    assert_agrees(report, outcome)
    assert "3 layers with weights but the file holds 2" in report.verdict and "Layer count mismatch" in outcome.error


# --- 2. a layer renamed ---------------------------------------------------------------------------


def test_renamed_layer_tf1_is_found_and_the_printed_assignment_map_restores_it(tmp_path):
    saved = [("dense_1", (3, 4)), ("dense_output", (4, 2))]
    path = restore.tf1_save(saved, str(tmp_path / "model.ckpt"))
    layers = [("incorrect_name", (3, 4)), ("dense_output", (4, 2))]
    report = api.compare(restore.tf1_architecture(layers), path)
    assert_agrees(report, restore.tf1_restore(layers, path))
    assert {(e.base.name, e.target.name) for e in report.entries if e.status == records.RENAMED} == {
        ("incorrect_name/kernel", "dense_1/kernel"), ("incorrect_name/bias", "dense_1/bias")}
    assert dict(report.fix.assignment_map) == {"dense_1/": "incorrect_name/"}
    snippet = next(s.code for s in report.fix.snippets if "init_from_checkpoint" in s.code)
    loaded = restore.tf1_initialized_by(layers, snippet)
    saved_values = restore.tf1_values(path)
    for name, value in loaded.items():
        source = name.replace("incorrect_name/", "dense_1/")
        assert (value == saved_values[source]).all(), name


def test_renamed_layer_keras3_h5_still_restores_and_the_verdict_says_why(tmp_path):
    path = str(tmp_path / "m.weights.h5")
    restore.dense_model([4, 2], names=["dense_1", "dense_output"]).save_weights(path)
    model = restore.dense_model([4, 2], names=["incorrect_name", "dense_output"])
    report = api.compare(model, path)
    assert_agrees(report, restore.keras_load(model, path))
    assert report.restorable and "Keras 3 keys layers by class and order, not by name" in report.verdict


def test_renamed_layer_tf2_object_based_restores_because_paths_follow_the_layer_list(tmp_path):
    path = restore.tf2_write(restore.dense_model([4, 2], names=["dense_1", "dense_output"]), str(tmp_path))
    model = restore.dense_model([4, 2], names=["incorrect_name", "dense_output"])
    report = api.compare(model, path)
    assert_agrees(report, restore.tf2_read(model, path))


# --- 3. a dtype change ----------------------------------------------------------------------------


def test_float16_saved_float32_expected_is_refused_by_tf2_with_a_safe_cast(tmp_path):
    path = restore.tf2_write(restore.dense_model([4], dtype="float16"), str(tmp_path))
    model = restore.dense_model([4], dtype="float32")
    report = api.compare(model, path)
    assert_agrees(report, restore.tf2_read(model, path))
    assert {e.cast for e in report.entries if e.status == records.DTYPE_MISMATCH} == {"safe"}


@pytest.mark.parametrize("saved, expected, cast", [("float16", "float32", "safe"), ("float32", "float16", "lossy")])
def test_keras3_h5_casts_a_dtype_change(tmp_path, saved, expected, cast):
    path = str(tmp_path / "m.weights.h5")
    restore.dense_model([4], dtype=saved).save_weights(path)
    model = restore.dense_model([4], dtype=expected)
    report = api.compare(model, path)
    assert_agrees(report, restore.keras_load(model, path))
    assert report.restorable
    assert {e.cast for e in report.entries if e.status == records.DTYPE_MISMATCH} == {cast}


def test_tf1_saver_refuses_a_dtype_change(tmp_path):
    layers = [("d0", (3, 4))]
    path = restore.tf1_save(layers, str(tmp_path / "model.ckpt"), dtype="float16")
    report = api.compare(restore.tf1_architecture(layers, "float32"), path)
    assert_agrees(report, restore.tf1_restore(layers, path, "float32"))
    assert report.summary["dtype_mismatch"] == 2


# --- a shape changed under the TF1 Saver: a resource variable takes it, a ref variable refuses it ----

_SAVED = [("d0", (3, 4)), ("d1", (4, 3))]
_WIDER = [("d0", (3, 4)), ("d1", (4, 5))]


def test_tf1_saver_assigns_a_resource_variable_the_checkpoints_shape_and_the_verdict_says_so(tmp_path):
    path = restore.tf1_save(_SAVED, str(tmp_path / "model.ckpt"))
    architecture = restore.tf1_architecture(_WIDER)  # TF2's default variables, in graph mode too
    report = api.compare(architecture, path)
    outcome = restore.tf1_restore(_WIDER, path)
    assert outcome.ok, outcome.error  # the Saver raises nothing
    assert_agrees(report, outcome)
    assert report.restorable
    assert "d1/kernel would hold (4, 3) where the graph declares (4, 5)" in report.verdict
    mismatched = {e.base.name: e for e in report.entries if e.status == records.SHAPE_MISMATCH}
    assert set(mismatched) == {"d1/kernel", "d1/bias"}
    assert all(e.restored and "without checking its shape" in e.detail for e in mismatched.values())
    # The fix restores the rest and leaves the layer whose shape changed at its initializer: run it.
    (snippet,) = report.fix.snippets
    assert set(snippet.restores) == {"d0/kernel", "d0/bias", "global_step"}
    loaded, saved = restore.tf1_initialized_by(_WIDER, snippet.code), restore.tf1_values(path)
    for name in snippet.restores:
        assert (loaded[name] == saved[name]).all(), name
    assert loaded["d1/kernel"].shape == (4, 5)


def test_tf1_saver_refuses_another_shape_for_a_ref_variable(tmp_path):
    path = restore.tf1_save(_SAVED, str(tmp_path / "model.ckpt"), resource=False)
    architecture = restore.tf1_architecture(_WIDER, resource=False)  # as after disable_v2_behavior()
    report = api.compare(architecture, path)
    outcome = restore.tf1_restore(_WIDER, path, resource=False)
    assert not outcome.ok
    assert_agrees(report, outcome)
    assert report.verdict == "Not restorable: layer d1 expects kernel (4, 5) but the checkpoint holds (4, 3)."


# --- fine-tuning a keras.applications model -----------------------------------------------------


def _mobilenet(classes):
    import keras

    return keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), weights=None, classes=classes, minimalistic=True, include_top=True)


def test_fine_tuning_head_is_the_only_shape_mismatch_and_skip_mismatch_loads_the_rest(tmp_path):
    path = str(tmp_path / "pretrained.weights.h5")
    _mobilenet(1000).save_weights(path)
    model = _mobilenet(10)
    report = api.compare(model, path)
    assert_agrees(report, restore.keras_load(model, path))
    mismatched = [e for e in report.entries if e.status == records.SHAPE_MISMATCH]
    head = [v.path for v in model.layers[-1].weights] or [v.path for v in model.get_layer("logits").weights]
    assert sorted(e.base.key for e in mismatched) == sorted(head)
    assert report.summary["match"] == len(report.entries) - 2
    snippet = next(s.code for s in report.fix.snippets if "skip_mismatch=True" in s.code)
    outcome = restore.keras_load(model, path, skip_mismatch=True)
    assert outcome.ok and outcome.restored == predicted(report)
    assert "skip_mismatch=True" in snippet
