"""A hostile logdir, served by the real TensorBoard app with this plugin: the walk ends, lists
what it can under whatever names it finds, marks what it cannot read, follows no link out of
the logdir, and no route answers 500.

The logdir holds a real TF checkpoint copied under names with markup, quotes, a newline,
unicode, a 250-byte component and a 1,000-character nested path; 100,000 irrelevant files;
FIFOs, a socket, dangling and looping links and a directory named like checkpoints; links
out of the logdir. Unreadable files and directories are checked by a server that dropped
root (root reads everything).
"""

import itertools
import json
import os
import shutil
import socket
import tempfile

import pytest
from werkzeug.test import Client

from makers import bundles, under_load, logdirs

API = "/data/plugin/ckptdiff/"
STRANGE = {
    "markup": "<script>alert(1)</script><img src=x onerror=alert(2)>",
    "quotes": "a\"b'c&amp;d\\e",
    "newline": "new\nline\ttab",
    "unicode": "ünïcødé-模型-🙂",
    "long": "L" * 250,
    "nested": "/".join(["N" * 199] * 5),  # 999 characters of directories
    "percent": "%2e%2e%2f..%00",
    "spaces": " lead and trail ",
}
NOISE_DIRS, NOISE_FILES = 100, 1000


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A real object-based TF2 checkpoint and its variable count as the reader sees it."""
    from tensorboard_plugin_ckptdiff import formats

    prefix = bundles.keras_tf2_checkpoint(str(tmp_path_factory.mktemp("source")))
    return {"prefix": prefix, "count": len(formats.read(prefix).variables)}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, source):
    base = tmp_path_factory.mktemp("hostile_logdir")
    logdir, outside = base / "logdir", base / "outside"
    outside.mkdir()
    logdirs.copy_bundle(source["prefix"], str(outside / "ckpt-5"))
    for name in STRANGE.values():
        (logdir / name).mkdir(parents=True)
        logdirs.copy_bundle(source["prefix"], str(logdir / name / "ckpt-7"))
    for i in range(NOISE_DIRS):
        noise = logdir / "noise" / f"d{i}"
        noise.mkdir(parents=True)
        for j in range(NOISE_FILES):
            (noise / f"f{j}.txt").touch()
    special = logdir / "special"
    special.mkdir()
    for name in ("fifo.weights.h5", "fifo.keras", "fifo.safetensors", "checkpoint"):
        os.mkfifo(special / name)
    logdirs.copy_bundle(source["prefix"], str(special / "ckpt-8"))  # beside the FIFO state file
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(special / "sock.h5"))
    os.symlink(special / "missing", special / "gone.safetensors")
    os.symlink(special / "self.keras", special / "self.keras")  # ELOOP
    os.symlink("..", special / "up")
    (special / "dir.weights.h5").mkdir()
    os.symlink(outside / "ckpt-5.index", special / "out.index")
    os.symlink(outside, special / "outdir")
    client = Client(logdirs.tensorboard_app("--logdir", str(logdir)))
    yield {"client": client, "logdir": str(logdir)}
    sock.close()


def runs(client):
    return logdirs.settled_runs(client)


def checkpoints(client):
    return {c["id"]: c for run in runs(client)["runs"] for c in run["checkpoints"]}


def test_checkpoints_under_strange_names_are_listed_ok(hostile):
    listed = checkpoints(hostile["client"])
    expected = {f"{name}/ckpt-7" for name in STRANGE.values()}
    assert {i: listed[i]["status"] for i in expected if i in listed} == {i: "ok" for i in expected}


@pytest.mark.parametrize("label", sorted(STRANGE))
def test_checkpoint_under_a_strange_name_reads_every_variable(hostile, source, label):
    response = hostile["client"].get(API + "checkpoint", query_string={"id": f"{STRANGE[label]}/ckpt-7"})
    assert response.status_code == 200
    assert json.loads(response.get_data())["total"] == source["count"]


def test_diff_between_strangely_named_checkpoints_equals_the_diff_of_the_source(hostile, source):
    response = hostile["client"].get(API + "diff", query_string={
        "base": f"checkpoint:{STRANGE['markup']}/ckpt-7", "target": f"checkpoint:{STRANGE['nested']}/ckpt-7"})
    from tensorboard_plugin_ckptdiff import diff, formats

    expected = diff.compare(formats.read(source["prefix"]), formats.read(source["prefix"])).to_json()["summary"]
    assert response.status_code == 200
    assert json.loads(response.get_data())["summary"] == expected


def test_markup_in_names_travels_as_json_text(hostile):
    response = hostile["client"].get(API + "runs")
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert STRANGE["markup"] in {r["run"] for r in json.loads(response.get_data())["runs"]}


def test_irrelevant_files_are_not_checkpoints(hostile):
    assert [i for i in checkpoints(hostile["client"]) if i.startswith("noise/")] == []


@pytest.mark.parametrize("name", ["fifo.weights.h5", "fifo.keras", "fifo.safetensors", "sock.h5"])
def test_special_file_named_like_a_checkpoint_is_listed_as_an_error(hostile, name):
    listed = checkpoints(hostile["client"])
    assert listed[f"special/{name}"]["status"] == "error"


def test_fifo_state_file_does_not_stop_its_directory_being_listed(hostile):
    assert checkpoints(hostile["client"])["special/ckpt-8"]["status"] == "ok"


def test_links_out_of_the_logdir_and_loops_are_not_followed(hostile):
    ids = set(checkpoints(hostile["client"]))
    assert [i for i in ids if i.startswith(("special/out", "special/up/", "special/self"))] == []


def test_no_route_answers_500(hostile):
    client = hostile["client"]
    ids = sorted(checkpoints(client)) + ["", "special/gone.safetensors", "../outside/ckpt-5", "\x00", "x" * 4096]
    statuses = {}
    for ident in ids:
        statuses[("checkpoint", ident)] = client.get(API + "checkpoint", query_string={"id": ident}).status_code
        statuses[("architecture", ident)] = client.get(
            API + "architecture", query_string={"id": f"carried:{ident}"}).status_code
    for base, target in itertools.islice(itertools.product(ids, repeat=2), 200):
        statuses[("diff", base, target)] = client.get(API + "diff", query_string={
            "base": f"checkpoint:{base}", "target": f"checkpoint:{target}"}).status_code
    assert {k: v for k, v in statuses.items() if v >= 500 and v != 501} == {}


@pytest.fixture(scope="module")
def unreadable(source):
    """A logdir nobody may partly not read: an index, a data shard, a directory, a state file."""
    base = tempfile.mkdtemp(prefix="ckptdiff-unreadable-")  # pytest's tmp is root-only
    os.chmod(base, 0o755)
    logdir = os.path.join(base, "logdir")
    for name in ("readable", "no_index", "no_data", "closed/inner"):
        os.makedirs(os.path.join(logdir, name))
        logdirs.copy_bundle(source["prefix"], os.path.join(logdir, name, "ckpt-1"))
    for directory, _, names in os.walk(base):
        os.chmod(directory, 0o755)
        for name in names:
            os.chmod(os.path.join(directory, name), 0o644)
    os.chmod(os.path.join(logdir, "no_index", "ckpt-1.index"), 0)
    for name in os.listdir(os.path.join(logdir, "no_data")):
        if ".data-" in name:
            os.chmod(os.path.join(logdir, "no_data", name), 0)
    os.chmod(os.path.join(logdir, "closed"), 0)
    paths = [API + "runs"] + [API + f"checkpoint?id={d}/ckpt-1" for d in ("readable", "no_index", "no_data")]
    yield dict(zip(("runs", "readable", "no_index", "no_data"), under_load.get_as_nobody(logdir, paths)))
    os.chmod(os.path.join(logdir, "closed"), 0o755)
    shutil.rmtree(base)


def test_unprivileged_listing_marks_unreadable_files_and_names_closed_directories(unreadable):
    code, body = unreadable["runs"]
    assert code == 200
    body = json.loads(body)
    listed = {c["id"]: c["status"] for r in body["runs"] for c in r["checkpoints"]}
    # no_data's shard holds the object graph: the server cannot read it, so it is not "ok"
    assert listed == {"readable/ckpt-1": "ok", "no_index/ckpt-1": "error", "no_data/ckpt-1": "error"}
    # closed/inner/ckpt-1 cannot be listed: the directory that hides it is named, by its
    # logdir-relative path and the system's reason, never by a server path
    assert body["unreadable_dirs"] == [{"path": "closed", "error": "Permission denied"}]
    assert body["logdir_readable"] is True


def test_unprivileged_listing_of_a_logdir_it_cannot_open_says_the_logdir_is_unreadable(source):
    base = tempfile.mkdtemp(prefix="ckptdiff-unreadable-")
    logdir = os.path.join(base, "logdir")
    try:
        os.makedirs(os.path.join(logdir, "run"))
        logdirs.copy_bundle(source["prefix"], os.path.join(logdir, "run", "ckpt-1"))
        for directory, _, names in os.walk(base):
            os.chmod(directory, 0o755)
            for name in names:
                os.chmod(os.path.join(directory, name), 0o644)
        os.chmod(logdir, 0o311)  # it exists and can be entered, but not listed
        ((code, body),) = under_load.get_as_nobody(logdir, [API + "runs"])
    finally:
        os.chmod(logdir, 0o755)
        shutil.rmtree(base)
    assert code == 200
    body = json.loads(body)
    assert (body["logdir_readable"], body["runs"], body["unreadable_dirs"]) == (False, [], [])


def test_unprivileged_reads_answer_422_not_500_for_unreadable_files(unreadable, source):
    assert unreadable["readable"][0] == 200
    assert json.loads(unreadable["readable"][1])["total"] == source["count"]
    assert (unreadable["no_index"][0], unreadable["no_data"][0]) == (422, 422)


def test_unreadable_file_message_does_not_reveal_server_paths(unreadable):
    listed = {c["id"]: c for r in json.loads(unreadable["runs"][1])["runs"] for c in r["checkpoints"]}
    for ident in ("no_index/ckpt-1", "no_data/ckpt-1"):
        assert listed[ident]["error"] and "/tmp/" not in listed[ident]["error"], ident

