"""The remote benchmark, short: a real ``tensorboard --logdir s3://`` over moto's S3 behind the
counting proxy (benchmarks/remote.py --short). Asserts what the requests were, never a time:
every checkpoint listed and verified, at most 3 requests per checkpoint, no object fetched
twice, a bounded number in flight; a reload over the unchanged logdir re-reads no object and
makes at most one request per directory listing; an upload is seen by the next pass.
"""

import json
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def test_remote_benchmark_short_counts(tmp_path):
    from tensorboard_plugin_ckptdiff.logdir import prefetch

    out, log = tmp_path / "remote.json", tmp_path / "requests.jsonl"
    done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "remote.py"), "--short",
                           "--delay", "0.01", "--reload-interval", "1", "--json", str(out),
                           "--requests-log", str(log)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["listed"] == figures["checkpoints"] == 30
    assert figures["statuses"] == {"ok": 30}
    assert set(figures["formats"]) == {"tf_bundle", "keras_weights_h5", "keras_archive", "keras_legacy_h5",
                                       "safetensors"}

    # The pass ends by the server's clock (/runs' scanned_wall_time), before the poll that saw it.
    marks = figures["marks"]
    seen = next(v for k, v in marks.items() if k.startswith("seen by a poll"))
    assert marks["every checkpoint listed"] <= seen and 0 < marks["first complete /runs"] <= seen, marks

    first = figures["first pass"]
    assert first["per_checkpoint"] <= 3, first["per_format"]
    assert first["objects_fetched_more_than_once"] == 0
    # Parallel, and bounded: the pass's slots, the on-demand slots, one per reader process.
    assert 1 < first["in_flight_max"] <= prefetch.MAX_IN_FLIGHT + 8 + 2
    # A small file is fetched whole in one request, never a read-ahead block at a time.
    for fmt in ("keras_weights_h5", "keras_archive", "keras_legacy_h5", "safetensors"):
        assert first["per_format"][fmt]["requests_per_checkpoint"] == 1, first["per_format"][fmt]
    # A bundle: its index, and the data shard only where it holds an object-based bundle's graph
    # (a name-based read only stats its shards, from the listing, and opens no .meta).
    fetched = [json.loads(line)["key"] for line in log.read_text().splitlines()]
    fetched = [key for key in fetched if key.endswith((".index", ".meta")) or ".data-" in key]
    indexes = [key for key in fetched if key.endswith(".index")]
    shards = [key for key in fetched if ".data-" in key]
    assert len(indexes) == figures["formats"]["tf_bundle"] and len(set(indexes)) == len(indexes)
    assert 0 < len(shards) < len(indexes) and not [key for key in fetched if key.endswith(".meta")]
    per_bundle = first["per_format"]["tf_bundle"]["requests_per_checkpoint"]
    assert per_bundle == (len(indexes) + len(shards)) / len(indexes)
    # Whatever the reader processes needed came fetched ahead: none of them asked the store.
    readers = first["by_process"]["reader processes"]
    assert sum(kind["requests"] for kind in readers.values()) == 0, readers

    window = figures["reload window"]
    assert window["objects re-read"] == 0, window
    again = figures["reload, one pass"]
    assert again["per_listing"] <= 1 and again["objects re-read"] == 0, again
    assert again["upload seen by the next pass"] is True
    assert figures["new checkpoint listed after"] is not None

    for name, cold in figures["cold"].items():
        assert cold["requests"] <= 6, (name, cold)
