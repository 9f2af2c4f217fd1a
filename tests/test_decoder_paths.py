"""Each of the index's and the object graph's two decoders agree on every input.

numpy's decoders run where numpy is loaded (TensorBoard, the Python API), Python's loops in
a fresh ``ckptdiff`` process: both must give the same keys, entries and graph nodes, or the
same error, for real checkpoints and for corrupted copies (index blocks with their
checksums fixed up, so that the corruption reaches the decoders)."""

import os
import random
import struct
import subprocess
import sys

import google_crc32c
import pytest

from makers import bundles, hostile_inputs
from tensorboard_plugin_ckptdiff import storage
from tensorboard_plugin_ckptdiff.errors import CheckpointError
from tensorboard_plugin_ckptdiff.formats._bundle import index, object_graph, table as index_table
from tensorboard_plugin_ckptdiff.formats import tf_bundle

FS = storage.for_path("/")
CASES = ["keras", "tf1", "sharded", "many"]


@pytest.fixture(scope="session")
def prefixes(tmp_path_factory):
    """Real checkpoints: Keras TF2 with optimizer slots, TF1 with slices and strings, a
    sharded TF2 checkpoint, and 3,000 variables (a full index block, a large graph)."""
    root = tmp_path_factory.mktemp("decoder_paths")
    makers = {"keras": bundles.keras_tf2_checkpoint, "tf1": bundles.tf1_saver_checkpoint,
              "sharded": bundles.sharded_tf2_checkpoint,
              "many": lambda d: bundles.many_variables_checkpoint(d, 3000)}
    out = {}
    for name, maker in makers.items():
        os.makedirs(root / name)
        out[name] = maker(str(root / name))
    return out


@pytest.fixture(scope="session")
def indexes(prefixes):
    out = {}
    for name, prefix in prefixes.items():
        with open(prefix + ".index", "rb") as f:
            out[name] = f.read()
    return out


@pytest.fixture(scope="session")
def graphs(prefixes):
    """The serialized object graph of each object-based checkpoint."""
    out = {}
    for name, prefix in prefixes.items():
        bundle = tf_bundle.load_index(FS, prefix)
        if tf_bundle.OBJECT_GRAPH_KEY in bundle.entries:
            (out[name],) = tf_bundle._string_tensor(FS, prefix, bundle, tf_bundle.OBJECT_GRAPH_KEY)
    return out


def _outcome(data, vectorized, like=None):
    try:
        table = index.scan(data, vectorized, like=like)
    except CheckpointError as e:
        return "raises", e.message
    return table.header, table.keys, table.entries, table.error and table.error.message


def _assert_agree(data, context, like=None):
    """Both decoders, and Python's reading like ``like`` (a table read before) where it can."""
    python = _outcome(data, vectorized=False)
    assert _outcome(data, vectorized=True) == python, context
    if like is not None:
        assert _outcome(data, vectorized=False, like=like) == python, context
    return python


def _data_blocks(data):
    """(offset, size) of each data block of the table in ``data``."""
    _, index_handle = index_table.parse_footer(data)
    handles = []
    index_table.block_entries(index_table.read_block(data, index_handle, len(data)), handles)
    out = []
    for _, handle in handles:
        offset, pos = index_table.read_varint(handle, 0, len(handle))
        size, _ = index_table.read_varint(handle, pos, len(handle))
        out.append((offset, size))
    return out


def _with_block(data, offset, size, block):
    """``data`` with the block at ``offset`` replaced by ``block`` (same size), CRC fixed."""
    crc = index_table.mask(google_crc32c.extend(google_crc32c.value(bytes(block)), data[offset + size:offset + size + 1]))
    return data[:offset] + bytes(block) + data[offset + size:offset + size + 1] + struct.pack("<I", crc) + \
        data[offset + size + 5:]


@pytest.mark.parametrize("case", CASES)
def test_real_indexes_decode_alike_and_as_tensorflow_wrote_them(indexes, case):
    header, keys, entries, error = _assert_agree(indexes[case], case)
    assert header is not None and error is None
    assert keys and None not in entries
    assert keys == [k.decode("latin-1") for k, _ in bundles.index_pairs(indexes[case])[1:]]


@pytest.mark.parametrize("case", CASES)
def test_corrupted_blocks_decode_or_fail_alike(indexes, case):
    data = indexes[case]
    # Each copy is also read like the intact index (as a second save of one model is): a
    # block that differs only in an entry's crc bytes is taken from it, any other read anew.
    like = index.scan(data, vectorized=False)
    rng = random.Random(case)
    outcomes = set()
    blocks = _data_blocks(data)
    for offset, size in blocks[:2] + blocks[2:][-1:]:  # the first, the second, the last
        # Python's loop takes some milliseconds per 256 KiB block: fewer places in large ones.
        positions = sorted(rng.sample(range(size), min(size, 400 if size < 32768 else 60)))
        for pos in positions:
            for value in (data[offset + pos] ^ 0x01, data[offset + pos] ^ 0x40, 0x80, 0xFF, 0x00):
                block = bytearray(data[offset:offset + size])
                block[pos] = value
                outcome = _assert_agree(_with_block(data, offset, size, block), (case, offset, pos, value), like)
                outcomes.add(outcome[0] if outcome[0] == "raises" else "error" if outcome[3] else "ok")
    # The copies reach every kind of outcome: some decode, some have a bad entry, some raise.
    assert outcomes == {"ok", "error", "raises"}, outcomes


@pytest.mark.parametrize("case", CASES)
def test_an_index_other_only_in_checksums_is_read_like_the_one_before(indexes, case):
    """Every entry's crc changed (another save of the same model): each block is taken from
    the table read before, with the new crcs, and equals a read of its own; one byte changed
    elsewhere (a shape, a key) and that block is read anew."""
    data = indexes[case]
    like = index.scan(data, vectorized=False)
    # A sliced variable's entry (TF1's partitioned embedding, the sharded checkpoint's big
    # variable) is read by the general decoder: its block is no template, and is read anew.
    plain = case not in ("tf1", "sharded")
    assert all(like.blocks) == plain
    other = data
    for (offset, size), template in zip(_data_blocks(data), like.blocks):
        block = bytearray(other[offset:offset + size])
        for at in template[2] if template else ():
            block[at:at + 4] = bytes(b ^ 0x5A for b in block[at:at + 4])
        other = _with_block(other, offset, size, block)
    alike = index.scan(other, vectorized=False, like=like)
    fresh = index.scan(other, vectorized=False)
    assert (alike.alike is like) == plain and fresh.alike is None
    assert (alike.header, alike.keys, alike.entries) == (fresh.header, fresh.keys, fresh.entries)
    if not plain:
        return
    assert [e[5] for e in alike.entries] != [e[5] for e in like.entries]
    # A dimension changed in the first block: the last byte of the first non-scalar shape.
    offset, size = _data_blocks(other)[0]
    value = next(v for _, v in bundles.index_pairs(data)[1:] if v[2] == 0x12 and v[3])
    block = bytearray(other[offset:offset + size])
    at = block.index(value[:4 + value[3]])  # its dtype and shape bytes
    block[at + 3 + value[3]] ^= 0x01
    changed = _with_block(other, offset, size, block)
    table = index.scan(changed, vectorized=False, like=like)
    assert table.alike is None and table.blocks[0] is not like.blocks[0]
    assert table.entries == index.scan(changed, vectorized=False).entries != fresh.entries


def test_varint_running_past_its_entry_is_an_entry_error_on_both_paths(indexes):
    """A size whose varint continues past the entry's end is that entry's error (reported
    once the header is known good), not a table error, on both paths."""
    pairs = bundles.index_pairs(indexes["tf1"])
    key = pairs[1][0]
    # dtype float, shape [3], shard 0, offset 0, then a size whose varint never ends.
    broken = bytes.fromhex("0801" "120412020803" "1800" "2000" "28ffff")
    table = hostile_inputs.write_table([pairs[0], (key, broken)] + pairs[2:])
    header, keys, entries, error = _assert_agree(table, "long size varint")
    assert entries[0] is None and error is not None and "varint" in error


def test_a_fresh_cli_process_reads_without_importing_numpy(tmp_path):
    """The reason for the Python path: ``ckptdiff ls`` of an ordinary checkpoint does not
    pay for importing numpy (about 80 ms), and lists what the numpy path lists."""
    prefix = bundles.many_variables_checkpoint(str(tmp_path), 200)
    code = ("import sys; from tensorboard_plugin_ckptdiff import formats; "
            "c = formats.read(sys.argv[1]); print(len(c.variables), 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, prefix], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["201", "False"]


# ---- the object graph


def _graph_outcome(raw, vectorized):
    try:
        return object_graph.decode_graph(raw, vectorized).nodes
    except CheckpointError as e:
        return "raises", e.message


def _assert_graphs_agree(raw, context):
    python = _graph_outcome(raw, vectorized=False)
    assert _graph_outcome(raw, vectorized=True) == python, context
    return python


@pytest.mark.parametrize("case", ["keras", "sharded", "many"])
def test_real_graphs_decode_alike(graphs, case):
    nodes = _assert_graphs_agree(graphs[case], case)
    assert nodes != "raises" and len(nodes) > 3


@pytest.mark.parametrize("case", ["keras", "sharded", "many"])
def test_corrupted_graphs_decode_or_fail_alike(graphs, case):
    raw = graphs[case]
    rng = random.Random(case)
    outcomes = set()
    for pos in sorted(rng.sample(range(len(raw)), min(len(raw), 300 if len(raw) < 32768 else 60))):
        for value in (raw[pos] ^ 0x01, raw[pos] ^ 0x40, 0x80, 0xFF, 0x00):
            mutated = raw[:pos] + bytes([value]) + raw[pos + 1:]
            nodes = _assert_graphs_agree(mutated, (case, pos, value))
            outcomes.add("raises" if nodes[0] == "raises" else "ok")
    for cut in range(0, len(raw), max(1, len(raw) // 40)):
        _assert_graphs_agree(raw[:cut], (case, "cut", cut))
    assert outcomes == {"ok", "raises"}, outcomes
