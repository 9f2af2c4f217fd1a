"""isolation.Pool: what a reader does in its process comes back as a result or a CheckpointError,
and nothing it does — dying, hanging, eating memory — reaches the caller's process."""

import os
import signal
import threading
import time

import pytest

from tensorboard_plugin_ckptdiff.logdir import catalog, walk
from tensorboard_plugin_ckptdiff import formats, isolation, records, storage
from tensorboard_plugin_ckptdiff.errors import CheckpointError, IncompleteCheckpoint, InvalidArgument

HERE = os.path.dirname(os.path.abspath(__file__))
SEGFAULT_H5 = os.path.join(HERE, "regressions", "corrupt-legacy-keras-segfault.h5")


@pytest.fixture(scope="module", autouse=True)
def importable_here():
    """Workers unpickle the functions below by name: they must import this module too."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = HERE + os.pathsep + (saved or "")
    yield
    if saved is None:
        os.environ.pop("PYTHONPATH")
    else:
        os.environ["PYTHONPATH"] = saved


@pytest.fixture(scope="module")
def pool():
    p = isolation.Pool(workers=2, timeout=5)
    yield p
    p.close()


def _segfault():
    os.kill(os.getpid(), signal.SIGSEGV)


def _spin():
    while True:
        pass


def _hoard():
    return len(bytearray(8 << 30))  # twice the address space a reader process may use


def _pid():
    return os.getpid()


def _slow_with_progress(steps, progress=None):
    for k in range(steps):
        time.sleep(0.5)
        progress(k / steps)
    return "done"


def _raise(error):
    raise error


def test_a_call_runs_in_another_process_and_returns_its_result(pool):
    assert pool.call(_pid) != os.getpid()
    assert pool.call(sum, [1, 2, 3]) == 6


def test_workers_are_reused_between_calls(pool):
    assert len({pool.call(_pid) for _ in range(6)}) <= 2


def test_a_segfault_is_a_checkpoint_error_naming_the_signal_and_the_next_call_works(pool):
    with pytest.raises(CheckpointError, match="killed by SIGSEGV"):
        pool.call(_segfault)
    assert pool.call(sum, [2, 2]) == 4


def test_a_hang_is_stopped_after_the_timeout(pool):
    started = time.monotonic()
    with pytest.raises(CheckpointError, match="without progress"):
        pool.call(_spin)
    assert time.monotonic() - started < 30
    assert pool.call(sum, [1]) == 1


def test_a_memory_blow_up_fails_in_the_worker(pool):
    with pytest.raises(CheckpointError, match="GiB"):
        pool.call(_hoard)


def test_progress_keeps_a_long_call_alive_past_the_timeout():
    p = isolation.Pool(workers=1, timeout=2)
    seen = []
    try:
        assert p.call(_slow_with_progress, 8, progress=seen.append) == "done"  # 4 s, silent for 0.5 s at most
    finally:
        p.close()
    assert seen and all(0 <= x < 1 for x in seen)


def test_a_call_the_worker_cannot_unpickle_is_an_error_and_the_worker_lives(pool, tmp_path, monkeypatch):
    import pickle
    import sys
    import types

    module = types.ModuleType("nowhere_but_here")
    exec("def f():\n    return 1\n", module.__dict__)
    monkeypatch.setitem(sys.modules, "nowhere_but_here", module)
    assert pickle.loads(pickle.dumps(module.f))() == 1
    with pytest.raises(CheckpointError, match="cannot run this call"):
        pool.call(module.f)
    assert pool.call(sum, [3]) == 3


@pytest.mark.parametrize("error", [CheckpointError("bad bytes", "/x/y.h5"), IncompleteCheckpoint("shard missing", "p"),
                                   InvalidArgument("no histogram for strings")])
def test_exceptions_come_back_as_themselves(pool, error):
    with pytest.raises(type(error)) as info:
        pool.call(_raise, error)
    assert str(info.value) == str(error)
    if isinstance(error, CheckpointError):
        assert info.value.path == error.path and info.value.message == error.message


def test_at_most_the_pool_size_of_calls_run_at_once():
    p = isolation.Pool(workers=2, timeout=10)
    pids, threads = [], []
    try:
        for _ in range(5):
            threads.append(threading.Thread(target=lambda: pids.append(p.call(_slow_with_progress, 2, progress=lambda _: None))))
            threads[-1].start()
        for t in threads:
            t.join(60)
        assert pids == ["done"] * 5
        assert p._idle.qsize() <= 2
    finally:
        p.close()


def test_the_catalog_reads_the_segfault_file_in_a_reader_process_and_marks_it_error(tmp_path):
    (tmp_path / "run").mkdir()
    target = tmp_path / "run" / "model.h5"
    target.write_bytes(open(SEGFAULT_H5, "rb").read())
    cat = catalog.Catalog([walk.Root(str(tmp_path))], reload_interval=0)
    cat.refresh()
    record = cat.checkpoint("run/model.h5")
    assert record.status == records.ERROR and "HDF5" in record.error and record.path == "run/model.h5"


def test_read_found_is_what_the_catalog_runs_in_a_worker(tmp_path):
    # The catalog's unit of work pickles: the found checkpoint, its filesystem, its fields.
    import pickle

    found = walk.Found(id="x", path=SEGFAULT_H5, rel="x.h5", format=records.KERAS_LEGACY_H5, run=".",
                            step=None, wall_time=None, size_bytes=1, signature=())
    args = pickle.loads(pickle.dumps((found, storage.for_path(SEGFAULT_H5), {"id": "x"})))
    assert catalog.read_found(*args) == formats.read_or_error(SEGFAULT_H5, id="x").__class__(
        **{**formats.read_or_error(SEGFAULT_H5, id="x").__dict__, "path": "x.h5"})


def test_without_any_reader_process_the_read_happens_here_and_the_log_says_so(monkeypatch, caplog):
    # An unprivileged TensorBoard that may not run the interpreter again (tests/test_hostile_logdir
    # drops root after start): every checkpoint unreadable would be worse than no isolation.
    import sys

    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    monkeypatch.setattr(isolation, "_SHARED", isolation.Pool(workers=1))
    monkeypatch.setattr(isolation, "_unavailable_until", 0.0)
    with caplog.at_level("WARNING"):
        assert isolation.call(_pid) == os.getpid()
    assert "without isolation" in caplog.text and "could not be started" in caplog.text
    assert isolation.call(_pid) == os.getpid()  # not tried again at once


def _env(name):
    return os.environ.get(name)


def test_a_worker_started_before_the_environment_changed_is_replaced(pool, monkeypatch):
    # Credentials for a remote logdir set after the first read must reach the readers.
    assert pool.call(_env, "CKPTDIFF_TEST_CREDENTIALS") is None
    monkeypatch.setenv("CKPTDIFF_TEST_CREDENTIALS", "set later")
    assert pool.call(_env, "CKPTDIFF_TEST_CREDENTIALS") == "set later"
