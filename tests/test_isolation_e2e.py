"""End to end: a real `tensorboard` over a logdir of files that crash, hang or blow up their
reader keeps answering every route and the tab, with those checkpoints marked `error`.

The logdir holds the fuzzer's segfault file (regressions/) and one probe per reader family:
real checkpoints named ``crash-probe``/``hang-probe``/``memory-probe``, which tests/probes
(loaded by TensorBoard's interpreter as sitecustomize) turn into a SIGSEGV, an endless loop
or a 6 GiB allocation in whatever process reads them. The isolation path is the real one;
with isolation removed the readers run in TensorBoard's process and it dies (checked once
by disabling isolation.call: the server fails at the first crash probe).
"""

import os
import shutil
import time
import urllib.parse

import pytest

from makers import bundles, logdirs, servers
from makers.browser import ARTIFACTS, Tab, start_tensorboard

pytestmark = pytest.mark.e2e

HERE = os.path.dirname(os.path.abspath(__file__))
API = "data/plugin/ckptdiff/"
HANG_SECONDS = 6  # CKPTDIFF_READER_TIMEOUT for this server: a hang probe costs this long


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("isolation") / "logs")
    healthy = logdirs.seed_files(root, "healthy")  # .weights.h5, .keras, legacy .h5, sharded, safetensors
    tf2 = bundles.keras_tf2_checkpoint(os.path.join(root, "tf2"))
    tf1 = bundles.tf1_saver_checkpoint(os.path.join(root, "tf1"))
    exported = logdirs.saved_model(root, "export")
    probes = os.path.join(root, "probes")
    os.makedirs(probes)
    source = os.path.join(root, "healthy")
    copies = {  # probe file -> healthy original: one per reader family
        "crash-probe.weights.h5": "model_save_weights.weights.h5",  # keras_weights_h5
        "hang-probe.h5": "legacy.h5",  # keras_legacy_h5
        "crash-probe.keras": "model.keras",  # keras_archive
        "memory-probe.safetensors": "tiny.safetensors",  # safetensors
    }
    for probe, original in copies.items():
        shutil.copy(os.path.join(source, original), os.path.join(probes, probe))
    logdirs.copy_bundle(tf2, os.path.join(probes, "hang-probe"))  # tf_bundle, object-based
    logdirs.copy_bundle(tf1, os.path.join(probes, "crash-probe-tf1"))  # tf_bundle, name-based, with .meta
    shutil.copytree(os.path.join(root, exported["ids"][0]), os.path.join(probes, "crash-probe-export"))  # saved_model
    os.makedirs(os.path.join(root, "broken"))
    shutil.copy(os.path.join(HERE, "regressions", "corrupt-legacy-keras-segfault.h5"),
                os.path.join(root, "broken", "model.h5"))
    bad = [f"probes/{name}" for name in (*copies, "hang-probe", "crash-probe-tf1", "crash-probe-export")]
    good = healthy["ids"] + [logdirs.rel(root, tf2), logdirs.rel(root, tf1), exported["ids"][0]]
    return {"root": root, "bad": bad + ["broken/model.h5"], "good": good}


@pytest.fixture(scope="module")
def server(logdir):
    env = dict(os.environ, CKPTDIFF_READER_TIMEOUT=str(HANG_SECONDS),
               PYTHONPATH=os.path.join(HERE, "probes") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    process, base = start_tensorboard(logdir["root"], env=env)
    expected = set(logdir["bad"]) | set(logdir["good"])
    try:
        servers.wait_until(lambda: expected <= set(_statuses(base)), "every checkpoint to be listed")
        yield {"base": base, "process": process}
    finally:
        servers.stop(process)


def _statuses(base):
    status, body = servers.get_json(base + API + "runs")
    assert status == 200
    return {c["id"]: c for run in body["runs"] for c in run["checkpoints"]}


def _get(server, route, **args):
    """(status, body) of a plugin route; the server must still be running afterwards."""
    status, body = servers.get_json(server["base"] + API + route + "?" + urllib.parse.urlencode(args), timeout=120)
    assert server["process"].poll() is None, f"tensorboard died (exit {server['process'].returncode}) on {route} {args}"
    return status, body


def test_every_probe_and_the_segfault_file_answer_422_and_the_server_lives(server, logdir):
    for checkpoint_id in logdir["bad"]:
        status, body = _get(server, "checkpoint", id=checkpoint_id)
        assert status == 422, (checkpoint_id, status, body)
        assert body["error"]["code"] == "unreadable_checkpoint"
        assert _get(server, "runs")[0] == 200  # and the listing still answers between them


def test_healthy_checkpoints_still_read_beside_them(server, logdir):
    for checkpoint_id in logdir["good"]:
        status, body = _get(server, "checkpoint", id=checkpoint_id)
        assert status == 200 and body["total"] > 0, (checkpoint_id, body)


def test_runs_marks_each_probe_error_with_what_happened(server, logdir):
    for checkpoint_id in logdir["bad"]:
        _get(server, "checkpoint", id=checkpoint_id)
    listed = _statuses(server["base"])
    assert {i: listed[i]["status"] for i in logdir["bad"]} == {i: "error" for i in logdir["bad"]}
    assert {i: listed[i]["status"] for i in logdir["good"]} == {i: "ok" for i in logdir["good"]}
    assert "killed by SIGSEGV" in listed["probes/crash-probe.weights.h5"]["error"]
    assert "without progress" in listed["probes/hang-probe.h5"]["error"]
    assert "without progress" in listed["probes/hang-probe"]["error"]
    assert "4 GiB" in listed["probes/memory-probe.safetensors"]["error"]
    assert "HDF5" in listed["broken/model.h5"]["error"]


def test_carried_architectures_of_probes_answer_422(server, logdir):
    # A .keras config and a SavedModel are read with the checkpoint; a .meta file on its own.
    for checkpoint_id in ("probes/crash-probe.keras", "probes/crash-probe-export", "probes/crash-probe-tf1"):
        status, body = _get(server, "architecture", id="carried:" + checkpoint_id)
        assert status == 422, (checkpoint_id, body)
    tf1 = next(i for i in logdir["good"] if i.startswith("tf1/"))
    assert _get(server, "architecture", id="carried:" + tf1)[0] == 200


def test_diff_drift_and_tensor_stats_answer_for_probes_and_for_healthy_pairs(server, logdir):
    healthy = "healthy/model_save_weights.weights.h5"
    for bad in ("probes/crash-probe.weights.h5", "probes/hang-probe.h5", "broken/model.h5"):
        assert _get(server, "diff", base="checkpoint:" + healthy, target="checkpoint:" + bad)[0] == 422
        assert _get(server, "drift", base="checkpoint:" + healthy, target="checkpoint:" + bad)[0] == 422
        assert _get(server, "tensor_stats", base="checkpoint:" + bad, base_key="x")[0] == 422
    assert _get(server, "diff", base="checkpoint:" + healthy, target="checkpoint:healthy/model.keras")[0] == 200
    # Values are read in a reader process too: a drift of two healthy files completes.
    deadline = time.monotonic() + 120
    while True:
        status, body = _get(server, "drift", base="checkpoint:" + healthy, target="checkpoint:healthy/model.keras")
        if status == 200 or time.monotonic() > deadline:
            break
        assert status == 202
        time.sleep(0.5)
    assert status == 200 and body["entries"], body
    key = body["entries"][0]["base_key"]
    status, stats = _get(server, "tensor_stats", base="checkpoint:" + healthy, base_key=key)
    assert status == 200 and stats["base"]["count"] > 0


def test_the_tab_opens_and_shows_the_probes_as_unreadable(browser, server, logdir):
    for checkpoint_id in logdir["bad"]:  # every probe read (and failed) before the page opens
        _get(server, "checkpoint", id=checkpoint_id)
    with Tab(browser, server["base"]) as tab:
        # Whichever view opens first is the dashboard's choice: it settles on the overview.
        tab.open_link()
        tab.wait_overview()
        # The Checkpoints view lists each probe as unreadable, with what happened, on screen.
        ui = tab.ui
        ui.locator("#tab-browser").click()
        row = ui.locator("tr.unreadable", has_text="crash-probe.weights.h5")
        row.wait_for(timeout=30000)
        assert row.is_visible() and "unreadable" in row.inner_text()
        assert "killed by SIGSEGV" in row.locator(".ckpt-error").inner_text()
        hang = ui.locator("tr.unreadable", has_text="hang-probe.h5")
        assert hang.is_visible() and "without progress" in hang.inner_text()
        assert ui.locator("tr:not(.unreadable)", has_text="legacy.h5").first.is_visible()
        os.makedirs(ARTIFACTS, exist_ok=True)
        tab.page.screenshot(path=os.path.join(ARTIFACTS, "isolation-probes.png"), full_page=True)
        errors = tab.errors
    assert errors == []
    assert server["process"].poll() is None
    assert _statuses(server["base"])["probes/crash-probe.keras"]["status"] == "error"
