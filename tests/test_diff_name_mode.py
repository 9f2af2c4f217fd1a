"""Name mode (TF1 Saver, init_from_checkpoint, safetensors) on hand-built records."""

from makers.diff_records import checkpoint, dense, model, statuses, var

from tensorboard_plugin_ckptdiff import diff, records


def test_equal_names_with_equal_shapes_match_and_restore():
    report = diff.compare(model(*dense("d", 3, 4)), checkpoint(*dense("d", 3, 4)))
    assert report.mode == "name"
    assert report.summary["match"] == 2 and report.restorable and report.resumable


def test_colon_zero_suffix_is_ignored_when_pairing():
    base = model(var("d/kernel", (3, 4), full_name="d/kernel:0"))
    report = diff.compare(base, checkpoint(var("d/kernel", (3, 4))))
    assert report.summary["match"] == 1


def test_a_different_shape_is_a_shape_mismatch_that_stops_the_saver():
    report = diff.compare(model(*dense("d", 3, 5)), checkpoint(*dense("d", 3, 4)))
    assert statuses(report)[("d/kernel", "d/kernel")] == records.SHAPE_MISMATCH
    assert not report.restorable
    assert report.verdict == "Not restorable: layer d expects kernel (3, 5) but the checkpoint holds (3, 4)."


def test_an_absent_optimizer_slot_stops_the_saver():
    base = model(*dense("d", 3, 4), var("d/kernel/Adam", (3, 4), kind=records.OPTIMIZER))
    report = diff.compare(base, checkpoint(*dense("d", 3, 4)))
    assert statuses(report)[("d/kernel/Adam", None)] == records.MISSING
    assert not report.restorable


def test_unexpected_checkpoint_keys_do_not_stop_the_saver():
    target = checkpoint(*dense("d", 3, 4), var("global_step", (), "int64", kind=records.METADATA))
    report = diff.compare(model(*dense("d", 3, 4)), target)
    assert report.summary["unexpected"] == 1 and report.restorable


def test_a_dtype_change_is_refused_by_the_saver_and_classed_as_a_safe_cast_when_widening():
    report = diff.compare(model(*dense("d", 3, 4, "float32")), checkpoint(*dense("d", 3, 4, "float16")))
    entry = report.entries[0]
    assert entry.status == records.DTYPE_MISMATCH and entry.cast == "safe"
    assert not report.restorable


def test_the_kinds_filter_narrows_entries_and_counts_but_not_the_verdict():
    base = model(*dense("d", 3, 4), var("d/kernel/Adam", (3, 4), kind=records.OPTIMIZER))
    report = diff.compare(base, checkpoint(*dense("d", 3, 4)), kinds="weight")
    assert sum(report.summary.values()) == 2 and report.summary["missing"] == 0
    assert not report.restorable


def test_an_unknown_kind_is_an_invalid_argument():
    import pytest

    from tensorboard_plugin_ckptdiff.errors import InvalidArgument

    with pytest.raises(InvalidArgument):
        diff.compare(model(), checkpoint(), kinds=["weights"])


def test_an_unknown_mode_is_an_invalid_argument():
    import pytest

    from tensorboard_plugin_ckptdiff.errors import InvalidArgument

    with pytest.raises(InvalidArgument):
        diff.compare(model(), checkpoint(), mode="by_magic")


def test_auto_mode_follows_the_target_format():
    cases = {(records.TF_BUNDLE, records.NAME_BASED): "name",
             (records.SAFETENSORS, None): "name",
             (records.KERAS_WEIGHTS_H5, None): "keras_order",
             (records.KERAS_LEGACY_H5, None): "keras_order",
             (records.KERAS_ARCHIVE, None): "keras_order",
             (records.SAVED_MODEL, records.OBJECT_BASED): "object_path",
             (records.TF_BUNDLE, records.OBJECT_BASED): "object_path"}
    for (fmt, flavor), mode in cases.items():
        assert diff.compare(model(), checkpoint(format=fmt, flavor=flavor)).mode == mode, fmt
