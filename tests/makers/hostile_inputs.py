"""Hostile inputs for the robustness tests and benchmarks: real checkpoints as seeds and
mutations of their bytes (fuzz_worker.py reads them).

Seeds are written by real TF/Keras (the bundles and logdirs makers). A mutation is a short
list of integer tuples, so hypothesis can shrink it and a fuzzer can draw it at random; the
same ``mutate`` applies both.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from typing import Dict, List, NamedTuple, Tuple

from makers.bundles import index_pairs

# ---------------------------------------------------------------- seeds


class Seed(NamedTuple):
    kind: str  # what is mutated: index, bundle_entry, data_shard, weights_h5, ...
    name: str  # a label for reports
    files: Dict[str, bytes]  # relative path -> content: the whole checkpoint, real bytes
    target: str  # the file mutations apply to
    open: str  # what the reader is pointed at (relative path; "." for the directory)
    check: str = "checkpoint"  # or "meta_graph"


def _files_under(root: str) -> Dict[str, bytes]:
    out = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            out[os.path.relpath(path, root).replace(os.sep, "/")] = open(path, "rb").read()
    return out


def _bundle_files(prefix: str) -> Dict[str, bytes]:
    directory, base = os.path.split(prefix)
    return {name: open(os.path.join(directory, name), "rb").read()
            for name in sorted(os.listdir(directory))
            if name.startswith(base + ".") or name == "checkpoint"}


def write_seeds(directory: str) -> List[Seed]:
    """Real checkpoints of every format, written by TF/Keras into ``directory``, as seeds."""
    from makers import bundles, logdirs

    seeds: List[Seed] = []

    def sub(name):
        path = os.path.join(directory, name)
        os.makedirs(path, exist_ok=True)
        return path

    # many_tf2: an object graph past 8 KiB, which _bundle/object_graph.py decodes with numpy gathers.
    for label, write in (("keras_tf2", bundles.keras_tf2_checkpoint), ("tf1_saver", bundles.tf1_saver_checkpoint),
                         ("sharded_tf2", bundles.sharded_tf2_checkpoint),
                         ("many_tf2", lambda d: bundles.many_variables_checkpoint(d, 300))):
        prefix = write(sub(label))
        files = _bundle_files(prefix)
        base = os.path.basename(prefix)
        data = sorted(n for n in files if ".data-" in n)
        seeds.append(Seed("index", label, files, base + ".index", base))
        seeds.append(Seed("bundle_entry", label, files, base + ".index", base))
        seeds.append(Seed("data_shard", label, files, data[-1], base))
        if "checkpoint" in files:
            seeds.append(Seed("state_file", label, files, "checkpoint", "."))
        if base + ".meta" in files:
            seeds.append(Seed("meta_graph", label, files, base + ".meta", base + ".meta", check="meta_graph"))
    saved = bundles.module_saved_model(sub("saved_model"))
    seeds.append(Seed("saved_model", "module", _files_under(saved), "saved_model.pb", "."))
    seed_dir = logdirs.seed_files(directory)["run"]
    seed_path = os.path.join(directory, seed_dir)
    for kind, name in (("weights_h5", "model_save_weights.weights.h5"), ("keras_zip", "model.keras"),
                       ("legacy_h5", "legacy.h5"), ("safetensors", "tiny.safetensors")):
        seeds.append(Seed(kind, name, {name: open(os.path.join(seed_path, name), "rb").read()}, name, name))
    # HDF5 the way other writers lay it out (chunks, filters, dense storage, a user block),
    # and a .keras whose weights member is deflated rather than stored.
    from makers import keras_files

    for label, path in keras_files.h5_variety(sub("variety")).items():
        name = os.path.basename(path)
        seeds.append(Seed("weights_h5", label, {name: open(path, "rb").read()}, name, name))
    # A sharded save: its JSON weight map and one of its parts, each mutated in turn.
    sharded = {name: open(os.path.join(seed_path, name), "rb").read() for name in os.listdir(seed_path)
               if name.startswith("sharded")}
    part = sorted(name for name in sharded if name.endswith(".weights.h5"))[0]
    seeds.append(Seed("weights_h5", "sharded_index", sharded, "sharded.weights.json", "sharded.weights.json"))
    seeds.append(Seed("weights_h5", "sharded_part", sharded, part, "sharded.weights.json"))
    deflated = deflate_members(open(os.path.join(seed_path, "model.keras"), "rb").read())
    seeds.append(Seed("keras_zip", "deflated", {"deflated.keras": deflated}, "deflated.keras", "deflated.keras"))
    return seeds


def deflate_members(keras_bytes: bytes) -> bytes:
    """The same .keras archive with every member deflated (zip tools do that; Keras stores)."""
    src = zipfile.ZipFile(io.BytesIO(keras_bytes))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
    return out.getvalue()


# ---------------------------------------------------------------- mutations

# A mutation is (op, a, b, c): small integers whose meaning depends on op; positions are
# taken modulo the data length so any drawn tuple applies to any file.
OPS = ("flip", "truncate", "delete", "insert", "splice", "overwrite_int", "repeat")
INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
               (1 << 40), (1 << 62), (1 << 63) - 1, (1 << 64) - 1)
WIDTHS = (1, 2, 4, 8)


def mutate(data: bytes, ops, donor: bytes = b"") -> bytes:
    """Apply each (op, a, b, c) in turn: bit flips, truncations, deletions, insertions,
    splices from ``donor`` (another real file), integer/length-field overwrites, repeats."""
    buf = bytearray(data)
    for op, a, b, c in ops:
        n = len(buf)
        op = OPS[op % len(OPS)] if isinstance(op, int) else op
        if op == "flip" and n:
            buf[a % n] ^= 1 << (c % 8)
        elif op == "truncate":
            del buf[(a % (n + 1)):]
        elif op == "delete" and n:
            start = a % n
            del buf[start:start + 1 + b % 64]
        elif op == "insert":
            buf[a % (n + 1):a % (n + 1)] = bytes([c % 256]) * (1 + b % 32)
        elif op == "splice" and donor:
            start = b % len(donor)
            chunk = donor[start:start + 1 + c % 256]
            pos = a % (n + 1)
            buf[pos:pos + len(chunk)] = chunk
        elif op == "overwrite_int" and n:
            width = WIDTHS[b % len(WIDTHS)]
            value = INTERESTING[c % len(INTERESTING)] & ((1 << (8 * width)) - 1)
            pos = a % n
            buf[pos:pos + width] = value.to_bytes(width, "little")
        elif op == "repeat" and n:
            start = a % n
            chunk = bytes(buf[start:start + 1 + b % 256])
            buf[start:start] = chunk * (1 + c % 8)
    return bytes(buf)


def fix_table_crcs(data: bytes) -> bytes:
    """Recompute every block checksum of a (mutated) .index table, so mutations reach the
    entry decoder instead of all stopping at the CRC check. Unparseable tables pass through."""
    import google_crc32c

    from tensorboard_plugin_ckptdiff.errors import CheckpointError
    from tensorboard_plugin_ckptdiff.formats._bundle import table as index_table

    buf = bytearray(data)
    try:
        meta, index = index_table.parse_footer(data)
    except CheckpointError:
        return data

    def fix(offset, size):
        end = offset + size
        if end + index_table.TRAILER_SIZE > len(buf) - index_table.FOOTER_SIZE:
            return False
        crc = google_crc32c.extend(google_crc32c.value(bytes(buf[offset:end])), bytes(buf[end:end + 1]))
        buf[end + 1:end + 5] = struct.pack("<I", index_table.mask(crc))
        return True

    fix(*meta)
    if fix(*index):
        handles: List[Tuple[bytes, bytes]] = []
        try:
            index_table.block_entries(bytes(buf[index[0]:index[0] + index[1]]), handles)
            for _, handle in handles:
                from tensorboard_plugin_ckptdiff.formats._bundle.proto import varint

                offset, pos = varint(handle, 0, len(handle))
                size, _ = varint(handle, pos, len(handle))
                fix(offset, size)
        except CheckpointError:
            pass
    return bytes(buf)


def write_table(pairs: List[Tuple[bytes, bytes]]) -> bytes:
    """A LevelDB table TF's reader accepts, holding ``pairs`` in one data block (no prefix
    compression): lets a fuzzer edit one bundle entry's bytes and still pass every CRC."""
    from tensorboard_plugin_ckptdiff.remapping import bundle_encoding

    return bundle_encoding.write_table(pairs, block_size=1 << 62, restart_interval=1)


def mutate_entries(index: bytes, ops) -> bytes:
    """Re-encode a real .index with one entry's value (or key) mutated by ``ops``:
    op a picks the entry, b's low bit whether key or value."""
    pairs = index_pairs(index)
    for op, a, b, c in ops:
        i = a % len(pairs)
        key, value = pairs[i]
        if b & 1 and key:
            key = mutate(key, [(op, a >> 8, b >> 1, c)])
        else:
            value = mutate(value, [(op, a >> 8, b >> 1, c)])
        pairs[i] = (key, value)
    pairs.sort(key=lambda kv: kv[0])
    return write_table(pairs)


def _safetensors_header_edit(data: bytes, ops) -> bytes:
    """Rewrite the JSON header of a safetensors file with hostile offsets, shapes, dtypes."""
    (length,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + length])
    names = sorted(k for k in header if k != "__metadata__")
    hostile = (-1, 1 << 62, 1 << 64, 0, "7", None, [1, 2, 3], 2.5, True)
    for op, a, b, c in ops:
        name = names[a % len(names)]
        field = ("dtype", "shape", "data_offsets")[b % 3]
        value = hostile[c % len(hostile)]
        entry = header[name]
        if field == "dtype":
            entry["dtype"] = ("F32", "Z9", "", "BF16", "F8_E4M3", "I64", 7)[c % 7]
        elif field == "shape":
            entry["shape"] = [value] if c % 2 else list(entry["shape"]) + [value]
        else:
            offsets = list(entry["data_offsets"])
            offsets[c % 2] = value
            entry["data_offsets"] = offsets
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data[8 + length:]


def mutated(seed: Seed, ops, donor: bytes = b"") -> bytes:
    """The seed's target file after ``ops``, the way its kind is best attacked."""
    data = seed.files[seed.target]
    if seed.kind == "bundle_entry":
        return mutate_entries(data, ops)
    if seed.kind == "index":
        out = mutate(data, ops, donor)
        # Half the inputs keep valid checksums so they reach the entry decoder.
        return fix_table_crcs(out) if ops and ops[0][3] % 2 else out
    if seed.kind == "safetensors" and ops and ops[0][3] % 2:
        return _safetensors_header_edit(data, ops)
    if seed.kind == "keras_zip" and ops and ops[0][3] % 3 == 0:
        return zip_size_edit(data, ops)
    return mutate(data, ops, donor)


# ---------------------------------------------------------------- hostile zips


def zip_size_edit(data: bytes, ops) -> bytes:
    """A .keras zip whose local and central headers claim absurd sizes for a member."""
    buf = bytearray(data)
    sizes = (0xFFFFFFFF, 0xFFFFFFFE, 0x7FFFFFFF, 0, 1)
    central = [i for i in range(len(buf)) if buf[i:i + 4] == b"PK\x01\x02"]
    local = [i for i in range(len(buf)) if buf[i:i + 4] == b"PK\x03\x04"]
    for op, a, b, c in ops:
        value = struct.pack("<I", sizes[c % len(sizes)])
        if central:
            at = central[a % len(central)] + (20 if b % 2 else 24)  # compressed / uncompressed
            buf[at:at + 4] = value
        if local:
            at = local[a % len(local)] + (18 if b % 2 else 22)
            buf[at:at + 4] = value
    return bytes(buf)


def zip_bomb(keras_bytes: bytes, member: str, megabytes: int = 1024) -> bytes:
    """The .keras archive with ``member`` replaced by ``megabytes`` of zeros deflated to about
    a thousandth of that: a reader that inflates members without a bound eats the memory."""
    src = zipfile.ZipFile(io.BytesIO(keras_bytes))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename != member:
                dst.writestr(info, src.read(info.filename))
                continue
            bomb = zipfile.ZipInfo(member)
            bomb.compress_type = zipfile.ZIP_DEFLATED  # a bare ZipInfo would store, not deflate
            with dst.open(bomb, "w", force_zip64=True) as f:
                chunk = b"\x00" * (1 << 20)
                for _ in range(megabytes):
                    f.write(chunk)
    return out.getvalue()


def zip_members(keras_bytes: bytes) -> List[str]:
    return [i.filename for i in zipfile.ZipFile(io.BytesIO(keras_bytes)).infolist()]
