"""Finding checkpoints and runs in a logdir: the walk, runs and ids. What a file is, its step
and what its first bytes say, the format registry (formats/__init__.py) answers.

Nothing here reads tensor values or parses an index: listing a thousand checkpoints must
cost a directory walk, a stat per file and a few bytes per checkpoint. Full reads happen
later, on demand (see catalog.py).
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
from typing import Dict, Iterable, List, Optional, Tuple

from tensorboard_plugin_ckptdiff import formats, records, storage
from tensorboard_plugin_ckptdiff.formats import keras_weights_h5, tf_bundle

@dataclasses.dataclass(frozen=True)
class Root:
    """One directory TensorBoard reads: the logdir, or one entry of --logdir_spec."""

    path: str
    label: str = ""  # run-name prefix (the group name of a logdir_spec entry)

    def name(self, rel: str) -> str:
        """The run name / id TensorBoard would give a path relative to this root."""
        rel = rel or "."
        if not self.label:
            return rel
        return self.label if rel == "." else f"{self.label}/{rel}"


@dataclasses.dataclass(frozen=True)
class Found:
    """A checkpoint the walk found, before anything was read from it."""

    id: str
    path: str  # where readers open it: bundle prefix, file, SavedModel dir, sharded index
    rel: str  # relative to its root, '/'-separated
    format: str
    run: str
    step: Optional[int]
    wall_time: Optional[float]
    size_bytes: int
    # (name, size, mtime) of every file it is made of: a change anywhere means re-read.
    signature: Tuple[Tuple[str, int, float], ...]
    missing: Tuple[str, ...] = ()  # files a complete checkpoint would have (shards)
    carries: Optional[str] = None  # source of an architecture the checkpoint carries
    meta_path: Optional[str] = None  # TF1 Saver's .meta beside the bundle


@dataclasses.dataclass(frozen=True)
class Scan:
    runs: Tuple[str, ...]  # TensorBoard runs and checkpoint-only directories
    found: Tuple[Found, ...]
    # (name like a run's, why) of each directory the walk could not list: whatever it holds
    # is missing from the listing, so the user is told rather than left to guess.
    unreadable_dirs: Tuple[Tuple[str, str], ...] = ()
    root_readable: bool = True  # False: the root itself could not be listed


def roots(logdir: str, logdir_spec: str = "") -> List[Root]:
    """The directories to walk: --logdir, or each directory of --logdir_spec (parsed as
    TensorBoard's data_ingester does, so run names agree with TensorBoard's)."""
    if logdir:
        return [Root(logdir)]
    out = []
    uri = re.compile("[a-zA-Z][0-9a-zA-Z.]*://.*")
    for spec in (logdir_spec or "").split(","):
        if not spec:
            continue
        if uri.match(spec) is None and ":" in spec and spec[0] != "/" and not os.path.splitdrive(spec)[0]:
            label, _, path = spec.partition(":")
        else:
            label, path = "", spec
        if uri.match(path) is None:
            path = os.path.realpath(os.path.expanduser(path))
        out.append(Root(path, label))
    return out


def run_directory(roots: List[Root], run: str) -> Optional[str]:
    """The directory of a run named as ``Root.name`` names it, or None when no root has it."""
    for root in roots:
        join = posixpath.join if storage.is_remote(root.path) else os.path.join
        if not root.label:
            return root.path if run == "." else join(root.path, *run.split("/"))
        if run == root.label:
            return root.path
        if run.startswith(root.label + "/"):
            return join(root.path, *run[len(root.label) + 1:].split("/"))
    return None


def is_temp(name: str) -> bool:
    # Writers' temp names: the state file's "checkpoint.tempstate123", bundle writers'
    # "<prefix>_temp/" directories, Keras/h5py "*.tmp".
    return ".tempstate" in name or name.endswith("_temp") or "_temp_" in name or name.endswith(".tmp")


# ---------------------------------------------------------------- the walk


class _Dir:
    """What one directory holds, from a single listing."""

    def __init__(self, path: str, rel: str):
        self.path = path
        self.rel = rel
        self.files: Dict[str, storage.Stat] = {}
        self.subdirs: List[Tuple[str, str]] = []  # (name, path to walk)
        self.error: Optional[str] = None  # why it could not be listed (no server path in it)


def walk(fs, root: str, max_dirs: int = 100_000) -> Iterable[_Dir]:
    """Directories under ``root`` without leaving it: a symlink is followed only when it
    points inside the root, and each real directory is visited once (loops end)."""
    if getattr(fs, "lists_by_prefix", False):
        yield from _walk_by_prefix(fs, root, max_dirs)
        return
    local = not storage.is_remote(root)
    real_root = fs.realpath(root) if local else root
    seen = set()
    stack = [(root, "")]
    while stack and len(seen) < max_dirs:
        path, rel = stack.pop()
        key = fs.realpath(path) if local else path
        if key in seen:
            continue
        seen.add(key)
        d = _Dir(path, rel)
        try:
            entries = list(fs.scandir(path))
        except (OSError, ValueError) as e:
            d.error = (e.strerror if isinstance(e, OSError) else None) or type(e).__name__
            yield d
            continue
        for name, is_dir, is_link, st in entries:
            child = fs.join(path, name)
            if is_link:
                target = fs.realpath(child)
                if not _inside(target, real_root):
                    continue
                st = fs.stat(child)
                if st is None:
                    continue
                is_dir = st.is_dir
            if st is None:
                continue
            if is_dir:
                d.subdirs.append((name, child))
            else:
                d.files[name] = st
        yield d
        for name, child in sorted(d.subdirs, reverse=True):
            if not is_temp(name):
                stack.append((child, f"{rel}/{name}" if rel else name))


def _walk_by_prefix(fs, root: str, max_dirs: int):
    """An object store's directories from one listing by prefix (see prefix_listing)."""
    from tensorboard_plugin_ckptdiff.logdir import prefix_listing

    try:
        objects = fs.find_all(root)
    except (OSError, ValueError) as e:
        d = _Dir(root, "")
        d.error = (e.strerror if isinstance(e, OSError) else None) or type(e).__name__
        yield d
        return
    yield from prefix_listing.directories(objects, root, is_temp, max_dirs)


def _inside(target: str, root: str) -> bool:
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


def scan(fs, root: Root, state_entries=None, dirs=None) -> Scan:
    """Every checkpoint and run under one root. ``state_entries(fs, dir)`` returns the
    ``checkpoint`` state file's [(prefix, timestamp)] (formats.state_file.entries); ``dirs``
    is the walk when the caller has made it already."""
    dirs = list(walk(fs, root.path)) if dirs is None else dirs
    run_rels = {d.rel for d in dirs if any("tfevents" in n for n in d.files)}
    saved_models = {d.rel for d in dirs if "saved_model.pb" in d.files}
    found: List[Found] = []
    for d in dirs:
        if _within_any(d.rel, saved_models, strict=True):
            continue  # a SavedModel's variables/ bundle is part of the SavedModel
        timestamps = _state_timestamps(fs, d, state_entries)
        for item in _checkpoints_in(fs, d, timestamps):
            rel = f"{d.rel}/{item[0]}" if d.rel else item[0]
            # A SavedModel is a directory: the directory it lives in is its "own".
            home = _parent(d.rel) if item[2] == records.SAVED_MODEL and d.rel else d.rel
            found.append(_found(root, rel, root.name(_nearest_run(home, run_rels)), *item[1:]))
    runs = {root.name(r) for r in run_rels} | {f.run for f in found}
    unreadable = tuple((root.name(d.rel), d.error) for d in dirs if d.error and d.rel)
    root_readable = not any(d.error and not d.rel for d in dirs)
    return Scan(tuple(sorted(runs)), tuple(found), unreadable, root_readable)


def _within_any(rel: str, dirs, strict: bool) -> bool:
    for top in dirs:
        if rel == top and not strict:
            return True
        if top == "" and rel != "":
            return True
        if top and rel.startswith(top + "/"):
            return True
    return False


def _parent(rel: str) -> str:
    return rel.rsplit("/", 1)[0] if "/" in rel else ""


def _nearest_run(rel: str, run_rels) -> str:
    probe = rel
    while True:
        if probe in run_rels:
            return probe
        if not probe:
            return rel
        probe = _parent(probe)


def _state_timestamps(fs, d: _Dir, state_entries) -> Dict[str, Optional[float]]:
    if "checkpoint" not in d.files or state_entries is None:
        return {}
    try:
        entries = state_entries(fs, d.path)
    except Exception:  # a hostile or half-written state file only loses us timestamps
        return {}
    # TF1 Savers write absolute paths: only the base name counts, inside this directory.
    return {os.path.basename(str(prefix).replace("\\", "/")): ts for prefix, ts in entries}


def _checkpoints_in(fs, d: _Dir, timestamps):
    """(name, path, format, files, missing, wall_time, carries, meta) per checkpoint in d."""
    names = d.files
    if "saved_model.pb" in names:
        files = _saved_model_files(fs, d.path)
        yield ("", d.path, records.SAVED_MODEL, files, (), names["saved_model.pb"].mtime,
               records.SAVED_MODEL, None)
        return
    shards: Dict[str, Dict[int, int]] = {}
    for name in names:
        shard = tf_bundle.shard_of(name)
        if shard:
            prefix, k, n = shard
            shards.setdefault(prefix, {})[k] = n
    suffix = keras_weights_h5.INDEX_SUFFIX
    sharded_keras = {name[: -len(suffix)] for name in names if name.endswith(suffix)}
    for name, st in sorted(names.items()):
        if is_temp(name):
            continue
        if name.endswith(tf_bundle.SUFFIXES):
            yield _bundle_in(fs, d, name, st, shards, timestamps)
            continue
        part = keras_weights_h5.part_of(name)
        if part is not None and part in sharded_keras:
            continue  # a part of a sharded .weights.json
        # A part file with no index beside it is listed as the file it is.
        fmt = formats.claimed_format(name) or (records.KERAS_WEIGHTS_H5 if part is not None else None)
        if fmt is None:
            continue
        files = [(name, st.size, st.mtime)]
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            files += [(n, s.size, s.mtime) for n, s in sorted(names.items()) if keras_weights_h5.part_of(n) == base]
        carries = records.KERAS_ARCHIVE if fmt == records.KERAS_ARCHIVE else None
        yield (name, fs.join(d.path, name), fmt, files, (), st.mtime, carries, None)


def _bundle_in(fs, d: _Dir, name: str, st, shards, timestamps):
    """The _checkpoints_in tuple of the bundle whose .index is ``name``, with its shards and .meta."""
    names = d.files
    prefix = name[: -len(tf_bundle.SUFFIXES[0])]
    parts = shards.get(prefix, {})
    total = max(parts.values()) if parts else 1
    missing = tuple(tf_bundle.data_path(prefix, k, total) for k in range(total) if k not in parts)
    files = [(name, st.size, st.mtime)]
    for k, n in sorted(parts.items()):
        shard = tf_bundle.data_path(prefix, k, n)
        if shard in names:
            files.append((shard, names[shard].size, names[shard].mtime))
    meta = f"{prefix}.meta" if f"{prefix}.meta" in names else None
    if meta:
        files.append((meta, names[meta].size, names[meta].mtime))
    wall = timestamps.get(prefix) or st.mtime
    return (prefix, fs.join(d.path, prefix), records.TF_BUNDLE, files, missing, wall,
            "meta_graph" if meta else None, fs.join(d.path, meta) if meta else None)


def _saved_model_files(fs, path: str):
    files = []
    for sub in ("", "variables"):
        directory = fs.join(path, sub) if sub else path
        try:
            for name, is_dir, _, st in fs.scandir(directory):
                if not is_dir and st is not None:
                    files.append((f"{sub}/{name}" if sub else name, st.size, st.mtime))
        except (OSError, ValueError):
            pass
    return files


def _found(root: Root, rel: str, run: str, path, fmt, files, missing, wall, carries, meta) -> Found:
    rel = rel.rstrip("/") or "."
    name = rel.rsplit("/", 1)[-1]
    return Found(
        id=root.name(rel),
        path=path,
        rel=rel,
        format=fmt,
        run=run,
        step=formats.step_of(name, fmt),
        wall_time=wall or None,  # object stores may not say when a file was written
        size_bytes=sum(size for _, size, _ in files),
        signature=tuple(sorted(files)),
        missing=missing,
        carries=carries,
        meta_path=meta,
    )


# ---------------------------------------------------------------- cheap sniffing


@dataclasses.dataclass(frozen=True)
class Sniffed:
    flavor: Optional[str] = None
    status: str = records.OK
    error: Optional[str] = None


def sniff(fs, found: Found) -> Sniffed:
    """Flavor and an early verdict from a few bytes (the format registry's glance): a file whose
    magic is wrong is an error now; deeper corruption shows when it is first read."""
    if found.missing:
        return Sniffed(status=records.INCOMPLETE,
                       error=f"data shard {found.missing[0]} is missing: the checkpoint is still being written")
    glanced = formats.glance(fs, found.format, found.path)
    return Sniffed(glanced.flavor, glanced.status, glanced.error)


def listing_record(found: Found, sniffed: Sniffed) -> records.Checkpoint:
    """The /runs entry of a checkpoint nobody has read yet."""
    return records.Checkpoint(
        id=found.id, path=found.rel, format=found.format, run=found.run,
        flavor=sniffed.flavor, step=found.step, wall_time=found.wall_time,
        size_bytes=found.size_bytes, status=sniffed.status, error=sniffed.error,
    )


def oldest_first(items):
    """Checkpoints/architectures by step then wall time; unknown steps sort by time alone."""
    return sorted(items, key=lambda c: (c.step is None, c.step if c.step is not None else 0,
                                        c.wall_time or 0.0, c.id))


def interleave(queues):
    """The first item of every queue, then every second item, and so on: work spread over
    runs, so that every run gets its first answer before any run gets its last."""
    out = []
    for depth in range(max((len(q) for q in queues), default=0)):
        out.extend(q[depth] for q in queues if depth < len(q))
    return out
