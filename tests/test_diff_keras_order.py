"""Keras 3 and legacy h5 ordering rules on hand-built records."""

from makers.diff_records import checkpoint, keras3_var, legacy_var, model, statuses

from tensorboard_plugin_ckptdiff import diff, records

H5 = dict(format=records.KERAS_WEIGHTS_H5, flavor=None, path="m.weights.h5")
LEGACY = dict(format=records.KERAS_LEGACY_H5, flavor=None, path="m.h5")


def _dense3(slot, n_in, n_out, layer=None, dtype="float32"):
    return [keras3_var(slot, 0, (n_in, n_out), dtype, layer), keras3_var(slot, 1, (n_out,), dtype, layer)]


def test_an_inserted_layer_shifts_every_slot_after_it():
    base = model(*_dense3("layers/dense", 10, 64), *_dense3("layers/dense_1", 64, 32), *_dense3("layers/dense_2", 32, 10))
    target = checkpoint(*_dense3("layers/dense", 10, 64), *_dense3("layers/dense_1", 64, 10), **H5)
    report = diff.compare(base, target)
    assert report.summary == {"match": 2, "missing": 2, "unexpected": 0, "shape_mismatch": 2,
                              "dtype_mismatch": 0, "renamed": 0}
    assert not report.restorable
    assert any("skip_mismatch=True" in s.code for s in report.fix.snippets)


def test_a_renamed_layer_still_restores_and_the_verdict_says_why():
    base = model(*_dense3("layers/dense", 10, 64, layer="incorrect_name"), *_dense3("layers/dense_1", 64, 10))
    target = checkpoint(*_dense3("layers/dense", 10, 64), *_dense3("layers/dense_1", 64, 10), **H5)
    report = diff.compare(base, target)
    assert report.restorable
    assert "Keras 3 keys layers by class and order" in report.verdict
    assert "incorrect_name" in report.entries[0].detail


def test_keras3_casts_dtypes_silently():
    base = model(*_dense3("layers/dense", 3, 4))
    report = diff.compare(base, checkpoint(*_dense3("layers/dense", 3, 4, dtype="float16"), **H5))
    assert report.summary["dtype_mismatch"] == 2 and report.restorable
    assert "float16 to float32, safe" in report.verdict


def test_a_layer_with_one_variable_less_stops_keras3():
    base = model(*_dense3("layers/dense", 3, 4))
    report = diff.compare(base, checkpoint(keras3_var("layers/dense", 0, (3, 4)), **H5))
    assert not report.restorable
    assert "expects 2 variables but the checkpoint holds 1" in report.verdict


def test_optimizer_state_of_another_size_restores_weights_but_not_training():
    opt = [keras3_var("optimizer", i, (), "int64", kind=records.OPTIMIZER) for i in range(3)]
    base = model(*_dense3("layers/dense", 3, 4), *opt)
    report = diff.compare(base, checkpoint(*_dense3("layers/dense", 3, 4), *opt[:2], **H5))
    assert report.restorable and not report.resumable


def test_legacy_order_counts_layers_not_names():
    base = model(legacy_var("a", 0, 0, "kernel", (3, 4)), legacy_var("b", 0, 1, "kernel", (4, 2)))
    target = checkpoint(legacy_var("x", 0, 0, "kernel", (3, 4)), legacy_var("y", 0, 1, "kernel", (4, 2)), **LEGACY)
    report = diff.compare(base, target)
    assert report.restorable and report.summary["match"] == 2


def test_legacy_order_refuses_another_layer_count():
    base = model(legacy_var("a", 0, 0, "kernel", (3, 4)), legacy_var("b", 0, 1, "kernel", (4, 2)))
    target = checkpoint(legacy_var("a", 0, 0, "kernel", (3, 4)), **LEGACY)
    report = diff.compare(base, target)
    assert not report.restorable and "2 layers with weights but the file holds 1" in report.verdict
    assert statuses(report)[("b/kernel", None)] == records.MISSING
