"""Benchmark: drift throughput against a plain sequential read of the same files, and the
drift's peak memory, on two real TF bundles with one large float32 variable each.

    .venv/bin/python benchmarks/drift.py [--megabytes 1024] [--keep DIR]

Each figure is measured in a fresh process. "warm" reads come from the page cache; "cold"
runs first drop these files (and only these) from it with posix_fadvise(DONTNEED).
Goal: drift throughput >= 70% of the plain read's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(os.path.dirname(HERE), "tests")

_PLAIN = """
import json, os, sys, time
files = sys.argv[1:]
start = time.perf_counter(); total = 0
for path in files:
    with open(path, "rb") as f:
        while True:
            block = f.read(8 << 20)
            if not block:
                break
            total += len(block)
print(json.dumps({"seconds": time.perf_counter() - start, "bytes": total}))
"""

_DRIFT = """
import json, resource, sys, time
from tensorboard_plugin_ckptdiff import diff, formats
from tensorboard_plugin_ckptdiff.values import drift as value_drift
base, target = (value_drift.Source.of(formats.read(p)) for p in sys.argv[1:3])
report = diff.compare(base.checkpoint, target.checkpoint)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
value_drift.compute(report, base, target)
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_growth_mib": (after - before) / 1024}))
"""


def _run(code, *args):
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _drop_from_cache(files):
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=1024)
    parser.add_argument("--keep", help="write (or reuse) the checkpoints in this directory")
    args = parser.parse_args()
    directory = args.keep or tempfile.mkdtemp(prefix="ckptdiff-drift-bench-")
    prefixes = [os.path.join(directory, side, "model") for side in ("a", "b")]
    if not all(os.path.exists(p + ".index") for p in prefixes):
        write = (f"import sys; sys.path.insert(0, {TESTS!r}); from makers import drift; "
                 f"drift.big_bundle_pair({directory!r}, {args.megabytes})")
        subprocess.run([sys.executable, "-c", write], check=True, capture_output=True)
    files = [p + ".data-00000-of-00001" for p in prefixes]
    size = sum(os.path.getsize(f) for f in files)
    print(f"two tensor bundles, one float32 variable of {size // 2 >> 20} MiB each ({directory})")
    for cache in ("warm", "cold"):
        if cache == "warm":
            _run(_PLAIN, *files)  # fill the cache
        else:
            _drop_from_cache(files)
        plain = _run(_PLAIN, *files)
        if cache == "cold":
            _drop_from_cache(files)
        drift = _run(_DRIFT, *prefixes)
        plain_rate = size / plain["seconds"] / (1 << 30)
        drift_rate = size / drift["seconds"] / (1 << 30)
        print(f"{cache}: plain read {plain_rate:6.2f} GiB/s | drift {drift_rate:5.2f} GiB/s | "
              f"ratio {drift_rate / plain_rate:5.1%} (goal >= 70%) | drift peak RSS growth "
              f"{drift['peak_growth_mib']:.0f} MiB (goal < 256 MiB)")


if __name__ == "__main__":
    main()
