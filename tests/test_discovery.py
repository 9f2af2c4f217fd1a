"""Discovery: what the walk lists, where it refuses to go, and how refreshes see changes."""

import os
import shutil
import time

import pytest
from tensorboard.backend.event_processing import data_ingester

from makers import logdirs
from tensorboard_plugin_ckptdiff.logdir import catalog, walk as discovery
from tensorboard_plugin_ckptdiff import formats, storage


@pytest.fixture(scope="session")
def bundle(tmp_path_factory):
    """One real object-based bundle written by TF (prefix)."""
    import tensorflow as tf

    directory = str(tmp_path_factory.mktemp("bundle"))
    module = tf.Module()
    module.w = tf.Variable([[1.0, 2.0]])
    return tf.train.Checkpoint(module=module).write(os.path.join(directory, "ckpt-7"))


def scan(root, label=""):
    return discovery.scan(storage.for_path(root), discovery.Root(root, label))


def found_ids(root):
    return [f.id for f in scan(root).found]


def place(bundle, directory, name):
    os.makedirs(directory, exist_ok=True)
    logdirs.copy_bundle(bundle, os.path.join(directory, name))


def test_bundle_is_found_by_its_prefix_with_the_step_of_its_name(tmp_path, bundle):
    place(bundle, tmp_path / "run", "ckpt-7")
    [found] = scan(str(tmp_path)).found
    assert (found.id, found.step, found.format) == ("run/ckpt-7", 7, "tf_bundle")


def test_listing_and_read_give_every_format_the_same_step(tmp_path, bundle):
    # The step comes from one place, the format registry, whoever asks: the Keras and
    # safetensors readers used to set none, so /runs and read() disagreed.
    import keras
    import numpy as np
    from safetensors.numpy import save_file

    place(bundle, tmp_path / "run", "ckpt-7")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.save_weights(str(tmp_path / "run" / "model-03.weights.h5"))
    model.save(str(tmp_path / "run" / "epoch5.keras"))
    save_file({"w": np.zeros(2, np.float32)}, str(tmp_path / "run" / "step_12.safetensors"))
    listed = {f.rel: f for f in scan(str(tmp_path)).found}
    steps = {rel: (f.step, formats.read(f.path).step) for rel, f in listed.items()}
    assert steps == {"run/ckpt-7": (7, 7), "run/model-03.weights.h5": (3, 3), "run/epoch5.keras": (5, 5),
                     "run/step_12.safetensors": (12, 12)}


def test_checkpoint_run_is_the_nearest_directory_with_event_files(tmp_path, bundle):
    logdirs.write_events(str(tmp_path / "exp"))
    place(bundle, tmp_path / "exp" / "ckpts" / "deep", "ckpt-7")
    assert scan(str(tmp_path)).found[0].run == "exp"


def test_checkpoint_without_an_enclosing_run_is_its_own_directory(tmp_path, bundle):
    place(bundle, tmp_path / "a" / "b", "ckpt-7")
    assert scan(str(tmp_path)).found[0].run == "a/b"
    assert "a/b" in scan(str(tmp_path)).runs


def test_checkpoint_in_the_logdir_itself_belongs_to_run_dot(tmp_path, bundle):
    place(bundle, tmp_path, "ckpt-7")
    assert scan(str(tmp_path)).found[0].run == "."


def test_logdir_spec_is_parsed_as_tensorboard_parses_it(tmp_path):
    spec = f"first:{tmp_path / 'a'},{tmp_path / 'b'}"
    ours = {root.path: (root.label or None) for root in discovery.roots("", spec)}
    assert ours == data_ingester._parse_event_files_spec(spec)


def test_logdir_spec_group_name_prefixes_ids_and_runs(tmp_path, bundle):
    place(bundle, tmp_path / "a" / "r", "ckpt-7")
    [found] = scan(str(tmp_path / "a"), label="first").found
    assert (found.id, found.run) == ("first/r/ckpt-7", "first/r")


@pytest.mark.parametrize("name, step", [
    ("ckpt-12", 12), ("model.ckpt-300", 300), ("weights.05-0.42.weights.h5", 5),
    ("epoch7.weights.h5", 7), ("model-03.weights.h5", 3), ("model.weights.h5", None),
])
def test_step_comes_from_the_name(name, step):
    assert formats.step_of(name) == step


def test_symlink_pointing_out_of_the_logdir_is_not_followed(tmp_path, bundle):
    outside = tmp_path / "outside"
    place(bundle, outside, "ckpt-7")
    logdir = tmp_path / "logdir"
    logdir.mkdir()
    os.symlink(outside, logdir / "escape")
    os.symlink(str(outside / "ckpt-7.index"), logdir / "stolen.index")
    assert found_ids(str(logdir)) == []


def test_symlink_inside_the_logdir_is_followed(tmp_path, bundle):
    place(bundle, tmp_path / "real", "ckpt-7")
    os.symlink(tmp_path / "real", tmp_path / "alias")
    assert sorted(found_ids(str(tmp_path))) in (["alias/ckpt-7"], ["real/ckpt-7"])


def test_symlink_loop_ends_the_walk(tmp_path, bundle):
    place(bundle, tmp_path / "loop", "ckpt-7")
    os.symlink(tmp_path / "loop", tmp_path / "loop" / "again")
    os.symlink(tmp_path, tmp_path / "loop" / "up")
    assert found_ids(str(tmp_path)) == ["loop/ckpt-7"]


def test_saved_models_variables_bundle_is_not_a_checkpoint_of_its_own(tmp_path):
    logdirs.saved_model(str(tmp_path))
    assert found_ids(str(tmp_path)) == ["export/1"]


def test_listing_never_opens_the_data_shards(tmp_path, bundle, monkeypatch):
    place(bundle, tmp_path, "ckpt-7")
    fs = storage.for_path(str(tmp_path))
    opened = []
    real_open = fs.open
    monkeypatch.setattr(fs, "open", lambda path: opened.append(path) or real_open(path))
    [found] = scan(str(tmp_path)).found
    discovery.sniff(fs, found)
    assert opened and not [p for p in opened if ".data-" in p]


def test_refresh_turns_incomplete_into_ok_when_the_shard_arrives(tmp_path, bundle):
    place(bundle, tmp_path, "ckpt-7")
    shard = next(p for p in os.listdir(tmp_path) if ".data-" in p)
    held = tmp_path.parent / (tmp_path.name + "-held")
    shutil.move(str(tmp_path / shard), str(held))
    cat = catalog.Catalog([discovery.Root(str(tmp_path))], reload_interval=0)
    cat.refresh()
    before = cat.records(cat.listing())[0].status
    shutil.move(str(held), str(tmp_path / shard))
    cat.refresh()
    assert (before, cat.records(cat.listing())[0].status) == ("incomplete", "ok")


def test_refresh_lists_a_checkpoint_written_after_the_first_scan(tmp_path, bundle):
    cat = catalog.Catalog([discovery.Root(str(tmp_path))], reload_interval=0)
    cat.refresh()
    assert not cat.has_checkpoints()
    place(bundle, tmp_path, "ckpt-7")
    cat.refresh()
    assert [c.id for c in cat.records(cat.listing())] == ["ckpt-7"]


def test_verified_at_is_when_the_last_checkpoint_left_to_verify_was_read(tmp_path, bundle, monkeypatch):
    """What /runs says as ``scanned_wall_time``: None until the first pass is over and while a
    checkpoint is left to verify, then the wall time the last one was read (not a later pass's)."""
    place(bundle, tmp_path, "ckpt-7")
    cat = catalog.Catalog([discovery.Root(str(tmp_path))], reload_interval=0)
    assert cat.verified_at() is None  # no pass yet
    verify = catalog.Catalog.verify
    monkeypatch.setattr(catalog.Catalog, "verify", lambda self, listing: None)  # the walk only
    cat.refresh()
    assert cat.scanning(cat.listing()) and cat.verified_at() is None
    before = time.time()
    verify(cat, cat.listing())
    first = cat.verified_at()
    assert not cat.scanning(cat.listing()) and before <= first <= time.time()
    cat.refresh()  # nothing new: the pass changes nothing
    assert cat.verified_at() == first
    place(bundle, tmp_path, "ckpt-8")
    cat.refresh()
    assert cat.scanning(cat.listing()) and cat.verified_at() is None
    verify(cat, cat.listing())
    assert not cat.scanning(cat.listing()) and cat.verified_at() > first


def test_unchanged_checkpoints_are_not_sniffed_again(tmp_path, bundle, monkeypatch):
    place(bundle, tmp_path, "ckpt-7")
    cat = catalog.Catalog([discovery.Root(str(tmp_path))], reload_interval=0)
    cat.refresh()
    calls = []
    monkeypatch.setattr(discovery, "sniff", lambda fs, found: calls.append(found))
    cat.refresh()
    assert calls == []


def test_missing_logdir_is_reported_unreadable(tmp_path):
    cat = catalog.Catalog([discovery.Root(str(tmp_path / "nope"))], reload_interval=0)
    cat.refresh()
    assert cat.listing().readable is False


def test_remote_logdir_is_walked_through_the_storage_interface(tmp_path, bundle, monkeypatch):
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.setenv(key, "testing")
        endpoint = f"http://{host}:{port}"
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket="logs")
        directory = os.path.dirname(bundle)
        for name in os.listdir(directory):
            s3.upload_file(os.path.join(directory, name), "logs", f"exp/ckpt/{name}")
        fs = storage.for_path("s3://logs", client_kwargs={"endpoint_url": endpoint})
        found = discovery.scan(fs, discovery.Root("s3://logs")).found
        assert [(f.id, f.run, discovery.sniff(fs, f).flavor) for f in found] == [
            ("exp/ckpt/ckpt-7", "exp/ckpt", "object_based")]
    finally:
        server.stop()
