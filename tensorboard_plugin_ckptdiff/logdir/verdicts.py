"""Verdicts of (base, checkpoint) pairs for the overview and the matrix: computed in the
background, kept under the catalog's keys, looked up without waiting.

A key is what the verdict depends on: the checkpoint's files (path, size, mtime of each),
and the base's (an architecture from event data by its id, step and time; one a checkpoint
carries, or a checkpoint standing in for a model, by that checkpoint's files). A changed
file is a new key, so nothing is ever invalidated by hand.

Two things fill the cache. The catalog's verification pass offers every checkpoint it reads
(``offer``): the verdicts already asked for it are computed on the spot, with the record in
hand. Whatever is asked for later (a new overview, a matrix page) goes to one worker thread,
which reads each checkpoint through the catalog once and computes every verdict asked of it.
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import Callable, Dict, Hashable, Iterable, List, Optional, Sequence, Tuple

from tensorboard_plugin_ckptdiff import diff, errors
from tensorboard_plugin_ckptdiff.logdir.overview import Verdict

logger = logging.getLogger(__name__)

KEPT = 200_000  # verdicts are ~300 bytes: a 1,000-run matrix is 1,000,000 cells; keep a fifth


class VerdictCache:
    def __init__(self, key: Callable[[object], Optional[Hashable]], load: Callable[[object], object],
                 kept: int = KEPT):
        """``key(side)``: the cache key of a listing record (None when it is no longer
        listed); ``load(side)``: the full record (variables included) the diff needs,
        raising errors.CheckpointError when it cannot be read."""
        self._key = key
        self._load = load
        self._kept = kept
        self._lock = threading.Condition()
        self._cells: "collections.OrderedDict[Tuple, Verdict]" = collections.OrderedDict()
        # checkpoint key -> (checkpoint record, {base key: base record}), oldest request first
        self._queue: "collections.OrderedDict[Hashable, Tuple[object, Dict[Hashable, object]]]" = collections.OrderedDict()
        self._standing: Dict[str, object] = {}  # run -> base its new checkpoints are judged against
        self._thread: Optional[threading.Thread] = None

    # ------------------------------------------------------------ asking

    def lookup(self, base, checkpoints: Sequence[object]) -> List[Optional[Verdict]]:
        """The verdict of each checkpoint against ``base``, None where it is not known yet."""
        base_key = self._key(base)
        keys = [self._key(c) for c in checkpoints]
        with self._lock:
            return [None if base_key is None or k is None else self._cells.get((base_key, k)) for k in keys]

    def want(self, pairs: Iterable[Tuple[object, object]]) -> Tuple[int, int]:
        """Queue every (base, checkpoint) whose verdict is not known; (known, asked) counts."""
        known = asked = 0
        with self._lock:
            for base, checkpoint in pairs:
                keys = self._keys(base, checkpoint)
                if keys is None:
                    continue
                asked += 1
                if keys in self._cells:
                    self._cells.move_to_end(keys)
                    known += 1
                    continue
                queued = self._queue.get(keys[1])
                if queued is None:
                    queued = self._queue[keys[1]] = (checkpoint, {})
                queued[1].setdefault(keys[0], base)
            if self._queue:
                self._start()
                self._lock.notify_all()
        return known, asked

    def stand(self, bases: Dict[str, object]) -> None:
        """run -> base: a checkpoint the verification pass reads later in one of these runs is
        judged against that base at once (a run still training gets its verdict as it saves)."""
        with self._lock:
            self._standing = dict(bases)

    # ------------------------------------------------------------ filling

    def offer(self, found, checkpoint) -> None:
        """Catalog listener: ``checkpoint`` (full, just read) of ``found`` was verified."""
        checkpoint_key = (found.path, found.signature)
        with self._lock:
            task = self._queue.pop(checkpoint_key, (checkpoint, {}))
            base = self._standing.get(found.run)
            base_key = self._key(base) if base is not None else None
            if base_key is not None and (base_key, checkpoint_key) not in self._cells:
                task[1].setdefault(base_key, base)
        if task[1]:
            self._compute(checkpoint_key, task[1], lambda: checkpoint)

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="CkptDiffVerdicts", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue:
                    self._lock.wait()
                checkpoint_key, (checkpoint, bases) = self._queue.popitem(last=False)
            try:
                self._compute(checkpoint_key, bases, lambda: self._load(checkpoint))
            except Exception:  # one bad pair must not stop the worker
                logger.exception("verdict computation failed")

    def _compute(self, checkpoint_key: Hashable, bases: Dict[Hashable, object], target: Callable[[], object]) -> None:
        """The verdict of the target checkpoint against each base, read once for all of them."""
        # A file that cannot be read, or was deleted since it was listed, is a failed verdict
        # under keys nobody will ask for again once the listing moves on.
        unreadable = (errors.CheckpointError, errors.NotFound)
        try:
            full = target()
            failure = None
        except unreadable as e:
            full, failure = None, str(e)
        for base_key, base in bases.items():
            if failure is not None:
                verdict = Verdict.failed(failure)
            else:
                try:
                    verdict = Verdict.of(diff.compare(self._load(base), full))
                except unreadable as e:
                    verdict = Verdict.failed(str(e))
            with self._lock:
                self._cells[(base_key, checkpoint_key)] = verdict
                while len(self._cells) > self._kept:
                    self._cells.popitem(last=False)

    def _keys(self, base, checkpoint) -> Optional[Tuple[Hashable, Hashable]]:
        base_key, checkpoint_key = self._key(base), self._key(checkpoint)
        if base_key is None or checkpoint_key is None:
            return None
        return base_key, checkpoint_key
