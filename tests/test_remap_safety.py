"""What a remap must never do: write anything from a corrupt or incomplete input, leave a half
checkpoint that looks whole, overwrite what it reads, change a value it did not mean to cast,
touch someone's state file, or import TensorFlow. And the command's words and exit codes."""

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
from makers import bundles, restore

import tensorboard_plugin_ckptdiff as ckptdiff
from tensorboard_plugin_ckptdiff.logdir import walk
from tensorboard_plugin_ckptdiff import formats, storage
from tensorboard_plugin_ckptdiff.errors import CheckpointError, IncompleteCheckpoint, InvalidArgument
from tensorboard_plugin_ckptdiff.formats import tf_bundle

LAYERS = [("dense_1", (10, 6)), ("dense_output", (6, 2))]
RENAMED = [("incorrect_name", (10, 6)), ("dense_output", (6, 2))]


@pytest.fixture(scope="module")
def tf1(tmp_path_factory):
    """(TF1 checkpoint with scope dense_1, one whose scope is incorrect_name): the second is a
    base that needs no TensorFlow to read."""
    root = tmp_path_factory.mktemp("tf1")
    saved = restore.tf1_save(LAYERS, str(root / "saved" / "model.ckpt"))
    base = restore.tf1_save(RENAMED, str(root / "base" / "model.ckpt"))
    return saved, base


def _copy_bundle(prefix, directory):
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(os.path.dirname(prefix)):
        if name.startswith(os.path.basename(prefix) + "."):
            shutil.copy(os.path.join(os.path.dirname(prefix), name), directory)
    return os.path.join(str(directory), os.path.basename(prefix))


@pytest.fixture(params=["kernel_copy", "read_write"])
def copy_path(request, monkeypatch):
    """Values cross between local files inside the kernel; elsewhere (remote files, old kernels)
    they are read and written: both ways are held to the same checks."""
    if request.param == "read_write":
        monkeypatch.setattr(storage, "kernel_copy", lambda *args: None)
    return request.param


def _nothing_written(directory):
    """Nothing at all in ``directory`` (or it does not exist): no output, no staging leftovers."""
    return not os.path.exists(directory) or os.listdir(directory) == []


# ------------------------------------------------------------------ bad inputs write nothing


def test_a_corrupt_last_tensor_stops_the_remap_and_nothing_is_written(tf1, tmp_path, copy_path):
    saved, base = tf1
    target = _copy_bundle(saved, tmp_path / "target")
    bundle = tf_bundle.load_index(storage.for_path(target), target)
    last = max((bundle.entries[k] for k in bundle.keys), key=lambda e: e.offset)  # copied last
    shard = tf_bundle.data_path(target, 0, 1)
    data = bytearray(open(shard, "rb").read())
    data[last.offset + last.size - 1] ^= 0x40
    open(shard, "wb").write(bytes(data))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        ckptdiff.remap((base, target), str(tmp_path / "out" / "model.ckpt"))
    assert _nothing_written(tmp_path / "out")


def test_a_short_data_shard_is_incomplete_and_nothing_is_written(tf1, tmp_path):
    saved, base = tf1
    target = _copy_bundle(saved, tmp_path / "target")
    shard = tf_bundle.data_path(target, 0, 1)
    os.truncate(shard, os.path.getsize(shard) - 3)
    with pytest.raises(IncompleteCheckpoint):
        ckptdiff.remap((base, target), str(tmp_path / "out" / "model.ckpt"))
    assert _nothing_written(tmp_path / "out")


@pytest.mark.parametrize("kind", ["weights_h5", "legacy_h5", "keras", "safetensors"])
def test_a_truncated_file_gives_the_readers_error_and_nothing_is_written(tmp_path, kind):
    model = restore.dense_model([4, 2])
    path = _keras_file(model, tmp_path, kind)
    size = os.path.getsize(path)
    os.truncate(path, size // 2)
    with pytest.raises(CheckpointError):
        ckptdiff.remap((restore.dense_model([4, 4, 2]), path), str(tmp_path / "out" / os.path.basename(path)))
    assert _nothing_written(tmp_path / "out")


def _keras_file(model, directory, kind):
    import keras

    if kind == "weights_h5":
        path = str(directory / "m.weights.h5")
        model.save_weights(path)
    elif kind == "keras":
        path = str(directory / "m.keras")
        keras.saving.save_model(model, path)
    elif kind == "legacy_h5":
        path = str(directory / "m.h5")
        restore.build({"blocks": [("dense", 4, "a"), ("dense", 2, "b")], "dtype": "float32"},
                      framework="tf_keras").save_weights(path)
    else:
        from safetensors.numpy import save_file

        path = str(directory / "m.safetensors")
        save_file({"a/kernel": np.ones((3, 4), "float32"), "a/bias": np.zeros(4, "float32")}, path)
    return path


# ------------------------------------------------------------------ a crash leaves no checkpoint that looks whole


def test_killed_mid_copy_leaves_no_checkpoint_that_looks_whole(tf1, tmp_path):
    saved, base = tf1
    out = str(tmp_path / "out" / "model.ckpt")
    # The remap runs in its own process, pauses after its first tensor's values, and is killed there.
    code = (
        "import sys, time\n"
        "from tensorboard_plugin_ckptdiff.formats import tf_bundle\n"
        "real = tf_bundle.copy_stored\n"
        "def slow(*a, **k):\n"
        "    check = real(*a, **k)\n"
        "    print('copying', flush=True)\n"
        "    time.sleep(60)\n"
        "    return check\n"
        "tf_bundle.copy_stored = slow\n"
        "import tensorboard_plugin_ckptdiff as c\n"
        "c.remap((sys.argv[1], sys.argv[2]), sys.argv[3])\n")
    child = subprocess.Popen([sys.executable, "-c", code, base, saved, out], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "copying\n", child.stderr.read()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    directory = os.path.dirname(out)
    left = os.listdir(directory)
    assert left and all(name.endswith("_temp") for name in left), left  # only the staging directory
    with pytest.raises(CheckpointError):
        formats.read(out)
    assert not walk.scan(storage.for_path(directory), walk.Root(directory)).found  # the tab lists nothing
    # and a second run writes it whole
    result = ckptdiff.remap((base, saved), out)
    assert result.restorable


# ------------------------------------------------------------------ what it reads, it never writes


def test_out_may_not_be_the_target_itself(tf1, tmp_path):
    saved, base = tf1
    target = _copy_bundle(saved, tmp_path / "target")
    before = {name: open(os.path.join(tmp_path / "target", name), "rb").read() for name in os.listdir(tmp_path / "target")}
    for out in (target, target + ".index"):
        with pytest.raises(InvalidArgument, match="file of the checkpoint being read"):
            ckptdiff.remap((base, target), out, overwrite=True)
    after = {name: open(os.path.join(tmp_path / "target", name), "rb").read() for name in os.listdir(tmp_path / "target")}
    assert after == before


def test_out_may_not_be_the_target_through_a_link(tmp_path):
    path = _keras_file(restore.dense_model([4, 2]), tmp_path, "weights_h5")
    os.symlink(path, tmp_path / "link.weights.h5")
    with pytest.raises(InvalidArgument, match="file of the checkpoint being read"):
        ckptdiff.remap((restore.dense_model([4, 4, 2]), path), str(tmp_path / "link.weights.h5"), overwrite=True)


def test_an_existing_out_is_replaced_only_when_asked(tf1, tmp_path):
    saved, base = tf1
    out = str(tmp_path / "out" / "model.ckpt")
    first = ckptdiff.remap((base, saved), out)
    with pytest.raises(InvalidArgument, match="exists"):
        ckptdiff.remap((base, saved), out)
    again = ckptdiff.remap((base, saved), out, overwrite=True)
    assert again.restorable and set(again.files) == set(first.files) - {str(tmp_path / "out" / "checkpoint")}


def test_the_state_file_is_written_only_where_there_is_none(tf1, tmp_path):
    saved, base = tf1
    out = str(tmp_path / "out" / "model.ckpt")
    ckptdiff.remap((base, saved), out)
    with open(tmp_path / "out" / "checkpoint") as f:
        assert f.read() == 'model_checkpoint_path: "model.ckpt"\nall_model_checkpoint_paths: "model.ckpt"\n'
    other = str(tmp_path / "out" / "other.ckpt")
    ckptdiff.remap((base, saved), other)
    with open(tmp_path / "out" / "checkpoint") as f:
        assert "other" not in f.read()  # someone's state file: left as it was


# ------------------------------------------------------------------ values: bit for bit unless cast


def test_every_value_not_cast_is_copied_bit_for_bit(tmp_path, copy_path):
    tf1 = bundles.tf1_saver_checkpoint(str(tmp_path / "tf1"))  # a partitioned variable, a string, Adam slots
    base = formats.read(tf1)
    renamed = [dataclasses.replace(v, key="renamed/" + v.key, full_name="renamed/" + v.full_name, name="renamed/" + v.name)
               if v.key.startswith("dense/") else v for v in base.variables]
    base = dataclasses.replace(base, variables=tuple(renamed))
    result = ckptdiff.remap((base, tf1), str(tmp_path / "out" / "model.ckpt"), mode="name")
    assert result.renamed == 6 and result.restorable, result.verdict  # dense/{kernel,bias} and their 4 slots
    before = tf_bundle.load_index(storage.for_path(tf1), tf1)
    after = tf_bundle.load_index(storage.for_path(result.path), result.path)

    def stored(bundle, prefix, key):
        entries = [bundle.entries[key]] + [e for _, e in bundle.slices.get(key, ())]
        return b"".join(b"".join(tf_bundle.stored_bytes(storage.for_path(prefix), prefix, bundle, key, e))
                        for e in entries if e.size)

    for key in before.keys:
        new = "renamed/" + key if key.startswith("dense/") else key
        assert stored(after, result.path, new) == stored(before, tf1, key), key


def test_safetensors_renamed_keep_their_bytes(tmp_path, copy_path):
    from safetensors.numpy import load_file, save_file

    rng = np.random.default_rng(3)
    saved = {"enc/kernel": rng.normal(size=(5, 7)).astype("float32"), "enc/bias": rng.normal(size=7).astype("float16"),
             "head/kernel": rng.integers(-9, 9, (7, 2)).astype("int8")}
    path = str(tmp_path / "m.safetensors")
    save_file(saved, path)
    base = dataclasses.replace(formats.read(path), variables=tuple(
        dataclasses.replace(v, key=v.key.replace("enc/", "encoder/"), full_name=v.key.replace("enc/", "encoder/"))
        for v in formats.read(path).variables))
    result = ckptdiff.remap((base, path), str(tmp_path / "out.safetensors"))
    assert result.restorable and result.renamed == 2, result.verdict
    written = load_file(result.path)
    assert {k.replace("encoder/", "enc/"): v.tobytes() for k, v in written.items()} == {
        k: v.tobytes() for k, v in saved.items()}


@pytest.mark.parametrize("maker", ["keras_tf2_checkpoint", "tf1_saver_checkpoint", "sharded_tf2_checkpoint"])
def test_a_remap_that_changes_nothing_writes_tensorflows_own_bytes(tmp_path, maker, copy_path):
    """Index, object graph and shards laid out as TF laid them out: with nothing to change, the
    written bundle is the input, byte for byte (slices across six shards included)."""
    prefix = getattr(bundles, maker)(str(tmp_path / "in"))
    result = ckptdiff.remap((prefix, prefix), str(tmp_path / "out" / "copy"))
    assert result.restorable and (result.renamed, result.cast, result.dropped) == (0, 0, 0)
    name = os.path.basename(prefix)
    for written in result.files:
        if os.path.basename(written) == "checkpoint":
            continue
        original = os.path.join(os.path.dirname(prefix), name + os.path.basename(written)[len("copy"):])
        with open(written, "rb") as a, open(original, "rb") as b:
            assert a.read() == b.read(), written


def test_bfloat16_keras_weights_keep_their_bytes_and_their_tag(tmp_path):
    import keras

    saved = restore.dense_model([4, 2], dtype="bfloat16")
    path = str(tmp_path / "m.weights.h5")
    saved.save_weights(path)
    model = restore.dense_model([4, 4, 2], dtype="bfloat16")
    result = ckptdiff.remap((model, path), str(tmp_path / "out.weights.h5"))
    assert result.moved_layers == 1
    assert {v.dtype for v in formats.read(result.path).variables} == {"bfloat16"}
    restore.keras_load(model, result.path, skip_mismatch=True)
    for a, b in zip(model.layers[0].weights + model.layers[2].weights, saved.weights):
        assert np.asarray(a.numpy()).tobytes() == np.asarray(b.numpy()).tobytes()
    del keras


# ------------------------------------------------------------------ no TensorFlow in the writer


def test_the_writer_never_imports_tensorflow(tf1, tmp_path):
    saved, base = tf1
    weights = _keras_file(restore.dense_model([4, 2]), tmp_path, "weights_h5")
    weights_base = str(tmp_path / "base.weights.h5")
    restore.dense_model([4, 4, 2]).save_weights(weights_base)
    code = ("import sys; import tensorboard_plugin_ckptdiff as c\n"
            "for base, target, out in zip(sys.argv[1::3], sys.argv[2::3], sys.argv[3::3]):\n"
            "    c.remap((base, target), out)\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')]\n"
            "print('IMPORTED', bad)")
    args = [base, saved, str(tmp_path / "o1" / "model.ckpt"), weights_base, weights, str(tmp_path / "o2.weights.h5")]
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "IMPORTED []" in done.stdout


# ------------------------------------------------------------------ what cannot be remapped says so


def test_a_saved_model_is_not_remapped_and_says_what_is(tmp_path):
    path = bundles.module_saved_model(str(tmp_path))
    with pytest.raises(InvalidArgument, match="does not write saved_model"):
        ckptdiff.remap((path, path), str(tmp_path / "out"))


def test_two_formats_of_one_model_have_nothing_to_remap(tmp_path):
    import tensorflow as tf

    model = restore.dense_model([4, 2])
    h5 = str(tmp_path / "m.weights.h5")
    model.save_weights(h5)
    bundle = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))
    with pytest.raises(InvalidArgument, match="structure"):
        ckptdiff.remap((bundle, h5), str(tmp_path / "out.weights.h5"))


# ------------------------------------------------------------------ the command


def _ckptdiff(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tensorboard_plugin_ckptdiff", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def test_command_exit_codes_say_restorable_left_or_nothing_written(tf1, tmp_path):
    saved, base = tf1
    done = _ckptdiff("remap", saved, "--to", base, "-o", str(tmp_path / "a" / "model.ckpt"))
    assert done.returncode == 0, done.stderr
    assert "2 renamed" in done.stdout and done.stdout.rstrip().endswith("Restorable: all 4 weights would be restored.")
    again = _ckptdiff("remap", saved, "--to", base, "-o", str(tmp_path / "a" / "model.ckpt"))
    assert again.returncode == 2 and again.stdout == ""
    assert again.stderr.count("\n") == 1 and "exists" in again.stderr and "Traceback" not in again.stderr
    h5 = _keras_file(restore.dense_model([4, 2]), tmp_path, "weights_h5")
    other = str(tmp_path / "other.weights.h5")
    restore.dense_model([4, 4, 2]).save_weights(other)
    left = _ckptdiff("remap", h5, "--to", other, "-o", str(tmp_path / "b.weights.h5"), "--json")
    assert left.returncode == 1, left.stderr  # written, but the inserted layer has no saved values
    body = json.loads(left.stdout)
    assert body["moved_layers"] == 1 and body["restorable"] is False and body["report"]["summary"]["missing"] == 2
    assert body["files"] == [str(tmp_path / "b.weights.h5")]
