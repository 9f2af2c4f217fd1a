"""``restored`` on every entry, held against what the real loader leaves in the model: a match
the loader still skips (its layer failed, the load stopped) is not restored, and says so."""

import pytest
from makers import restore

from tensorboard_plugin_ckptdiff import api, records


def _restored(report):
    return {e.base.key for e in report.entries if e.base is not None and e.restored}


def _spec(*units):
    return {"blocks": [("dense", n, f"d{i}") for i, n in enumerate(units)], "dtype": "float32"}


def test_keras3_a_layer_whose_kernel_fails_keeps_its_initial_bias(tmp_path):
    path = str(tmp_path / "m.weights.h5")
    restore.build(_spec(4, 2)).save_weights(path)
    model = restore.build(_spec(4, 2), input_dim=5)  # first kernel (5, 4), its bias still (4,)
    report = api.compare(model, path)
    outcome = restore.keras_load(model, path)
    bias = next(e for e in report.entries if e.base.key.endswith("d0/bias"))
    assert bias.status == records.MATCH and not bias.restored
    assert _restored(report) == outcome.restored  # the next layer still loads, the load raises
    assert not outcome.ok and not report.restorable


def test_keras3_skip_mismatch_loads_what_the_entries_say(tmp_path):
    path = str(tmp_path / "m.weights.h5")
    restore.build(_spec(4, 2)).save_weights(path)
    model = restore.build(_spec(4, 2), input_dim=5)
    report = api.compare(model, path)
    assert _restored(report) == restore.keras_load(model, path, skip_mismatch=True).restored


def test_tf2_checkpoint_refusing_a_dtype_restores_nothing(tmp_path):
    path = restore.tf2_write(restore.dense_model([4, 3], dtype="float16"), str(tmp_path))
    model = restore.dense_model([4, 3])
    report = api.compare(model, path)
    assert _restored(report) == restore.tf2_read(model, path).restored == frozenset()


def test_legacy_h5_by_order_sets_values_until_the_first_shape_it_refuses(tmp_path):
    path = str(tmp_path / "m.h5")
    restore.build(_spec(4, 3, 2), framework="tf_keras").save_weights(path)
    model = restore.build(_spec(4, 3, 5), framework="tf_keras")
    report = api.compare(model, path)
    outcome = restore.keras_load(model, path)
    assert not outcome.ok and _restored(report) == outcome.restored != frozenset()


def test_legacy_h5_with_another_layer_count_sets_nothing(tmp_path):
    path = str(tmp_path / "m.h5")
    restore.build(_spec(4, 3), framework="tf_keras").save_weights(path)
    model = restore.build(_spec(4, 3, 2), framework="tf_keras")
    report = api.compare(model, path)
    assert _restored(report) == restore.keras_load(model, path).restored == frozenset()


def test_tf1_saver_missing_a_variable_restores_nothing(tmp_path):
    path = restore.tf1_save([("d0", (3, 4))], str(tmp_path / "model.ckpt"))
    layers = [("d0", (3, 4)), ("d1", (4, 2))]
    report = api.compare(restore.tf1_architecture(layers), path)
    assert _restored(report) == restore.tf1_restore(layers, path).restored == frozenset()


def test_the_text_and_json_tell_a_match_that_is_not_restored(tmp_path):
    path = str(tmp_path / "m.weights.h5")
    restore.build(_spec(4, 2)).save_weights(path)
    report = api.compare(restore.build(_spec(4, 2), input_dim=5), path)
    text = report.to_text()
    assert "match, not restored" in text and "d0/bias" in text
    rows = {e["base"]["key"]: e for e in report.to_json()["entries"]}
    assert rows["model/d0/bias"]["status"] == "match" and rows["model/d0/bias"]["restored"] is False
    assert rows["model/d1/kernel"]["restored"] is True


def test_the_counts_line_counts_in_the_verdicts_units(tmp_path):
    model = restore.dense_model([4, 2])
    model.compile(optimizer="adam", loss="mse")
    import numpy as np

    model.train_on_batch(np.ones((2, 3)), np.ones((2, 2)))
    path = str(tmp_path / "m.weights.h5")
    model.save_weights(path)
    report = api.compare(model, path)
    counts_line = report.to_text().splitlines()[2]
    assert report.restorable and "all 4 weights" in report.verdict
    assert counts_line.startswith("weights: 4 match;"), counts_line
