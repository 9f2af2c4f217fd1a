"""Listing a Keras 3 `.weights.h5` (EfficientNetB0, 314 datasets): our reader against h5py.

In one process, alternately: formats.read(path) (names, shapes, dtypes, kinds, layers; the
HDF5 parsed in pure Python) vs a bare h5py walk (``visititems`` collecting names, shapes and
dtypes, parsed by libhdf5 in C). Then the same read through the plugin's reader process
(isolation.py: a pickle round trip of the records), and, with ``--before REV``, the reader
as it was at git revision REV, timed the same way in a fresh process of this interpreter.
Goal: at least on par with the bare h5py walk, in process.

    .venv/bin/python benchmarks/read_h5.py [--runs N] [--before REV]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

_TIMING = r"""
import statistics, sys, time
import h5py
from tensorboard_plugin_ckptdiff import formats
path, runs = sys.argv[1], int(sys.argv[2])

def walk():
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, (o.shape, o.dtype.name)) if isinstance(o, h5py.Dataset) else None)
    return out

ours, theirs = [], []
formats.read(path); walk()  # imports and first-open costs out of the way
for _ in range(runs):
    for fn, times in ((lambda: formats.read(path), ours), (walk, theirs)):
        start = time.perf_counter(); fn(); times.append(time.perf_counter() - start)
print(statistics.median(ours), min(ours), statistics.median(theirs), min(theirs))
"""


def _time_in(source_root: str, path: str, runs: int):
    env = dict(os.environ, PYTHONPATH=source_root)
    out = subprocess.run([sys.executable, "-c", _TIMING, path, str(runs)], capture_output=True, text=True,
                         env=env, cwd=tempfile.gettempdir(), check=True).stdout.split()
    return [float(x) for x in out]


def _checkout(rev: str) -> str:
    """The package as it was at ``rev``, in a temporary directory (the work tree is untouched)."""
    directory = tempfile.mkdtemp(prefix="ckptdiff-before-")
    archive = subprocess.run(["git", "-C", ROOT, "archive", rev, "tensorboard_plugin_ckptdiff"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", directory], input=archive, check=True)
    return directory


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--dir", help="reuse (or create) the file here")
    parser.add_argument("--before", help="also time the reader at this git revision (e.g. main)")
    args = parser.parse_args()
    directory = args.dir or tempfile.mkdtemp(prefix="ckptdiff_h5_bench_")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "efficientnetb0.weights.h5")
    if not os.path.exists(path):
        import keras

        print("writing EfficientNetB0 (weights=None) .weights.h5...", flush=True)
        keras.applications.EfficientNetB0(weights=None).save_weights(path)
    print(f"{path}: {os.path.getsize(path) / 1e6:.1f} MB, median (min) of {args.runs} runs each")

    ours, ours_min, walk, walk_min = _time_in(ROOT, path, args.runs)
    print(f"  read() in process             {ours * 1e3:7.1f} ms ({ours_min * 1e3:.1f})")
    print(f"  bare h5py visititems walk     {walk * 1e3:7.1f} ms ({walk_min * 1e3:.1f})")
    print(f"  ratio (walk / read)           {walk / ours:7.2f}x   goal >= 1x")

    from tensorboard_plugin_ckptdiff import formats, isolation

    pool = isolation.Pool(workers=1)
    pool.call(formats.read, path)  # the worker's start and imports
    isolated = []
    for _ in range(args.runs):
        start = time.perf_counter()
        pool.call(formats.read, path)
        isolated.append(time.perf_counter() - start)
    pool.close()
    print(f"  read() in a reader process    {statistics.median(isolated) * 1e3:7.1f} ms "
          f"({min(isolated) * 1e3:.1f}): what the plugin pays, pickling included")

    if args.before:
        before, before_min, walk_b, _ = _time_in(_checkout(args.before), path, args.runs)
        print(f"  read() at {args.before:<19s} {before * 1e3:7.1f} ms ({before_min * 1e3:.1f}); "
              f"h5py walk in that run {walk_b * 1e3:.1f} ms, ratio {walk_b / before:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
