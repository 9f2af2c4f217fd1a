"""Broken Keras files: truncated, flipped, empty, mislabelled, hostile zips and h5 trees.
Only CheckpointError may come out, with a message that names the problem."""

import io
import json
import os
import shutil
import struct
import subprocess
import sys
import zipfile

import h5py
import pytest

from makers import hostile_inputs, keras_files
from tensorboard_plugin_ckptdiff import formats, records
from tensorboard_plugin_ckptdiff.errors import CheckpointError


@pytest.fixture(scope="session")
def good(tmp_path_factory):
    """A small Keras 3 set (weights, archive, sharded) and a tf-keras whole-model .h5."""
    import keras
    import numpy as np

    directory = str(tmp_path_factory.mktemp("good"))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((2, 4), "float32"), np.ones((2, 2), "float32"), epochs=1, verbose=0)
    out = {"weights_h5": os.path.join(directory, "m.weights.h5"), "keras": os.path.join(directory, "m.keras"),
           "sharded": os.path.join(directory, "s.weights.json")}
    model.save_weights(out["weights_h5"])
    model.save(out["keras"])
    model.save_weights(out["sharded"], max_shard_size=0.0000002)
    out["legacy_h5"] = keras_files.tf_keras_files(os.path.join(directory, "tf_keras"))["model.h5"]
    return out


# formats.read's catch-all messages: a reader let its own exception escape.
_READER_BUG = ("unreadable", "the file claims structures too large")


def _copy(src: str, directory, name: str, data: bytes = None) -> str:
    path = os.path.join(str(directory), name)
    with open(path, "wb") as f:
        f.write(open(src, "rb").read() if data is None else data)
    return path


def _assert_refused(path: str):
    """read() raises CheckpointError with a message of its own, not a reader bug's."""
    with pytest.raises(CheckpointError) as info:
        formats.read(path)
    assert not info.value.message.startswith(_READER_BUG), info.value.message
    return info.value


def _read_everything(path: str):
    """read() and every read_tensor(): each either works or raises CheckpointError."""
    try:
        checkpoint = formats.read(path)
    except CheckpointError as e:
        assert not e.message.startswith(_READER_BUG), e.message
        return
    for v in checkpoint.variables:
        try:
            formats.read_tensor(checkpoint, v.key)
        except CheckpointError as e:
            assert not e.message.startswith(_READER_BUG), e.message


FILES = ("weights_h5", "keras", "legacy_h5")
NAMES = {"weights_h5": "x.weights.h5", "keras": "x.keras", "legacy_h5": "x.h5"}


@pytest.mark.parametrize("which", FILES)
def test_truncated_files_are_refused_at_every_cut(good, tmp_path, which):
    data = open(good[which], "rb").read()
    cuts = sorted({1, 4, 8, 64, 511, 512, 2048, len(data) // 4, len(data) // 2, len(data) - 4096, len(data) - 1})
    for cut in cuts:
        error = _assert_refused(_copy(good[which], tmp_path, f"{cut}-{NAMES[which]}", data[:cut]))
        assert error.message


@pytest.mark.parametrize("which", FILES)
def test_flipped_bytes_give_values_or_checkpoint_errors(good, tmp_path, which):
    data = open(good[which], "rb").read()
    step = max(1, len(data) // 97)
    for position in range(0, len(data), step):
        flipped = bytearray(data)
        flipped[position] ^= 0xFF
        _read_everything(_copy(good[which], tmp_path, NAMES[which], bytes(flipped)))


@pytest.mark.parametrize("name", ["x.weights.h5", "x.h5", "x.hdf5", "x.keras", "s.weights.json"])
def test_empty_files_are_refused(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    assert _assert_refused(str(path)).message


@pytest.mark.parametrize("name", ["x.weights.h5", "x.h5", "x.keras"])
def test_wrong_magic_names_what_the_file_starts_with(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"this is a text file, not a checkpoint\n" * 20)
    error = _assert_refused(str(path))
    assert "b'this is " in error.message


def test_h5_that_is_a_plain_zip_is_refused(tmp_path):
    path = str(tmp_path / "model.h5")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("notes.txt", "not a model")
    assert "named like a keras_legacy_h5" in _assert_refused(path).message


def test_h5_that_holds_a_keras_archive_is_read_as_one(good, tmp_path):
    assert formats.read(_copy(good["keras"], tmp_path, "model.h5")).format == records.KERAS_ARCHIVE


def test_keras_that_is_hdf5_is_read_as_what_it_is(good, tmp_path):
    path = _copy(good["weights_h5"], tmp_path, "model.keras")
    assert formats.read(path).format == records.KERAS_WEIGHTS_H5


# ---------------------------------------------------------------- hostile .keras zips


def _with_zeros(keras_path: str, megabytes: int, compress_type: int) -> bytes:
    """The archive with model.weights.h5 replaced by zeros, deflated (a bomb: ~1000x) or stored."""
    src = zipfile.ZipFile(keras_path)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename != "model.weights.h5":
                dst.writestr(info, src.read(info.filename))
                continue
            member = zipfile.ZipInfo(info.filename)
            member.compress_type = compress_type
            with dst.open(member, "w", force_zip64=True) as f:
                for _ in range(megabytes):
                    f.write(b"\0" * (1 << 20))
    return out.getvalue()


def test_zip_bomb_member_is_refused_without_inflating_it(good, tmp_path):
    bomb = _with_zeros(good["keras"], 300, zipfile.ZIP_DEFLATED)
    error = _assert_refused(_copy(good["keras"], tmp_path, "bomb.keras", bomb))
    assert "zip bomb" in error.message


def test_deflated_member_of_zeros_below_the_bomb_floor_is_not_hdf5(good, tmp_path):
    zeros = _with_zeros(good["keras"], 8, zipfile.ZIP_DEFLATED)
    error = _assert_refused(_copy(good["keras"], tmp_path, "zeros.keras", zeros))
    assert "model.weights.h5" in error.message


def test_large_stored_member_that_is_not_hdf5_is_refused_in_place(good, tmp_path):
    stored = hostile_inputs.zip_bomb(open(good["keras"], "rb").read(), "model.weights.h5", megabytes=64)
    error = _assert_refused(_copy(good["keras"], tmp_path, "stored.keras", stored))
    assert "model.weights.h5" in error.message


@pytest.mark.parametrize("size", [0xFFFFFFFF, 0x7FFFFFFF, 0, 1])
@pytest.mark.parametrize("field", ["compressed", "uncompressed"])
def test_absurd_member_sizes_are_refused(good, tmp_path, size, field):
    data = bytearray(open(good["keras"], "rb").read())
    name = b"model.weights.h5"
    local = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo(name.decode()).header_offset
    central = data.find(b"PK\x01\x02")
    while data[central + 46:central + 46 + len(name)] != name:  # its central-directory record
        central = data.find(b"PK\x01\x02", central + 4)
    at = 20 if field == "compressed" else 24
    struct.pack_into("<I", data, central + at, size)
    struct.pack_into("<I", data, local + at - 2, size)  # the local header keeps the same field 2 bytes earlier
    _assert_refused(_copy(good["keras"], tmp_path, "sizes.keras", bytes(data)))


def _rezip(src: str, dst: str, replace=None, drop=()):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            zout.writestr(info, (replace or {}).get(info.filename, zin.read(info.filename)))
    return dst


def test_archive_without_weights_member_is_refused_naming_it(good, tmp_path):
    path = _rezip(good["keras"], str(tmp_path / "noweights.keras"), drop=("model.weights.h5",))
    assert "model.weights.h5" in _assert_refused(path).message


def test_archive_with_broken_config_still_lists_its_weights(good, tmp_path):
    path = _rezip(good["keras"], str(tmp_path / "badconfig.keras"), replace={"config.json": b"{not json"})
    checkpoint = formats.read(path)
    assert len(checkpoint.variables) == len(formats.read(good["keras"]).variables)
    assert checkpoint.architecture.status == records.ERROR
    assert "config.json" in checkpoint.architecture.error


def test_deflated_archive_reads_like_a_stored_one(good, tmp_path):
    path = str(tmp_path / "deflated.keras")
    with zipfile.ZipFile(good["keras"]) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
    ours, theirs = formats.read(path), formats.read(good["keras"])
    assert [(v.key, v.shape, v.dtype) for v in ours.variables] == [(v.key, v.shape, v.dtype) for v in theirs.variables]
    key = ours.variables[0].key
    assert formats.read_tensor(ours, key).tobytes() == formats.read_tensor(theirs, key).tobytes()


# ---------------------------------------------------------------- hostile h5 trees


def test_external_link_is_not_followed(good, tmp_path):
    path = _copy(good["weights_h5"], tmp_path, "linked.weights.h5")
    with h5py.File(path, "a") as f:
        f["layers/dense/vars/9"] = h5py.ExternalLink(good["legacy_h5"], "model_weights/d1/d1/kernel:0")
    checkpoint = formats.read(path)
    assert "layers/dense/vars/9" not in {v.key for v in checkpoint.variables}
    with pytest.raises(CheckpointError, match="link"):
        formats.read_tensor(checkpoint, "layers/dense/vars/9")


def test_dataset_with_external_raw_storage_is_not_read(good, tmp_path):
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"\x01" * 64)
    path = _copy(good["weights_h5"], tmp_path, "external.weights.h5")
    with h5py.File(path, "a") as f:
        f.create_dataset("layers/dense/vars/7", shape=(16,), dtype="f4", external=[(str(outside), 0, 64)])
    checkpoint = formats.read(path)
    with pytest.raises(CheckpointError, match="other files"):
        formats.read_tensor(checkpoint, "layers/dense/vars/7")


def test_legacy_layer_listed_without_its_group_is_refused(good, tmp_path):
    path = _copy(good["legacy_h5"], tmp_path, "missing_layer.h5")
    with h5py.File(path, "a") as f:
        del f["model_weights/d1"]
    assert "d1" in _assert_refused(path).message


def test_legacy_weight_listed_without_its_dataset_is_refused(good, tmp_path):
    path = _copy(good["legacy_h5"], tmp_path, "missing_weight.h5")
    with h5py.File(path, "a") as f:
        del f["model_weights/d1/d1/kernel:0"]
    assert "d1/kernel:0" in _assert_refused(path).message


def test_global_heap_that_hung_hdf5_is_refused(good, tmp_path):
    data = bytearray(open(good["legacy_h5"], "rb").read())
    heap = data.find(b"GCOL\x01\x00\x00\x00")
    data[heap + 16:heap + 32] = bytes(16)  # a free-space object of size 0: libhdf5's parser never advanced
    path = _copy(good["legacy_h5"], tmp_path, "heap.h5", bytes(data))
    result = _ckptdiff("ls", path)  # in a subprocess with a timeout: a regression hangs, not the suite
    assert result.returncode == 2 and "HDF5" in result.stderr and len(result.stderr.splitlines()) == 1


def test_layer_with_a_gap_in_its_indices_keeps_index_names(good, tmp_path):
    path = _copy(good["weights_h5"], tmp_path, "gap.weights.h5")
    with h5py.File(path, "a") as f:
        f.move("layers/dense/vars/1", "layers/dense/vars/5")
    names = {v.key: v.name for v in formats.read(path).variables}
    assert names["layers/dense/vars/5"].endswith("/5")


# ---------------------------------------------------------------- sharded indexes


def _shard_copy(good, tmp_path):
    src = os.path.dirname(good["sharded"])
    for name in os.listdir(src):
        if name.startswith("s"):
            shutil.copy(os.path.join(src, name), tmp_path / name)
    return str(tmp_path / "s.weights.json")


def test_sharded_index_with_a_missing_part_names_it(good, tmp_path):
    index = _shard_copy(good, tmp_path)
    os.remove(tmp_path / "s_00001.weights.h5")
    assert "s_00001.weights.h5" in _assert_refused(index).message


def test_sharded_index_naming_a_file_outside_its_directory_is_refused(good, tmp_path):
    index = _shard_copy(good, tmp_path)
    config = json.load(open(index))
    first = next(iter(config["weight_map"]))
    config["weight_map"][first] = ["../../etc/passwd"]
    json.dump(config, open(index, "w"))
    assert "not a part file" in _assert_refused(index).message


def test_sharded_index_that_is_not_json_is_refused(good, tmp_path):
    index = _shard_copy(good, tmp_path)
    with open(index, "w") as f:
        f.write('{"weight_map": {')
    assert "JSON" in _assert_refused(index).message


# ---------------------------------------------------------------- the command line


def _ckptdiff(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "tensorboard_plugin_ckptdiff", *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_cli_ls_lists_a_weights_h5(good):
    result = _ckptdiff("ls", good["weights_h5"])
    assert result.returncode == 0, result.stderr
    for v in formats.read(good["weights_h5"]).variables:
        assert v.key in result.stdout


def test_cli_ls_of_a_corrupt_weights_h5_exits_2_with_one_line(good, tmp_path):
    data = open(good["weights_h5"], "rb").read()
    path = _copy(good["weights_h5"], tmp_path, "corrupt.weights.h5", data[: len(data) // 2])
    result = _ckptdiff("ls", path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
