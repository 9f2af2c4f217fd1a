"""The rows of a diff: one Entry per pair, rename and leftover of a Pairing, with its status,
cast and detail, and which of them the loader restores."""

from __future__ import annotations

import dataclasses
from itertools import repeat
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
    base_vars, partners = paired.base_variables, paired.partners
    count = len(base_vars)
    # The rows of plain matches (a partner of the same shape and dtype, nothing to say) are made
    # together, field by field (records.entry_columns): a diff can have 100k of them. Keras 3
    # may have something to say about any pair; the others' rows are made one at a time.
    plain = [] if keras3 else [t is not None and b.shape == t.shape and b.dtype == t.dtype
                                 for b, t in zip(base_vars, partners)]
    others = [i for i, is_plain in enumerate(plain) if not is_plain] if plain else range(count)
    if len(others) * 2 <= count:
        out = records.entry_columns(count, repeat(records.MATCH), base_vars, partners, repeat(None),
                                    repeat(None), repeat(""), repeat(True))
    else:  # mostly other rows: every row is made on its own
        out, others = [None] * count, range(count)
    match, renamed_, missing = records.MATCH, records.RENAMED, records.MISSING
    missing_detail = "not in the checkpoint: it would keep its initial value"
    for i in others:
        b, t = base_vars[i], partners[i]
        if t is not None:
            if plain and plain[i]:  # only where every row is made here
                e = records.entry_row(match, b, t, None, None, "", True)
            else:
                e = _pair_entry(b, t, keras3)
                if reshaping and e.status == records.SHAPE_MISMATCH and restored.reshapes(b.shape, t.shape):
                    e = _reshaped(e)
        else:
            r = by_base.get(id(b))
            if r is not None:
                e = records.entry_row(renamed_, b, r.target, None, r.confidence,
                                      f"saved as {paired.target_path(r.target)}: {r.evidence}", False)
            else:
                e = records.entry_row(missing, b, None, None, None, missing_detail, False)
        out[i] = e
    extra = [t for t in paired.unexpected if id(t) not in renamed_targets]
    out += records.entry_columns(len(extra), repeat(records.UNEXPECTED), repeat(None), extra, repeat(None),
                                 repeat(None), repeat("in the checkpoint only: the model does not ask for it"),
                                 repeat(False))
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
