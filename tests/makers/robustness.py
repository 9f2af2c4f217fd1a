"""Hostile inputs for the robustness tests and benchmarks: real checkpoints as seeds,
mutations of their bytes, and a worker process that reads one input under a time and
memory bound and says how the readers answered.

Seeds are written by real TF/Keras (the bundles and logdirs makers). A mutation is a short
list of integer tuples, so hypothesis can shrink it and a fuzzer can draw it at random; the
same ``mutate`` applies both. The worker runs the public entry points a user hits
(formats.read / read_or_error / read_tensor, meta_graph.from_meta_graph_file) in a child
process, so a hang, a segfault in a C library or a runaway allocation is a reported outcome
rather than a dead test run.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import select
import struct
import subprocess
import sys
import tempfile
import zipfile
from typing import Dict, List, NamedTuple, Optional, Tuple

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

    # many_tf2: an object graph past 8 KiB, which object_names decodes with numpy gathers.
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
    from tensorboard_plugin_ckptdiff.formats._bundle import table as index_table

    return index_table.write_table(pairs, block_size=1 << 62, restart_interval=1)


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


# ---------------------------------------------------------------- the worker

TIME_LIMIT = 10.0  # seconds per input: our readers take milliseconds on these files
MEMORY_LIMIT = 3 << 30  # address space of the worker (numpy + h5py need ~1 GiB of it)
RSS_BLOWUP = 256 << 20  # peak resident growth on one input that counts as a blow-up
MAX_TENSORS = 4
MAX_CHUNKED = 1


class Outcome(NamedTuple):
    status: str  # ok | incomplete | error: fine.  escaped | wrapped | leak | hang | crash | memory: bugs
    detail: str = ""

    @property
    def bad(self) -> bool:
        return self.status not in ("ok", "incomplete", "error")


def _wrapped(e) -> bool:
    """formats.read turned a reader's own exception into a CheckpointError: the reader let
    a TypeError/IndexError/MemoryError... through, and the user gets an unactionable message."""
    from tensorboard_plugin_ckptdiff.errors import CheckpointError

    cause = e.__cause__
    if cause is None or isinstance(cause, CheckpointError):
        return False
    # The catch-alls of formats.read / read_tensor: "unreadable: TypeError: ...".
    return e.message.startswith(("unreadable", "the file claims structures too large"))


def _check(root: str, seed_open: str, check: str) -> Outcome:
    import traceback

    from tensorboard_plugin_ckptdiff import errors, formats, records, storage

    path = os.path.normpath(os.path.join(root, seed_open))
    try:
        if check == "meta_graph":
            from tensorboard_plugin_ckptdiff import storage
            from tensorboard_plugin_ckptdiff.architectures import meta_graph

            try:
                meta_graph.from_meta_graph_file(storage.for_path(path), path)
            except errors.CheckpointError as e:
                return Outcome("wrapped", repr(e.__cause__)) if _wrapped(e) else Outcome("error", str(e))
            return Outcome("ok")
        try:
            checkpoint = formats.read(path)
        except errors.CheckpointError as e:
            # What a listing shows of it: read_or_error must turn it into a record, not raise.
            listed = formats.read_or_error(path)
            if listed.status not in (records.INCOMPLETE, records.ERROR):
                return Outcome("escaped", f"read_or_error status {listed.status!r} after {e}")
            if isinstance(e, errors.IncompleteCheckpoint):
                return Outcome("incomplete", str(e))
            return Outcome("wrapped", f"{e} <- {e.__cause__!r}") if _wrapped(e) else Outcome("error", str(e))
        for variable in checkpoint.variables[:MAX_TENSORS]:
            try:
                formats.read_tensor(checkpoint, variable.key)
            except errors.CheckpointError as e:
                if _wrapped(e):
                    return Outcome("wrapped", f"read_tensor {variable.key}: {e} <- {e.__cause__!r}")
        # The drift path: values in small slabs, through each reader's own iter_chunks.
        module = formats.reader_for_format(checkpoint.format)
        for variable in checkpoint.variables[:MAX_CHUNKED] if hasattr(module, "iter_chunks") else ():
            try:
                for _ in module.iter_chunks(storage.for_path(checkpoint.path), checkpoint.path, variable.key, 256):
                    pass
            except errors.CheckpointError as e:
                if _wrapped(e):
                    return Outcome("wrapped", f"iter_chunks {variable.key}: {e} <- {e.__cause__!r}")
            except Exception as e:  # iter_chunks has no catch-all of its own: anything else is a bug
                return Outcome("escaped", f"iter_chunks {variable.key}: {type(e).__name__}: {e}")
        return Outcome("ok")
    except BaseException as e:  # noqa: BLE001 - anything else is exactly what we look for
        return Outcome("escaped", "".join(traceback.format_exception(e))[-2000:])


def _guard_paths(root: str, seen: List[str]):
    """Record every path LocalFS opens or stats that lies outside the input's directory."""
    from tensorboard_plugin_ckptdiff import storage

    real_root = os.path.realpath(root)
    for name in ("open", "stat"):
        original = getattr(storage.LocalFS, name)

        def guarded(self, path, _original=original):
            if not os.path.realpath(path).startswith(real_root + os.sep) and os.path.realpath(path) != real_root:
                seen.append(path)
            return _original(self, path)

        setattr(storage.LocalFS, name, guarded)


def _worker_main() -> None:
    import resource
    import shutil

    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # library chatter goes to stderr, the protocol keeps the real stdout

    def send(reply):
        body = pickle.dumps(reply)
        out.write(struct.pack("<Q", len(body)) + body)
        out.flush()

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    cov = None
    try:  # a worker that cannot start says why, so the harness never mistakes it for a crash
        if os.environ.get("CKPTDIFF_FUZZ_COVERAGE"):
            import coverage

            import tensorboard_plugin_ckptdiff

            package = os.path.dirname(tensorboard_plugin_ckptdiff.__file__)
            cov = coverage.Coverage(data_file=None, include=[os.path.join(package, "formats", "*"),
                                                                os.path.join(package, "formats", "*", "*")])
            cov.start()
        from tensorboard_plugin_ckptdiff import formats  # noqa: F401 - import before timing inputs

        for name in formats._MODULES:
            formats.reader_for_format(name)
    except BaseException as e:  # noqa: BLE001
        send(("failed", f"{type(e).__name__}: {e}"))
        return
    send(("ready",))
    base = tempfile.mkdtemp(prefix="ckptdiff-fuzz-")
    outside: List[str] = []
    _guard_paths(base, outside)
    count = 0
    stdin = sys.stdin.buffer
    while True:
        header = stdin.read(8)
        if len(header) < 8:
            break
        message = pickle.loads(stdin.read(struct.unpack("<Q", header)[0]))
        if message[0] == "coverage":
            reply = _coverage_lines(cov) if cov else {}
        else:
            _, files, seed_open, check = message
            count += 1
            root = os.path.join(base, str(count))
            for rel, content in files.items():
                path = os.path.join(root, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(content)
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            del outside[:]
            outcome = _check(root, seed_open, check)
            grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
            if outside and not outcome.bad:
                outcome = Outcome("leak", f"opened outside the input: {outside[:3]}")
            elif grown > RSS_BLOWUP and not outcome.bad:
                outcome = Outcome("memory", f"peak memory grew by {grown >> 20} MiB on one input")
            shutil.rmtree(root, ignore_errors=True)
            reply = tuple(outcome)
        send(reply)



def _coverage_lines(cov) -> Dict[str, Tuple[List[int], List[int]]]:
    """{file: (statements, executed)} for every formats/ module, this worker's run so far."""
    import glob

    import tensorboard_plugin_ckptdiff

    package = os.path.dirname(tensorboard_plugin_ckptdiff.__file__)
    data = cov.get_data()
    out = {}
    for path in sorted(glob.glob(os.path.join(package, "formats", "**", "*.py"), recursive=True)):
        _, statements, _, missing, _ = cov.analysis2(path)
        executed = sorted(set(statements) - set(missing))
        out[os.path.relpath(path, os.path.dirname(package))] = (sorted(statements), executed)
    del data
    return out


class HarnessError(RuntimeError):
    """The harness itself cannot run (its worker does not start): not a finding about a reader."""


def coverage_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("coverage") is not None


class Worker:
    """One child process that reads inputs; restarted after a hang or a crash."""

    def __init__(self, coverage: bool = False, time_limit: float = TIME_LIMIT):
        self.coverage = coverage
        self.time_limit = time_limit
        self.proc: Optional[subprocess.Popen] = None
        self.covered: Dict[str, Tuple[set, set]] = {}

    def _start(self):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="",
                   OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        if self.coverage:
            env["CKPTDIFF_FUZZ_COVERAGE"] = "1"
        tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = tests + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen([sys.executable, "-c", "from makers import robustness; robustness._worker_main()"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=env)
        # The first message says whether the worker could start (imports, coverage.py):
        # without it, a worker failing at start would read as a crash on every input.
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], 180.0)
        header = self.proc.stdout.read(8) if ready else b""
        hello = pickle.loads(self.proc.stdout.read(struct.unpack("<Q", header)[0])) if len(header) == 8 else None
        if hello != ("ready",):
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            why = hello[1] if isinstance(hello, tuple) and len(hello) > 1 else "it exited or hung while starting"
            raise HarnessError(f"the fuzz worker could not start: {why}")

    def _ask(self, message, time_limit):
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        body = pickle.dumps(message)
        try:
            self.proc.stdin.write(struct.pack("<Q", len(body)) + body)
            self.proc.stdin.flush()
        except BrokenPipeError:
            return self._died()
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], time_limit)
        if not ready:
            self._harvest_and_stop()
            return Outcome("hang", f"no answer within {time_limit:.0f} s")
        header = self.proc.stdout.read(8)
        if len(header) < 8:
            return self._died()
        return pickle.loads(self.proc.stdout.read(struct.unpack("<Q", header)[0]))

    def _died(self):
        code = self.proc.wait()
        self.proc = None
        return Outcome("crash", f"the reader process died (exit status {code})")

    def run(self, files: Dict[str, bytes], seed_open: str, check: str = "checkpoint",
            time_limit: Optional[float] = None) -> Outcome:
        reply = self._ask(("read", files, seed_open, check), time_limit or self.time_limit)
        return reply if isinstance(reply, Outcome) else Outcome(*reply)

    def _harvest(self):
        if self.coverage and self.proc is not None and self.proc.poll() is None:
            lines = self._ask(("coverage",), 120.0)
            if isinstance(lines, dict):
                for path, (statements, executed) in lines.items():
                    have = self.covered.setdefault(path, (set(), set()))
                    have[0].update(statements)
                    have[1].update(executed)

    def _harvest_and_stop(self):
        # A hung worker cannot answer: its coverage since the last harvest is lost.
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def coverage_now(self) -> Dict[str, Tuple[set, set]]:
        self._harvest()
        return self.covered

    def close(self):
        if self.proc is not None:
            self._harvest()
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run_mutated(worker: Worker, seed: Seed, ops, donor: bytes = b"") -> Tuple[Outcome, bytes]:
    """Read the seed with its target replaced by the mutated bytes; (outcome, those bytes)."""
    data = mutated(seed, ops, donor)
    files = dict(seed.files)
    files[seed.target] = data
    return worker.run(files, seed.open, seed.check), data


# ---------------------------------------------------------------- an unprivileged server

_AS_NOBODY = r"""
import json, os, sys, time
from makers import logdirs
from werkzeug.test import Client
from tensorboard import program
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_ingester
from tensorboard.plugins.core import core_plugin
from tensorboard_plugin_ckptdiff import formats, plugin
for name in formats._MODULES:
    try:
        formats.reader_for_format(name)
    except ImportError:
        pass
# Python's own lib may sit in a directory only root can read: load what requests need first.
import encodings.ascii, encodings.cp437, encodings.idna, encodings.latin_1, email, http.server
import logging.handlers, mimetypes, zipfile
mimetypes.init()
os.setgid(65534)
os.setuid(65534)
# TensorBoard's own event loader raises on an unreadable directory: in its reload thread,
# as a real `tensorboard` runs it, that does not stop our plugin.
client = Client(logdirs.tensorboard_app("--logdir", sys.argv[1], "--reload_task", "thread"))
out = []
for path in json.loads(sys.argv[2]):
    response = client.get(path)
    # /runs says "pending" until it has read each checkpoint: ask until it has.
    while path.endswith("/runs") and response.status_code == 200 and json.loads(response.get_data())["scanning"]:
        time.sleep(0.05)
        response = client.get(path)
    out.append((response.status_code, response.get_data(as_text=True)))
sys.stdout.write("\n@@RESULT@@" + json.dumps(out))
sys.stdout.flush()
logdirs.stop_reloading()  # an exit with it running may abort (see stop_reloading)
"""


def get_as_nobody(logdir: str, paths: List[str], timeout: float = 300.0) -> List[Tuple[int, str]]:
    """GET each path from the real TensorBoard app over ``logdir``, served by a process that
    dropped root for the 'nobody' user: root reads every file, so permissions only bite here."""
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=tests + os.pathsep + os.environ.get("PYTHONPATH", ""),
               TF_CPP_MIN_LOG_LEVEL="2", HOME=tempfile.gettempdir())
    proc = subprocess.run([sys.executable, "-c", _AS_NOBODY, logdir, json.dumps(paths)], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=tempfile.gettempdir())
    if "@@RESULT@@" not in proc.stdout:
        raise AssertionError(f"the unprivileged server failed (exit {proc.returncode}): {proc.stderr[-3000:]}")
    return [tuple(x) for x in json.loads(proc.stdout.split("@@RESULT@@", 1)[1])]


# ---------------------------------------------------------------- a writer that keeps going


def keep_saving(directory: str, saves: int, log_path: str, pause: float = 0.05) -> None:
    """A training job: a Keras model saved ``saves`` times by tf.train.CheckpointManager
    (max_to_keep=2, so older checkpoints are deleted), with a train step between saves.
    After each save returns, one JSON line names the complete checkpoint and its size."""
    import time

    import keras

    from makers import bundles

    tf = bundles._tf()
    model = bundles._small_keras_model()
    optimizer = keras.optimizers.Adam(0.01)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model, optimizer=optimizer), directory,
                                         max_to_keep=2)
    with open(log_path, "a") as log:
        for _ in range(saves):
            bundles._train_one_step(model, optimizer)
            prefix = manager.save()
            base = os.path.basename(prefix)
            size = sum(os.path.getsize(os.path.join(directory, n)) for n in os.listdir(directory)
                       if n.startswith(base + "."))
            log.write(json.dumps({"prefix": base, "size": size}) + "\n")
            log.flush()
            time.sleep(pause)


def start_saving(directory: str, saves: int, log_path: str) -> subprocess.Popen:
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=tests + os.pathsep + os.environ.get("PYTHONPATH", ""),
               TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    code = f"from makers import robustness; robustness.keep_saving({directory!r}, {saves}, {log_path!r})"
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


# ---------------------------------------------------------------- a real tensorboard under load


class TensorBoard:
    """`tensorboard --logdir LOGDIR` on a free loopback port, until stop()."""

    def __init__(self, logdir: str, *flags: str):
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}/data/plugin/ckptdiff/"
        command = [os.path.join(os.path.dirname(sys.executable), "tensorboard"), "--logdir", logdir,
                   "--host", "127.0.0.1", "--port", str(self.port), *flags]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES=""))

    def runs(self, timeout: float = 120.0) -> dict:
        """The /runs body once the plugin has listed and read every checkpoint."""
        import time
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"tensorboard exited with status {self.process.returncode}")
            try:
                with urllib.request.urlopen(self.base + "runs", timeout=30) as response:
                    body = json.loads(response.read())
                if any(run["checkpoints"] for run in body["runs"]) and not body["scanning"]:
                    return body
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        raise AssertionError("tensorboard never listed a checkpoint")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Load(NamedTuple):
    requests: int
    errors: List[str]  # 5xx, refused connections, timeouts
    client_errors: int  # 4xx
    seconds: float
    latencies: Dict[str, List[float]]  # per route, seconds


def hammer(base: str, runs_body: dict, clients: int, seconds: float, seed: int = 0) -> Load:
    """``clients`` threads, each a browser tab asking /runs, /checkpoint (whole or a page)
    and /diff of two ok checkpoints, with gzip accepted, until ``seconds`` have passed."""
    import random
    import threading
    import time
    import urllib.error
    import urllib.parse
    import urllib.request

    ids = [c["id"] for run in runs_body["runs"] for c in run["checkpoints"] if c["status"] == "ok"]
    latencies: Dict[str, List[float]] = {"runs": [], "checkpoint": [], "diff": []}
    errors: List[str] = []
    client_errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def one(rng):
        route = rng.choices(("runs", "checkpoint", "diff"), (2, 2, 1))[0]
        if route == "runs":
            query = ""
        elif route == "checkpoint":
            args = {"id": rng.choice(ids)}
            if rng.random() < 0.5:
                args.update(offset=str(rng.randrange(4)), limit="50")
            query = "?" + urllib.parse.urlencode(args)
        else:
            query = "?" + urllib.parse.urlencode({"base": "checkpoint:" + rng.choice(ids),
                                                  "target": "checkpoint:" + rng.choice(ids)})
        request = urllib.request.Request(base + route + query, headers={"Accept-Encoding": "gzip"})
        start = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
            status = response.status
        except urllib.error.HTTPError as e:
            status = e.code
        except OSError as e:
            status = f"{type(e).__name__}: {e}"
        took = time.monotonic() - start
        with lock:
            latencies[route].append(took)
            if isinstance(status, str) or status >= 500:
                errors.append(f"{route}{query}: {status}")
            elif status >= 400:
                client_errors[0] += 1

    def client(k):
        rng = random.Random(seed * 1000 + k)
        while time.monotonic() < stop_at:
            one(rng)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - began
    return Load(sum(len(v) for v in latencies.values()), errors, client_errors[0], took, latencies)


def load_logdir(logdir: str) -> None:
    """Runs a user would load-test with: TF2 training (3 checkpoints), a TF1 Saver run, a
    Keras fit run, and the seed files (every other format)."""
    from makers import logdirs, runs

    runs.tf2_training(os.path.join(logdir, "tf2"))
    runs.tf1_saver(os.path.join(logdir, "tf1"))
    runs.keras_fit(os.path.join(logdir, "keras"))
    logdirs.seed_files(logdir)
