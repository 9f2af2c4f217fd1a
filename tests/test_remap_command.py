"""The ``ckptdiff remap`` command the diff offers: in the tab's fix panel (absolute paths, through
TensorBoard's real WSGI app, the server writing nothing) and under ``ckptdiff diff`` (paths as
given). A snippet is code: each test runs the command from another directory, then the real
loader on what it wrote, which must restore exactly the variables the snippet promises."""

import os
import shlex
import subprocess
import sys
import time

import pytest
from makers import logdirs, restore, runs

from tensorboard_plugin_ckptdiff.remapping import command as remap_command

SHELL = "shell"


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("logdir"))
    made = {name: getattr(runs, name)(os.path.join(root, name))
            for name in ("renamed_layer_tf1", "dtype_change", "added_layer")}
    return {"root": root, "made": made}


def _files(root):
    return sorted(os.path.join(d, f) for d, _, names in os.walk(root) for f in names)


def _pair_diff(client, name, **args):
    for _ in range(100):
        status, body = logdirs.get_route(client, "runs")
        if status == 200 and not body["scanning"]:
            break
        time.sleep(0.1)
    runs_by_name = {r["run"]: r for r in body["runs"]}
    architecture = runs_by_name[f"{name}/train"]["architectures"][0]
    checkpoint = runs_by_name[f"{name}/ckpt"]["checkpoints"][-1]
    status, report = logdirs.get_route(client, "diff", base="architecture:" + architecture["id"],
                                       target="checkpoint:" + checkpoint["id"], **args)
    assert status == 200, report
    return report


def _shell(report):
    return [s for s in report["fix"]["snippets"] if s["language"] == SHELL]


def _run(command, cwd):
    """The snippet pasted into a shell, with this environment's ``ckptdiff`` on the PATH."""
    assert command.startswith("ckptdiff remap ")
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    return subprocess.run(["sh", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _words(command):
    return [w for w in shlex.split(command) if w != "\n"]  # the line continuations a shell drops


def _output(command):
    words = _words(command)
    return words[words.index("-o") + 1]


def test_the_tab_offers_the_command_with_absolute_paths_and_the_server_writes_nothing(client, logdir, tmp_path):
    root = logdir["root"]
    before = _files(root)
    report = _pair_diff(client, "renamed_layer_tf1")
    (snippet,) = _shell(report)
    words = _words(snippet["code"])
    target, base, out = words[2], words[words.index("--to") + 1], _output(snippet["code"])
    assert all(os.path.isabs(p) for p in (target, base, out))
    assert base == os.path.join(root, "renamed_layer_tf1", "train")
    assert words[words.index("--architecture") + 1] == "graph/0"
    assert out == os.path.join(root, "renamed_layer_tf1", "ckpt", "remapped", "model.ckpt-0")
    assert snippet["restores"] == 5
    assert _files(root) == before  # /diff planned it; nothing was written


def test_the_tabs_tf1_command_writes_what_the_saver_then_restores_whole(client, logdir, tmp_path):
    report = _pair_diff(client, "renamed_layer_tf1")
    (snippet,) = _shell(report)
    done = _run(snippet["code"], cwd=tmp_path)  # from anywhere: the paths are absolute
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("Restorable: all 4 weights would be restored.")
    layers = [("incorrect_name", (10, 64)), ("dense_output", (64, 10))]
    outcome = restore.tf1_restore(layers, _output(snippet["code"]))
    assert outcome.ok, outcome.error
    assert len(outcome.restored) == snippet["restores"]  # every variable, global_step included


def test_the_tabs_dtype_command_casts_and_tf_train_checkpoint_restores(client, logdir, tmp_path):
    report = _pair_diff(client, "dtype_change")
    (snippet,) = _shell(report)
    assert "--architecture model_spec/0" in snippet["code"]
    done = _run(snippet["code"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    model = runs._dense_stack([64], name="regressor", dtype="float32")
    outcome = restore.tf2_read(model, _output(snippet["code"]))
    assert outcome.ok, outcome.error
    assert len(outcome.restored) == snippet["restores"] == 2


def test_the_tab_plans_the_command_in_a_reader_process(client, monkeypatch):
    """Planning reads the target's index and object graph: like every read of a checkpoint's
    bytes inside TensorBoard, it runs where a crash costs a reader process, not the server."""
    from tensorboard_plugin_ckptdiff import isolation

    calls = []
    real = isolation.call
    monkeypatch.setattr(isolation, "call", lambda fn, *args, **kw: calls.append(fn.__name__) or real(fn, *args, **kw))
    report = _pair_diff(client, "renamed_layer_tf1", mode="name")  # not cached: another mode asked for
    assert _shell(report) and "planned_snippet" in calls


def test_no_command_where_no_remap_changes_the_outcome(client):
    report = _pair_diff(client, "added_layer")  # a layer inserted: the shapes shift, nothing to rename
    assert not report["restorable"] and _shell(report) == []


def test_ckptdiff_diff_prints_the_command_with_paths_as_given_and_it_keeps_its_promise(logdir, tmp_path,
                                                                                       monkeypatch):
    import shutil

    from tensorboard_plugin_ckptdiff import api
    from tensorboard_plugin_ckptdiff.cli import diff as cli_diff

    shutil.copytree(os.path.join(logdir["root"], "renamed_layer_tf1"), tmp_path / "run",
                    ignore=shutil.ignore_patterns(remap_command.OUTPUT_DIR))
    done = subprocess.run([sys.executable, "-m", "tensorboard_plugin_ckptdiff", "diff", "run/train", "run/ckpt"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    command = "\n".join(done.stdout.rstrip().splitlines()[-4:])
    assert command == ("ckptdiff remap run/ckpt \\\n    --to run/train \\\n"
                       "    -o run/ckpt/remapped/model.ckpt-0 \\\n    --mode name")
    # what it promises, computed as the command computes it
    monkeypatch.chdir(tmp_path)
    base = api.as_base(cli_diff.side("run/train"))
    target = api.as_target(cli_diff.side("run/ckpt"))
    promised = remap_command.offered(api.compare(base, target), ["run/train"], "run/ckpt",
                                     target.path).fix.snippets[-1].restores
    ran = _run(command, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    layers = [("incorrect_name", (10, 64)), ("dense_output", (64, 10))]
    outcome = restore.tf1_restore(layers, str(tmp_path / "run" / "ckpt" / "remapped" / "model.ckpt-0"))
    assert outcome.ok and outcome.restored == set(promised), outcome.error
