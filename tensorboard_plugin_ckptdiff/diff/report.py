"""The diff's answer: a Report (records in, records out) with its JSON and text forms."""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.diff import text


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
