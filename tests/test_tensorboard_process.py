"""End to end: the real `tensorboard` command with this plugin installed, over HTTP."""

import os
import urllib.error
import urllib.request

import pytest

from makers import logdirs, servers
from makers.browser import start_tensorboard

pytestmark = pytest.mark.e2e
API = "data/plugin/ckptdiff/"


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("e2e"))
    made = logdirs.runs.tf2_training(os.path.join(root, "exp"))
    return {"root": root, "made": made}


def _get(base, path):
    return servers.get_json(base + path, timeout=30)


def _wait(predicate, what, seconds=90):
    servers.wait_until(predicate, what, seconds)


@pytest.fixture(scope="module", params=["false", "auto"], ids=["load_fast_false", "load_fast_default"])
def server(request, logdir):
    flags = ["--load_fast", request.param] if request.param != "auto" else []
    process, base = start_tensorboard(logdir["root"], *flags, reload_interval=1)
    try:
        _wait(lambda: _get(base, "data/plugins_listing")[1].get("ckptdiff", {}).get("enabled"),
              "the ckptdiff tab to be enabled")
        yield base
    finally:
        servers.stop(process)


def _checkpoint_ids(base):
    _, body = _get(base, API + "runs")
    return [c["id"] for run in body["runs"] for c in run["checkpoints"]]


def test_runs_lists_the_runs_checkpoints(server):
    # Checkpoints added by the test below (for the other server) come later: higher steps.
    assert _checkpoint_ids(server)[:3] == ["exp/ckpt/ckpt-1", "exp/ckpt/ckpt-2", "exp/ckpt/ckpt-3"]


def test_runs_lists_the_model_spec_architecture(server):
    _, body = _get(server, API + "runs")
    assert [a["source"] for run in body["runs"] for a in run["architectures"]] == ["model_spec"]


def test_checkpoint_route_answers(server):
    status, body = _get(server, API + "checkpoint?id=exp/ckpt/ckpt-3")
    assert status == 200 and body["total"] == len(body["variables"]) > 0


def test_architecture_route_answers(server):
    _, runs = _get(server, API + "runs")
    architecture_id = runs["runs"][-1]["architectures"][0]["id"]
    status, body = _get(server, API + "architecture?id=" + urllib.request.quote(architecture_id))
    assert status == 200 and body["variables"]


def test_diff_route_answers(server):
    _, runs = _get(server, API + "runs")
    architecture_id = runs["runs"][-1]["architectures"][0]["id"]
    query = f"base=architecture:{urllib.request.quote(architecture_id)}&target=checkpoint:exp/ckpt/ckpt-3"
    status, body = _get(server, API + "diff?" + query)
    assert status == 200 and body["restorable"] is True


def test_drift_route_answers_with_json(server):
    status, body = _get(server, API + "drift?base=checkpoint:exp/ckpt/ckpt-1&target=checkpoint:exp/ckpt/ckpt-3")
    assert status in (200, 202, 501) and body


def test_unknown_id_is_a_json_404(server):
    assert _get(server, API + "checkpoint?id=../../etc/passwd") == (
        404, {"error": {"code": "not_found", "message": "no checkpoint with id '../../etc/passwd': ask /runs for the ids"}})


def test_checkpoint_written_while_running_appears(server, logdir):
    made = logdir["made"]
    name = f"ckpt-{40 + len(os.listdir(made.ckpt))}"  # a new name for each server
    logdirs.copy_bundle(made.checkpoints[-1], os.path.join(made.ckpt, name))
    _wait(lambda: f"exp/ckpt/{name}" in _checkpoint_ids(server), "the new checkpoint to be listed", seconds=30)
