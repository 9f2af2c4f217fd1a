"""The rows of a diff: one Entry per pair, rename and leftover of a Pairing, with its status,
cast and detail, and which of them the loader restores."""

from __future__ import annotations

import dataclasses
from typing import List, Sequence, Tuple

from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.diff import casting, pairing, renamed, restored, verdict
from tensorboard_plugin_ckptdiff.records import shape_text


def restored_keys(base, target, mode: str = "auto") -> Tuple[str, ...]:
    """Keys of the base variables the loader of ``mode`` leaves holding saved values (no fix,
    no rename search: what a snippet's promise is computed with)."""
    paired = pairing.pair(base, target, mode)
    entries = entries_of(paired, ())
    judged = verdict.judge(paired.loader, entries)
    flags = restored.flags(paired.loader, entries, judged.failed)
    return tuple(e.base.key for e, flag in zip(entries, flags) if flag)


def entries_of(paired: pairing.Pairing, renames: Sequence[renamed.Rename]) -> List[records.Entry]:
    """One row per base variable, in the pairing's order, then one per unexpected target that no
    rename took (fix.py reads the base variables' rows by that order)."""
    by_base = {id(r.base): r for r in renames}
    renamed_targets = {id(r.target) for r in renames}
    keras3 = paired.loader == pairing.KERAS3
    reshaping = paired.mode == pairing.TRANSFORMERS
    missing_detail = "not in the checkpoint: it would keep its initial value"
    out = []
    append = out.append
    # Entry's fields in order (status, base, target, cast, confidence, detail, restored), through
    # records.entry_row: a diff can have 100k rows.
    entry = records.entry_row
    match, renamed_, missing = records.MATCH, records.RENAMED, records.MISSING
    for b, t in zip(paired.base_variables, paired.partners):
        if t is not None:
            # The common case first, without a call: same shape, same dtype, nothing to say.
            if b.shape == t.shape and b.dtype == t.dtype and not keras3:
                append(entry(match, b, t, None, None, "", True))
            else:
                e = _pair_entry(b, t, keras3)
                if reshaping and e.status == records.SHAPE_MISMATCH and restored.reshapes(b.shape, t.shape):
                    e = _reshaped(e)
                append(e)
            continue
        r = by_base.get(id(b))
        if r is not None:
            append(entry(renamed_, b, r.target, None, r.confidence,
                         f"saved as {paired.target_path(r.target)}: {r.evidence}", False))
        else:
            append(entry(missing, b, None, None, None, missing_detail, False))
    unexpected_detail = "in the checkpoint only: the model does not ask for it"
    for t in paired.unexpected:
        if id(t) not in renamed_targets:
            append(entry(records.UNEXPECTED, None, t, None, None, unexpected_detail, False))
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
