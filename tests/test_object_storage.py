"""A logdir on s3:// (fsspec/s3fs) against a real S3 API server on loopback (moto_server,
in its own process), holding checkpoints uploaded from real files: discovery, metadata reads and diffs
work, and metadata reads fetch byte ranges (index, footer, h5 tree), never whole data; a remote
checkpoint remaps into a local copy.

The endpoint reaches s3fs the way a user would configure it: the AWS_ENDPOINT_URL
environment variable (botocore's own setting; FSSPEC_S3_ENDPOINT_URL works too).
"""

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from makers import logdirs, servers

BIG = (1024, 2048)  # 8 MiB of float32: far more than the metadata and the read-ahead block


def _write_checkpoints(directory):
    """A TF2 bundle and a Keras .weights.h5, each holding one 8 MiB kernel, at two steps."""
    import keras
    import tensorflow as tf

    model = keras.Sequential([keras.Input((BIG[0],)), keras.layers.Dense(BIG[1], name="wide"),
                              keras.layers.Dense(3, name="head")])
    checkpoint = tf.train.Checkpoint(model=model)
    prefixes = []
    for step in (1, 2):
        prefixes.append(checkpoint.write(os.path.join(directory, "ckpt", f"ckpt-{step}")))
        model.save_weights(os.path.join(directory, "ckpt", f"model-{step:02d}.weights.h5"))
    logdirs.write_events(os.path.join(directory, "train"))
    return prefixes


def _wait_for(endpoint, server, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and server.poll() is None:
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("moto_server did not start")


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    import boto3

    local = str(tmp_path_factory.mktemp("s3src") / "exp")
    _write_checkpoints(local)
    # moto_server in its own process: an in-process server thread competes for the GIL
    # with h5py's callbacks into the fsspec file, and connections then stall.
    server, port = servers.start_listening(
        lambda port: [os.path.join(os.path.dirname(sys.executable), "moto_server"), "-H", "127.0.0.1", "-p", str(port)])
    endpoint = f"http://127.0.0.1:{port}"
    _wait_for(endpoint, server)
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL",
                                             "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_ENDPOINT_URL=endpoint,
                      AWS_DEFAULT_REGION="us-east-1")
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="logs")
    for directory, _, names in os.walk(local):
        for name in names:
            path = os.path.join(directory, name)
            client.upload_file(path, "logs", "exp/" + os.path.relpath(path, local).replace(os.sep, "/"))
    yield {"local": local, "url": "s3://logs", "endpoint": endpoint}
    server.terminate()
    server.wait(timeout=30)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class Transferred:
    """Bytes s3fs fetched from the server (ranged GETs and whole-object reads)."""

    def __init__(self, monkeypatch):
        import s3fs

        self.bytes = 0
        fetch = s3fs.core.S3File._fetch_range
        cat = s3fs.S3FileSystem._cat_file

        def counted_fetch(file, start, end):
            data = fetch(file, start, end)
            self.bytes += len(data)
            return data

        async def counted_cat(fs, *args, **kwargs):
            data = await cat(fs, *args, **kwargs)
            self.bytes += len(data)
            return data

        monkeypatch.setattr(s3fs.core.S3File, "_fetch_range", counted_fetch)
        monkeypatch.setattr(s3fs.S3FileSystem, "_cat_file", counted_cat)


def _local_and_remote(s3, rel):
    from tensorboard_plugin_ckptdiff import formats

    return formats.read(os.path.join(s3["local"], rel)), formats.read(f"{s3['url']}/exp/{rel}")


def _shape_table(checkpoint):
    return [(v.key, v.shape, v.dtype) for v in checkpoint.variables]


@pytest.mark.parametrize("rel", ["ckpt/ckpt-1", "ckpt/model-01.weights.h5"])
def test_remote_metadata_equals_local_metadata(s3, rel):
    local, remote = _local_and_remote(s3, rel)
    assert _shape_table(remote) == _shape_table(local) and remote.format == local.format


@pytest.mark.parametrize("rel", ["ckpt/ckpt-1", "ckpt/model-01.weights.h5"])
def test_remote_metadata_read_fetches_ranges_not_the_data(s3, rel, monkeypatch):
    from tensorboard_plugin_ckptdiff import formats

    transferred = Transferred(monkeypatch)
    formats.read(f"{s3['url']}/exp/{rel}")
    data_bytes = BIG[0] * BIG[1] * 4
    assert 0 < transferred.bytes < data_bytes // 8


def test_repeated_ranged_h5_reads_do_not_stall(s3):
    # h5py objects kept alive by a reference cycle were freed by the cyclic GC on fsspec's
    # IO thread, whose HDF5 callback into the remote file then deadlocked: the fifth read hung.
    # The HDF5 parser is pure Python now; the test stays, for any parser holding file handles.
    from tensorboard_plugin_ckptdiff import formats

    url = f"{s3['url']}/exp/ckpt/model-01.weights.h5"
    counts = {len(formats.read(url).variables) for _ in range(12)}
    assert len(counts) == 1 and counts.pop() > 0


def test_remote_tensor_values_equal_local_values(s3):
    from tensorboard_plugin_ckptdiff import formats

    local, remote = _local_and_remote(s3, "ckpt/model-01.weights.h5")
    key = next(v.key for v in local.variables if v.shape == BIG)
    assert np.array_equal(formats.read_tensor(remote, key), formats.read_tensor(local, key))


@pytest.fixture(scope="module")
def plugin(s3):
    # The plugin itself over the s3:// logdir. TensorBoard's own event loader needs
    # tensorflow-io for s3:// once TF is installed, so it is left out here.
    from tensorboard.plugins import base_plugin

    from tensorboard_plugin_ckptdiff.plugin import CheckpointDiffPlugin

    flags = argparse.Namespace(reload_interval=0, logdir_spec="")
    return CheckpointDiffPlugin(base_plugin.TBContext(logdir=s3["url"], flags=flags, data_provider=None))


def _listed(plugin):
    body = logdirs.settled(lambda: json.loads(plugin.runs_impl(None, "")[0]))
    return {c["id"]: c for run in body["runs"] for c in run["checkpoints"]}


def test_plugin_lists_remote_checkpoints(plugin):
    listed = _listed(plugin)
    assert {i: (c["run"], c["status"]) for i, c in listed.items()} == {
        i: ("exp/ckpt", "ok") for i in ("exp/ckpt/ckpt-1", "exp/ckpt/ckpt-2",
                                        "exp/ckpt/model-01.weights.h5", "exp/ckpt/model-02.weights.h5")}


@pytest.mark.parametrize("pair", [("exp/ckpt/ckpt-1", "exp/ckpt/ckpt-2"),
                                  ("exp/ckpt/model-01.weights.h5", "exp/ckpt/model-02.weights.h5")])
def test_plugin_diffs_remote_checkpoints_as_it_diffs_local_ones(plugin, s3, pair):
    from tensorboard_plugin_ckptdiff import diff

    body = json.loads(plugin.diff_impl(None, "", ("checkpoint", pair[0]), ("checkpoint", pair[1]))[0])
    base, target = (_local_and_remote(s3, ident[len("exp/"):])[0] for ident in pair)
    assert body["summary"] == diff.compare(base, target).to_json()["summary"]
    assert body["summary"]["match"] > 0


# ------------------------------------------------------------------ ckptdiff remap of a remote checkpoint
# (the tab's command for a logdir on object storage): read by byte ranges, written locally.


def test_a_remote_bundle_is_remapped_into_a_local_copy_of_the_same_bytes(s3, tmp_path):
    from tensorboard_plugin_ckptdiff import remap

    url = s3["url"] + "/exp/ckpt/ckpt-2"
    result = remap((url, url), str(tmp_path / "ckpt-2"))
    assert result.restorable
    local = os.path.join(s3["local"], "ckpt")
    for name in ("ckpt-2.index", "ckpt-2.data-00000-of-00001"):
        with open(tmp_path / name, "rb") as a, open(os.path.join(local, name), "rb") as b:
            assert a.read() == b.read(), name


def test_a_remote_keras_file_is_remapped_with_its_values(s3, tmp_path):
    from tensorboard_plugin_ckptdiff import formats, remap

    url = s3["url"] + "/exp/ckpt/model-02.weights.h5"
    result = remap((url, url), str(tmp_path / "model.weights.h5"))
    assert result.restorable
    original = formats.read(os.path.join(s3["local"], "ckpt", "model-02.weights.h5"))
    for v in original.variables:
        np.testing.assert_array_equal(formats.read_tensor(formats.read(result.path), v.key),
                                      formats.read_tensor(original, v.key))


# ------------------------------------------------------------------ bad files on object storage: each
# is that one checkpoint's error, from the bytes fetched ahead; the good ones beside it are read.


def test_remote_bad_files_are_errors_and_the_good_ones_are_read(s3):
    import boto3
    from tensorboard.plugins import base_plugin

    from tensorboard_plugin_ckptdiff.plugin import CheckpointDiffPlugin

    client = boto3.client("s3", endpoint_url=s3["endpoint"], region_name="us-east-1")
    client.create_bucket(Bucket="mixed")
    good = os.path.join(s3["local"], "ckpt", "model-01.weights.h5")
    client.upload_file(good, "mixed", "run/good.weights.h5")
    client.put_object(Bucket="mixed", Key="run/bad.weights.h5", Body=b"not hdf5 at all" * 10)
    client.put_object(Bucket="mixed", Key="run/short.safetensors", Body=b"\x01\x02")
    with open(good, "rb") as f:  # a large file cut short: its signature is right, its tree is not there
        client.put_object(Bucket="mixed", Key="run/cut.weights.h5", Body=f.read()[:300_000])
    flags = argparse.Namespace(reload_interval=0, logdir_spec="")
    plugin = CheckpointDiffPlugin(base_plugin.TBContext(logdir="s3://mixed", flags=flags, data_provider=None))
    listed = _listed(plugin)
    assert {i: c["status"] for i, c in listed.items()} == {
        "run/good.weights.h5": "ok", "run/bad.weights.h5": "error", "run/short.safetensors": "error",
        "run/cut.weights.h5": "error"}
    assert "not an HDF5 file" in listed["run/bad.weights.h5"]["error"]
    assert "too short" in listed["run/short.safetensors"]["error"]
    assert "s3://" not in listed["run/cut.weights.h5"]["error"]


def test_s3fs_keeps_as_many_connections_as_requests_go_out_at_once(s3):
    """botocore's pool holds 10 connections; the prefetcher sends up to REMOTE_REQUESTS (16) at
    once, and requests past the tenth would wait for a connection with the store idle."""
    from tensorboard_plugin_ckptdiff import storage

    fs = storage.for_path(f"{s3['url']}/exp")
    assert fs.fs.config_kwargs["max_pool_connections"] >= storage.REMOTE_REQUESTS
    client = fs.fs.connect()
    assert client.meta.config.max_pool_connections >= storage.REMOTE_REQUESTS
    # What a user set is kept: as an option, or in fsspec's configuration (FSSPEC_S3_CONFIG_KWARGS).
    mine = storage.FsspecFS("s3", config_kwargs={"max_pool_connections": 3})
    assert mine.fs.config_kwargs["max_pool_connections"] == 3


def test_fsspec_configuration_of_the_s3_client_is_kept(s3, monkeypatch):
    import fsspec.config

    from tensorboard_plugin_ckptdiff import storage

    monkeypatch.setitem(fsspec.config.conf, "s3", {"config_kwargs": {"read_timeout": 7}})
    config = storage.FsspecFS("s3").fs.config_kwargs
    assert config["read_timeout"] == 7 and config["max_pool_connections"] >= storage.REMOTE_REQUESTS
    monkeypatch.setitem(fsspec.config.conf, "s3", {"config_kwargs": {"max_pool_connections": 4}})
    assert storage.FsspecFS("s3").fs.config_kwargs["max_pool_connections"] == 4


def test_a_reader_process_makes_no_s3_client_until_it_reads_past_the_fetched_bytes(s3):
    """A remote checkpoint reaches a reader process with its bytes fetched ahead (prefetch.Held)
    and the file system it came from; unpickling that must not import s3fs and botocore (~0.7 s
    of CPU per reader process), and a read past the held bytes must still reach the store."""
    import pickle

    from tensorboard_plugin_ckptdiff import storage

    fs = storage.for_path(f"{s3['url']}/exp")
    key = "logs/exp/ckpt/ckpt-1.index"
    code = ("import pickle, sys\n"
            "fs = pickle.loads(sys.stdin.buffer.read())\n"
            "print(sorted(m for m in ('s3fs', 'botocore', 'aiohttp') if m in sys.modules))\n"
            f"print(len(fs.read_bytes({key!r}, 8)))\n")
    out = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(fs), capture_output=True,
                         env=os.environ.copy(), timeout=120)
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().split("\n")[:2] == ["[]", "8"]


def test_a_remote_root_is_known_to_exist_from_its_listing(s3, monkeypatch):
    """A pass over a remote logdir starts with one listing by prefix; a root that holds objects
    is not stat'ed first (a HEAD and a LIST on S3, in front of everything else). A root that
    holds nothing still is: an empty or missing prefix is an unreadable logdir, as before."""
    from tensorboard_plugin_ckptdiff import storage
    from tensorboard_plugin_ckptdiff.logdir import catalog, walk

    stats = []
    original = storage.FsspecFS.stat

    def counted(fs, path):
        stats.append(path)
        return original(fs, path)

    monkeypatch.setattr(storage.FsspecFS, "stat", counted)
    present = catalog.Catalog([walk.Root(f"{s3['url']}/exp")], reload_interval=0)
    present.refresh()
    listing = present.listing()
    assert listing.readable and listing.found and f"{s3['url']}/exp" not in stats
    missing = catalog.Catalog([walk.Root(f"{s3['url']}/no-such-prefix")], reload_interval=0)
    missing.refresh()
    assert not missing.listing().readable and f"{s3['url']}/no-such-prefix" in stats
