"""Broken bundles (truncated, flipped, lying, half-written) give CheckpointError, never anything else."""

import os
import shutil

import pytest

from makers import bundles
from tensorboard_plugin_ckptdiff import formats, storage
from tensorboard_plugin_ckptdiff.errors import CheckpointError, IncompleteCheckpoint
from tensorboard_plugin_ckptdiff.formats._bundle import proto
from tensorboard_plugin_ckptdiff.formats import tf_bundle
from tensorboard_plugin_ckptdiff.remapping import bundle_encoding

FS = storage.for_path("/")


@pytest.fixture(scope="session")
def originals(tmp_path_factory):
    """Real checkpoints: object-based with slots, name-based with slices, multi-shard."""
    root = tmp_path_factory.mktemp("originals")
    makers = {"keras": bundles.keras_tf2_checkpoint, "tf1": bundles.tf1_saver_checkpoint,
              "sharded": bundles.sharded_tf2_checkpoint}
    return {name: maker(str(root / name)) for name, maker in makers.items()}


def _copy(prefix, directory):
    for name in os.listdir(os.path.dirname(prefix)):
        if name.startswith(os.path.basename(prefix) + "."):
            shutil.copy(os.path.join(os.path.dirname(prefix), name), directory)
    return os.path.join(str(directory), os.path.basename(prefix))


def _read(prefix):
    # The reader itself, not formats.read: that wraps any stray exception as CheckpointError.
    return tf_bundle.read(FS, prefix)


def _variables(prefix):
    return [(v.key, v.shape, v.dtype, v.size_bytes) for v in _read(prefix).variables]


@pytest.mark.parametrize("case", ["keras", "tf1", "sharded"])
def test_index_truncated_at_any_offset_is_a_checkpoint_error(originals, case, tmp_path):
    prefix = _copy(originals[case], tmp_path)
    data = open(prefix + ".index", "rb").read()
    for cut in sorted(set(range(0, len(data), max(1, len(data) // 60))) | {len(data) - 1, len(data) - 48}):
        open(prefix + ".index", "wb").write(data[:cut])
        with pytest.raises(CheckpointError):
            _read(prefix)


@pytest.mark.parametrize("case", ["keras", "tf1", "sharded"])
def test_any_flipped_index_byte_is_detected_or_harmless(originals, case, tmp_path):
    prefix = _copy(originals[case], tmp_path)
    expected = _variables(prefix)
    data = open(prefix + ".index", "rb").read()
    for offset in range(len(data)):
        flipped = bytearray(data)
        flipped[offset] ^= 0x41
        open(prefix + ".index", "wb").write(flipped)
        try:
            got = _variables(prefix)
        except CheckpointError:
            continue
        assert got == expected, offset  # only the footer's zero padding is outside every check


@pytest.mark.parametrize("case", ["keras", "tf1", "sharded"])
def test_data_shard_truncated_is_incomplete(originals, case, tmp_path):
    prefix = _copy(originals[case], tmp_path)
    shard = sorted(p for p in os.listdir(tmp_path) if ".data-" in p)[-1]
    data = open(tmp_path / shard, "rb").read()
    for cut in range(0, len(data), max(1, len(data) // 20)):
        open(tmp_path / shard, "wb").write(data[:cut])
        with pytest.raises(IncompleteCheckpoint, match="may still be being written"):
            _read(prefix)


def test_missing_shard_is_incomplete_and_names_it(originals, tmp_path):
    prefix = _copy(originals["sharded"], tmp_path)
    num = tf_bundle.load_index(FS, prefix).header.num_shards
    os.remove(tf_bundle.data_path(prefix, 1, num))
    with pytest.raises(IncompleteCheckpoint, match=f"data shard 2 of {num} is missing"):
        formats.read(prefix)
    assert formats.read_or_error(prefix).status == "incomplete"


def test_flipped_data_byte_fails_read_tensor_checksum(originals, tmp_path):
    prefix = _copy(originals["tf1"], tmp_path)
    checkpoint = formats.read(prefix)
    entry = tf_bundle.load_index(FS, prefix).entries["dense/kernel"]
    shard = tf_bundle.data_path(prefix, entry.shard_id, 1)
    data = bytearray(open(shard, "rb").read())
    data[entry.offset + 3] ^= 0x10
    open(shard, "wb").write(data)
    assert formats.read(prefix).variables == checkpoint.variables  # metadata never reads values
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        tf_bundle.read_tensor(FS, prefix, "dense/kernel")


def test_flipped_object_graph_byte_is_a_checkpoint_error(originals, tmp_path):
    prefix = _copy(originals["keras"], tmp_path)
    entry = tf_bundle.load_index(FS, prefix).entries[tf_bundle.OBJECT_GRAPH_KEY]
    shard = tf_bundle.data_path(prefix, entry.shard_id, 1)
    data = bytearray(open(shard, "rb").read())
    data[entry.offset + entry.size - 5] ^= 0x01
    open(shard, "wb").write(data)
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        _read(prefix)


def test_empty_index_file_is_a_checkpoint_error(tmp_path):
    (tmp_path / "x.index").write_bytes(b"")
    with pytest.raises(CheckpointError, match="shorter than"):
        _read(str(tmp_path / "x"))


def test_wrong_magic_is_a_checkpoint_error(originals, tmp_path):
    prefix = _copy(originals["tf1"], tmp_path)
    data = bytearray(open(prefix + ".index", "rb").read())
    data[-8:] = b"\x89HDF\r\n\x1a\n"
    open(prefix + ".index", "wb").write(data)
    with pytest.raises(CheckpointError, match="magic"):
        _read(prefix)


# ---- lying entries: a real table, rewritten with one claim changed and valid CRCs


def _varint(n):
    out = bytearray()
    proto.put_varint(out, n)
    return bytes(out)


def _table(pairs):
    """A valid table holding ``pairs`` (sorted), as TF's reader expects."""
    return bundle_encoding.write_table(pairs)


def _rewrite(prefix, key, field_bytes):
    pairs = bundles.index_pairs(open(prefix + ".index", "rb").read())
    pairs = [(k, v + field_bytes if k == key else v) for k, v in pairs]  # a later field wins in protobuf
    open(prefix + ".index", "wb").write(_table(pairs))


def test_rewritten_table_is_still_read_like_the_original(originals, tmp_path):
    prefix = _copy(originals["tf1"], tmp_path)
    expected = _variables(prefix)
    _rewrite(prefix, b"dense/bias", b"")
    assert _variables(prefix) == expected


def test_entry_claiming_a_terabyte_is_refused_without_allocating(originals, tmp_path):
    prefix = _copy(originals["tf1"], tmp_path)
    _rewrite(prefix, b"dense/bias", b"\x28" + _varint(1 << 40))
    with pytest.raises(CheckpointError) as raised:
        _read(prefix)
    assert "dense/bias" in str(raised.value) or "shard" in str(raised.value)


def test_entry_whose_size_disagrees_with_its_shape_is_corrupt(originals, tmp_path):
    prefix = _copy(originals["tf1"], tmp_path)
    _rewrite(prefix, b"dense/bias", b"\x28\x04")
    with pytest.raises(CheckpointError, match="needs 8 bytes"):
        _read(prefix)


def test_entry_naming_a_shard_beyond_the_header_is_corrupt(originals, tmp_path):
    prefix = _copy(originals["tf1"], tmp_path)
    _rewrite(prefix, b"dense/bias", b"\x18\x07")
    with pytest.raises(CheckpointError, match="shard"):
        _read(prefix)


def test_header_claiming_absurd_shard_count_is_corrupt(originals, tmp_path):
    prefix = _copy(originals["tf1"], tmp_path)
    _rewrite(prefix, b"", b"\x08" + _varint(1 << 40))
    with pytest.raises(CheckpointError, match="data shards"):
        _read(prefix)


def test_string_tensor_claiming_more_strings_than_bytes_is_corrupt(originals, tmp_path):
    prefix = _copy(originals["tf1"], tmp_path)
    _rewrite(prefix, b"label", b"\x12\x06\x12\x04\x08\x80\x80\x04")  # shape (65536,)
    _read(prefix)
    with pytest.raises(CheckpointError):
        tf_bundle.read_tensor(FS, prefix, "label")
