"""What the plugin's value routes (/drift, /tensor_stats) answer: checkpoint ids to sources
to values, read in reader processes.

A drift runs as a background job keyed by both checkpoints' ids and file signatures (name,
size, mtime of every file), so a request is answered at once with the job's state (running,
with its progress; or done, with the result), computed once per pair of unchanged checkpoints.
"""

from __future__ import annotations

import json
from typing import Callable, Optional

from tensorboard_plugin_ckptdiff import errors, isolation, records
from tensorboard_plugin_ckptdiff.values import jobs
from tensorboard_plugin_ckptdiff.values.drift import Source

DRIFT_WORKERS = 1  # values stream from disk: two drifts at once would only share the bandwidth


class ValueService:
    def __init__(self, catalog, readable_checkpoint: Callable[[str], records.Checkpoint]):
        self._catalog = catalog
        self._readable = readable_checkpoint
        self._jobs = jobs.Jobs(workers=DRIFT_WORKERS, name="CkptDiffDrift")

    def drift(self, base_id: str, target_id: str, kinds=(records.WEIGHT,)) -> jobs.State:
        """Where the drift of the pair stands; a result is the drift's JSON text."""
        base, target = self._source(base_id), self._source(target_id)
        key = ("drift", self._signature(base_id), self._signature(target_id), kinds)

        def work(progress):
            return isolation.call(drift_json, base, target, kinds, progress=progress)

        return self._jobs.state(key, work)

    def tensor_stats(self, base_id: str, base_key: str, target_id: Optional[str] = None,
                     target_key: Optional[str] = None, bins: int = 40) -> dict:
        base = self._variable(self._source(base_id), base_key)
        target = None
        if target_id is not None:
            target = self._variable(self._source(target_id), target_key or base_key)
        return isolation.call(histogram_json, base, target, bins)

    def _source(self, checkpoint_id: str) -> Source:
        checkpoint = self._readable(checkpoint_id)
        fs, path = self._catalog.filesystem_path(checkpoint_id)
        return Source(checkpoint, fs, path)

    def _signature(self, checkpoint_id: str):
        found = self._catalog.find(checkpoint_id)
        return found.id, found.signature

    @staticmethod
    def _variable(source: Source, key: str):
        for variable in source.checkpoint.variables:
            if variable.key == key:
                return source, variable
        raise errors.NotFound(f"checkpoint {source.checkpoint.id} has no variable with key {key!r}")


# The values are read in a reader process (isolation.py), like every byte of a checkpoint.


def drift_json(base: Source, target: Source, kinds, progress=None) -> str:
    from tensorboard_plugin_ckptdiff.values import drift as value_drift

    return json.dumps(value_drift.drift(base, target, kinds=kinds, progress=progress).to_json())


def histogram_json(base, target, bins: int) -> dict:
    from tensorboard_plugin_ckptdiff.values import histogram

    return histogram.histogram(base, target, bins).to_json()
