"""A worker process that reads one hostile input under a time and memory bound and says how the
readers answered. It runs the public entry points a user hits (formats.read / read_or_error /
read_tensor, meta_graph.from_meta_graph_file) in a child process, so a hang, a segfault in a
C library or a runaway allocation is a reported outcome rather than a dead test run.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import subprocess
import sys
import tempfile
from typing import Dict, List, NamedTuple, Optional, Tuple


from makers.hostile_inputs import Seed, mutated


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


def pick_index_decoder(files: Dict[str, bytes]) -> None:
    """Half the inputs (by their bytes' total length, so a saved input replays the same way)
    have every index block decoded with numpy, the other half as TensorBoard would: the seeds'
    indexes are small, and blocks that small otherwise always take the Python decoder."""
    from tensorboard_plugin_ckptdiff.formats._bundle import index

    default = _DEFAULTS.setdefault("blocks_from", index.VECTORIZE_BLOCKS_FROM_BYTES)
    index.VECTORIZE_BLOCKS_FROM_BYTES = 0 if sum(map(len, files.values())) % 2 else default


_DEFAULTS: Dict[str, int] = {}


def _check(root: str, seed_open: str, check: str) -> Outcome:
    import traceback

    from tensorboard_plugin_ckptdiff import errors, formats, records, storage

    path = os.path.normpath(os.path.join(root, seed_open))
    try:
        if check == "meta_graph":
            from tensorboard_plugin_ckptdiff.architectures import meta_graph

            try:
                meta_graph.from_meta_graph_file(storage.for_path(path), path)
            except errors.CheckpointError as e:
                return Outcome("wrapped", repr(e.__cause__)) if _wrapped(e) else Outcome("error", str(e))
            return Outcome("ok")
        # What /runs does first with every file it lists, in TensorBoard's own process: a
        # glance at its head for the format its name claims. It answers, it never raises.
        fs = storage.for_path(path)
        claimed = formats._claimed_format(fs, path)
        if claimed is not None:
            formats.glance(fs, claimed, path)
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
            pick_index_decoder(files)
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
        self.proc = subprocess.Popen([sys.executable, "-c", "from makers import fuzz_worker; fuzz_worker._worker_main()"],
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
