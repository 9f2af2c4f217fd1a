"""Files written under temporary names beside where they go, then moved into place together.

Everything is written into one directory next to the destination, named like a writer's temp
directory (``..._temp``: TensorFlow's own convention, which discovery and the bundle reader
skip), so a crash leaves no file that looks like a finished checkpoint. ``commit`` moves the
files in the order given (a bundle's index last: without it the data shards are no
checkpoint), each with an atomic rename on the same filesystem, after syncing them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Dict, List, Sequence


class Staging:
    def __init__(self, destination: str):
        directory = os.path.dirname(os.path.abspath(destination))
        os.makedirs(directory, exist_ok=True)
        self.directory = tempfile.mkdtemp(prefix=f".{os.path.basename(destination)}.", suffix=".remap_temp",
                                          dir=directory)
        self._final: Dict[str, str] = {}  # staged path -> destination

    def path(self, destination: str) -> str:
        """Where to write the file that will be moved to ``destination``."""
        staged = os.path.join(self.directory, f"{len(self._final)}-{os.path.basename(destination)}")
        self._final[staged] = os.path.abspath(destination)
        return staged

    def scratch(self, name: str) -> str:
        """A file of the staging directory that is not moved anywhere (deleted with it)."""
        return os.path.join(self.directory, f"scratch-{name}")

    def commit(self, last: Sequence[str] = (), remove_first: Sequence[str] = ()) -> List[str]:
        """Move every staged file into place, those whose destination is in ``last`` after the
        others, in that order; the files of ``remove_first`` (what made an older checkpoint at the destination
        look whole) are deleted before anything moves. Returns the destinations."""
        rank = {os.path.abspath(p): i + 1 for i, p in enumerate(last)}
        for staged in self._final:
            _sync(staged)
        for path in remove_first:
            if os.path.lexists(path):
                os.remove(path)
        ordered = sorted(self._final.items(), key=lambda item: rank.get(item[1], 0))
        for staged, destination in ordered:
            os.replace(staged, destination)
        _sync_directory(os.path.dirname(self.directory))
        self.close()
        return [destination for _, destination in ordered]

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()  # after commit there is nothing left; after an error, nothing is kept
        return False


def _sync(path: str) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _sync_directory(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # not every platform opens directories; the renames are still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
