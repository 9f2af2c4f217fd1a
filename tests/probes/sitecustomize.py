"""Test-only faults for tests/test_isolation_e2e.py, never installed with the package.

A test puts this directory on the PYTHONPATH of the `tensorboard` it starts, so Python loads
this file at start in TensorBoard and in every process TensorBoard starts. It makes a reader
(code under formats/ or architectures/) that opens a file whose path holds ``crash-probe``,
``hang-probe`` or ``memory-probe`` die of SIGSEGV (what libhdf5 did on a corrupt file), loop
forever, or ask for 6 GiB. Discovery (with the registry's glance at a file's first bytes) and
the routes open the same files harmlessly, so the faults land wherever the readers run: in a reader process with isolation, in TensorBoard
itself without it (the test then fails, as it should).
"""

import os
import signal
import sys

_READERS = (os.sep + "formats" + os.sep, os.sep + "architectures" + os.sep)


_REGISTRY = os.sep + "formats" + os.sep + "__init__.py"


def _in_a_reader() -> bool:
    """Whether a reader opens the file. The registry's ``glance`` (a few bytes: magic numbers,
    an index's first block, for the listing) runs in TensorBoard's process by design, as the
    discovery's own sniff did before the formats owned it: it parses nothing, so it is not a
    reader here, whatever format module it calls."""
    frame = sys._getframe(2)
    reader = False
    while frame is not None:
        name = frame.f_code.co_filename
        if "tensorboard_plugin_ckptdiff" in name:
            if frame.f_code.co_name == "glance" and name.endswith(_REGISTRY):
                return False
            if any(part in name for part in _READERS):
                reader = True
        frame = frame.f_back
    return reader


def _fault(path: str) -> None:
    if "crash-probe" in path:
        os.kill(os.getpid(), signal.SIGSEGV)
    elif "hang-probe" in path:
        while True:
            pass
    elif "memory-probe" in path:
        hoard = bytearray(6 << 30)  # past a reader process's address-space cap
        hoard[-1] = 1


def _install() -> None:
    try:
        from tensorboard_plugin_ckptdiff import storage
    except ImportError:  # a process without the package: nothing to probe
        return
    original = storage.LocalFS.open

    def open_with_faults(self, path):
        if "-probe" in path and _in_a_reader():
            _fault(path)
        return original(self, path)

    storage.LocalFS.open = open_with_faults


_install()
