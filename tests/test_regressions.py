"""Every input the fuzzer found, kept: each through the entry points a user reaches it by.

``regressions/corrupt-legacy-keras-segfault.h5`` is a 25 KB legacy Keras ``.h5`` with two bytes
changed (benchmarks/fuzz.py, 17 minutes): libhdf5 died on it with SIGSEGV, taking `ckptdiff ls`
and TensorBoard with it. ``regressions/data-shard-string-length-overflow.bin`` is a data shard
of the ``sharded_tf2`` seed whose string-tensor length varint claims more than 2**64 bytes;
``regressions/saved-model-empty-object-graph.pb`` a ``saved_model.pb`` whose object graph has
no nodes, not even a root (both found by benchmarks/fuzz.py once it kept fuzzing after a finding).
"""

import collections
import json
import os
import shutil
import subprocess
import sys

import pytest

from makers import fuzz_worker, hostile_inputs, logdirs
from tensorboard_plugin_ckptdiff import formats
from tensorboard_plugin_ckptdiff.errors import CheckpointError

HERE = os.path.dirname(os.path.abspath(__file__))
SEGFAULT_H5 = os.path.join(HERE, "regressions", "corrupt-legacy-keras-segfault.h5")
STRING_OVERFLOW_SHARD = os.path.join(HERE, "regressions", "data-shard-string-length-overflow.bin")
EMPTY_OBJECT_GRAPH = os.path.join(HERE, "regressions", "saved-model-empty-object-graph.pb")
API = "/data/plugin/ckptdiff/"
# formats.read's catch-alls: a reader let its own exception escape.
_READER_BUG = ("unreadable", "the file claims structures too large")


def test_the_segfault_file_is_the_one_the_fuzzer_found():
    import hashlib

    digest = hashlib.sha256(open(SEGFAULT_H5, "rb").read()).hexdigest()
    assert digest == "1ee0419e71ccd1eccff4521b0428d92dcf10c50b052c4f6ffdc0e69e010a8299"


def test_read_refuses_the_segfault_file_with_a_checkpoint_error():
    with pytest.raises(CheckpointError) as info:
        formats.read(SEGFAULT_H5)
    assert "HDF5" in info.value.message and not info.value.message.startswith(_READER_BUG)


def test_read_or_error_marks_the_segfault_file_error():
    record = formats.read_or_error(SEGFAULT_H5)
    assert record.status == "error" and record.format == "keras_legacy_h5" and "HDF5" in record.error


def test_cli_ls_of_the_segfault_file_exits_2_with_one_line():
    result = subprocess.run([sys.executable, "-m", "tensorboard_plugin_ckptdiff", "ls", SEGFAULT_H5],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("ckptdiff: ") and "HDF5" in result.stderr


def test_cli_diff_against_the_segfault_file_exits_2_with_one_line():
    result = subprocess.run([sys.executable, "-m", "tensorboard_plugin_ckptdiff", "diff", SEGFAULT_H5, SEGFAULT_H5],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    """The segfault file beside a healthy run's files."""
    root = str(tmp_path_factory.mktemp("regression_logdir"))
    seeds = logdirs.seed_files(root, "healthy")
    os.makedirs(os.path.join(root, "broken"))
    shutil.copy(SEGFAULT_H5, os.path.join(root, "broken", "model.h5"))
    return {"root": root, "healthy": seeds["ids"]}


def _get(client, path):
    response = client.get(API + path)
    return response.status_code, json.loads(response.get_data(as_text=True))


def test_plugin_routes_answer_422_for_the_segfault_file_and_keep_serving(client, logdir):
    status, body = _get(client, "checkpoint?id=broken/model.h5")
    assert status == 422 and body["error"]["code"] == "unreadable_checkpoint" and "HDF5" in body["error"]["message"]
    status, body = _get(client, "diff?base=checkpoint:broken/model.h5&target=checkpoint:healthy/legacy.h5")
    assert status == 422
    status, body = _get(client, "drift?base=checkpoint:broken/model.h5&target=checkpoint:healthy/legacy.h5")
    assert status == 422
    status, body = _get(client, "tensor_stats?base=checkpoint:broken/model.h5&base_key=x")
    assert status == 422
    # The process is alive and the other checkpoints read.
    status, body = _get(client, "runs")
    listed = {c["id"]: c for run in body["runs"] for c in run["checkpoints"]}
    assert listed["broken/model.h5"]["status"] == "error"
    for checkpoint_id in logdir["healthy"]:
        assert _get(client, f"checkpoint?id={checkpoint_id}")[0] == 200, checkpoint_id


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return hostile_inputs.write_seeds(str(tmp_path_factory.mktemp("regression_seeds")))


@pytest.mark.parametrize("kind,name,found", [
    ("data_shard", "sharded_tf2", STRING_OVERFLOW_SHARD),
    ("saved_model", "module", EMPTY_OBJECT_GRAPH),
])
def test_fuzzer_findings_are_checkpoint_errors(seeds, kind, name, found):
    seed = next(s for s in seeds if s.kind == kind and s.name == name)
    files = dict(seed.files)
    files[seed.target] = open(found, "rb").read()
    with fuzz_worker.Worker() as worker:
        outcome = worker.run(files, seed.open, seed.check)
    assert not outcome.bad, outcome  # was "wrapped": an OverflowError / IndexError escaped the reader


# ---------------------------------------------------------------- the harness tells its failures apart


def test_a_fuzz_worker_that_cannot_start_is_a_harness_error_not_a_crash(tmp_path, monkeypatch):
    # What happened without coverage.py: the worker died importing it, and every input
    # was reported as a reader crash.
    (tmp_path / "coverage.py").write_text("raise ImportError('No module named coverage')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with pytest.raises(fuzz_worker.HarnessError, match="coverage"):
        fuzz_worker.Worker(coverage=True).run({"x": b""}, "x")


def _fuzz_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("fuzz_bench", os.path.join(HERE, "..", "benchmarks", "fuzz.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fuzz_counts_inputs_of_a_process_that_died_before_its_final_stats():
    fuzz = _fuzz_module()
    stderr = "#1195\tNEW    cov: 424 ft: 703\n#2048\tpulse  cov: 424\n#3549\tNEW    cov: 427 ft: 728\n"
    assert fuzz._executed(stderr) == 3549
    assert fuzz._executed(stderr + "stat::number_of_executed_units: 3600\n") == 3600
    assert fuzz._exit_text(-14) == "killed by SIGALRM"


def test_fuzz_says_coverage_py_is_missing(monkeypatch, capsys):
    fuzz = _fuzz_module()
    monkeypatch.setattr(fuzz_worker, "coverage_available", lambda: False)
    assert fuzz._coverage_or_say_why() is False
    assert "coverage.py is not installed" in capsys.readouterr().out


def test_fuzz_gives_every_kind_the_same_core_time_and_keeps_every_core_busy():
    # 9 kinds on 2 cores in rounds of two left one core idle for the whole last round.
    fuzz = _fuzz_module()
    kinds = [f"kind{i}" for i in range(9)]
    plan = fuzz.schedule(kinds, 3600.0, 2)
    assert [round(sum(s for _, s in job)) for job in plan] == [3600, 3600]
    per_kind = collections.Counter()
    for job in plan:
        for kind, seconds in job:
            per_kind[kind] += seconds
    assert sorted(per_kind) == kinds and {round(s) for s in per_kind.values()} == {800}
    # The kind cut in two runs at the end of one core and the start of the other: never at once.
    split = [kind for kind in kinds if sum(kind in dict(job) for job in plan) == 2]
    assert split == ["kind4"] and plan[0][-1][0] == plan[1][0][0] == "kind4"
    assert plan[0][-1][1] + plan[1][0][1] == pytest.approx(800.0)
