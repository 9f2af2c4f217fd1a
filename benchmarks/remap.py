"""Benchmark: ``ckptdiff remap`` of a 1 GiB checkpoint against a plain sequential copy of the
same files, and the remap's peak memory growth.

    .venv/bin/python benchmarks/remap.py [--megabytes 1024] [--variables 16] [--rounds 5] [--keep DIR]

TensorFlow writes a TF2 object-based checkpoint of one tf.Module: ``--variables`` float32
variables under ``block`` (the 1 GiB) and a scalar ``scale``, and a float16 one half its size.
The base is the same module with ``block`` renamed ``encoder`` (the remap renames every
variable: object graph edited, values copied bit for bit) or, for the second figure, the same
module in float32 (every variable cast, twice the bytes written as read). The reference copies
the same files: a plain read/write loop (8 MiB blocks), and shutil.copyfile (the kernel's copy,
as ``cp`` does) for context. Every figure is measured in a fresh process, the inputs in the
page cache, each output fsync'ed before its time stops (remap syncs what it moves into place;
the copy syncs every file it wrote). The files live in a temporary directory outside the
repository, deleted at the end unless ``--keep``.
Goals: remap >= 70% of the copy's throughput (held against cp, the faster copy); peak RSS
growth < 256 MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

_WRITE = """
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf
directory, megabytes, count, dtype = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = (megabytes << 20) // count // tf.dtypes.as_dtype(dtype).size // 4096
module = tf.Module()
module.block = tf.Module()
for i in range(count):
    setattr(module.block, f"w{i}", tf.Variable(tf.random.stateless_uniform((rows, 4096), (i, 7), dtype=dtype)))
module.scale = tf.Variable(2.5)
print(tf.train.Checkpoint(model=module).write(os.path.join(directory, "ckpt")))
"""

_COPY = """
import json, os, shutil, sys, time
how, out = sys.argv[1], sys.argv[2]
start = time.perf_counter()
total = 0
for path in sys.argv[3:]:
    dest = os.path.join(out, os.path.basename(path))
    if how == "kernel":
        shutil.copyfile(path, dest)
    else:
        with open(path, "rb") as src, open(dest, "wb") as dst:
            while True:
                block = src.read(8 << 20)
                if not block:
                    break
                dst.write(block)
    with open(dest, "rb") as f:
        os.fsync(f.fileno())
    total += os.path.getsize(path)
print(json.dumps({"seconds": time.perf_counter() - start, "bytes": total}))
"""

_REMAP = """
import dataclasses, json, os, resource, sys, time
import numpy
from tensorboard_plugin_ckptdiff import diff, formats, records, remapping
target_path, out, what = sys.argv[1], sys.argv[2], sys.argv[3]
target = formats.read(target_path)
remapping.writer_for(target.format)  # imported before the clock starts, as the copy's imports are
def expected(v):
    path = v.object_path[len("model/"):]
    if what == "cast":
        return dataclasses.replace(v, key=path, name=path, object_path=path, dtype="float32")
    path = path.replace("block/", "encoder/")
    return dataclasses.replace(v, key=path, name=path, full_name=path, object_path=path)
base = records.Architecture(id="expected", source="model_spec", framework="tf_module", variables=tuple(
    expected(v) for v in target.variables if v.object_path and v.object_path.startswith("model/")))
with open("/proc/self/statm") as f:  # resident now; ru_maxrss below is the peak since start
    resident = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024
start = time.perf_counter()
result = remapping.remap((base, target), out)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
changed = len(base.variables) - 1
assert result.restorable, result.verdict
assert (result.cast, result.renamed) == ((changed, 0) if what == "cast" else (0, changed)), result
print(json.dumps({"seconds": seconds, "peak_growth_mib": (peak - resident) / 1024}))
"""


def _run(code, *args):
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"a benchmark process failed:\n{out.stderr}")
    return out.stdout.strip().splitlines()[-1]


def _files(prefix):
    directory = os.path.dirname(prefix)
    return sorted(os.path.join(directory, n) for n in os.listdir(directory)
                  if n.startswith(os.path.basename(prefix) + "."))


def _warm(files):
    for path in files:
        with open(path, "rb") as f:
            while f.read(64 << 20):
                pass


def _fresh(directory):
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    return directory


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=1024)
    parser.add_argument("--variables", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep", help="write (or reuse) the checkpoints in this directory and keep them")
    args = parser.parse_args()
    directory = args.keep or tempfile.mkdtemp(prefix="ckptdiff-remap-bench-")
    try:
        inputs = {}
        for dtype in ("float32", "float16"):
            where = os.path.join(directory, dtype)
            if not os.path.exists(os.path.join(where, "ckpt.index")):
                _fresh(where)
                _run(_WRITE, where, str(args.megabytes if dtype == "float32" else args.megabytes // 2),
                     str(args.variables), dtype)
            inputs[dtype] = os.path.join(where, "ckpt")
            for path in _files(inputs[dtype]):  # on disk before any figure: no writeback left to compete
                with open(path, "rb") as f:
                    os.fsync(f.fileno())
        for dtype, what in (("float32", "rename"), ("float16", "cast")):
            files = _files(inputs[dtype])
            size = sum(os.path.getsize(f) for f in files)
            words = "every variable renamed" if what == "rename" else "every variable cast float16 -> float32"
            print(f"{words}: a TF2 object-based checkpoint of {args.variables} variables, "
                  f"{size / (1 << 30):.2f} GiB ({directory})")
            ratios, to_cp = [], []
            for _ in range(args.rounds):
                rates = {}
                for how in ("loop", "kernel"):
                    _warm(files)
                    copy = json.loads(_run(_COPY, how, _fresh(os.path.join(directory, "copy")), *files))
                    rates[how] = size / copy["seconds"] / (1 << 30)
                _warm(files)
                out = os.path.join(_fresh(os.path.join(directory, "out")), "ckpt")
                remap = json.loads(_run(_REMAP, inputs[dtype], out, what))
                remap_rate = size / remap["seconds"] / (1 << 30)
                ratios.append(remap_rate / rates["loop"])
                to_cp.append(remap_rate / rates["kernel"])
                print(f"  copy {rates['loop']:5.2f} GiB/s (cp: {rates['kernel']:5.2f}) | remap {remap_rate:5.2f} GiB/s "
                      f"of input | ratio {ratios[-1]:6.1%} (to cp: {remap_rate / rates['kernel']:6.1%}) | "
                      f"peak RSS growth {remap['peak_growth_mib']:.0f} MiB")
            goal = " (goal >= 70%)" if what == "rename" else " (it writes twice the bytes it reads)"
            print(f"  median ratio to cp {statistics.median(to_cp):.1%}{goal}, to the read/write loop "
                  f"{statistics.median(ratios):.1%}; memory goal < 256 MiB")
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
