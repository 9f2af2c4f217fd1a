"""The rename search on hand-built records: scope moves, single renames, and no false renames."""

from makers.diff_records import checkpoint, dense, model, statuses, var

from tensorboard_plugin_ckptdiff import diff, records


def test_a_renamed_layer_is_found_with_its_whole_scope_and_a_scope_assignment_map():
    base = model(*dense("incorrect_name", 10, 64), *dense("dense_output", 64, 10))
    target = checkpoint(*dense("dense_1", 10, 64), *dense("dense_output", 64, 10))
    report = diff.compare(base, target)
    found = statuses(report)
    assert found[("incorrect_name/kernel", "dense_1/kernel")] == records.RENAMED
    assert found[("incorrect_name/bias", "dense_1/bias")] == records.RENAMED
    assert dict(report.fix.assignment_map) == {"dense_1/": "incorrect_name/"}


def test_a_renamed_pair_counts_as_not_restored_by_name():
    report = diff.compare(model(*dense("new", 3, 4)), checkpoint(*dense("old", 3, 4)))
    assert report.summary["renamed"] == 2 and not report.restorable


def test_a_whole_scope_rename_outranks_a_single_candidate_confidence():
    report = diff.compare(model(*dense("new", 3, 4)), checkpoint(*dense("old", 3, 4)))
    assert all(e.confidence >= 0.9 for e in report.entries)


def test_unrelated_variables_of_equal_shape_in_layers_that_stayed_are_not_paired():
    # a.bias left the model, b.extra joined the checkpoint: both layers exist on both sides.
    base = model(*dense("a", 4, 4), var("b/kernel", (4, 4)))
    target = checkpoint(var("a/kernel", (4, 4)), var("b/kernel", (4, 4)), var("b/extra", (4,)))
    found = statuses(diff.compare(base, target))
    assert found[("a/bias", None)] == records.MISSING
    assert found[(None, "b/extra")] == records.UNEXPECTED


def test_a_variable_renamed_inside_a_layer_that_stayed_is_found():
    base = model(var("d/kernel", (3, 4)), var("d/b", (4,)))
    target = checkpoint(*dense("d", 3, 4))
    assert statuses(diff.compare(base, target))[("d/b", "d/bias")] == records.RENAMED


def test_different_shapes_are_never_a_rename():
    report = diff.compare(model(*dense("new", 3, 4)), checkpoint(*dense("old", 3, 5)))
    assert report.summary["renamed"] == 0


def test_two_identical_scopes_renamed_pair_by_the_numbers_in_their_names():
    base = model(*dense("block_1/attn", 4, 4), *dense("block_2/attn", 4, 4), *dense("block_1/other", 2, 2))
    target = checkpoint(*dense("block_1/attention", 4, 4), *dense("block_2/attention", 4, 4),
                        *dense("block_1/other", 2, 2))
    found = statuses(diff.compare(base, target))
    assert found[("block_1/attn/kernel", "block_1/attention/kernel")] == records.RENAMED
    assert found[("block_2/attn/kernel", "block_2/attention/kernel")] == records.RENAMED


def test_a_scope_rename_is_ambiguous_when_two_moved_scopes_look_alike_and_nothing_tells_them_apart():
    base = model(*dense("x", 4, 4), *dense("y", 4, 4))
    target = checkpoint(*dense("p", 4, 4), *dense("q", 4, 4))
    assert diff.compare(base, target).summary["renamed"] == 0
