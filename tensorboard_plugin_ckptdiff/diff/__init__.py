"""The diff: pair a model's variables with a checkpoint's the way the real loader would, and say
what would and would not be restored, whether the restore succeeds, and what would fix it."""

from __future__ import annotations

import collections
import dataclasses
from typing import Iterable, List, Optional, Sequence, Tuple, Union

from tensorboard_plugin_ckptdiff.diff import casting, fix, pairing, renamed, restored, verdict
from tensorboard_plugin_ckptdiff import gc_pause, records
from tensorboard_plugin_ckptdiff.diff.text import shape_text
from tensorboard_plugin_ckptdiff.errors import InvalidArgument

MODES = pairing.MODES
_ORDERED_FORMATS = (records.KERAS_WEIGHTS_H5, records.KERAS_ARCHIVE, records.KERAS_LEGACY_H5)


def compare(base, target, mode: str = "auto", kinds: Union[None, str, Iterable[str]] = None) -> records.Report:
    """Diff ``target`` (what is read) against ``base`` (what it is restored into).

    Both sides are records.Checkpoint or records.Architecture. ``kinds`` narrows the entries
    and counts (not the verdicts: the loader restores every kind)."""
    wanted = _kinds(kinds)
    # Pairing makes hundreds of thousands of small objects and none of them cycles: the
    # cyclic collector would walk every variable of both sides again and again for nothing.
    with gc_pause.paused():
        return _narrowed(_compare(base, target, mode), wanted)


def narrowed(report: records.Report, kinds: Union[None, str, Iterable[str]]) -> records.Report:
    """``report`` with the entries and counts of ``kinds`` only (verdicts and fix unchanged)."""
    return _narrowed(report, _kinds(kinds))


def _narrowed(report: records.Report, wanted) -> records.Report:
    if wanted is None:
        return report
    shown = tuple(e for e in report.entries if e.kind in wanted)
    counts = collections.Counter(e.status for e in shown)
    return dataclasses.replace(report, entries=shown,
                               summary={status: counts.get(status, 0) for status in records.STATUSES})


def _compare(base, target, mode) -> records.Report:
    paired = pairing.pair(base, target, mode)
    renames: List[renamed.Rename] = []
    if paired.mode in (pairing.NAME, pairing.OBJECT_PATH, pairing.TRANSFORMERS) and paired.missing and paired.unexpected:
        renames = renamed.find(paired.missing, paired.unexpected, paired.base_paths, paired.target_paths,
                               ordered=_keeps_order(base) and _keeps_order(target))
    entries = _entries(paired, renames)
    judged = verdict.judge(paired.loader, entries)
    _mark_restored(entries, restored.flags(paired.loader, entries, judged.failed))
    remedy = fix.suggest(paired, entries, renames, fix.location(target), judged)
    counts = collections.Counter(e.status for e in entries)
    return records.Report(
        base=base, target=target, mode=paired.mode, restorable=judged.restorable,
        resumable=judged.resumable, verdict=judged.verdict,
        summary={status: counts.get(status, 0) for status in records.STATUSES},
        entries=tuple(entries), fix=remedy)


def restored_keys(base, target, mode: str = "auto") -> Tuple[str, ...]:
    """Keys of the base variables the loader of ``mode`` leaves holding saved values (no fix,
    no rename search: what a snippet's promise is computed with)."""
    paired = pairing.pair(base, target, mode)
    entries = _entries(paired, ())
    judged = verdict.judge(paired.loader, entries)
    flags = restored.flags(paired.loader, entries, judged.failed)
    return tuple(e.base.key for e, flag in zip(entries, flags) if flag)


def _kinds(kinds) -> Optional[Tuple[str, ...]]:
    if kinds is None:
        return None
    if isinstance(kinds, str):
        kinds = [k.strip() for k in kinds.split(",") if k.strip()]
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in records.KINDS]
    if unknown or not kinds:
        raise InvalidArgument(f"kinds is a subset of {', '.join(records.KINDS)}; got {', '.join(kinds) or 'nothing'}")
    return kinds


def _keeps_order(side) -> bool:
    # Bundles and safetensors store keys sorted: their order says nothing about the model's.
    return isinstance(side, records.Architecture) or side.format in _ORDERED_FORMATS


def _mark_restored(entries: List[records.Entry], flags: Sequence[bool]) -> None:
    # The entries were made a moment ago in _entries and nobody holds them yet: set the flag
    # in place rather than copy every frozen record once more (a diff can have 100k rows);
    # matches were made restored, so only the exceptions are touched.
    for e, flag in zip(entries, flags):
        if flag is not e.restored:
            object.__setattr__(e, "restored", flag)


def _entries(paired: pairing.Pairing, renames: Sequence[renamed.Rename]) -> List[records.Entry]:
    by_base = {id(r.base): r for r in renames}
    renamed_targets = {id(r.target) for r in renames}
    keras3 = paired.loader == pairing.KERAS3
    reshaping = paired.mode == pairing.TRANSFORMERS
    partner = {id(b): t for b, t in paired.pairs}
    missing_detail = "not in the checkpoint: it would keep its initial value"
    out = []
    append = out.append
    entry = records.Entry
    for b in paired.base_variables:
        t = partner.get(id(b))
        if t is not None:
            # The common case first, without a call: same shape, same dtype, nothing to say.
            if b.shape == t.shape and b.dtype == t.dtype and not keras3:
                append(entry(records.MATCH, b, t, restored=True))
            else:
                e = _pair_entry(b, t, keras3)
                if reshaping and e.status == records.SHAPE_MISMATCH and restored.reshapes(b.shape, t.shape):
                    e = _reshaped(e)
                append(e)
            continue
        r = by_base.get(id(b))
        if r is not None:
            append(entry(records.RENAMED, b, r.target, confidence=r.confidence,
                         detail=f"saved as {paired.target_paths[id(r.target)]}: {r.evidence}"))
        else:
            append(entry(records.MISSING, b, None, detail=missing_detail))
    unexpected_detail = "in the checkpoint only: the model does not ask for it"
    for t in paired.unexpected:
        if id(t) not in renamed_targets:
            append(entry(records.UNEXPECTED, None, t, detail=unexpected_detail))
    return out


def _pair_entry(b: records.Variable, t: records.Variable, keras3: bool) -> records.Entry:
    if not _same_shape(b.shape, t.shape):
        return records.Entry(records.SHAPE_MISMATCH, b, t, detail=(
            f"the model expects {shape_text(b.shape)}, the checkpoint holds {shape_text(t.shape)}"))
    if b.dtype != t.dtype:
        cast = casting.cast(t.dtype, b.dtype)
        return records.Entry(records.DTYPE_MISMATCH, b, t, cast=cast, detail=(
            f"the model expects {b.dtype}, the checkpoint holds {t.dtype} ({cast} cast)"))
    if keras3 and b.layer and t.layer and b.layer != t.layer and b.kind == records.WEIGHT:
        return records.Entry(records.MATCH, b, t, detail=verdict.renamed_layer_detail(b, t), restored=True)
    return records.Entry(records.MATCH, b, t, restored=True)


def _reshaped(entry: records.Entry) -> records.Entry:
    """transformers reshapes a value whose element count fits: say so on the row."""
    return dataclasses.replace(entry, detail=entry.detail + "; same number of values, and from_pretrained reshapes it")


def _same_shape(a, b) -> bool:
    if a == b or a is None or b is None:
        return True
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))
