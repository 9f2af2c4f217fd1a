"""Checkpoints saved and deleted while the plugin reads them: a real training job
(tf.train.CheckpointManager, max_to_keep=2) keeps saving in a subprocess while clients read
every route through the real TensorBoard app. No route answers 500, no checkpoint is
reported ``ok`` in a state its writer never completed, and once the writer stops the
listing catches up within a few reload intervals.
"""

import json
import os
import threading
import time

import pytest
from werkzeug.test import Client

from makers import logdirs, saving

API = "/data/plugin/ckptdiff/"
SAVES = 30
RELOAD_SECONDS = 1
CATCH_UP_INTERVALS = 5
ACCEPTED = {200, 202, 404, 422, 501}  # 404: deleted since listed; 422: half-written; 501: drift not built


def _complete(log_path):
    """{checkpoint id: size in bytes} of every save the writer finished."""
    with open(log_path) as f:
        return {f"ckpt/{e['prefix']}": e["size"] for e in map(json.loads, f)}


def _listed(body):
    return {c["id"]: c for run in json.loads(body)["runs"] for c in run["checkpoints"]}


def _client_loop(app, stop, seen):
    client = Client(app)
    while not stop.is_set():
        response = client.get(API + "runs")
        seen.append(("runs", response.status_code, response.get_data(as_text=True)))
        if response.status_code != 200:
            continue
        ids = sorted(_listed(response.get_data()))
        for ident in ids:
            response = client.get(API + "checkpoint", query_string={"id": ident})
            seen.append(("checkpoint", response.status_code, response.get_data(as_text=True)))
        for route in ("diff", "drift"):
            if len(ids) >= 2:
                response = client.get(API + route, query_string={"base": f"checkpoint:{ids[0]}",
                                                                 "target": f"checkpoint:{ids[-1]}"})
                seen.append((route, response.status_code, response.get_data(as_text=True)))


@pytest.fixture(scope="module")
def churn(tmp_path_factory):
    base = tmp_path_factory.mktemp("churn")
    logdir, log_path = base / "logdir", str(base / "complete.jsonl")
    (logdir / "ckpt").mkdir(parents=True)
    open(log_path, "w").close()
    app = logdirs.tensorboard_app("--logdir", str(logdir), "--reload_interval", str(RELOAD_SECONDS),
                                  "--reload_task", "thread")
    writer = saving.start_saving(str(logdir / "ckpt"), SAVES, log_path)
    stop = threading.Event()
    seen = []
    clients = [threading.Thread(target=_client_loop, args=(app, stop, seen)) for _ in range(3)]
    for t in clients:
        t.start()
    try:
        writer.wait(timeout=600)
    finally:
        stop.set()
        for t in clients:
            t.join(timeout=120)
        if writer.poll() is None:
            writer.kill()
    # After the writer stops: poll /runs a bounded number of reload intervals.
    final_listing = None
    expected = sorted(f"ckpt/{p}" for p in os.listdir(logdir / "ckpt") if p.endswith(".index"))
    expected = [e[: -len(".index")] for e in expected]
    client = Client(app)
    try:
        for _ in range(CATCH_UP_INTERVALS * 4):
            final_listing = _listed(client.get(API + "runs").get_data())
            if sorted(final_listing) == expected and all(c["status"] == "ok" for c in final_listing.values()):
                break
            time.sleep(RELOAD_SECONDS / 4)
    finally:
        logdirs.stop_reloading()  # else the process may abort at exit (see stop_reloading)
    return {"seen": seen, "complete": _complete(log_path), "writer": writer.returncode,
            "final": final_listing, "expected": expected}


def test_writer_completed_every_save(churn):
    assert churn["writer"] == 0 and len(churn["complete"]) == SAVES


def test_clients_saw_checkpoints_come_and_go(churn):
    ids = set()
    for route, code, body in churn["seen"]:
        if route == "runs" and code == 200:
            ids.update(_listed(body))
    assert len(ids) > 2  # more than max_to_keep: deletions happened under the readers


def test_no_route_answered_500(churn):
    bad = [(route, code, body[:300]) for route, code, body in churn["seen"] if code not in ACCEPTED]
    assert bad == []


def test_no_checkpoint_listed_ok_in_a_state_its_writer_never_completed(churn):
    complete = churn["complete"]
    torn = []
    for route, code, body in churn["seen"]:
        if route == "runs" and code == 200:
            for ident, c in _listed(body).items():
                if c["status"] == "ok" and complete.get(ident) != c["size_bytes"]:
                    torn.append((ident, c["size_bytes"], complete.get(ident)))
    assert torn == []


def test_every_checkpoint_read_ok_has_all_its_variables(churn):
    totals = {json.loads(body)["total"] for route, code, body in churn["seen"] if route == "checkpoint" and code == 200}
    sizes = {(c["checkpoint"]["id"], c["checkpoint"]["size_bytes"]) for c in (
        json.loads(body) for route, code, body in churn["seen"] if route == "checkpoint" and code == 200)}
    assert len(totals) == 1
    assert [s for s in sizes if churn["complete"].get(s[0]) != s[1]] == []


def test_listing_catches_up_after_the_writer_stops(churn):
    assert sorted(churn["final"]) == churn["expected"]
    assert {c["status"] for c in churn["final"].values()} == {"ok"}
