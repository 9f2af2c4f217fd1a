"""A remote logdir's directories from one recursive listing by prefix.

Object stores have no directories: listing "level by level" costs a request per directory
(TensorBoard's own GCS glob took ~100 s over 11k entries, tensorboard#7088). One listing of
every key under the logdir's prefix costs a request per 1,000 keys (S3's and GCS's page
size) and gives each object's size and modification time, which is all the walk needs: the
directories are rebuilt from the keys here, in the shape ``discovery.walk`` yields.
"""

from __future__ import annotations

import posixpath
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from tensorboard_plugin_ckptdiff import storage


class Directory:
    """What one directory holds (the attributes of discovery's ``_Dir``)."""

    def __init__(self, path: str, rel: str):
        self.path = path
        self.rel = rel
        self.files: Dict[str, storage.Stat] = {}
        self.subdirs: List[Tuple[str, str]] = []
        self.error: Optional[str] = None


def directories(objects: Iterable[Tuple[str, storage.Stat]], root: str,
                skip_dir: Callable[[str], bool], max_dirs: int = 100_000) -> List[Directory]:
    """Directories under ``root`` from ``(key relative to root, Stat)`` of every object below
    it. A directory whose name ``skip_dir`` rejects (a writer's temp directory) is left out
    with everything below it, as the level-by-level walk never enters it."""
    top = Directory(root, "")
    dirs: Dict[str, Directory] = {"": top}
    for rel, st in objects:
        parts = rel.split("/")
        if any(not p for p in parts) or any(skip_dir(p) for p in parts[:-1]):
            continue  # "a//b" placeholder keys, and what writers are still writing
        parent = top
        for depth in range(len(parts) - 1):
            sub_rel = "/".join(parts[: depth + 1])
            d = dirs.get(sub_rel)
            if d is None:
                if len(dirs) >= max_dirs:
                    break
                d = dirs[sub_rel] = Directory(posixpath.join(parent.path, parts[depth]), sub_rel)
                parent.subdirs.append((parts[depth], d.path))
            parent = d
        else:
            parent.files[parts[-1]] = st
    return list(dirs.values())
