"""Property: whatever bytes a reader is handed, it answers with a CheckpointError (or
IncompleteCheckpoint) or a checkpoint - never another exception, a hang, a crash, a memory
blow-up or a file opened outside the checkpoint's directory.

Inputs are real checkpoints of every format written by TF/Keras in this session, mutated by
hypothesis (bit flips, truncations, splices, integer and length-field overwrites, entry-level
edits of the .index table with valid checksums, hostile safetensors headers and zip sizes).
Each input is read in a worker process (makers/fuzz_worker.py) under a time and memory bound.
benchmarks/fuzz.py runs the same harness for minutes.
"""

import io
import struct
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from makers import bundles, fuzz_worker, hostile_inputs

EXAMPLES_PER_KIND = 150
KINDS = ("index", "bundle_entry", "data_shard", "state_file", "meta_graph", "saved_model",
         "weights_h5", "legacy_h5", "keras_zip", "safetensors")

ops_strategy = st.lists(
    st.tuples(st.integers(0, len(hostile_inputs.OPS) - 1), st.integers(0, 2 ** 32 - 1),
              st.integers(0, 2 ** 16 - 1), st.integers(0, 255)),
    min_size=1, max_size=3)


@pytest.fixture(scope="session")
def seeds(tmp_path_factory):
    return hostile_inputs.write_seeds(str(tmp_path_factory.mktemp("fuzz_seeds")))


@pytest.fixture(scope="module")
def worker():
    with fuzz_worker.Worker() as w:
        yield w


def _seeds_of(seeds, kind):
    found = [s for s in seeds if s.kind == kind]
    assert found, f"no real {kind} seed was written"
    return found


def _read(worker, seed, data):
    files = dict(seed.files)
    files[seed.target] = data
    return worker.run(files, seed.open, seed.check)


def test_every_seed_reads_cleanly_before_mutation(seeds, worker):
    outcomes = {(s.kind, s.name): worker.run(s.files, s.open, s.check) for s in seeds}
    assert {k: o for k, o in outcomes.items() if o.status != "ok"} == {}


def test_rewritten_index_table_reads_like_the_original(seeds, worker):
    # The entry-level mutations re-encode tables: the encoder must be faithful, or the
    # bundle_entry fuzzing would only be testing our own writer.
    for seed in _seeds_of(seeds, "bundle_entry"):
        original = seed.files[seed.target]
        assert bundles.index_pairs(hostile_inputs.write_table(bundles.index_pairs(original))) == \
            bundles.index_pairs(original)
        assert _read(worker, seed, hostile_inputs.write_table(bundles.index_pairs(original))).status == "ok"


@pytest.mark.parametrize("kind", KINDS)
def test_mutated_file_only_raises_checkpoint_error(seeds, worker, kind):
    candidates = _seeds_of(seeds, kind)

    @settings(max_examples=EXAMPLES_PER_KIND, deadline=fuzz_worker.TIME_LIMIT * 1500, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(pick=st.integers(0, len(candidates) - 1), ops=ops_strategy, donor=st.integers(0, len(seeds) - 1))
    def check(pick, ops, donor):
        seed = candidates[pick]
        outcome, _ = fuzz_worker.run_mutated(worker, seed, ops, seeds[donor].files[seeds[donor].target])
        assert not outcome.bad, f"{seed.kind}/{seed.name} {ops}: {outcome.status}: {outcome.detail}"

    check()


@pytest.mark.parametrize("member", ["config.json", "model.weights.h5"])
def test_keras_zip_bomb_is_refused_without_inflating_it(seeds, worker, member):
    seed = _seeds_of(seeds, "keras_zip")[0]
    assert member in hostile_inputs.zip_members(seed.files[seed.target])
    bomb = hostile_inputs.zip_bomb(seed.files[seed.target], member, megabytes=1024)
    assert len(bomb) < 8 << 20  # deflated: a real bomb, not a big file
    outcome = _read(worker, seed, bomb)
    # Refused, or read without that member (a config is optional): never inflated.
    assert not outcome.bad, outcome


def test_keras_member_claiming_four_gigabytes_is_refused(seeds, worker):
    seed = _seeds_of(seeds, "keras_zip")[0]
    for index in range(len(hostile_inputs.zip_members(seed.files[seed.target]))):
        edited = hostile_inputs.zip_size_edit(seed.files[seed.target], [(0, index, 0, 0), (0, index, 1, 0)])
        outcome = _read(worker, seed, edited)
        assert outcome.status == "error", (index, outcome)


@pytest.mark.parametrize("claimed", [1 << 40, (1 << 64) - 1, 0])
def test_safetensors_header_length_beyond_the_file_is_refused(seeds, worker, claimed):
    seed = _seeds_of(seeds, "safetensors")[0]
    data = struct.pack("<Q", claimed) + seed.files[seed.target][8:]
    assert _read(worker, seed, data).status == "error"


def test_safetensors_offsets_past_the_data_are_refused(seeds, worker):
    seed = _seeds_of(seeds, "safetensors")[0]
    data = hostile_inputs._safetensors_header_edit(seed.files[seed.target], [(0, 0, 2, 1)])  # end = 2**62
    assert _read(worker, seed, data).status == "error"


@pytest.mark.parametrize("recorded", ["/etc/passwd", "../../../../etc/passwd", "..", "sub/../../x"])
def test_state_file_cannot_point_outside_its_directory(seeds, worker, recorded):
    seed = _seeds_of(seeds, "state_file")[0]
    text = f'model_checkpoint_path: "{recorded}"\nall_model_checkpoint_paths: "{recorded}"\n'.encode()
    outcome = _read(worker, seed, text)
    assert outcome.status == "error", outcome


def test_legacy_h5_inside_a_keras_zip_name_is_not_trusted(seeds, worker):
    # A .keras archive whose weights member is a text file: refused, not handed to h5py blindly.
    seed = _seeds_of(seeds, "keras_zip")[0]
    src = zipfile.ZipFile(io.BytesIO(seed.files[seed.target]))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, b"not hdf5" if info.filename.endswith(".h5") else src.read(info.filename))
    assert _read(worker, seed, out.getvalue()).status == "error"


def test_keras_central_directory_placing_members_before_the_archive_is_refused(seeds, worker):
    # Found by benchmarks/fuzz.py: zipfile derives member offsets from the end record's
    # central-directory offset; a larger one puts every member at a negative offset.
    seed = _seeds_of(seeds, "keras_zip")[0]
    data = bytearray(seed.files[seed.target])
    end = data.rfind(b"PK\x05\x06")
    (offset,) = struct.unpack_from("<I", data, end + 16)
    struct.pack_into("<I", data, end + 16, offset + 100_000)
    assert min(i.header_offset for i in zipfile.ZipFile(io.BytesIO(bytes(data))).infolist()) < 0
    assert _read(worker, seed, bytes(data)).status == "error"
