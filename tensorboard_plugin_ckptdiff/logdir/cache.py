"""A small thread-safe cache of the most recently used values, each kept with the version it was
computed for: a value is served only while that version still holds (the logdir's, a file's
signature, the very records it was computed from)."""

from __future__ import annotations

import collections
import operator
import threading
from typing import Callable, Hashable, NamedTuple, Optional


class _Kept(NamedTuple):
    version: object
    value: object


class Versioned:
    def __init__(self, kept: Optional[int] = None, same: Callable[[object, object], bool] = operator.eq):
        """``kept``: how many keys to keep (None: all); ``same(stored, asked)``: whether a
        stored version still holds for the version asked about."""
        self._kept = kept
        self._same = same
        self._lock = threading.Lock()
        self._values: "collections.OrderedDict[Hashable, _Kept]" = collections.OrderedDict()

    def get(self, key: Hashable, version: object = None):
        """The value kept for ``key`` if its version still holds, else None."""
        with self._lock:
            kept = self._values.get(key)
            if kept is None or not self._same(kept.version, version):
                return None
            self._values.move_to_end(key)
            return kept.value

    def last(self, key: Hashable):
        """The value kept for ``key`` whatever its version (None if there is none)."""
        with self._lock:
            kept = self._values.get(key)
            return None if kept is None else kept.value

    def put(self, key: Hashable, version: object, value):
        """Keep ``value`` for ``key`` at ``version`` (the oldest keys go past ``kept``); returns it."""
        with self._lock:
            self._values[key] = _Kept(version, value)
            self._values.move_to_end(key)
            while self._kept is not None and len(self._values) > self._kept:
                self._values.popitem(last=False)
        return value


def identical(stored, asked) -> bool:
    """Versions that are tuples of objects: the same objects, not equal ones (records can hold
    100k variables: comparing them would cost more than what the cache saves)."""
    return len(stored) == len(asked) and all(a is b for a, b in zip(stored, asked))
