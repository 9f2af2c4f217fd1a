"""Every run at a glance: which checkpoints restore into which run's model.

Pure functions from the listing (the records /runs shows) and a lookup of verdicts already
computed, to the rows of the overview and the cells of the cross-run matrix. Nothing here
reads a file or waits: verdicts are computed in the background (verdict_cache.py); a row or
a cell whose verdict is not there yet says ``pending``.

A row is a run and the checkpoint-only directories beside it: Keras writes ``exp/train``
(events, the model) beside ``exp/ckpt`` (checkpoints), and the user means one experiment.
"""

from __future__ import annotations

import collections
import dataclasses
import operator
from itertools import compress, repeat
from typing import TYPE_CHECKING, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from tensorboard_plugin_ckptdiff.logdir import walk
from tensorboard_plugin_ckptdiff import records

if TYPE_CHECKING:  # the diff package is imported when a diff is made, not to name its type
    from tensorboard_plugin_ckptdiff.diff.report import Report

CARRIED = "carried:"  # id prefix of an architecture a checkpoint carries (.keras, .meta, SavedModel)

# Which architecture of a run says best what the model expects (README, "A run's
# architecture comes, best first, from"). A MetaGraphDef knows which variables the Saver
# saves; a bare run graph also holds local (metric) variables, so it ranks below.
SOURCE_PREFERENCE = ("model_spec", "keras_config", "meta_graph", "graph", "keras_archive", "saved_model")

# What one checkpoint of a row says, as a mark on the row's timeline.
RESTORABLE = "restorable"
NOT_RESTORABLE = "not_restorable"
UNREADABLE = "unreadable"
INCOMPLETE = "incomplete"
PENDING = "pending"
FAILED = "failed"  # the diff itself could not be computed (an architecture that cannot be read)
READY = "ready"  # a verdict is there

# What a row says, in the order rows are shown: problems first, then what is still being
# computed, what is fine, and last what cannot be judged (unreadable files stay out of the way).
OUTCOMES = (
    "not_restorable",   # the newest readable checkpoint does not restore into the run's model
    "changed",          # it does, but an older checkpoint does not: the model changed mid-run
    "failed",           # the diff could not be computed (the architecture cannot be read)
    "not_resumable",    # the weights restore; the optimizer state or counters would not
    "pending",          # checkpoints or verdicts still being read
    "restorable",       # restorable and resumable
    "no_architecture",  # checkpoints only (the marks compare them with the newest one)
    "no_checkpoint",    # a model and no checkpoint
    "unreadable",       # no checkpoint of the run can be read
)

@dataclasses.dataclass(frozen=True)
class Verdict:
    """What one (base, checkpoint) diff says, without its entries."""

    restorable: bool
    resumable: bool
    verdict: str
    mode: str
    summary: Mapping[str, int]  # weights only: what the Diff view shows when it opens
    error: Optional[str] = None  # the diff could not be computed; the fields above are empty

    @classmethod
    def of(cls, report: Report) -> "Verdict":
        from tensorboard_plugin_ckptdiff.diff import rows as diff_rows  # imported with the report

        status, kinds, _ = diff_rows.columns(report.entries)  # the rows' columns: none is made
        weights = collections.Counter(compress(status, map(operator.eq, kinds, repeat(records.WEIGHT))))
        summary = {s: weights.get(s, 0) for s in records.STATUSES}
        return cls(report.restorable, report.resumable, report.verdict, report.mode, summary)

    @classmethod
    def failed(cls, message: str) -> "Verdict":
        return cls(False, False, "", "", {}, error=message)

    def to_json(self) -> dict:
        if self.error is not None:
            return {"state": FAILED, "error": self.error}
        return {"state": READY, "restorable": self.restorable, "resumable": self.resumable,
                "verdict": self.verdict, "mode": self.mode, "summary": dict(self.summary)}


@dataclasses.dataclass(frozen=True)
class Row:
    """One run of the overview, with the checkpoint-only runs whose checkpoints are its."""

    run: str
    runs: Tuple[str, ...]
    architecture: Optional[records.Architecture]  # the one the checkpoints restore into
    checkpoints: Tuple[records.Checkpoint, ...]  # every member run's, oldest first

    @property
    def newest(self) -> Optional[records.Checkpoint]:
        """The newest checkpoint that could be read."""
        readable = [c for c in self.checkpoints if c.status == records.OK]
        return readable[-1] if readable else None

    @property
    def base(self):
        """What the checkpoints are restored into: the architecture, else (to see whether the
        structure changed during the run) the newest readable checkpoint."""
        return self.architecture if self.architecture is not None else self.newest


def ref(side) -> Optional[str]:
    if side is None:
        return None
    return ("checkpoint:" if isinstance(side, records.Checkpoint) else "architecture:") + side.id


# ---------------------------------------------------------------- rows


def groups(architecture_runs: Iterable[str], runs: Iterable[str]) -> Dict[str, str]:
    """Run -> the run of the row it belongs to.

    A run with an architecture in its event data is its own row. Any other run belongs to
    the run with such an architecture whose parent directory holds it: the deepest such
    directory, then the longest shared path (``exp/ckpt`` with ``exp/train``; never
    ``exp2/ckpt`` with ``exp1/train``). At the top of the logdir, where every directory is
    an experiment of its own, only a lone model run takes the others in (``--logdir exp``
    holding ``train`` and ``ckpt``). Otherwise a run is a row of its own (its checkpoints
    may carry their own architecture). A run looks only at its own ancestors, so a logdir of
    thousands of runs costs thousands of lookups, not millions of comparisons."""
    models = set(architecture_runs)
    by_parent: Dict[Tuple[str, ...], List[str]] = {}
    for model in sorted(models):
        by_parent.setdefault(_parent(model), []).append(model)
    out = {}
    for run in runs:
        if run in models:
            out[run] = run
            continue
        parts = _parts(run)
        out[run] = run
        for depth in range(len(parts), -1, -1):
            candidates = by_parent.get(tuple(parts[:depth]))
            if candidates:
                # candidates are sorted: of equals, max() keeps the first name
                best = max(candidates, key=lambda m: _shared(run, m))
                if _shared(run, best) or len(candidates) == 1:
                    out[run] = best
                break
    return out


def _parts(name: str) -> List[str]:
    return [p for p in name.split("/") if p and p != "."]


def _parent(name: str) -> Tuple[str, ...]:
    return tuple(_parts(name)[:-1])


def _shared(a: str, b: str) -> int:
    n = 0
    for x, y in zip(_parts(a), _parts(b)):
        if x != y:
            break
        n += 1
    return n


def preferred_architecture(architectures: Iterable[records.Architecture]) -> Optional[records.Architecture]:
    """The readable architecture that says best what the model expects: event data before
    what a checkpoint carries, then by source (SOURCE_PREFERENCE), then the newest."""
    readable = [a for a in architectures if a.status == records.OK]
    if not readable:
        return None

    def rank(a):
        source = SOURCE_PREFERENCE.index(a.source) if a.source in SOURCE_PREFERENCE else len(SOURCE_PREFERENCE)
        return (a.id.startswith(CARRIED), source)

    best = min(rank(a) for a in readable)
    return walk.oldest_first([a for a in readable if rank(a) == best])[-1]


def rows(listing: Mapping[str, Tuple[Sequence[records.Checkpoint], Sequence[records.Architecture]]],
         run_groups: Mapping[str, str]) -> List[Row]:
    """The overview's rows, by run name. ``listing``: run -> (checkpoints, architectures) as
    /runs lists them; ``run_groups``: what groups() made of it."""
    members: Dict[str, List[str]] = {}
    for run in listing:
        members.setdefault(run_groups[run], []).append(run)
    out = []
    for group, names in sorted(members.items()):
        names.sort()
        checkpoints = walk.oldest_first([c for n in names for c in listing[n][0]])
        architecture = preferred_architecture(a for n in names for a in listing[n][1])
        out.append(Row(group, tuple(names), architecture, tuple(checkpoints)))
    return out


# (base, checkpoints) -> the verdict of each checkpoint against base, None where not known
Lookup = Callable[[object, Sequence[records.Checkpoint]], List[Optional[Verdict]]]


def mark(checkpoint: records.Checkpoint, verdict: Optional[Verdict]) -> str:
    """What a checkpoint of a row says: whether it restores into the row's base."""
    if checkpoint.status == records.ERROR:
        return UNREADABLE
    if checkpoint.status == records.INCOMPLETE:
        return INCOMPLETE
    if verdict is None:
        return PENDING
    if verdict.error is not None:
        return FAILED
    return RESTORABLE if verdict.restorable else NOT_RESTORABLE


def outcome(row: Row, verdict: Optional[Verdict], marks: Sequence[str]) -> str:
    """What the row says (one of OUTCOMES)."""
    if not row.checkpoints:
        return "no_checkpoint"
    if row.newest is None:
        return "pending" if PENDING in marks else "unreadable"
    if row.architecture is None:
        return "changed" if NOT_RESTORABLE in marks else "no_architecture"
    if verdict is None:
        return "pending"
    if verdict.error is not None:
        return "failed"
    if not verdict.restorable:
        return "not_restorable"
    if NOT_RESTORABLE in marks:
        return "changed"
    return "restorable" if verdict.resumable else "not_resumable"


def row_json(row: Row, lookup: Lookup) -> dict:
    base = row.base
    newest = row.newest
    known = {}
    if base is not None:
        readable = [c for c in row.checkpoints if c.status == records.OK]
        known = {id(c): v for c, v in zip(readable, lookup(base, readable))}
    verdict = known.get(id(newest)) if row.architecture is not None else None
    marks = [mark(c, known.get(id(c))) for c in row.checkpoints]
    target = newest
    if row.architecture is None and newest is not None:
        # Without a model, a click compares the newest checkpoint with the one before it.
        older = [c for c in row.checkpoints if c.status == records.OK and c is not newest]
        target = older[-1] if older else newest
    timeline = []
    for c, m in zip(row.checkpoints, marks):
        v = known.get(id(c))
        timeline.append({"id": c.id, "run": c.run, "path": c.path, "step": c.step, "mark": m,
                         "verdict": (v.error or v.verdict) if v else None, "error": c.error})
    return {
        "run": row.run,
        "runs": list(row.runs),
        "outcome": outcome(row, verdict, marks),
        "architecture": row.architecture.to_json() if row.architecture is not None else None,
        "checkpoint": newest.to_json() if newest is not None else None,
        "base": ref(base),
        "target": ref(target),
        "verdict": verdict.to_json() if verdict is not None else None,
        "timeline": timeline,
        "unreadable": sum(1 for m in marks if m == UNREADABLE),
    }


def ordered(bodies: Iterable[dict]) -> List[dict]:
    """Row bodies in the overview's order: by OUTCOMES, then by run name."""
    return sorted(bodies, key=lambda b: (OUTCOMES.index(b["outcome"]), b["run"]))


def wanted(all_rows: Iterable[Row]) -> List[Tuple[object, records.Checkpoint]]:
    """Every (base, checkpoint) the overview shows a verdict for: each readable checkpoint of
    a row against the row's base. Every row's newest first (its own verdict), then every
    row's second newest, and so on, so that all rows fill in before their timelines do."""
    queues = []
    for row in all_rows:
        base = row.base
        if base is not None:
            queues.append([(base, c) for c in reversed(row.checkpoints) if c.status == records.OK])
    return walk.interleave(queues)


def matches(row: Row, query: str) -> bool:
    """A case-insensitive substring of the row's run or of one of its member runs."""
    q = (query or "").strip().lower()
    return not q or any(q in name.lower() for name in (row.run,) + row.runs)


# ---------------------------------------------------------------- the matrix


def matrix_axes(all_rows: Sequence[Row], query: str = "") -> Tuple[List[Row], List[Row]]:
    """(rows, columns) of the cross-run matrix, by run name: a row per run with a readable
    architecture, a column per run with a checkpoint that is or may turn out readable."""
    chosen = [r for r in all_rows if matches(r, query)]
    models = [r for r in chosen if r.architecture is not None]
    checkpoints = [r for r in chosen if r.newest is not None
                   or any(c.status == records.PENDING for c in r.checkpoints)]
    return models, checkpoints


def cell_json(lookup: Lookup, model: Row, column: Row) -> dict:
    newest = column.newest
    if newest is None:
        return {"state": PENDING}
    verdict = lookup(model.architecture, [newest])[0]
    if verdict is None:
        return {"state": PENDING}
    return verdict.to_json()


def overview_json(all_rows: Sequence[Row], lookup: Lookup, query: str, window: Tuple[int, int], scanning: bool,
                  checkpoints: Sequence[records.Checkpoint], known: int, asked: int) -> dict:
    """The /overview body: the rows matching ``query`` in ``window``, problems first."""
    bodies = ordered(row_json(row, lookup) for row in all_rows if matches(row, query))
    counts = collections.Counter(b["outcome"] for b in bodies)
    start, stop = window
    read = sum(1 for c in checkpoints if c.status != records.PENDING)
    return {
        "status": "running" if scanning or known < asked else "done",
        "progress": {"done": known + read, "total": asked + len(checkpoints)},
        "scanning": scanning,
        "total": len(bodies),
        "offset": start,
        "counts": {o: counts[o] for o in OUTCOMES if counts[o]},
        "rows": bodies[start:stop],
    }


def matrix_json(models: Sequence[Row], columns: Sequence[Row], rows_window: Tuple[int, int],
                columns_window: Tuple[int, int], lookup: Lookup, known: int, asked: int) -> dict:
    """The /matrix body: the models and columns in their windows, and a cell for each pair."""
    (r0, r1), (c0, c1) = rows_window, columns_window
    shown_models, shown_columns = models[r0:r1], columns[c0:c1]
    waiting = any(c.newest is None for c in shown_columns)
    return {
        "status": "running" if known < asked or waiting else "done",
        "progress": {"done": known, "total": asked},
        "rows": {"total": len(models), "offset": r0,
                 "items": [{"run": m.run, "runs": list(m.runs), "architecture": m.architecture.to_json()}
                           for m in shown_models]},
        "columns": {"total": len(columns), "offset": c0,
                    "items": [{"run": c.run, "runs": list(c.runs),
                               "checkpoint": c.newest.to_json() if c.newest is not None else None}
                              for c in shown_columns]},
        "cells": [[cell_json(lookup, m, c) for c in shown_columns] for m in shown_models],
    }
