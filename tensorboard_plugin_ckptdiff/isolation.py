"""Reading untrusted files in worker processes, so that a crash, a hang or a memory blow-up
on one file costs that file, not TensorBoard.

Inside TensorBoard's process every reader runs through ``call``: the parsers are pure
Python, but pure Python can loop or allocate without bound, and numpy, protobuf and zlib
are C. Workers are persistent (started once, reused: a call costs a pickle round trip, not a
process start), at most ``WORKERS`` at a time, each with an address-space cap set in the
worker itself. A call that outlives its time without a sign of progress, or whose worker
dies, kills that worker (a fresh one replaces it on the next call) and raises a
CheckpointError that says what happened; the caller marks that file ``error``.

Workers are fresh interpreters (``python -c "...isolation._main()"``) that
connect back over a local socket (a named pipe on Windows) with a one-time key: not ``fork``
(forking TensorBoard's threaded process copies locks other threads hold), and not
multiprocessing's spawn or forkserver either, which import the parent's ``__main__`` in the
worker: the user's own script when TensorBoard is started from Python.
The CLI and the Python API read in their own process (``formats.read``): it is the user's.
"""

from __future__ import annotations

import gc
import logging
import os
import queue
import signal
import threading
import time
from typing import Callable, Optional

from tensorboard_plugin_ckptdiff.errors import CheckpointError

logger = logging.getLogger(__name__)

WORKERS = 2  # the machine TensorBoard runs on has other work: two reads at a time at most
# Without a word from the worker (progress counts) for this long, a call is a hang. A logdir
# on slow storage with huge checkpoints may need more: CKPTDIFF_READER_TIMEOUT (seconds).
TIMEOUT_SECONDS = float(os.environ.get("CKPTDIFF_READER_TIMEOUT") or 120.0)
MEMORY_LIMIT = 4 << 30  # address space of a worker: a blow-up fails there, not in TensorBoard
_PROGRESS_EVERY = 0.25  # seconds between progress messages from a long call
_START_SECONDS = 60.0  # a new worker's imports, on a busy machine


# ---------------------------------------------------------------- in the worker


def _limit_memory(limit: int) -> None:
    try:
        import resource
    except ImportError:  # Windows: no address-space limit; the timeout still holds
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _serve(conn, memory_limit: int) -> None:
    """A worker's life: run the calls its pipe brings, one at a time, until it is closed."""
    _limit_memory(memory_limit)
    # A worker is TensorBoard's helper: Ctrl-C in TensorBoard's terminal is TensorBoard's.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            fn, args, with_progress = conn.recv()
        except (EOFError, OSError):
            return
        except Exception as e:  # a call naming a function this process cannot import
            conn.send(("raised", CheckpointError(f"a reader process cannot run this call ({type(e).__name__}: {e})")))
            continue
        last = [0.0]

        def progress(fraction: float) -> None:
            now = time.monotonic()
            if now - last[0] >= _PROGRESS_EVERY:
                last[0] = now
                conn.send(("progress", float(fraction)))

        # A reader process is an edge like the command: one call at a time, making many small
        # acyclic records; the collector is paused for the call (never in TensorBoard's process).
        gc.disable()
        try:
            result = fn(*args, progress=progress) if with_progress else fn(*args)
            reply = ("ok", result)
        except MemoryError:
            reply = ("raised", CheckpointError(
                f"reading it needed more than the {memory_limit / (1 << 30):.0f} GiB a reader may use: stopped"))
        except BaseException as e:  # noqa: BLE001 - every failure goes back to the caller
            reply = ("raised", e)
        finally:
            gc.enable()
        try:
            conn.send(reply)
        except Exception as e:  # an exception or result that does not pickle
            conn.send(("raised", CheckpointError(f"the reader's answer could not be sent back "
                                                 f"({type(e).__name__}: {e})")))


# ---------------------------------------------------------------- in TensorBoard


def _main() -> None:
    """A worker process: take the key on stdin, listen, say where on stdout, serve one client."""
    import json
    import sys
    from multiprocessing.connection import Listener

    config = json.loads(sys.stdin.readline())
    with Listener(authkey=bytes.fromhex(config["key"])) as listener:
        sys.stdout.write(json.dumps({"address": listener.address}) + "\n")
        sys.stdout.flush()
        # Nothing else goes to that pipe: a library printing into it would fill it and block.
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        conn = listener.accept()
    _serve(conn, int(config["memory"]))


class WorkerUnavailable(CheckpointError):
    """No reader process can be started here (the interpreter cannot be run, say)."""


def _environment() -> int:
    """What a worker inherits: one started before the environment changed (credentials for
    a remote logdir set later, say) is replaced rather than reused."""
    return hash(frozenset(os.environ.items()))


class _Worker:
    def __init__(self, memory_limit: int):
        import json
        import secrets
        import subprocess
        import sys
        from multiprocessing.connection import Client

        key = secrets.token_bytes(32)
        self.environment = _environment()
        self.process = None
        self.conn = None
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", "from tensorboard_plugin_ckptdiff import isolation; isolation._main()"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            self.process.stdin.write(json.dumps({"key": key.hex(), "memory": memory_limit}).encode() + b"\n")
            self.process.stdin.close()
            line = _readline_within(self.process.stdout, _START_SECONDS)
            self.process.stdout.close()
            self.conn = Client(json.loads(line)["address"], authkey=key)
        except Exception as e:
            self.stop()
            raise WorkerUnavailable(f"a reader process could not be started ({type(e).__name__}: {e})") from None

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Killed, not asked: a hung worker answers nothing."""
        if self.process is None:
            return
        try:
            self.process.kill()
            self.process.wait(5)
        except Exception:  # already gone
            pass
        for end in (self.conn, self.process.stdout):
            try:
                if end is not None:
                    end.close()
            except (OSError, ValueError):
                pass

    def death(self) -> str:
        try:
            code = self.process.wait(5)
        except Exception:
            return "the reader process stopped answering"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"the reader process was killed by {name}"
        return f"the reader process exited (status {code})"


def _readline_within(stream, seconds: float) -> bytes:
    """One line from a pipe, or TimeoutError: a worker stuck while starting must not hang us."""
    box = []
    reader = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(seconds)
    if not box:
        raise TimeoutError(f"no answer within {seconds:.0f} s")
    if not box[0]:
        raise EOFError("it exited while starting")
    return box[0]


class Pool:
    """At most ``workers`` reader processes, started on first use and kept."""

    def __init__(self, workers: int = WORKERS, timeout: float = TIMEOUT_SECONDS,
                 memory_limit: int = MEMORY_LIMIT):
        self._timeout, self._memory_limit = timeout, memory_limit
        self._slots = threading.BoundedSemaphore(workers)
        self._idle: "queue.LifoQueue[_Worker]" = queue.LifoQueue()
        self._closed = False

    def _worker(self) -> _Worker:
        environment = _environment()
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                return _Worker(self._memory_limit)
            if worker.alive() and worker.environment == environment:
                return worker
            worker.stop()

    def call(self, fn: Callable, *args, progress: Optional[Callable[[float], None]] = None,
             timeout: Optional[float] = None):
        """``fn(*args)`` in a worker (``fn(*args, progress=...)`` when ``progress`` is given):
        its result, or its exception raised here; a worker that dies or stays silent longer
        than ``timeout`` seconds is a CheckpointError. ``fn`` and its arguments and result
        travel by pickle: a module-level function and records."""
        if self._closed:
            raise CheckpointError("the reader processes are shut down")
        timeout = self._timeout if timeout is None else timeout
        with self._slots:
            worker = self._worker()
            try:
                try:
                    worker.conn.send((fn, args, progress is not None))
                except OSError:  # it died while idle: the call has not started, so start it anew
                    worker.stop()
                    worker = self._worker()
                    worker.conn.send((fn, args, progress is not None))
                while True:
                    if not worker.conn.poll(timeout):
                        worker.stop()
                        worker = None
                        logger.warning("ckptdiff: a reader process ran %.0f s without progress; stopped", timeout)
                        raise CheckpointError(
                            f"reading it ran for over {timeout:.0f} s without progress: stopped "
                            "(a file built to make readers loop, or far larger than it claims)")
                    try:
                        kind, value = worker.conn.recv()
                    except (EOFError, OSError):
                        raise
                    except Exception as e:  # an answer that does not unpickle here
                        kind, value = "raised", CheckpointError(
                            f"the reader's answer could not be read back ({type(e).__name__}: {e})")
                    if kind == "progress":
                        if progress is not None:
                            progress(value)
                        continue
                    break
            except (EOFError, OSError) as e:
                # The worker died mid-call: SIGSEGV in a C library, the kernel's OOM killer...
                why = worker.death() if worker is not None else f"the pipe broke ({e})"
                logger.warning("ckptdiff: %s", why)
                if worker is not None:
                    worker.stop()
                    worker = None
                raise CheckpointError(f"{why} while reading it: the file crashes its parser") from None
            finally:
                if worker is not None:
                    self._idle.put(worker)
        if kind == "raised":
            raise value
        return value

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().stop()
            except queue.Empty:
                return


_SHARED: Optional[Pool] = None
_SHARED_LOCK = threading.Lock()


def pool() -> Pool:
    """The process's pool, shared by the catalog and the value routes."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = Pool()
        return _SHARED


_RETRY_SECONDS = 300.0
_unavailable_until = 0.0


def call(fn: Callable, *args, progress=None, timeout: Optional[float] = None):
    """``fn(*args)`` in the shared pool (see Pool.call).

    Where no reader process can be started at all (an interpreter the server's user may
    not run, a sandbox that forbids it), reading in TensorBoard's own process beats marking
    every checkpoint unreadable: that is said in TensorBoard's log, and tried again later."""
    global _unavailable_until
    if time.monotonic() >= _unavailable_until:
        try:
            return pool().call(fn, *args, progress=progress, timeout=timeout)
        except WorkerUnavailable as e:
            _unavailable_until = time.monotonic() + _RETRY_SECONDS
            logger.warning("ckptdiff: %s; checkpoints are read inside TensorBoard, without isolation, "
                           "for the next %.0f s", e.message, _RETRY_SECONDS)
    return fn(*args, progress=progress) if progress is not None else fn(*args)
