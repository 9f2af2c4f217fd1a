"""The text report: repeated layers folded into one row, the verdict and the fix printed."""

from makers.diff_records import checkpoint, dense, model

from tensorboard_plugin_ckptdiff import diff


def _stack(width, layers=12):
    return [v for i in range(layers) for v in dense(f"layers.{i}.attention", 4, width)]


def test_rows_that_differ_only_by_the_layer_index_fold_into_one():
    text = diff.compare(model(*_stack(5)), checkpoint(*_stack(4))).to_text()
    assert "layers.{0..11}.attention/kernel" in text
    assert "layers.3.attention" not in text


def test_the_text_ends_with_the_verdict_and_the_fix():
    report = diff.compare(model(*dense("new", 3, 4)), checkpoint(*dense("old", 3, 4)))
    text = report.to_text()
    assert report.verdict in text
    assert "old/ -> new/" in text and "init_from_checkpoint" in text
