"""Pause Python's cyclic garbage collector around work that makes many acyclic objects.

Reading an index, pairing two checkpoints or encoding a report makes hundreds of thousands
of small tuples, dicts and records, none of them in cycles. Each allocation burst triggers
collections that rescan every object of the process (TensorFlow's many, when it is
loaded): a 2-5x slowdown for nothing. The pause is counted, so that threads of
TensorBoard's server nesting or overlapping pauses leave the collector as they found it.
"""

import contextlib
import gc
import threading

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextlib.contextmanager
def paused():
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
