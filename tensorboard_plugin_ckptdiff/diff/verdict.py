"""Would the real loader restore this, and would training resume: its rules, loader by loader."""

from __future__ import annotations

import collections
import dataclasses
import operator
from typing import Dict, List, Optional, Tuple

from tensorboard_plugin_ckptdiff.diff import casting
from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.diff.restored import TRANSFORMERS, assigned_any_shape, can_restore, legacy_count_problem
from tensorboard_plugin_ckptdiff.records import shape_text
from tensorboard_plugin_ckptdiff.diff.pairing import (
    KERAS3, KERAS_LEGACY, STRUCTURE_ONLY, TF1_SAVER, TF2_CHECKPOINT, TRANSFORMERS_H5, TRANSFORMERS_SAFETENSORS)

LOADER_NAMES = {
    TF2_CHECKPOINT: "tf.train.Checkpoint",
    TF1_SAVER: "the TF1 Saver",
    KERAS3: "Keras load_weights",
    KERAS_LEGACY: "Keras load_weights (legacy h5, by order)",
    TRANSFORMERS_H5: "transformers' from_pretrained (tf_model.h5)",
    TRANSFORMERS_SAFETENSORS: "transformers' from_pretrained (safetensors)",
    STRUCTURE_ONLY: "pairing by the model's structure",
}


@dataclasses.dataclass(frozen=True)
class Judgement:
    restorable: bool
    resumable: bool
    verdict: str
    failed: bool = False  # the loader itself raises (not merely leaves weights unrestored)


def judge(loader: str, rows) -> Judgement:
    """The verdict on ``rows`` (rows.Rows) under ``loader``."""
    # A plain match neither stops a loader nor is left unrestored by one that does not stop,
    # and the Keras loaders' rows are all notable: the rules below read only the notable rows
    # (a diff may have 100k rows, nearly all plain), and count the base's kinds in C.
    entries = [e for _, e in rows.notable()]
    failure = _first_failure(loader, entries)
    if failure is not None:
        if loader == STRUCTURE_ONLY:
            return Judgement(False, False, f"Different models: {failure}", failed=True)
        return Judgement(False, False, f"Not restorable: {failure}", failed=True)
    unrestored = [e for e in entries if e.status != records.MATCH and e.base is not None
                  and e.base.kind == records.WEIGHT and not _restored(loader, e)]
    if unrestored:
        return Judgement(False, False, "Not restorable: " + _unrestored_sentence(loader, unrestored))
    weights = operator.countOf(map(_kind, rows.base[:rows.base_count]), records.WEIGHT)
    state_problem = _state_problem(loader, entries, rows.base_count - weights)
    resumable = state_problem is None
    sentence = f"Restorable: all {weights} weights would be restored"
    if loader == STRUCTURE_ONLY:
        sentence = f"Same structure: all {weights} weights pair by layer order and variable order"
    notes = _notes(loader, entries)
    if notes:
        sentence += " (" + "; ".join(notes) + ")"
    if state_problem:
        sentence += f", but training would not resume as it was: {state_problem}"
    return Judgement(True, resumable, sentence + ".")


_kind = operator.attrgetter("kind")


def _restored(loader: str, e: records.Entry) -> bool:
    return can_restore(loader, e)


# --- the first thing that stops the loader -------------------------------------------------------


def _first_failure(loader: str, entries) -> Optional[str]:
    """The first thing that stops the loader, in the order the loader meets it."""
    slots = None
    if loader == KERAS_LEGACY:
        found = legacy_count_problem(entries)
        if found:
            return found
        slots = _Slots(entries, lambda v: v.layer_index, weights_only=True)
    elif loader == KERAS3:
        slots = _Slots(entries, lambda v: v.layer_path, weights_only=False)
    for e in entries:
        b, t = e.base, e.target
        if b is None:
            continue
        if slots is not None:
            found = slots.count_problem(b, state=False)
            if found:
                return found
        if e.status == records.SHAPE_MISMATCH and not _restored(loader, e):
            if loader in TRANSFORMERS:
                return (f"{b.name} expects {shape_text(b.shape)} but the checkpoint holds {shape_text(t.shape)}, "
                        "and from_pretrained raises unless ignore_mismatched_sizes=True.")
            return f"{_where(b)} expects {_leaf(b)} {shape_text(b.shape)} but the checkpoint holds {shape_text(t.shape)}."
        if e.status == records.DTYPE_MISMATCH and not _restored(loader, e):
            why = "and RestoreV2 does not cast" if e.cast != casting.INCOMPATIBLE else "and the two cannot be cast"
            return (f"{_where(b)} expects {_leaf(b)} as {b.dtype} but the checkpoint holds {t.dtype}, {why}.")
        if loader == TF1_SAVER and e.status in (records.MISSING, records.RENAMED):
            return _absent_sentence(e)
    return None


def _absent_sentence(e: records.Entry) -> str:
    name = e.base.full_name or e.base.name
    if e.status == records.RENAMED:
        return f"the checkpoint has no {name}; it looks saved as {e.target.full_name or e.target.name} (renamed)."
    return f"the checkpoint has no {name}, and the Saver needs every variable it restores."


def _unrestored_sentence(loader: str, unrestored: List[records.Entry]) -> str:
    first = unrestored[0]
    more = f" and {len(unrestored) - 1} more weights" if len(unrestored) > 1 else ""
    if first.status == records.RENAMED:
        return (f"{first.base.name}{more} would keep their initial values: the checkpoint holds it as "
                f"{first.target.name} (renamed), and {LOADER_NAMES[loader]} looks variables up by path.")
    if loader == STRUCTURE_ONLY:
        return f"{first.base.name}{more} have no counterpart in the other file."
    if loader in TRANSFORMERS:
        return (f"{first.base.name}{more} would keep their initial values: the checkpoint has no value for them "
                "(from_pretrained only warns that they are newly initialized).")
    return f"{first.base.name}{more} would keep their initial values: the checkpoint has no value for them."


class _Slots:
    """Variables per layer slot on each side: Keras loads layer by layer, and a layer whose
    variable count differs stops it (optimizer state of another count is skipped instead)."""

    def __init__(self, entries, slot_of, weights_only: bool):
        self.slot_of = slot_of
        self.base: Dict[object, int] = collections.Counter()
        self.target: Dict[object, int] = collections.Counter()
        self.owner: Dict[object, str] = {}
        self.state: Dict[object, bool] = {}
        self.reported = set()
        for e in entries:
            b, t = e.base, e.target
            if b is not None and not (weights_only and b.kind != records.WEIGHT):
                slot = slot_of(b)
                self.base[slot] += 1
                self.owner.setdefault(slot, b.layer)
                self.state[slot] = b.kind != records.WEIGHT
            if t is not None and e.status != records.RENAMED and not (weights_only and t.kind != records.WEIGHT):
                self.target[slot_of(t)] += 1

    def count_problem(self, v: records.Variable, state: bool) -> Optional[str]:
        slot = self.slot_of(v)
        if slot not in self.base or slot in self.reported or self.state[slot] != state:
            return None
        self.reported.add(slot)
        count, held = self.base[slot], self.target.get(slot, 0)
        if count == held:
            return None
        what = "the optimizer" if state else f"layer {self.owner.get(slot) or slot}"
        where = f"under {slot}" if isinstance(slot, str) else f"in the file's layer #{slot}"
        return f"{what} expects {count} variable{'s' if count != 1 else ''} but the checkpoint holds {held} {where}."


# --- resuming ----------------------------------------------------------------------------------------


def _state_problem(loader: str, entries, state_total: int) -> Optional[str]:
    """``entries``: the notable rows; ``state_total``: the base's optimizer and counter variables."""
    if loader == KERAS3:
        slots = _Slots(entries, lambda v: v.layer_path, weights_only=False)
        for e in entries:
            found = slots.count_problem(e.base, state=True) if e.base is not None else None
            if found:
                return found[:-1] + ", and Keras skips it with only a warning"
    lost = [e for e in entries if e.base is not None and e.base.kind != records.WEIGHT and not _restored(loader, e)]
    if lost:
        return f"{len(lost)} of {state_total} optimizer and counter variables would not be restored (first: {lost[0].base.name})"
    return None


# --- what a restorable verdict should still mention -----------------------------------------------------


def _notes(loader: str, entries) -> List[str]:
    notes = []
    casts = collections.Counter((e.target.dtype, e.base.dtype, e.cast) for e in entries
                                if e.status == records.DTYPE_MISMATCH and e.base.kind == records.WEIGHT)
    for (saved, expected, cast), n in casts.items():
        notes.append(f"{n} cast from {saved} to {expected}, {cast}")
    reshaped = [e for e in entries if e.status == records.SHAPE_MISMATCH and e.base.kind == records.WEIGHT
                and assigned_any_shape(loader, e.base)]
    if reshaped:
        first, n = reshaped[0], len(reshaped)
        more = f" and {n - 1} more weight{'s' if n > 2 else ''}" if n > 1 else ""
        notes.append(f"but {first.base.name}{more} would take the checkpoint's shape: the Saver assigns a "
                     f"resource variable without checking it, so {first.base.name} would hold "
                     f"{shape_text(first.target.shape)} where the graph declares {shape_text(first.base.shape)}")
    if loader == KERAS3:
        moved = _renamed_layers(entries)
        if moved:
            names = ", ".join(f"{b} from {t}" for b, t in moved[:3]) + (" ..." if len(moved) > 3 else "")
            notes.append(f"layer {names}: Keras 3 keys layers by class and order, not by name")
    return notes


def _renamed_layers(entries) -> List[Tuple[str, str]]:
    seen = {}
    for e in entries:
        if e.base is not None and e.target is not None and e.base.layer and e.target.layer \
                and e.base.kind == records.WEIGHT and e.base.layer != e.target.layer:
            seen.setdefault(e.base.layer, e.target.layer_path or e.target.layer)
    return list(seen.items())


def renamed_layer_detail(b: records.Variable, t: records.Variable) -> str:
    return (f"layer {b.layer} is loaded from {t.layer_path or t.layer}: Keras 3 keys layers by class and "
            f"order, not by name")


def _where(v: records.Variable) -> str:
    if v.layer:
        return f"layer {v.layer}"
    scope = v.name.rsplit("/", 1)[0] if "/" in v.name else None
    return f"layer {scope}" if scope else "the model"


def _leaf(v: records.Variable) -> str:
    return v.name.rsplit("/", 1)[-1] if v.layer or "/" in v.name else v.name
