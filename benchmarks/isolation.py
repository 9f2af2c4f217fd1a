"""What reading in a reader process (isolation.py) costs the plugin, against reading in process.

A 20,000-variable TF2 checkpoint and a Keras EfficientNetB0 ``.weights.h5``: formats.read in
this process vs the same call through a warm worker (pickle both ways, a pipe round trip);
the pickling of the 20,000 records alone; an empty call (the floor); and the first call of a
fresh pool (a worker's start and imports, paid once per worker).

    .venv/bin/python benchmarks/isolation.py [--runs N]
"""

import argparse
import os
import pickle
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


def _median_ms(fn, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3, min(times) * 1e3


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="ckptdiff_isolation_bench_")
    from makers import bundles

    bundles.many_variables_checkpoint(directory, 20000)
    prefix = os.path.join(directory, "many")
    h5 = os.path.join(directory, "efficientnetb0.weights.h5")
    import keras

    keras.applications.EfficientNetB0(weights=None).save_weights(h5)

    from tensorboard_plugin_ckptdiff import formats, isolation

    started = time.perf_counter()
    pool = isolation.Pool(workers=1)
    pool.call(len, "")
    print(f"a worker's start (interpreter, imports, connection): {(time.perf_counter() - started) * 1e3:.0f} ms, once")
    print(f"an empty call through a warm worker: {_median_ms(lambda: pool.call(len, ''), args.runs * 5)[0]:.2f} ms")
    for label, path in (("20,000-variable TF2 checkpoint", prefix), ("EfficientNetB0 .weights.h5", h5)):
        formats.read(path)
        pool.call(formats.read, path)
        here = _median_ms(lambda: formats.read(path), args.runs)
        there = _median_ms(lambda: pool.call(formats.read, path), args.runs)
        record = formats.read(path)
        pickled = _median_ms(lambda: pickle.loads(pickle.dumps(record, pickle.HIGHEST_PROTOCOL)), args.runs)
        print(f"{label}: read() in process {here[0]:.1f} ms, in a worker {there[0]:.1f} ms "
              f"(+{there[0] - here[0]:.1f} ms, {there[0] / here[0]:.2f}x); pickling its "
              f"{len(record.variables)} records there and back {pickled[0]:.1f} ms, "
              f"{len(pickle.dumps(record, pickle.HIGHEST_PROTOCOL)) / 1e6:.1f} MB")
    pool.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
