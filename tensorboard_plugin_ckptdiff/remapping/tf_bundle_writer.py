"""Writing a remapped tensor bundle: the .index table with its CRCs, the data shards, and for an
object-based checkpoint its object graph, edited so that the restore finds renamed variables.

The output has the input's shards: each tensor (or slice of a sliced variable) stays in its
shard, in the order it was stored, so shards are read and written front to back. Values are
copied as the bytes the reader hands over, CRC-checked on the way in (a corrupt tensor stops
the copy before anything is moved into place); a cast tensor is converted chunk by chunk and
gets a new CRC. Sliced variables stay sliced: a renamed one gets its full entry and every slice
key under its new name. No TensorFlow: the table, entries and slice keys are the readers'
encoders (_bundle's table, proto, slices), held against TF's own bytes.
"""

from __future__ import annotations

import os
import threading
from typing import Dict, List, NamedTuple, Optional, Tuple

from tensorboard_plugin_ckptdiff.diff import pairing
from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.errors import CheckpointError
from tensorboard_plugin_ckptdiff.formats._bundle import proto, slices as slice_keys, table as index_table
from tensorboard_plugin_ckptdiff.formats import dtypes, tf_bundle
from tensorboard_plugin_ckptdiff.remapping import bundle_encoding, object_graph_edit

FORMAT = records.TF_BUNDLE
CHUNK = tf_bundle.COPY_CHUNK  # bytes of one tensor in memory at a time (more while casting up)
_VERSION = 1  # BundleHeaderProto.version.producer, as TF writes it


class _Stored(NamedTuple):
    """One run of bytes in a data shard: a whole tensor, or one slice of a sliced one."""

    key: bytes  # its key in the new index
    source: str  # the variable's key in the input (for messages and for reading)
    entry: proto.Entry  # where its bytes are in the input
    dtype: int  # what it is written as


class Layout(NamedTuple):
    """What the new bundle holds, before a byte of it is written."""

    bundle: tf_bundle.Bundle  # the input's index
    stored: List[_Stored]
    full: Dict[str, proto.Entry]  # a sliced variable's own entry (no bytes), by its new name
    graph: Optional[bytes]  # the new object graph (object-based bundles)
    not_moved: Tuple[Tuple[str, str], ...]  # (key, why) of renames the graph could not make


def output_prefix(out: str) -> str:
    return out[: -len(".index")] if out.endswith(".index") else out


def output_files(prefix: str, layout: Layout) -> List[str]:
    shards = layout.bundle.header.num_shards
    return [tf_bundle.data_path(prefix, k, shards) for k in range(shards)] + [tf_bundle.index_path(prefix)]


def input_files(fs, target: records.Checkpoint, layout: Layout) -> List[str]:
    return output_files(target.path, layout)


def layout(fs, target: records.Checkpoint, plan) -> Layout:
    prefix = target.path
    bundle = tf_bundle.load_index(fs, prefix)
    names, graph, not_moved = _new_names(fs, prefix, bundle, target, plan)
    stored: List[_Stored] = []
    full: Dict[str, proto.Entry] = {}
    for key in bundle.keys:
        if key in plan.drops:
            continue
        entry = bundle.entries[key]
        name = names.get(key, key)
        dtype = _cast_to(plan, key, entry)
        if entry.slices:
            full[name] = entry._replace(dtype=dtype)
            for extents, part in bundle.slices.get(key, ()):
                stored.append(_Stored(bundle_encoding.slice_key(name, extents), key, part, dtype))
        else:
            stored.append(_Stored(name.encode("utf-8"), key, entry, dtype))
    seen = set()
    for item in stored:
        if item.key in seen:
            raise CheckpointError(f"the remap would store two tensors under {item.key.decode('utf-8', 'replace')!r}")
        seen.add(item.key)
    return Layout(bundle, stored, full, graph, not_moved)


def _cast_to(plan, key: str, entry: proto.Entry) -> int:
    if key not in plan.casts:
        return entry.dtype
    if entry.dtype == tf_bundle.DT_STRING:
        raise CheckpointError(f"{key!r} holds strings, which are not cast")
    return dtypes.enum(plan.casts[key])


def _new_names(fs, prefix, bundle, target, plan):
    """(input key -> new key, the new object graph or None, renames the graph could not make)."""
    raw = tf_bundle.object_graph_bytes(fs, prefix, bundle)
    if raw is None:  # name-based: a variable's key is its name
        return {key: pairing.name_of(base) for key, base in plan.renames.items()}, None, ()
    if plan.mode == pairing.NAME:  # a TF1 Saver reads an object-based checkpoint by full name
        full_names = {key: pairing.name_of(base) for key, base in plan.renames.items()}
        edited = object_graph_edit.edit(raw, 0, (), drops=plan.drops, full_names=full_names)
    else:
        base_paths = [b.object_path for b in plan.base_variables if b.object_path]
        start = 0
        if isinstance(plan.report.base, records.Architecture) and target.object_graph is not None:
            start = pairing.model_root(target.object_graph, base_paths)
        renames = [object_graph_edit.Rename(key, base.object_path or base.key)
                   for key, base in plan.renames.items()]
        edited = object_graph_edit.edit(raw, start, renames, kept=plan.kept, drops=plan.drops)
    return edited.keys, edited.graph, edited.not_moved


# ---------------------------------------------------------------- what the output will read as


def _new_entries(layout: Layout):
    """(plain keys in index order, key -> entry, full name -> [(extents, slice entry)]) of the
    output, sizes as written (offsets are the writer's to give)."""
    entries: Dict[str, proto.Entry] = {}
    slices: Dict[str, list] = {}
    for item in layout.stored:
        entry = item.entry._replace(dtype=item.dtype, size=_size(item))
        if item.key[:1] == b"\x00":
            name, extents = slice_keys.decode(item.key)
            slices.setdefault(name, []).append((extents, entry))
        else:
            entries[item.key.decode("utf-8")] = entry
    entries.update(layout.full)
    keys = sorted(entries, key=lambda k: k.encode("utf-8"))
    return keys, entries, slices


def _size(item: _Stored) -> int:
    if item.dtype == item.entry.dtype:
        return item.entry.size
    old = dtypes.ITEMSIZE[dtypes.name(item.entry.dtype)]
    return item.entry.size // old * dtypes.ITEMSIZE[dtypes.name(item.dtype)]


def planned(fs, target: records.Checkpoint, layout: Layout, out: str) -> records.Checkpoint:
    """The output's metadata, as the reader will read it (without writing or reading values)."""
    keys, entries, slices = _new_entries(layout)
    # table=None: these entries were planned, not read (the target's table would not describe them)
    bundle = layout.bundle._replace(keys=keys, entries=entries, slices=slices, shard_sizes={}, table=None)
    # Read as the reader reads it: a plan that leaves the graph as it was shares the target's.
    graph, namings = tf_bundle.named_graph(layout.graph) if layout.graph is not None else (None, None)
    return records.Checkpoint(
        id=out, path=out, format=FORMAT, flavor=target.flavor, variables=tf_bundle.variables(bundle, namings),
        object_graph=graph)


# ---------------------------------------------------------------- writing


def write(fs, target: records.Checkpoint, layout: Layout, prefix: str, staging) -> Tuple[List[str], List[str]]:
    """Write the bundle into ``staging``; (every file, the files to move last: the index)."""
    import google_crc32c

    bundle = layout.bundle
    shards = bundle.header.num_shards
    by_shard: Dict[int, List[_Stored]] = {}
    for item in layout.stored:
        by_shard.setdefault(item.entry.shard_id, []).append(item)
    index: List[Tuple[bytes, bytes]] = []
    for shard in range(shards):
        with open(staging.path(tf_bundle.data_path(prefix, shard, shards)), "wb") as out:
            offset = 0
            checks = []
            for item in sorted(by_shard.get(shard, ()), key=lambda i: i.entry.offset):
                size, crc, check = _copy(fs, target.path, bundle, item, layout.graph, out, google_crc32c)
                checks.append(check)
                entry = item.entry._replace(dtype=item.dtype, shard_id=shard, offset=offset, size=size, crc32c=crc)
                index.append((item.key, bundle_encoding.encode_entry(entry)))
                offset += size
            _check_while_syncing(out, checks)
    for name, entry in layout.full.items():
        index.append((name.encode("utf-8"), bundle_encoding.encode_entry(entry)))
    header = proto.Header(shards, 0, bundle.header.version or _VERSION)
    index.sort()
    table = bundle_encoding.write_table([(b"", bundle_encoding.encode_header(header))] + index)
    with open(staging.path(tf_bundle.index_path(prefix)), "wb") as out:
        out.write(table)
    return output_files(prefix, layout), [tf_bundle.index_path(prefix)]


def _check_while_syncing(out, checks) -> None:
    """Run the copies' checks (reads from the page cache) while the shard goes to disk."""
    out.flush()
    syncing = threading.Thread(target=os.fsync, args=(out.fileno(),), daemon=True)
    syncing.start()
    try:
        for check in checks:
            check()
    finally:
        syncing.join()


def _copy(fs, path, bundle, item: _Stored, graph, out, crc32c):
    """Write one stored run of bytes; (its size, its masked CRC32C, the check of the copy)."""
    if item.source == tf_bundle.OBJECT_GRAPH_KEY and graph is not None:
        raw, crc = tf_bundle.encode_strings([graph])
        out.write(raw)
        return len(raw), crc, _nothing
    if item.dtype == item.entry.dtype and item.entry.crc32c is not None:
        check = tf_bundle.copy_stored(fs, path, bundle, item.source, item.entry, out)  # bit for bit: the same CRC
        return item.entry.size, item.entry.crc32c, check
    chunks = tf_bundle.stored_bytes(fs, path, bundle, item.source, item.entry, CHUNK)
    source = wanted = None
    if item.dtype != item.entry.dtype:
        import numpy as np

        source = dtypes.numpy_dtype(dtypes.name(item.entry.dtype))
        wanted = dtypes.numpy_dtype(dtypes.name(item.dtype))
    crc = size = 0
    for chunk in chunks:
        data = np.frombuffer(chunk, source).astype(wanted).view(np.uint8) if wanted is not None else chunk
        crc = crc32c.extend(crc, data)
        size += len(data)
        out.write(data)
    return size, index_table.mask(crc), _nothing


def _nothing() -> None:
    """The check of bytes checked as they were read, or made here."""
