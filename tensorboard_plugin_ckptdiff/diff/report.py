"""The diff's answer: a Report (records in, records out) with its JSON and text forms."""

from __future__ import annotations

import copyreg
import dataclasses
from itertools import repeat
from typing import List, Mapping, Optional, Sequence

from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.diff import rows, text


@dataclasses.dataclass(frozen=True)
class Report:
    """The answer to "would this restore?": entries, counts, verdicts and the fix."""

    base: object  # Checkpoint or Architecture
    target: object
    mode: str
    restorable: bool
    resumable: bool
    verdict: str
    summary: Mapping[str, int]
    # compare()'s is a rows.Rows: a Sequence of Entry whose plain rows are made when read, equal
    # to the tuple of its rows (a narrowed report or one built by hand may hold that tuple).
    entries: Sequence[records.Entry]
    fix: records.Fix

    def __reduce__(self):
        # To a reader process (the tab plans a remap there): compare()'s rows point into both
        # sides' variables, which travel packed (records.variables_packed); the rows travel as
        # positions in them and point into the sides again on arrival, rather than each
        # variable pickled a second time, one by one.
        made, state = self.entries, dict(self.__dict__)
        if isinstance(made, rows.Rows):
            base = _positions(made.base, self.base)
            target = _positions(made.target, self.target)
            if base is not None and target is not None:
                del state["entries"]
                notable = [(i, e.status, e.cast, e.confidence, e.detail) for i, e in made.notable()]
                return _with_rows, (state, made.status, base, target, notable, made.base_count, made.restored)
        return copyreg.__newobj__, (Report,), state

    def to_json(self) -> dict:
        return {
            "base": _ref_json(self.base),
            "target": _ref_json(self.target),
            "mode": self.mode,
            "restorable": self.restorable,
            "resumable": self.resumable,
            "verdict": self.verdict,
            "summary": dict(self.summary),
            "entries": [e.to_json() for e in self.entries],
            "fix": self.fix.to_json(),
        }

    def to_text(self) -> str:
        return text.report_text(self)


def _ref_json(side) -> dict:
    out = side.to_json()
    out["type"] = "checkpoint" if isinstance(side, records.Checkpoint) else "architecture"
    return out


def _positions(column: list, side) -> Optional[List[int]]:
    """Each variable's position in ``side``'s variables (-1: none), or None where one is not
    among them."""
    if not isinstance(side, (records.Checkpoint, records.Architecture)):
        return None
    at = {id(v): i for i, v in enumerate(side.variables)}
    found = list(map(at.get, map(id, column), repeat(-1)))
    return found if found.count(-1) == column.count(None) else None


def _with_rows(state: dict, status, base, target, notable, base_count, restored) -> Report:
    held_base = list(state["base"].variables) + [None]  # position -1: no variable
    held_target = list(state["target"].variables) + [None]
    base, target = list(map(held_base.__getitem__, base)), list(map(held_target.__getitem__, target))
    made: list = [None] * len(status)
    for i, status_, cast, confidence, detail in notable:  # each notable row's Entry, made again
        made[i] = records.entry_row(status_, base[i], target[i], cast, confidence, detail, restored[i])
    entries = rows.Rows(status, base, target, made, base_count, [i for i, *_ in notable])
    entries.set_restored(restored)
    report = object.__new__(Report)
    object.__setattr__(report, "__dict__", {**state, "entries": entries})
    return report
