"""Load: concurrent clients against a real `tensorboard` process on loopback, mixing /runs,
/checkpoint and /diff; prints requests/s, p50/p99 per route and the errors (goal: zero).

    .venv/bin/python benchmarks/load.py [--clients 32] [--seconds 60] [--logdir DIR]

Without --logdir, a logdir of real runs is written first (TF2 CheckpointManager, TF1 Saver,
Keras fit, and a file of every other format: tests/makers/under_load.py load_logdir).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

from makers import under_load  # noqa: E402


def _quantile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--logdir")
    args = parser.parse_args()
    logdir = args.logdir
    if logdir is None:
        logdir = tempfile.mkdtemp(prefix="ckptdiff-load-")
        under_load.load_logdir(logdir)
    server = under_load.TensorBoard(logdir, "--reload_interval", "5")
    try:
        body = server.runs()
        ok = [c for run in body["runs"] for c in run["checkpoints"] if c["status"] == "ok"]
        print(f"tensorboard on port {server.port}: {len(body['runs'])} runs, {len(ok)} ok checkpoints; "
              f"{args.clients} clients for {args.seconds:.0f} s", flush=True)
        load = under_load.hammer(server.base, body, args.clients, args.seconds)
    finally:
        server.stop()
    print(f"requests: {load.requests} in {load.seconds:.1f} s = {load.requests / load.seconds:.1f} requests/s")
    everything = [t for v in load.latencies.values() for t in v]
    print(f"{'route':12s} {'count':>7s} {'p50 ms':>8s} {'p99 ms':>8s}")
    for route, values in list(load.latencies.items()) + [("all", everything)]:
        print(f"{route:12s} {len(values):7d} {1000 * _quantile(values, 0.5):8.1f} {1000 * _quantile(values, 0.99):8.1f}")
    print(f"mean latency {1000 * statistics.fmean(everything):.1f} ms" if everything else "no requests")
    print(f"errors (5xx, refused, timeouts): {len(load.errors)}; 4xx answers: {load.client_errors}")
    for line in load.errors[:20]:
        print("  " + line)
    return 1 if load.errors else 0


if __name__ == "__main__":
    sys.exit(main())
