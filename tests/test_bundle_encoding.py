"""The bundle encoders the remap writer uses are the readers' decoders run backwards: on
indexes TensorFlow wrote here, every entry, header and slice key re-encodes to TF's own bytes,
and the table writer lays out TF's whole .index file byte for byte."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from makers import bundles
from tensorboard_plugin_ckptdiff.formats._bundle import proto, slices, table as index_table
from tensorboard_plugin_ckptdiff.formats import tf_bundle
from tensorboard_plugin_ckptdiff.remapping import bundle_encoding


def _written_by(maker, name, **options):
    @pytest.fixture(scope="module")
    def fixture(tmp_path_factory):
        return maker(str(tmp_path_factory.mktemp(name)), **options)

    return fixture


keras_ckpt = _written_by(bundles.keras_tf2_checkpoint, "keras")
tf1_ckpt = _written_by(bundles.tf1_saver_checkpoint, "tf1")
sharded_ckpt = _written_by(bundles.sharded_tf2_checkpoint, "sharded")
dtypes_ckpt = _written_by(bundles.all_dtypes_bundle, "dtypes")
many_ckpt = _written_by(bundles.many_variables_checkpoint, "many", count=20000)


@pytest.fixture(params=["keras", "tf1", "sharded", "dtypes", "many"])
def index_bytes(request):
    prefix = request.getfixturevalue(f"{request.param}_ckpt")
    with open(prefix + ".index", "rb") as f:
        return f.read()


def test_every_entry_and_the_header_re_encode_to_tensorflows_bytes(index_bytes):
    pairs = bundles.index_pairs(index_bytes)
    header, *entries = pairs
    assert header[0] == b""
    assert bundle_encoding.encode_header(proto.parse_header(header[1])) == header[1]
    for key, value in entries:
        assert bundle_encoding.encode_entry(proto.parse_entry(value)) == value, key


def test_the_table_writer_lays_out_tensorflows_index_byte_for_byte(index_bytes):
    assert bundle_encoding.write_table(bundles.index_pairs(index_bytes)) == index_bytes


def test_a_many_block_index_is_among_them(many_ckpt):
    with open(many_ckpt + ".index", "rb") as f:
        assert len(index_table.data_blocks(f.read())) > 2  # index keys shortened between blocks


def test_slice_keys_tensorflow_wrote_re_encode_to_the_same_bytes(tf1_ckpt, sharded_ckpt):
    found = 0
    for prefix in (tf1_ckpt, sharded_ckpt):
        with open(prefix + ".index", "rb") as f:
            for key, _ in bundles.index_pairs(f.read()):
                if key[:1] == b"\x00":
                    assert bundle_encoding.slice_key(*slices.decode(key)) == key
                    found += 1
    assert found >= 3 + 6  # the partitioned embedding and the two-axis sharded tensor


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=30),
       st.lists(st.tuples(st.integers(0, 1 << 62), st.one_of(st.just(-1), st.integers(0, 1 << 62))), max_size=5))
def test_slice_keys_decode_what_encode_wrote(name, extents):
    assert slices.decode(bundle_encoding.slice_key(name, tuple(extents))) == (name, tuple(extents))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_string_tensors_read_back_as_written_with_their_checksums(values):
    raw, crc = tf_bundle.encode_strings(values)
    entry = proto.Entry(tf_bundle.DT_STRING, (len(values),), 0, 0, len(raw), crc, ())
    assert tf_bundle._strings("k", entry, raw) == values


def test_the_object_graph_string_tensorflow_wrote_re_encodes_to_its_bytes(keras_ckpt):
    from tensorboard_plugin_ckptdiff import storage

    fs = storage.for_path(keras_ckpt)
    bundle = tf_bundle.load_index(fs, keras_ckpt)
    entry = bundle.entries[tf_bundle.OBJECT_GRAPH_KEY]
    (raw,) = tf_bundle.stored_bytes(fs, keras_ckpt, bundle, tf_bundle.OBJECT_GRAPH_KEY, entry)
    (graph,) = tf_bundle._strings(tf_bundle.OBJECT_GRAPH_KEY, entry, raw)
    assert tf_bundle.encode_strings([graph]) == (raw, entry.crc32c)
