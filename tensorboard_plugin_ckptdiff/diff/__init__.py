"""The diff: pair a model's variables with a checkpoint's the way the real loader would, and say
what would and would not be restored, whether the restore succeeds, and what would fix it."""

from __future__ import annotations

import collections
import dataclasses
from typing import TYPE_CHECKING, Iterable, List, Union

from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.diff import fix, pairing, restored, rows, verdict
from tensorboard_plugin_ckptdiff.diff.report import Report

if TYPE_CHECKING:  # the rename search is imported when a diff has something to search
    from tensorboard_plugin_ckptdiff.diff import renamed

_ORDERED_FORMATS = (records.KERAS_WEIGHTS_H5, records.KERAS_ARCHIVE, records.KERAS_LEGACY_H5)


def compare(base, target, mode: str = "auto", kinds: Union[None, str, Iterable[str]] = None) -> Report:
    """Diff ``target`` (what is read) against ``base`` (what it is restored into).

    Both sides are records.Checkpoint or records.Architecture. ``kinds`` narrows the entries
    and counts (not the verdicts: the loader restores every kind)."""
    return _narrowed(_compare(base, target, mode), records.parse_kinds(kinds))


def narrowed(report: Report, kinds: Union[None, str, Iterable[str]]) -> Report:
    """``report`` with the entries and counts of ``kinds`` only (verdicts and fix unchanged)."""
    return _narrowed(report, records.parse_kinds(kinds))


def _narrowed(report: Report, wanted) -> Report:
    if wanted is None:
        return report
    entries = report.entries
    if isinstance(entries, rows.Rows):  # narrowed by its columns: its plain rows stay unmade
        shown = entries.subset(list(map(wanted.__contains__, entries.kinds())))
        counts = collections.Counter(shown.status)
    else:
        shown = tuple(e for e in entries if e.kind in wanted)
        counts = collections.Counter(e.status for e in shown)
    return dataclasses.replace(report, entries=shown,
                               summary={status: counts.get(status, 0) for status in records.STATUSES})


def _compare(base, target, mode) -> Report:
    paired = pairing.pair(base, target, mode)
    renames: List[renamed.Rename] = []
    if paired.mode in (pairing.NAME, pairing.OBJECT_PATH, pairing.TRANSFORMERS) and paired.missing and paired.unexpected:
        from tensorboard_plugin_ckptdiff.diff import renamed  # here: most diffs have nothing to search

        renames = renamed.find(paired.missing, paired.unexpected, paired.base_paths_in_order,
                               paired.target_paths_in_order, _keeps_order(base) and _keeps_order(target),
                               paired.base_path, paired.target_path)
    made = rows.entries_of(paired, renames)
    judged = verdict.judge(paired.loader, made)
    made.set_restored(restored.flags(paired.loader, made, judged.failed))
    remedy = fix.suggest(paired, made, renames, fix.location(target), judged)
    return Report(
        base=base, target=target, mode=paired.mode, restorable=judged.restorable,
        resumable=judged.resumable, verdict=judged.verdict, summary=made.counts(), entries=made, fix=remedy)


def _keeps_order(side) -> bool:
    # Bundles and safetensors store keys sorted: their order says nothing about the model's.
    return isinstance(side, records.Architecture) or side.format in _ORDERED_FORMATS
