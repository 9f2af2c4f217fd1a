"""The honest listing, the overview and the cross-run matrix, through TensorBoard's real WSGI
app over copies of demo_logs/ (real runs written by TensorFlow/Keras) and corrupted copies.

Every verdict the overview or the matrix shows is held against /diff of the same pair: the
overview is a summary of diffs, never a second opinion.
"""

import os
import shutil
import threading
import time
import zipfile

import pytest
from werkzeug.test import Client

from makers import logdirs
from tensorboard_plugin_ckptdiff.logdir import catalog, overview as runs_overview, verdicts as verdict_cache

get = logdirs.get_route


def _copy_demo(root, *cases):
    for case in cases:
        shutil.copytree(os.path.join(logdirs.DEMO_LOGS, case), os.path.join(root, case))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("demo") / "logs")
    shutil.copytree(logdirs.DEMO_LOGS, root)
    client = Client(logdirs.tensorboard_app("--logdir", root))
    return {"root": root, "client": client}


def _settled(client, route, **args):
    """``route``'s body once its status is "done" (or after 120 s: the test's asserts then say why)."""
    deadline = time.monotonic() + 120
    while True:
        status, body = get(client, route, **args)
        assert status == 200, body
        if body["status"] == "done" or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def settled_overview(client, **args):
    """/overview once its status is "done": every row's verdict computed."""
    return _settled(client, "overview", **args)


def settled_matrix(client, **args):
    return _settled(client, "matrix", **args)


def diff_of(client, base, target, kinds="weight"):
    status, body = get(client, "diff", base=base, target=target, kinds=kinds)
    assert status == 200, body
    return body


# ------------------------------------------------------------------ the honest listing


@pytest.fixture
def corrupt_logdir(tmp_path):
    """A healthy run beside files whose first bytes are right and whose metadata is not."""
    root = str(tmp_path / "logs")
    _copy_demo(root, "tf2_training")
    made = logdirs.corrupt_checkpoints(os.path.join(root, "broken"),
                                       os.path.join(logdirs.DEMO_LOGS, "tf2_training", "ckpt", "ckpt-3"))
    with zipfile.ZipFile(os.path.join(root, "broken", "model.keras"), "w") as z:
        z.writestr("notes.txt", "a zip, but not a Keras archive")  # passes the sniff, fails the read
    made["bad_keras"] = "model.keras"
    return root, {what: f"broken/{name}" for what, name in made.items()}


def _held_reads(monkeypatch):
    """Hold every checkpoint read of the verification pass until the test lets it go."""
    gate = threading.Event()
    real = catalog.Catalog._read

    def held(self, found):
        gate.wait(120)
        return real(self, found)

    monkeypatch.setattr(catalog.Catalog, "_read", held)
    return gate


def test_a_checkpoint_is_pending_not_ok_until_its_metadata_was_read(corrupt_logdir, monkeypatch):
    root, corrupt = corrupt_logdir
    gate = _held_reads(monkeypatch)
    client = Client(logdirs.tensorboard_app("--logdir", root))
    status, body = get(client, "runs")
    listed = {c["id"]: c["status"] for run in body["runs"] for c in run["checkpoints"]}
    gate.set()
    assert status == 200 and body["scanning"] is True
    # the files whose magic bytes look right wait to be read; nothing unread says "ok"
    for what in ("flipped_byte", "huge_offset", "huge_header", "bad_keras"):
        assert listed[corrupt[what]] == "pending", what
    assert listed["tf2_training/ckpt/ckpt-3"] == "pending"
    assert "ok" not in listed.values()


def test_metadata_that_does_not_verify_turns_error_never_ok(corrupt_logdir):
    root, corrupt = corrupt_logdir
    client = Client(logdirs.tensorboard_app("--logdir", root))
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        body = get(client, "runs")[1]
        seen.append({c["id"]: c["status"] for run in body["runs"] for c in run["checkpoints"]})
        if not body["scanning"]:
            break
    assert not body["scanning"]
    for what, ident in corrupt.items():
        assert [listing[ident] for listing in seen if listing[ident] == "ok"] == [], what
        assert seen[-1][ident] == "error", what
    errors = {c["id"]: c["error"] for run in body["runs"] for c in run["checkpoints"]}
    assert all(errors[ident] for ident in corrupt.values())
    assert seen[-1]["tf2_training/ckpt/ckpt-3"] == "ok"


def test_an_architecture_carried_by_an_unreadable_file_is_not_listed_ok(corrupt_logdir):
    root, corrupt = corrupt_logdir
    client = Client(logdirs.tensorboard_app("--logdir", root))
    body = logdirs.settled_runs(client)
    carried = {a["id"]: a for run in body["runs"] for a in run["architectures"] if a["id"].startswith("carried:")}
    for what in ("empty_keras", "bad_keras"):
        architecture = carried["carried:" + corrupt[what]]
        assert architecture["status"] == "error" and architecture["error"], what


def test_the_verification_pass_reads_every_checkpoint_through_the_catalogs_read(corrupt_logdir, monkeypatch):
    # Reads go through Catalog._read only, so whatever isolates that read (a worker process
    # for untrusted HDF5) isolates the background pass too.
    root, corrupt = corrupt_logdir
    reads = []
    real = catalog.Catalog._read
    monkeypatch.setattr(catalog.Catalog, "_read", lambda self, found: reads.append((self, found.id)) or real(self, found))
    app = logdirs.tensorboard_app("--logdir", root)
    body = logdirs.settled_runs(Client(app))
    plausible = {corrupt[w] for w in ("flipped_byte", "huge_offset", "huge_header", "bad_keras")}
    plausible |= {c["id"] for run in body["runs"] for c in run["checkpoints"] if c["status"] == "ok"}
    # This app's catalog only: an earlier test's app may still be verifying its own logdir,
    # whose checkpoints have the same ids.
    mine = logdirs.plugin_of(app)._catalog
    assert sorted(ident for reader, ident in reads if reader is mine) == sorted(plausible)


def test_the_newest_checkpoint_of_every_run_is_verified_first(tmp_path, monkeypatch):
    root = str(tmp_path / "logs")
    _copy_demo(root, "keras_fit", "tf1_saver", "tf2_training")
    reads = []
    real = catalog.Catalog._read
    monkeypatch.setattr(catalog.Catalog, "_read", lambda self, found: reads.append((self, found.id)) or real(self, found))
    app = logdirs.tensorboard_app("--logdir", root)
    logdirs.settled_runs(Client(app))
    mine = logdirs.plugin_of(app)._catalog  # not an earlier test's app, still verifying its logdir
    assert [ident for reader, ident in reads if reader is mine] == ["keras_fit/ckpt/model-02.weights.h5", "tf1_saver/ckpt/model.ckpt-1", "tf2_training/ckpt/ckpt-3",
                    "keras_fit/ckpt/model-01.weights.h5", "tf1_saver/ckpt/model.ckpt-0", "tf2_training/ckpt/ckpt-2",
                    "tf2_training/ckpt/ckpt-1"]


# ------------------------------------------------------------------ which runs belong together


def test_a_checkpoint_directory_belongs_to_the_model_run_beside_it():
    groups = runs_overview.groups(["exp/train", "other/train"], ["exp/ckpt", "exp/train", "other/train", "other/ckpt/deep"])
    assert groups == {"exp/ckpt": "exp/train", "exp/train": "exp/train", "other/train": "other/train",
                      "other/ckpt/deep": "other/train"}


def test_a_checkpoint_directory_never_joins_another_experiments_model():
    groups = runs_overview.groups(["runs/exp1/train"], ["runs/exp1/train", "runs/exp2/ckpt"])
    assert groups["runs/exp2/ckpt"] == "runs/exp2/ckpt"


def test_at_the_top_of_the_logdir_only_a_lone_model_takes_the_others_in():
    assert runs_overview.groups(["train"], ["train", "ckpt"])["ckpt"] == "train"  # --logdir exp
    assert runs_overview.groups(["exp1", "exp2"], ["exp1", "exp2", "big"])["big"] == "big"


def test_the_run_graph_ranks_below_a_meta_graph_and_carried_architectures_below_event_data():
    from tensorboard_plugin_ckptdiff import records

    graph = records.Architecture(id="r/graph/0", source="graph", step=0)
    meta = records.Architecture(id="r/meta_graph/0", source="meta_graph", step=0)
    carried = records.Architecture(id="carried:r/ckpt-1", source="model_spec", step=9)
    broken = records.Architecture(id="r/model_spec/0", source="model_spec", status="error")
    assert runs_overview.preferred_architecture([graph, carried, meta, broken]) is meta
    assert runs_overview.preferred_architecture([carried, graph]) is graph
    assert runs_overview.preferred_architecture([broken]) is None


def test_runs_names_the_row_each_run_belongs_to(demo):
    runs = {r["run"]: r for r in logdirs.settled_runs(demo["client"])["runs"]}
    assert runs["keras_fit/ckpt"]["group"] == "keras_fit/train"
    assert runs["keras_fit/train"]["group"] == "keras_fit/train"
    assert runs["tf1_saver/ckpt"]["group"] == "tf1_saver/train"


# ------------------------------------------------------------------ /overview


def test_the_overview_has_one_row_per_experiment_with_its_model_and_newest_checkpoint(demo):
    body = settled_overview(demo["client"])
    assert body["status"] == "done" and body["progress"]["done"] == body["progress"]["total"]
    cases = sorted(d for d in os.listdir(demo["root"]))
    assert sorted(row["run"] for row in body["rows"]) == [f"{case}/train" for case in cases]
    for row in body["rows"]:
        assert row["architecture"]["run"] == row["run"] and row["architecture"]["status"] == "ok", row["run"]
        assert row["checkpoint"]["status"] == "ok" and row["checkpoint"]["run"] in row["runs"], row["run"]
        assert row["base"] == "architecture:" + row["architecture"]["id"]
        assert row["target"] == "checkpoint:" + row["checkpoint"]["id"]


def test_every_overview_verdict_is_the_diff_of_its_pair(demo):
    body = settled_overview(demo["client"])
    for row in body["rows"]:
        expected = diff_of(demo["client"], row["base"], row["target"])
        verdict = row["verdict"]
        assert (verdict["restorable"], verdict["resumable"], verdict["verdict"], verdict["mode"]) == (
            expected["restorable"], expected["resumable"], expected["verdict"], expected["mode"]), row["run"]
        assert verdict["summary"] == expected["summary"], row["run"]
        marks = {m["id"]: m["mark"] for m in row["timeline"]}
        for mark in row["timeline"]:
            restorable = diff_of(demo["client"], row["base"], "checkpoint:" + mark["id"])["restorable"]
            assert marks[mark["id"]] == ("restorable" if restorable else "not_restorable"), (row["run"], mark["id"])


def test_problems_come_first(demo):
    body = settled_overview(demo["client"])
    outcomes = [row["outcome"] for row in body["rows"]]
    assert outcomes == sorted(outcomes, key=runs_overview.OUTCOMES.index)
    assert outcomes[0] == "not_restorable" and outcomes[-1] == "restorable"
    assert body["counts"] == {o: outcomes.count(o) for o in set(outcomes)}


def test_the_overview_pages_and_filters(demo):
    whole = settled_overview(demo["client"])
    pages = [settled_overview(demo["client"], offset=o, limit=3) for o in range(0, whole["total"], 3)]
    assert [row["run"] for page in pages for row in page["rows"]] == [row["run"] for row in whole["rows"]]
    assert {page["total"] for page in pages} == {whole["total"]}
    only = settled_overview(demo["client"], q="KERAS")
    assert sorted(row["run"] for row in only["rows"]) == ["keras_fit/train", "renamed_layer_keras/train"]
    assert only["total"] == 2


@pytest.mark.parametrize("args", [{"offset": "-1"}, {"limit": "many"}, {"row_offset": "x"}])
def test_bad_paging_is_a_400_with_the_json_error_body(demo, args):
    route = "matrix" if "row_offset" in args else "overview"
    status, body = get(demo["client"], route, **args)
    assert status == 400 and body["error"]["code"] == "bad_argument"


def test_the_overview_answers_at_once_while_verdicts_are_computed(tmp_path, monkeypatch):
    root = str(tmp_path / "logs")
    _copy_demo(root, "added_layer", "tf2_training")
    gate = threading.Event()
    real = verdict_cache.diff.compare
    monkeypatch.setattr(verdict_cache.diff, "compare", lambda *a, **k: gate.wait(120) and real(*a, **k))
    client = Client(logdirs.tensorboard_app("--logdir", root))
    logdirs.settled_runs(client)
    start = time.monotonic()
    status, first = get(client, "overview")
    answered = time.monotonic() - start
    gate.set()
    assert status == 200 and first["status"] == "running"
    assert {row["outcome"] for row in first["rows"]} == {"pending"}
    assert first["progress"]["done"] < first["progress"]["total"]
    assert answered < 30, "the overview waited for the verdicts"  # they were held for 120 s
    done = settled_overview(client)
    assert {row["outcome"] for row in done["rows"]} == {"not_restorable", "restorable"}


def test_a_run_whose_model_changed_mid_training_stands_out(tmp_path):
    root = str(tmp_path / "logs")
    logdirs.messy_logdir(root)
    client = Client(logdirs.tensorboard_app("--logdir", root))
    rows = {row["run"]: row for row in settled_overview(client, limit=100)["rows"]}
    changed = rows["changed_mid_run/train"]
    assert changed["outcome"] == "changed" and changed["verdict"]["restorable"] is True
    assert [m["mark"] for m in changed["timeline"]] == ["not_restorable", "restorable", "restorable"]
    broken = rows["000_unreadable_everything"]
    assert broken["outcome"] == "unreadable" and broken["unreadable"] == len(broken["timeline"])
    assert list(rows)[-1] == "000_unreadable_everything", "unreadable runs are not in the way"


def test_a_changed_checkpoint_gets_a_new_verdict(tmp_path):
    root = str(tmp_path / "logs")
    _copy_demo(root, "keras_fit")
    app = logdirs.tensorboard_app("--logdir", root)
    client = Client(app)
    [row] = settled_overview(client)["rows"]
    assert row["verdict"]["restorable"] is True
    newest = os.path.join(root, "keras_fit", "ckpt", "model-02.weights.h5")
    shutil.copyfile(os.path.join(logdirs.DEMO_LOGS, "added_layer", "ckpt", "model.weights.h5"), newest)
    os.utime(newest, (time.time() + 10, time.time() + 10))
    logdirs.plugin_of(app)._catalog.refresh()  # what the reload interval does
    [row] = settled_overview(client)["rows"]
    expected = diff_of(client, row["base"], row["target"])
    assert (row["verdict"]["restorable"], row["verdict"]["verdict"]) == (False, expected["verdict"])


# ------------------------------------------------------------------ /matrix


def test_every_matrix_cell_is_the_diff_of_a_model_and_another_runs_newest_checkpoint(demo):
    body = settled_matrix(demo["client"])
    models, columns = body["rows"]["items"], body["columns"]["items"]
    assert len(models) == body["rows"]["total"] == 8 and len(columns) == body["columns"]["total"] == 8
    for model, cells in zip(models, body["cells"]):
        for column, cell in zip(columns, cells):
            expected = diff_of(demo["client"], "architecture:" + model["architecture"]["id"],
                               "checkpoint:" + column["checkpoint"]["id"])
            assert (cell["state"], cell["restorable"], cell["resumable"], cell["verdict"], cell["summary"]) == (
                "ready", expected["restorable"], expected["resumable"], expected["verdict"], expected["summary"]), (
                model["run"], column["run"])


def test_the_diagonal_of_the_matrix_is_the_overview(demo):
    rows = {row["run"]: row for row in settled_overview(demo["client"])["rows"]}
    body = settled_matrix(demo["client"])
    for i, model in enumerate(body["rows"]["items"]):
        j = [c["run"] for c in body["columns"]["items"]].index(model["run"])
        assert body["cells"][i][j]["verdict"] == rows[model["run"]]["verdict"]["verdict"]


def test_the_matrix_pages_rows_and_columns_apart(demo):
    whole = settled_matrix(demo["client"])
    page = settled_matrix(demo["client"], row_offset=2, row_limit=3, col_offset=5, col_limit=2)
    assert [m["run"] for m in page["rows"]["items"]] == [m["run"] for m in whole["rows"]["items"][2:5]]
    assert [c["run"] for c in page["columns"]["items"]] == [c["run"] for c in whole["columns"]["items"][5:7]]
    assert page["cells"] == [cells[5:7] for cells in whole["cells"][2:5]]
    assert (page["rows"]["total"], page["columns"]["total"]) == (8, 8)


def test_the_matrix_filters_its_runs(demo):
    body = settled_matrix(demo["client"], q="renamed")
    assert [m["run"] for m in body["rows"]["items"]] == ["renamed_layer_keras/train", "renamed_layer_tf1/train"]
    assert [c["run"] for c in body["columns"]["items"]] == ["renamed_layer_keras/train", "renamed_layer_tf1/train"]
