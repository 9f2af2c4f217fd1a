"""What a ``ckptdiff`` command made (checkpoints, a report), held to the end of its process.

Freeing 20k-variable checkpoints record by record takes ~10 ms of a ~0.3 s command, for
memory the OS takes back at the exit anyway. Only the command itself holds (cli.run starts
and finishes it); any other caller of cli.main (tests, a user's program) holds nothing.
"""

from __future__ import annotations

from typing import Optional

_held: Optional[list] = None


def start() -> None:
    global _held
    _held = []


def hold(*made) -> None:
    if _held is not None:
        _held.extend(made)


def finish() -> None:
    """Make what was held a cycle: the module's own name for it goes at the exit, and once
    the collector is frozen (cli.run) a cycle is never collected, so nothing in it is freed."""
    if _held is not None:
        _held.append(_held)
