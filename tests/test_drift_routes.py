"""/drift and /tensor_stats through TensorBoard's real WSGI app over a logdir of real
checkpoints: 202 with progress then 200, the cache, errors, and histograms against numpy."""

import json
import os
import threading
import time

import numpy as np
import pytest

from makers import drift as makers
from makers import logdirs
from makers.drift import tf_values
from tensorboard_plugin_ckptdiff.values import drift as value_drift

API = logdirs.PLUGIN_ROUTES


@pytest.fixture(scope="session")
def logdir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("drift_logdir"))
    made = {"keras": makers.keras_two_steps(os.path.join(root, "keras")),
            "tf1": makers.tf1_partitioned_two_steps(os.path.join(root, "tf1"))}
    broken = os.path.join(root, "broken")
    os.makedirs(broken)
    with open(os.path.join(broken, "ckpt.index"), "wb") as f:
        f.write(b"\0" * 64)  # named like a bundle index, holding no table
    made["broken"] = os.path.join(broken, "ckpt")
    made["root"] = root
    return made


get = logdirs.get_route


def ref(logdir, path):
    return "checkpoint:" + logdirs.rel(logdir["root"], path)


def drift_until_done(client, base, target):
    statuses = []
    for _ in range(6000):
        status, body = get(client, "drift", base=base, target=target)
        statuses.append(status)
        if status != 202:
            return statuses, body
        time.sleep(0.01)
    raise AssertionError("the drift never finished")


def test_drift_answers_202_with_progress_then_200_with_the_result(client, logdir):
    base, target = (ref(logdir, p) for p in logdir["keras"]["tf2_sharded"])
    status, body = get(client, "drift", base=base, target=target)
    assert status == 202 and body["status"] == "running" and 0 <= body["progress"] <= 1
    statuses, body = drift_until_done(client, base, target)
    assert statuses[-1] == 200 and set(statuses[:-1]) <= {202}
    assert {"entries", "layers", "skipped"} <= set(body)


def test_drift_result_is_what_the_python_api_computes(client, logdir):
    paths = logdir["keras"]["tf2"]
    _, body = drift_until_done(client, *(ref(logdir, p) for p in paths))
    expected = json.loads(json.dumps(value_drift.drift(*paths).to_json()))
    assert body["entries"] == expected["entries"] and body["layers"] == expected["layers"]


def test_drift_of_the_same_pair_is_computed_once(client, logdir, monkeypatch):
    refs = [ref(logdir, p) for p in logdir["keras"]["tf2"]]
    drift_until_done(client, *refs)
    monkeypatch.setattr(value_drift, "compute", lambda *a, **k: pytest.fail("computed again"))
    assert get(client, "drift", base=refs[0], target=refs[1])[0] == 200


def test_a_running_drift_does_not_block_other_requests(client, logdir, monkeypatch):
    release = threading.Event()
    compute = value_drift.compute

    def held(*args, **kwargs):
        release.wait()
        return compute(*args, **kwargs)

    monkeypatch.setattr(value_drift, "compute", held)
    refs = [ref(logdir, p) for p in logdir["tf1"]]
    try:
        assert get(client, "drift", base=refs[0], target=refs[1])[0] == 202
        assert get(client, "runs")[0] == 200
        assert get(client, "checkpoint", id=refs[0].split(":", 1)[1])[0] == 200
        assert get(client, "drift", base=refs[0], target=refs[1])[0] == 202
    finally:
        release.set()
    assert drift_until_done(client, *refs)[0][-1] == 200


def test_unknown_checkpoint_id_is_404(client, logdir):
    status, body = get(client, "drift", base="checkpoint:no/such/ckpt", target=ref(logdir, logdir["tf1"].base))
    assert status == 404 and body["error"]["code"] == "not_found"


def test_unreadable_checkpoint_is_422(client, logdir):
    status, body = get(client, "drift", base=ref(logdir, logdir["broken"]), target=ref(logdir, logdir["tf1"].base))
    assert status == 422 and body["error"]["message"]


def test_architecture_reference_is_400(client, logdir):
    status, body = get(client, "drift", base="architecture:x", target=ref(logdir, logdir["tf1"].base))
    assert status == 400 and body["error"]["code"] == "bad_argument"


def test_tensor_stats_counts_equal_numpy_histograms_over_its_edges(client, logdir):
    base, target = logdir["tf1"]
    status, body = get(client, "tensor_stats", base=ref(logdir, base), target=ref(logdir, target),
                       base_key="embedding", target_key="embedding", bins=7)
    assert status == 200 and len(body["edges"]) == 8
    for side, path in (("base", base), ("target", target)):
        values = tf_values(path, "embedding").astype(np.float64)
        assert body[side]["counts"] == np.histogram(values, bins=np.array(body["edges"]))[0].tolist()
        assert body[side]["mean"] == pytest.approx(values.mean(), rel=1e-9)


def test_tensor_stats_edges_span_both_checkpoints_values(client, logdir):
    base, target = logdir["tf1"]
    _, body = get(client, "tensor_stats", base=ref(logdir, base), target=ref(logdir, target), base_key="dense/kernel")
    values = np.concatenate([tf_values(p, "dense/kernel").ravel() for p in (base, target)]).astype(np.float64)
    assert (body["edges"][0], body["edges"][-1]) == pytest.approx((values.min(), values.max()))


def test_tensor_stats_unknown_key_is_404(client, logdir):
    status, _ = get(client, "tensor_stats", base=ref(logdir, logdir["tf1"].base), base_key="no/such/variable")
    assert status == 404


def test_tensor_stats_without_key_is_400(client, logdir):
    status, _ = get(client, "tensor_stats", base=ref(logdir, logdir["tf1"].base))
    assert status == 400
