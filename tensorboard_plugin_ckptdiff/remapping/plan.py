"""What a remap does to each variable of the target, read off its diff against the base.

Renamed pairs are written under the name (or at the object path) the base looks them up by.
A dtype mismatch is cast only where the effective loader would not cast it itself (RestoreV2,
the TF1 Saver) and only as far as asked: ``safe`` casts lose nothing, ``lossy`` also narrows.
Unexpected variables are dropped only when asked. For Keras 3 files, layers the file keeps in
the wrong slot (a layer inserted or removed before them) move to the slot the model reads them
from. Everything else is copied as it is; what no remap can fix (a shape) is left for the
verdict of the written file to name.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, FrozenSet, Mapping, Tuple

from tensorboard_plugin_ckptdiff.diff import casting, fix, pairing, restored
from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.errors import InvalidArgument

if TYPE_CHECKING:  # the diff package is imported when a diff is made, not to name its type
    from tensorboard_plugin_ckptdiff.diff.report import Report

SAFE = casting.SAFE
LOSSY = casting.LOSSY
CASTS = (SAFE, LOSSY)


@dataclasses.dataclass(frozen=True)
class Plan:
    report: Report
    mode: str  # the report's effective mode
    loader: str
    renames: Mapping[str, records.Variable]  # target key -> the base variable it becomes
    casts: Mapping[str, str]  # target key -> the dtype it is written as
    drops: FrozenSet[str]  # target keys left out
    kept: FrozenSet[str]  # target keys the base restores from where they are
    slot_moves: Tuple[Tuple[str, str], ...] = ()  # Keras 3: (the file's layer slot, the model's)
    left: Tuple[str, ...] = ()  # what is left as it is on purpose, one sentence each

    @property
    def base_variables(self) -> Tuple[records.Variable, ...]:
        return tuple(self.report.base.variables)

    @property
    def changes(self) -> bool:
        return bool(self.renames or self.casts or self.drops or self.slot_moves)

    def base_identity(self, base: records.Variable):
        """What the loader of this mode looks ``base`` up by: the name (name mode), the weight's
        name less the model's own (transformers), its object path (object_path)."""
        if self.mode == pairing.TRANSFORMERS:
            from tensorboard_plugin_ckptdiff.diff import from_pretrained

            identity, _ = from_pretrained.identities(self.report.base, self.report.target, self.loader)
            return identity(base)
        if self.mode == pairing.OBJECT_PATH:
            return base.object_path or base.key
        return pairing.name_of(base)

    def unsupported(self, why: str) -> InvalidArgument:
        return InvalidArgument(f"cannot remap in mode {self.mode}: {why}")


def plan(report: Report, drop_unexpected: bool = False, cast: str = SAFE) -> Plan:
    if cast not in CASTS:
        raise InvalidArgument(f"cast is one of {', '.join(CASTS)}; got {cast!r}")
    _, loader = pairing.resolve(report.base, report.target, report.mode)
    if loader == pairing.STRUCTURE_ONLY:
        raise InvalidArgument(
            "the two files pair by structure only (one model saved in two formats): no loader reads one into "
            "the other, so there is nothing to remap; diff them with another --mode")
    renames, casts, drops, kept, left = {}, {}, set(), set(), []
    allowed = (SAFE,) if cast == SAFE else (SAFE, LOSSY)
    for e in report.entries:
        if e.status == records.RENAMED:
            renames[e.target.key] = e.base
            continue
        if e.base is not None and e.target is not None:
            kept.add(e.target.key)
        if e.status == records.DTYPE_MISMATCH and loader not in restored.CASTING:
            if e.cast in allowed:
                casts[e.target.key] = e.base.dtype
            else:
                why = "pass --cast lossy to narrow it" if e.cast == LOSSY else "no cast converts them"
                left.append(f"{e.target.name} stays {e.target.dtype} ({e.cast} cast to {e.base.dtype}: {why}).")
        elif e.status == records.UNEXPECTED and drop_unexpected:
            drops.add(e.target.key)
    moves = tuple(fix.slot_moves(report.entries)) if loader == pairing.KERAS3 else ()
    return Plan(report, report.mode, loader, renames, casts, frozenset(drops), frozenset(kept), moves, tuple(left))
