"""A diff's rows (diff.rows.Rows): plain rows kept as columns read exactly as the Entry objects
they stand for, and compare() makes an Entry only for the rows that are not plain."""

import collections
import dataclasses
import gc
import pickle

from makers.diff_records import checkpoint, dense, keras3_var, model, var

from tensorboard_plugin_ckptdiff import diff, records
from tensorboard_plugin_ckptdiff.diff import rows as diff_rows
from tensorboard_plugin_ckptdiff.diff import text
from tensorboard_plugin_ckptdiff.logdir.overview import Verdict

UNEXPECTED_DETAIL = "in the checkpoint only: the model does not ask for it"


def mixed(n_plain=40):
    """Every kind of row: plain matches, a shape and a dtype mismatch, a moved scope, a missing
    optimizer slot and an unexpected counter."""
    plain = [v for i in range(n_plain // 2) for v in dense(f"layer_{i:03d}", 3, 4)]
    base = model(*plain, *dense("wide", 3, 5), *dense("half", 3, 4), *dense("old_name", 2, 7),
                 var("layer_000/kernel/Adam", (3, 4), kind=records.OPTIMIZER))
    target = checkpoint(*plain, *dense("wide", 3, 4), *dense("half", 3, 4, "float16"), *dense("new_name", 2, 7),
                        var("global_step", (), "int64", kind=records.METADATA))
    return base, target


def entry_of(e: records.Entry) -> records.Entry:
    """The same row made by the dataclass itself."""
    return records.Entry(e.status, e.base, e.target, cast=e.cast, confidence=e.confidence, detail=e.detail,
                         restored=e.restored)


def test_rows_read_as_entries_equal_to_the_dataclass_and_to_a_tuple():
    report = diff.compare(*mixed())
    made = report.entries
    assert isinstance(made, diff_rows.Rows)
    one_by_one = tuple(made.at(i) for i in range(len(made)))  # before anything is read whole
    assert tuple(made) == one_by_one == tuple(entry_of(e) for e in made)
    assert made == one_by_one and made[3] == one_by_one[3] and made[-2:] == one_by_one[-2:]
    assert hash(made) == hash(one_by_one)
    by_status = collections.defaultdict(list)
    for e in made:
        by_status[e.status].append(e)
    assert [e.base.name for e in by_status[records.SHAPE_MISMATCH]] == ["wide/kernel", "wide/bias"]
    assert [e.base.name for e in by_status[records.DTYPE_MISMATCH]] == ["half/kernel", "half/bias"]
    assert {(e.base.name, e.target.name) for e in by_status[records.RENAMED]} == {
        ("old_name/kernel", "new_name/kernel"), ("old_name/bias", "new_name/bias")}
    assert [e.base.name for e in by_status[records.MISSING]] == ["layer_000/kernel/Adam"]
    # The plain rows: a match with nothing to say, restored only where the loader restores.
    plain = by_status[records.MATCH]
    assert len(plain) == 40 and all(e.detail == "" and e.cast is None and e.confidence is None for e in plain)
    assert [e.restored for e in plain] == [False] * 40  # the TF1 Saver stops: nothing is restored
    (extra,) = by_status[records.UNEXPECTED]
    assert extra == records.Entry(records.UNEXPECTED, None, extra.target, detail=UNEXPECTED_DETAIL)
    assert extra.target.name == "global_step"


def test_a_restorable_diff_restores_its_plain_matches_and_counts_them():
    base = model(*[v for i in range(30) for v in dense(f"d{i}", 2, 3)])
    target = checkpoint(*base.variables, var("global_step", (), "int64", kind=records.METADATA))
    report = diff.compare(base, target)
    assert report.restorable
    assert all(e.restored for e in report.entries if e.status == records.MATCH)
    assert report.summary == {**{s: 0 for s in records.STATUSES}, "match": 60, "unexpected": 1}


def test_compare_makes_an_entry_only_for_the_rows_that_are_not_plain():
    base, target = mixed(n_plain=2000)
    gc.collect()
    before = sum(isinstance(o, records.Entry) for o in gc.get_objects())
    report = diff.compare(base, target)

    def made():
        return sum(isinstance(o, records.Entry) for o in gc.get_objects()) - before

    assert made() == 7  # two of another shape, two of another dtype, two renamed, the missing slot
    assert len(report.entries) == 2007 + 1  # a row per base variable, and the unexpected counter
    assert len(report.entries[5:105]) == 100 and report.entries[-1].status == records.UNEXPECTED
    assert made() == 7  # a slice or a row is made on its own, and not kept
    every = list(report.entries)
    assert made() == len(every) and tuple(every) == report.entries[:]


def test_counts_summary_and_narrowing_read_the_columns_as_they_would_read_the_entries():
    report = diff.compare(*mixed())
    as_tuple = dataclasses.replace(report, entries=tuple(report.entries))
    assert report.summary == {s: sum(e.status == s for e in as_tuple.entries) for s in records.STATUSES}
    assert text.counts_line(report.entries) == text.counts_line(as_tuple.entries)
    assert "weights: 40 match, 2 shape_mismatch" in text.counts_line(report.entries)
    assert report.to_text() == as_tuple.to_text()
    assert Verdict.of(report) == Verdict.of(as_tuple)
    assert diff_rows.listed(report.entries) == diff_rows.listed(as_tuple.entries)
    for kinds in ("weight", "optimizer", "metadata", ("weight", "metadata")):
        narrowed, expected = diff.narrowed(report, kinds), diff.narrowed(as_tuple, kinds)
        assert tuple(narrowed.entries) == expected.entries and narrowed.summary == expected.summary
        assert narrowed.entries.kinds() == [e.kind for e in expected.entries]


def test_a_report_pickles_and_equals_its_tuple_form():
    report = diff.compare(*mixed())
    assert report == dataclasses.replace(report, entries=tuple(report.entries))
    back = pickle.loads(pickle.dumps(report))
    assert back == report and back.summary == report.summary and back.verdict == report.verdict
    # Its rows point into its own sides again, as compare() made them.
    assert all(e.base is None or any(e.base is v for v in back.base.variables) for e in back.entries)
    assert all(e.target is None or any(e.target is v for v in back.target.variables) for e in back.entries)
    assert [e.restored for e in back.entries] == [e.restored for e in report.entries]
    hand_made = dataclasses.replace(report, entries=tuple(report.entries))  # a tuple travels as it is
    assert pickle.loads(pickle.dumps(hand_made)) == report
    assert report.to_json() == dataclasses.replace(report, entries=tuple(report.entries)).to_json()


def test_keras_rows_are_all_made_at_once():
    # The Keras loaders' rules read every row (a layer's variable count, its order).
    base = model(keras3_var("layers/dense", 0, (3, 4)), keras3_var("layers/dense", 1, (4,)))
    target = checkpoint(keras3_var("layers/dense", 0, (3, 4)), keras3_var("layers/dense", 1, (4,)),
                        format=records.KERAS_WEIGHTS_H5, flavor=None)
    report = diff.compare(base, target)
    assert report.mode == "keras_order" and report.restorable
    assert [i for i, _ in report.entries.notable()] == [0, 1]
    assert all(e.restored for e in report.entries)
