"""Ids are not paths: nothing outside what /runs handed out resolves, whatever it looks like,
and a hostile logdir (links out of it, link loops) neither leaks nor hangs the server."""

import json
import os

import pytest
from werkzeug.test import Client

from makers import logdirs

API = "/data/plugin/ckptdiff/"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A logdir with one real run, a link to a checkpoint outside it and a link loop."""
    base = tmp_path_factory.mktemp("hostile")
    outside = base / "outside"
    logdir = base / "logdir"
    made = logdirs.runs.tf2_training(str(outside / "secret"))
    logdirs.runs.tf2_training(str(logdir / "run"))
    os.symlink(outside, logdir / "escape")
    os.symlink(made.checkpoints[0] + ".index", logdir / "run" / "stolen.index")
    os.symlink(logdir, logdir / "run" / "loop")
    client = Client(logdirs.tensorboard_app("--logdir", str(logdir)))
    return {"client": client, "logdir": str(logdir), "outside": made.checkpoints[0]}


def status(client, route, **args):
    response = client.get(API + route, query_string=args)
    return response.status_code


def listed(client):
    body = json.loads(client.get(API + "runs").get_data())
    return [c["id"] for run in body["runs"] for c in run["checkpoints"]]


def test_only_checkpoints_inside_the_logdir_are_listed(hostile):
    assert sorted(listed(hostile["client"])) == ["run/ckpt/ckpt-1", "run/ckpt/ckpt-2", "run/ckpt/ckpt-3"]


@pytest.mark.parametrize("make_id", [
    lambda h: "../outside/secret/ckpt/ckpt-1",
    lambda h: "run/ckpt/../ckpt/ckpt-1",
    lambda h: h["outside"],
    lambda h: "run%2fckpt%2fckpt-1",
    lambda h: "run/ckpt/ckpt-1.index",
    lambda h: "escape/secret/ckpt/ckpt-1",
    lambda h: "run/stolen",
    lambda h: "run/loop/run/ckpt/ckpt-1",
])
def test_an_id_not_handed_out_is_404(hostile, make_id):
    assert status(hostile["client"], "checkpoint", id=make_id(hostile)) == 404


def test_encoded_slashes_in_the_url_path_do_not_reach_files(hostile):
    response = hostile["client"].get(API + "..%2f..%2fplugin.py")
    assert response.status_code == 404


def test_server_keeps_answering_after_hostile_requests(hostile):
    for bad in ("../../etc/passwd", "/etc/passwd", "%00", "a" * 5000):
        status(hostile["client"], "checkpoint", id=bad)
    assert status(hostile["client"], "runs") == 200
