"""safetensors reader against files safetensors itself wrote, and against headers that lie."""

import json
import struct

import numpy as np
import pytest
import safetensors

from makers import keras_files
from tensorboard_plugin_ckptdiff import formats, records, storage
from tensorboard_plugin_ckptdiff.errors import CheckpointError
from tensorboard_plugin_ckptdiff.formats import safetensors as reader


@pytest.fixture(scope="session")
def written(tmp_path_factory):
    return keras_files.safetensors_file(str(tmp_path_factory.mktemp("safetensors")))


def loaded_by_safetensors(path):
    """name -> (dtype code, shape, raw bytes) from safetensors' own parser."""
    with open(path, "rb") as f:
        return {name: (view["dtype"], tuple(view["shape"]), bytes(view["data"]))
                for name, view in safetensors.deserialize(f.read())}


def test_lists_every_tensor_with_the_written_shape_and_dtype(written):
    tensors = keras_files.safetensors_tensors()
    checkpoint = formats.read(written)
    assert checkpoint.format == records.SAFETENSORS
    assert {v.key: (v.shape, v.dtype) for v in checkpoint.variables} == {
        name: (a.shape, a.dtype.name) for name, a in tensors.items()}


def test_keys_are_names_and_sizes_are_the_stored_bytes(written):
    theirs = loaded_by_safetensors(written)
    for v in formats.read(written).variables:
        assert v.key == v.name == v.full_name
        assert v.size_bytes == len(theirs[v.key][2])


def test_metadata_is_not_a_tensor(written):
    assert "__metadata__" not in {v.key for v in formats.read(written).variables}


def test_read_tensor_equals_safetensors_own_loader_and_the_written_array(written):
    tensors = keras_files.safetensors_tensors()
    theirs = loaded_by_safetensors(written)
    checkpoint = formats.read(written)
    for v in checkpoint.variables:
        ours = formats.read_tensor(checkpoint, v.key)
        assert ours.tobytes() == theirs[v.key][2]
        assert ours.shape == theirs[v.key][1]
        assert ours.dtype == tensors[v.key].dtype
        assert ours.tobytes() == tensors[v.key].tobytes()


def test_numpy_loader_agrees_where_it_can_load(written):
    from safetensors import safe_open

    checkpoint = formats.read(written)
    with safe_open(written, framework="np") as f:
        for name in ("model.embed.weight", "model.layers.0.attn.k.weight", "model.mask", "model.complex"):
            np.testing.assert_array_equal(formats.read_tensor(checkpoint, name), f.get_tensor(name))


def test_iter_chunks_are_bounded_and_concatenate_to_the_tensor(written):
    fs = storage.for_path(written)
    checkpoint = formats.read(written)
    for v in checkpoint.variables:
        whole = formats.read_tensor(checkpoint, v.key)
        max_bytes = max(whole.dtype.itemsize, whole.nbytes // 7)
        chunks = list(reader.iter_chunks(fs, written, v.key, max_bytes))
        assert all(c.nbytes <= max_bytes for c in chunks)
        joined = np.concatenate(chunks) if chunks else np.zeros(0, whole.dtype)
        assert joined.tobytes() == whole.tobytes()


def test_content_decides_the_format_not_the_name(written, tmp_path):
    renamed = tmp_path / "weights.bin"
    renamed.write_bytes(open(written, "rb").read())
    assert formats.read(str(renamed)).format == records.SAFETENSORS


# ---------------------------------------------------------------- headers that lie


def _rewrite(written, tmp_path, edit, name="bad.safetensors"):
    data = open(written, "rb").read()
    (length,) = struct.unpack_from("<Q", data)
    header = json.loads(data[8:8 + length])
    body = data[8 + length:]
    header, body = edit(header, body)
    text = json.dumps(header).encode() if isinstance(header, dict) else header
    path = tmp_path / name
    path.write_bytes(struct.pack("<Q", len(text)) + text + body)
    return str(path)


def _first(header):
    return next(k for k in header if k != "__metadata__")


def test_header_length_of_two_to_the_forty_is_refused_before_allocating(written, tmp_path):
    data = open(written, "rb").read()
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", 1 << 40) + data[8:])
    with pytest.raises(CheckpointError, match="header claims"):
        formats.read(str(path))


def test_header_longer_than_the_file_is_refused(written, tmp_path):
    data = open(written, "rb").read()
    path = tmp_path / "long.safetensors"
    path.write_bytes(struct.pack("<Q", len(data)) + data[8:])
    with pytest.raises(CheckpointError, match="truncated"):
        formats.read(str(path))


def test_offsets_past_the_end_of_file_are_refused(written, tmp_path):
    def edit(header, body):
        name = max((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][1])
        begin, end = header[name]["data_offsets"]
        header[name]["data_offsets"] = [begin, end + (1 << 40)]
        header[name]["shape"] = [(end + (1 << 40) - begin) // {"F32": 4}.get(header[name]["dtype"], 1)]
        return header, body
    with pytest.raises(CheckpointError):
        formats.read(_rewrite(written, tmp_path, edit))


def test_byte_count_that_disagrees_with_the_shape_is_refused(written, tmp_path):
    def edit(header, body):
        header["model.embed.weight"]["shape"] = [3, 5]
        return header, body
    with pytest.raises(CheckpointError, match="model.embed.weight"):
        formats.read(_rewrite(written, tmp_path, edit))


def test_overlapping_ranges_are_refused(written, tmp_path):
    def edit(header, body):
        a, b = [k for k in header if k != "__metadata__"][:2]
        header[b]["data_offsets"] = list(header[a]["data_offsets"])
        header[b]["dtype"], header[b]["shape"] = header[a]["dtype"], header[a]["shape"]
        return header, body
    with pytest.raises(CheckpointError, match="overlapping or missing"):
        formats.read(_rewrite(written, tmp_path, edit))


def test_trailing_bytes_after_the_last_tensor_are_refused(written, tmp_path):
    with pytest.raises(CheckpointError, match="trailing"):
        formats.read(_rewrite(written, tmp_path, lambda h, b: (h, b + b"\0" * 16)))


def test_unknown_dtype_is_refused(written, tmp_path):
    def edit(header, body):
        header[_first(header)]["dtype"] = "Z9"
        return header, body
    with pytest.raises(CheckpointError, match="Z9"):
        formats.read(_rewrite(written, tmp_path, edit))


@pytest.mark.parametrize("bad", [-1, 2.5, "7", None, True])
def test_non_integer_dimension_is_refused(written, tmp_path, bad):
    def edit(header, body):
        header[_first(header)]["shape"] = [bad]
        return header, body
    with pytest.raises(CheckpointError, match="not a non-negative integer|not a list"):
        formats.read(_rewrite(written, tmp_path, edit))


def test_header_that_is_not_json_is_refused(written, tmp_path):
    path = _rewrite(written, tmp_path, lambda h, b: (b"{not json" + b" " * 10, b))
    with pytest.raises(CheckpointError, match="not valid JSON"):
        formats.read(path)


def test_duplicate_names_are_refused(written, tmp_path):
    def edit(header, body):
        text = json.dumps(header)
        name = _first(header)
        entry = json.dumps(header[name])
        return text[:-1] + f", {json.dumps(name)}: {entry}}}", body
    path = _rewrite(written, tmp_path, lambda h, b: (edit(h, b)[0].encode(), b))
    with pytest.raises(CheckpointError, match="twice"):
        formats.read(path)


def test_truncated_at_every_region_is_refused(written, tmp_path):
    data = open(written, "rb").read()
    (length,) = struct.unpack_from("<Q", data)
    for cut in (1, 7, 8, 9, 8 + length // 2, 8 + length, 8 + length + 1, len(data) - 1):
        path = tmp_path / f"cut{cut}.safetensors"
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError):
            formats.read(str(path))


def test_file_shrunk_after_listing_fails_read_tensor_cleanly(written, tmp_path):
    path = tmp_path / "shrinks.safetensors"
    data = open(written, "rb").read()
    path.write_bytes(data)
    checkpoint = formats.read(str(path))
    path.write_bytes(data[:-8])
    with pytest.raises(CheckpointError):
        formats.read_tensor(checkpoint, checkpoint.variables[-1].key)


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.safetensors"
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty|named like"):
        formats.read(str(path))


def test_unknown_key_in_read_tensor_is_a_checkpoint_error(written):
    with pytest.raises(CheckpointError, match="no tensor"):
        formats.read_tensor(formats.read(written), "no.such.tensor")
