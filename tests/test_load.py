"""Short load: 8 clients for 10 s against a real `tensorboard` process, mixing /runs,
/checkpoint (whole and paged) and /diff over real runs of every format: zero errors.
benchmarks/load.py is the long version (32 clients, 60 s) and prints the figures."""

import gzip
import json
import urllib.parse
import urllib.request

import pytest

from makers import under_load

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("load"))
    under_load.load_logdir(logdir)
    server = under_load.TensorBoard(logdir, "--reload_interval", "5")
    try:
        server.listing = server.runs()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def load(server):
    return under_load.hammer(server.base, server.listing, clients=8, seconds=10)


def _get(server, route, **args):
    request = urllib.request.Request(server.base + route + "?" + urllib.parse.urlencode(args),
                                     headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=60) as response:
        raw = response.read()
        encoding = response.headers.get("Content-Encoding")
    return encoding, json.loads(gzip.decompress(raw) if encoding == "gzip" else raw)


def _biggest_ok(server):
    ok = [c["id"] for run in server.listing["runs"] for c in run["checkpoints"] if c["status"] == "ok"]
    return max(ok, key=lambda i: _get(server, "checkpoint", id=i)[1]["total"])


def test_every_route_was_exercised(load):
    assert {route: len(v) > 0 for route, v in load.latencies.items()} == {"runs": True, "checkpoint": True,
                                                                           "diff": True}


def test_no_request_failed_under_load(load):
    assert load.errors == []


@pytest.mark.parametrize("route", ["runs", "checkpoint", "diff"])
def test_responses_are_gzipped_for_clients_that_accept_it(server, route):
    ident = _biggest_ok(server)
    args = {"runs": {}, "checkpoint": {"id": ident},
            "diff": {"base": f"checkpoint:{ident}", "target": f"checkpoint:{ident}"}}[route]
    assert _get(server, route, **args)[0] == "gzip"


def test_checkpoint_variables_page_with_offset_and_limit(server):
    ident = _biggest_ok(server)
    whole = _get(server, "checkpoint", id=ident)[1]
    page = _get(server, "checkpoint", id=ident, offset=1, limit=2)[1]
    assert (page["total"], page["variables"]) == (whole["total"], whole["variables"][1:3])


def test_diff_entries_narrow_to_the_kinds_asked_for(server):
    ident = _biggest_ok(server)
    body = _get(server, "diff", base=f"checkpoint:{ident}", target=f"checkpoint:{ident}", kinds="weight")[1]
    kinds = {(e["base"] or e["target"])["kind"] for e in body["entries"]}
    assert kinds == {"weight"}
