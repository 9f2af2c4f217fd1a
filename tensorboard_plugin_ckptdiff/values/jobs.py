"""Long computations in the background: a request starts one, later requests see its progress
and then its result, and no request thread ever waits for it.

Jobs are keyed by what they depend on (callers put file signatures in the key, so a changed
file is a new job). Results are kept for the most recently used keys; a failure is kept as
well and re-raised to whoever asks, except an IncompleteCheckpoint, which is worth retrying.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import threading
from typing import Callable, Hashable, Optional

from tensorboard_plugin_ckptdiff.errors import IncompleteCheckpoint

RUNNING = "running"
DONE = "done"


@dataclasses.dataclass(frozen=True)
class State:
    status: str  # running | done
    progress: float
    result: object = None


class _Job:
    def __init__(self):
        self.progress = 0.0
        self.future: Optional[concurrent.futures.Future] = None


class Jobs:
    def __init__(self, workers: int = 1, kept: int = 16, name: str = "CkptDiffJob"):
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._kept = kept
        self._lock = threading.Lock()
        self._jobs: "collections.OrderedDict[Hashable, _Job]" = collections.OrderedDict()

    def state(self, key: Hashable, work: Callable[[Callable[[float], None]], object]) -> State:
        """Where the job for ``key`` stands; starts ``work(progress)`` if there is none.

        A job started by this call always answers "running" first, so a caller sees the
        same sequence however fast the work is."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None:
                self._jobs.move_to_end(key)
            else:
                job = _Job()
                self._jobs[key] = job
                job.future = self._pool.submit(work, lambda p: setattr(job, "progress", min(1.0, max(0.0, p))))
                self._forget_oldest()
                return State(RUNNING, 0.0)
        if not job.future.done():
            return State(RUNNING, job.progress)
        error = job.future.exception()
        if error is not None:
            if isinstance(error, IncompleteCheckpoint):
                self.forget(key)
            raise error
        return State(DONE, 1.0, job.future.result())

    def forget(self, key: Hashable) -> None:
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.future.done():
                del self._jobs[key]

    def _forget_oldest(self) -> None:
        # Running jobs stay: their requester is polling for them.
        for key in [k for k, j in self._jobs.items() if j.future.done()][: max(0, len(self._jobs) - self._kept)]:
            del self._jobs[key]

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
