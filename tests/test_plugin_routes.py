"""The plugin's HTTP routes through TensorBoard's real WSGI app, over a logdir written by
real TensorFlow/Keras: every route, every error body, --path_prefix and /experiment/ URLs."""

import dataclasses
import gzip
import json
import os
import threading
import time

import pytest
from werkzeug.test import Client

from makers import logdirs
from tensorboard_plugin_ckptdiff import plugin, records

API = logdirs.PLUGIN_ROUTES


@pytest.fixture(scope="session")
def logdir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("logdir"))
    made = logdirs.training_logdir(root)
    made["root"] = root
    return made


get = logdirs.get_route


def runs_by_name(client):
    return {run["run"]: run for run in logdirs.settled_runs(client)["runs"]}


def ids(client):
    return {c["id"]: c for run in runs_by_name(client).values() for c in run["checkpoints"]}


def error_code(client, route, **args):
    status, body = get(client, route, **args)
    assert set(body) == {"error"} and body["error"]["message"]
    return status, body["error"]["code"]


# ------------------------------------------------------------------ /runs


def test_runs_lists_every_checkpoint_the_writers_wrote(client, logdir):
    written = {logdirs.rel(logdir["root"], p) for made in logdir["runs"].values() for p in made.checkpoints}
    written |= set(logdir["seed"]["ids"]) | set(logdir["saved_model"]["ids"])
    assert written <= set(ids(client))


def test_checkpoint_only_directory_is_a_run_named_by_its_path(client, logdir):
    run = runs_by_name(client)["tf2_training/ckpt"]
    assert [c["id"] for c in run["checkpoints"]] == [
        logdirs.rel(logdir["root"], p) for p in logdir["runs"]["tf2_training"].checkpoints]


def test_checkpoints_are_listed_oldest_step_first(client):
    steps = [c["step"] for c in runs_by_name(client)["tf2_training/ckpt"]["checkpoints"]]
    assert steps == [1, 2, 3]


def test_keras_epoch_files_get_their_epoch_as_step(client):
    steps = [c["step"] for c in runs_by_name(client)["keras_fit/ckpt"]["checkpoints"]]
    assert steps == [1, 2]


def test_tensorboard_run_lists_the_architecture_of_its_model_spec(client):
    sources = [a["source"] for a in runs_by_name(client)["tf2_training/train"]["architectures"]]
    assert "model_spec" in sources


def test_tf1_saver_checkpoint_carries_its_meta_graph_architecture(client, logdir):
    prefix = logdirs.rel(logdir["root"], logdir["runs"]["tf1_saver"].checkpoints[-1])
    carried = [a for a in runs_by_name(client)["tf1_saver/ckpt"]["architectures"] if a["source"] == "meta_graph"]
    assert plugin._CARRIED + prefix in [a["id"] for a in carried]


def test_checkpoint_record_has_the_fields_of_the_api(client, logdir):
    record = ids(client)[logdirs.rel(logdir["root"], logdir["runs"]["tf2_training"].checkpoints[0])]
    assert record["format"] == "tf_bundle" and record["flavor"] == "object_based"
    assert record["status"] == "ok" and record["error"] is None and record["size_bytes"] > 0


def test_tf1_saver_bundle_is_sniffed_name_based(client, logdir):
    record = ids(client)[logdirs.rel(logdir["root"], logdir["runs"]["tf1_saver"].checkpoints[0])]
    assert record["flavor"] == "name_based"


def test_sharded_keras_weights_are_one_checkpoint_not_their_parts(client):
    seed = [c["id"] for c in runs_by_name(client)["seed"]["checkpoints"]]
    assert "seed/sharded.weights.json" in seed and not [i for i in seed if "sharded_0000" in i]


def test_saved_model_is_one_checkpoint_in_its_parent_run(client):
    record = ids(client)["export/1"]
    assert (record["format"], record["run"]) == ("saved_model", "export")
    assert not [i for i in ids(client) if i.startswith("export/1/")]


def test_writers_temp_files_are_not_checkpoints(client):
    assert not [i for i in ids(client) if "_temp" in i or "tempstate" in i]


def test_corrupt_index_is_listed_with_status_error(client, logdir):
    record = ids(client)[logdir["broken"]["truncated"]]
    assert record["status"] == "error" and record["error"]


def test_bundle_without_its_data_shard_is_incomplete(client, logdir):
    assert ids(client)[logdir["broken"]["writing"]]["status"] == "incomplete"


def test_file_named_like_hdf5_but_not_one_is_listed_with_status_error(client, logdir):
    assert ids(client)[logdir["broken"]["not_hdf5"]]["status"] == "error"


def test_runs_says_scanning_until_the_first_pass_over_the_logdir_is_done(tmp_path, monkeypatch):
    """A large or remote logdir takes a while to walk: meanwhile /runs answers at once with
    ``scanning`` true (not an empty list that reads as "no checkpoints"), then the listing."""
    from makers import keras_files
    from tensorboard_plugin_ckptdiff.logdir import catalog, walk as discovery

    keras_files.safetensors_file(str(tmp_path / "run"))
    gate = threading.Event()
    walk = discovery.scan

    def slow_walk(*args, **kwargs):  # the real walk, held back until the test lets it go
        gate.wait(120)
        return walk(*args, **kwargs)

    monkeypatch.setattr(discovery, "scan", slow_walk)
    monkeypatch.setattr(catalog, "FIRST_SCAN_WAIT_SECONDS", 0.1)
    client = Client(logdirs.tensorboard_app("--logdir", str(tmp_path)))
    status, body = get(client, "runs")
    assert status == 200 and body["scanning"] is True and body["runs"] == []
    assert body["scanned_wall_time"] is None
    released = time.time()
    gate.set()
    deadline = time.monotonic() + 120
    while body["scanning"] and time.monotonic() < deadline:
        time.sleep(0.05)
        body = get(client, "runs")[1]
    assert body["scanning"] is False
    # When it ended, by the server's clock: after the walk was let go, before this answer.
    assert released <= body["scanned_wall_time"] <= time.time()
    assert [c["path"] for run in body["runs"] for c in run["checkpoints"]] == ["run/model.safetensors"]


def test_runs_is_not_left_stale_by_a_rescan_landing_mid_request(tmp_path, monkeypatch):
    """A rescan that publishes between the moment /runs takes the listing and the moment it
    keys its cached answer must not leave the older answer cached as the newer one."""
    from makers import keras_files
    from tensorboard_plugin_ckptdiff.logdir import catalog

    keras_files.safetensors_file(str(tmp_path / "run"), "a.safetensors")
    client = Client(logdirs.tensorboard_app("--logdir", str(tmp_path)))
    listed = lambda: sorted(c["path"] for run in get(client, "runs")[1]["runs"] for c in run["checkpoints"])  # noqa: E731
    assert listed() == ["run/a.safetensors"]
    keras_files.safetensors_file(str(tmp_path / "run"), "b.safetensors")
    real_listing = catalog.Catalog.listing
    pending = [True]

    def listing_then_rescan(self):  # the background rescan, landing right after the read
        out = real_listing(self)
        if pending:
            pending.clear()
            self.refresh()
        return out

    monkeypatch.setattr(catalog.Catalog, "listing", listing_then_rescan)
    listed()  # this answer may be the older listing: it was taken before the rescan
    assert listed() == ["run/a.safetensors", "run/b.safetensors"]


def test_runs_is_gzipped_when_the_client_accepts_it(client):
    response = client.get(API + "runs", headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert "runs" in json.loads(gzip.decompress(response.get_data()))


def test_plugins_listing_enables_the_tab(client):
    client.get(API + "runs")  # the first scan has finished once /runs answered
    listing = json.loads(client.get("/data/plugins_listing").get_data())
    assert listing["ckptdiff"]["enabled"] and listing["ckptdiff"]["tab_name"] == "Checkpoint Diff"


# ------------------------------------------------------------------ /checkpoint


def _tf_shapes(path):
    import tensorflow as tf

    return tf.train.load_checkpoint(path).get_variable_to_shape_map()


def test_checkpoint_returns_the_variables_tf_reads_with_their_shapes(client, logdir):
    path = logdir["runs"]["tf2_training"].checkpoints[-1]
    status, body = get(client, "checkpoint", id=logdirs.rel(logdir["root"], path))
    assert status == 200 and body["total"] == len(body["variables"]) > 0
    shapes = _tf_shapes(path)
    assert {v["key"]: v["shape"] for v in body["variables"]} == {
        k: shapes[k] for k in (v["key"] for v in body["variables"])}


def test_checkpoint_offset_and_limit_page_through_the_variables(client, logdir):
    checkpoint_id = logdirs.rel(logdir["root"], logdir["runs"]["tf2_training"].checkpoints[-1])
    _, everything = get(client, "checkpoint", id=checkpoint_id)
    _, page = get(client, "checkpoint", id=checkpoint_id, offset=1, limit=2)
    assert page["variables"] == everything["variables"][1:3] and page["total"] == everything["total"]


def test_unreadable_checkpoint_is_422(client, logdir):
    assert error_code(client, "checkpoint", id=logdir["broken"]["truncated"]) == (422, "unreadable_checkpoint")


def test_checkpoint_still_being_written_is_422_incomplete(client, logdir):
    assert error_code(client, "checkpoint", id=logdir["broken"]["writing"]) == (422, "incomplete_checkpoint")


@pytest.mark.parametrize("args", [{}, {"id": ""}])
def test_checkpoint_without_id_is_400(client, args):
    assert error_code(client, "checkpoint", **args) == (400, "bad_argument")


@pytest.mark.parametrize("offset", ["-1", "x", "1.5"])
def test_bad_offset_is_400(client, logdir, offset):
    checkpoint_id = logdir["seed"]["ids"][0]
    assert error_code(client, "checkpoint", id=checkpoint_id, offset=offset) == (400, "bad_argument")


def test_unknown_checkpoint_id_is_404(client):
    assert error_code(client, "checkpoint", id="no/such/ckpt-1") == (404, "not_found")


# ------------------------------------------------------------------ /architecture


def _architecture_id(client, run, source):
    return next(a["id"] for a in runs_by_name(client)[run]["architectures"] if a["source"] == source)


def test_architecture_returns_its_variables(client):
    status, body = get(client, "architecture", id=_architecture_id(client, "tf2_training/train", "model_spec"))
    assert status == 200 and body["total"] == len(body["variables"]) > 0
    assert body["architecture"]["source"] == "model_spec"


def test_carried_meta_graph_architecture_is_readable(client, logdir):
    status, body = get(client, "architecture", id=_architecture_id(client, "tf1_saver/ckpt", "meta_graph"))
    assert status == 200 and "dense/kernel" in {v["name"] for v in body["variables"]}


def test_unknown_architecture_id_is_404(client):
    assert error_code(client, "architecture", id="nothing/here") == (404, "not_found")


# ------------------------------------------------------------------ /diff


def _diff(client, logdir, **extra):
    base = "architecture:" + _architecture_id(client, "tf2_training/train", "model_spec")
    target = "checkpoint:" + logdirs.rel(logdir["root"], logdir["runs"]["tf2_training"].checkpoints[-1])
    return get(client, "diff", base=base, target=target, **extra)


def test_diff_of_a_run_against_its_own_checkpoint_is_restorable(client, logdir):
    status, body = _diff(client, logdir)
    assert status == 200 and body["restorable"] is True
    assert sum(body["summary"].values()) == len(body["entries"])


def test_diff_kinds_narrows_entries_to_those_kinds(client, logdir):
    _, body = _diff(client, logdir, kinds="weight")
    kinds = {(e["base"] or e["target"])["kind"] for e in body["entries"]}
    assert kinds == {"weight"}


def test_diff_mode_is_passed_to_the_diff(client, logdir):
    _, body = _diff(client, logdir, mode="name")
    assert body["mode"] == "name"


@pytest.mark.parametrize("args", [
    {"base": "checkpoint:x"},
    {"base": "nonsense", "target": "checkpoint:x"},
    {"base": "file:/etc/passwd", "target": "checkpoint:x"},
])
def test_diff_with_a_missing_or_malformed_ref_is_400(client, args):
    assert error_code(client, "diff", **args) == (400, "bad_argument")


def test_diff_with_an_unknown_mode_is_400(client, logdir):
    assert _diff_error(client, logdir, mode="fuzzy") == (400, "bad_argument")


def test_diff_with_an_unknown_kind_is_400(client, logdir):
    assert _diff_error(client, logdir, kinds="weight,bias") == (400, "bad_argument")


def _diff_error(client, logdir, **extra):
    status, body = _diff(client, logdir, **extra)
    return status, body["error"]["code"]


def test_diff_against_an_unreadable_checkpoint_is_422(client, logdir):
    checkpoint_id = logdirs.rel(logdir["root"], logdir["runs"]["tf2_training"].checkpoints[-1])
    args = {"base": "checkpoint:" + checkpoint_id, "target": "checkpoint:" + logdir["broken"]["truncated"]}
    assert error_code(client, "diff", **args) == (422, "unreadable_checkpoint")


def test_diff_with_an_unknown_id_is_404(client, logdir):
    checkpoint_id = logdirs.rel(logdir["root"], logdir["runs"]["tf2_training"].checkpoints[-1])
    args = {"base": "architecture:nope", "target": "checkpoint:" + checkpoint_id}
    assert error_code(client, "diff", **args) == (404, "not_found")


# ------------------------------------------------------------------ /drift


def test_drift_of_an_architecture_is_400(client, logdir):
    checkpoint_id = logdirs.rel(logdir["root"], logdir["runs"]["tf2_training"].checkpoints[-1])
    args = {"base": "architecture:x", "target": "checkpoint:" + checkpoint_id}
    assert error_code(client, "drift", **args) == (400, "bad_argument")


def test_drift_of_an_unknown_checkpoint_is_404(client, logdir):
    checkpoint_id = logdirs.rel(logdir["root"], logdir["runs"]["tf2_training"].checkpoints[-1])
    args = {"base": "checkpoint:nope", "target": "checkpoint:" + checkpoint_id}
    assert error_code(client, "drift", **args) == (404, "not_found")


# ------------------------------------------------------------------ static files and URLs


def test_index_js_is_served_as_javascript(client):
    response = client.get(API + "index.js")
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    with open(os.path.join(plugin.STATIC_DIR, "index.js"), "rb") as f:
        assert response.get_data() == f.read()


def test_every_static_file_is_served_with_its_bytes(client):
    for name in os.listdir(plugin.STATIC_DIR):
        with open(os.path.join(plugin.STATIC_DIR, name), "rb") as f:
            assert client.get(API + name).get_data() == f.read(), name


def test_unknown_route_is_a_json_404(client):
    assert error_code(client, "no_such_route") == (404, "not_found")


def test_routes_answer_under_path_prefix(logdir):
    prefixed = Client(logdirs.tensorboard_app("--logdir", logdir["root"], "--path_prefix", "/proxy/tb"))
    response = prefixed.get("/proxy/tb" + API + "runs")
    assert response.status_code == 200 and json.loads(response.get_data())["runs"]


def test_routes_answer_under_experiment_urls(client):
    response = client.get("/experiment/some-id" + API + "runs")
    assert response.status_code == 200 and json.loads(response.get_data())["runs"]


def test_diff_snippets_name_the_logdir_file_by_its_absolute_path(client, logdir):
    base = "architecture:" + _architecture_id(client, "added_layer/train", "model_spec")
    path = logdir["runs"]["added_layer"].checkpoints[-1]
    status, body = get(client, "diff", base=base, target="checkpoint:" + logdirs.rel(logdir["root"], path))
    assert status == 200 and body["fix"]["snippets"]
    for snippet in body["fix"]["snippets"]:
        assert repr(os.path.abspath(path)) in snippet["code"] and snippet["restores"] >= 1


def test_diff_entries_say_whether_each_variable_is_restored(client, logdir):
    _, body = _diff(client, logdir)
    assert all(e["restored"] is (e["base"] is not None) for e in body["entries"])


def test_tf1_saver_run_graph_and_meta_give_one_verdict(client, logdir):
    target = "checkpoint:" + logdirs.rel(logdir["root"], logdir["runs"]["tf1_saver"].checkpoints[-1])
    verdicts = set()
    for source in ("graph", "meta_graph"):
        status, body = get(client, "diff", base="architecture:" + _architecture_id(client, "tf1_saver/train", source),
                           target=target)
        assert status == 200
        verdicts.add((body["restorable"], body["verdict"]))
    assert len(verdicts) == 1 and verdicts.pop()[0] is True


def test_an_unchanged_listing_is_served_from_the_snapshot_cache(logdir):
    # /runs is serialized once per change of the logdir or the event data: an unchanged
    # listing answers with the very same text.
    app = logdirs.tensorboard_app("--logdir", logdir["root"])
    logdirs.settled_runs(Client(app))
    plugin = logdirs.plugin_of(app)
    first, mime = plugin.runs_impl(None, "")
    assert mime == "application/json" and plugin.runs_impl(None, "")[0] is first


def test_the_diff_body_is_json_dumps_of_the_report_byte_for_byte(tmp_path):
    # /diff encodes its entries a slice at a time (fewer objects for the collector to promote);
    # the text must still be exactly what json.dumps of the whole report writes.
    from makers import bundles
    from tensorboard_plugin_ckptdiff import diff, formats, plugin as plugin_module

    first = formats.read(bundles.many_variables_checkpoint(str(tmp_path / "a"), count=250))
    second = formats.read(bundles.keras_tf2_checkpoint(str(tmp_path / "b")))
    for base, target in ((first, first), (first, second), (second, first)):
        report = diff.compare(base, target)
        assert len(report.entries) > plugin_module._ROWS_AT_ONCE or base is second
        assert plugin_module._report_text(report) == json.dumps(report.to_json())
    empty = diff.narrowed(diff.compare(second, second), ["optimizer"])
    assert plugin_module._report_text(empty) == json.dumps(empty.to_json())
    # The fix planned beside the rows (the remap command) goes where the report's would.
    fix = records.Fix((("a/", "b/"),), (records.Snippet("title", "code", language="shell", restores=("k",)),))
    planned = dataclasses.replace(report, fix=fix)
    assert plugin_module._report_text(report, fix=lambda: fix) == json.dumps(planned.to_json())
