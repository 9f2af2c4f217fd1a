"""Listing a 20,000-variable TF2 checkpoint: our reader against TensorFlow's C++ reader.

In one process, alternately: formats.read(prefix) vs tf.train.load_checkpoint(prefix) +
get_variable_to_shape_map() + get_variable_to_dtype_map(), touching the files between runs.
Then whole processes: `ckptdiff ls PREFIX` vs a one-line TensorFlow script.
Goals: in-process at least on par (aim 1.5x faster); whole-process at least 10x faster.

    .venv/bin/python benchmarks/read_index.py [--dir DIR] [--runs N]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _touch(prefix):
    directory = os.path.dirname(prefix)
    for name in os.listdir(directory):
        if name.startswith(os.path.basename(prefix) + "."):
            os.utime(os.path.join(directory, name))


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", help="reuse (or create) the checkpoint here")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    directory = args.dir or tempfile.mkdtemp(prefix="ckptdiff_bench_")
    os.makedirs(directory, exist_ok=True)
    prefix = os.path.join(directory, "many")
    if not os.path.exists(prefix + ".index"):
        from makers import bundles

        print("writing a 20,000-variable checkpoint...", flush=True)
        bundles.many_variables_checkpoint(directory, 20000)

    import tensorflow as tf

    from tensorboard_plugin_ckptdiff import formats

    def ours():
        assert len(formats.read(prefix).variables) == 20001

    def theirs():
        reader = tf.train.load_checkpoint(prefix)
        assert len(reader.get_variable_to_shape_map()) == 20001
        reader.get_variable_to_dtype_map()

    ours(), theirs()  # warm imports on both sides
    ours_t, tf_t = [], []
    for _ in range(args.runs):
        _touch(prefix)
        ours_t.append(_timed(ours))
        _touch(prefix)
        tf_t.append(_timed(theirs))
    a, b = statistics.median(ours_t), statistics.median(tf_t)
    print(f"in-process  ckptdiff read: {a * 1000:7.1f} ms   TF reader: {b * 1000:7.1f} ms   "
          f"TF/ours = {b / a:.2f}x (goal >= 1.0, aim 1.5)")

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    ls = [sys.executable, "-m", "tensorboard_plugin_ckptdiff", "ls", prefix]
    one_liner = [sys.executable, "-c",
                 "import sys, tensorflow as tf; r = tf.train.load_checkpoint(sys.argv[1]); "
                 "print(r.get_variable_to_shape_map(), r.get_variable_to_dtype_map())", prefix]
    ls_t, tfp_t = [], []
    for _ in range(max(3, args.runs // 2)):
        ls_t.append(_timed(lambda: subprocess.run(ls, stdout=subprocess.DEVNULL, env=env, check=True)))
        tfp_t.append(_timed(lambda: subprocess.run(one_liner, stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.DEVNULL, env=env, check=True)))
    a, b = statistics.median(ls_t), statistics.median(tfp_t)
    print(f"process     ckptdiff ls:   {a * 1000:7.1f} ms   TF script: {b * 1000:7.1f} ms   "
          f"TF/ours = {b / a:.2f}x (goal >= 10)")


if __name__ == "__main__":
    main()
