"""Short load: 8 clients for 10 s against a real `tensorboard` process, mixing /runs,
/checkpoint (whole and paged) and /diff over real runs of every format: zero errors.
benchmarks/load.py is the long version (32 clients, 60 s) and prints the figures."""

import pytest

from makers import robustness

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def load(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("load"))
    robustness.load_logdir(logdir)
    server = robustness.TensorBoard(logdir, "--reload_interval", "5")
    try:
        yield robustness.hammer(server.base, server.runs(), clients=8, seconds=10)
    finally:
        server.stop()


def test_every_route_was_exercised(load):
    assert {route: len(v) > 0 for route, v in load.latencies.items()} == {"runs": True, "checkpoint": True,
                                                                           "diff": True}


def test_no_request_failed_under_load(load):
    assert load.errors == []
