"""Listing a 20,000-variable TF2 checkpoint: our reader against TensorFlow's C++ reader.

In one process, alternately: formats.read(prefix) vs tf.train.load_checkpoint(prefix) +
get_variable_to_shape_map() + get_variable_to_dtype_map(), touching the files between runs.
Then whole processes, each against a one-line TensorFlow script that prints the same facts:
`ckptdiff ls --json PREFIX`, `ckptdiff ls PREFIX` (vs the shape and dtype maps), and
`ckptdiff diff A B` of two 20,000-variable checkpoints (vs both readers' maps compared): two
saves of one model, then two models whose object graphs differ (other full names).
Goals (issue 15): whole processes at least 10x faster for `ls --json`, `ls` and the diff of two
saves of one model. Reported beside them, no goal: the diff of two models' graphs, and the
in-process read against TensorFlow's C++ reader (the issue keeps that ratio as a figure).

Whole processes run as a user runs them: the package installed as pip installs it from its
wheel, into a throwaway environment that sees this one's dependencies (TensorFlow too), and
both sides start that environment's Python. A development checkout's editable install adds an
import hook to every Python start there (both sides alike, ~15 ms: printed with the figures).

    .venv/bin/python benchmarks/read_index.py [--dir DIR] [--runs N]
"""

import argparse
import os
import statistics
import subprocess
import sys
import sysconfig
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
          f"TF/ours = {b / a:.2f}x (reported, no goal)")

    other = os.path.join(directory, "later")
    if not os.path.exists(os.path.join(other, "many.index")):
        from makers import bundles

        print("writing a later save of that 20,000-variable model (other values)...", flush=True)
        bundles.many_variables_checkpoint(other, 20000, step=1.0)
    # Two saves of one model write the same object graph and the same index but for its
    # checksums, and a read shares what the first one made of them (tf_bundle.named_graph,
    # named_variables, index.scan's like); the same variables under other full names write
    # another graph: the diff of two checkpoints of different models, where nothing is shared.
    renamed = os.path.join(directory, "renamed")
    if not os.path.exists(os.path.join(renamed, "many.index")):
        from makers import bundles

        print("writing a 20,000-variable checkpoint with another object graph...", flush=True)
        bundles.many_variables_checkpoint(renamed, 20000, name="w")
    whole_processes(prefix, os.path.join(other, "many"), os.path.join(renamed, "many"), args.runs)


# Each TensorFlow script prints what the ckptdiff command beside it tells.
_TF_LS = ("import sys, tensorflow as tf; r = tf.train.load_checkpoint(sys.argv[1]); "
          "print(r.get_variable_to_shape_map(), r.get_variable_to_dtype_map())")
_TF_DIFF = ("import sys, tensorflow as tf; a, b = (tf.train.load_checkpoint(p) for p in sys.argv[1:3]); "
            "sa, sb, da, db = a.get_variable_to_shape_map(), b.get_variable_to_shape_map(), "
            "a.get_variable_to_dtype_map(), b.get_variable_to_dtype_map(); "
            "print(sorted(set(sa) ^ set(sb)), [k for k in sa if k in sb and (sa[k] != sb[k] or da[k] != db[k])])")


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def installed(directory: str) -> str:
    """A throwaway environment in ``directory`` with the package installed from its wheel (no
    editable hook) over this environment's dependencies; its Python's path."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", directory], check=True)
    python = os.path.join(directory, "bin", "python")
    theirs = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                            check=True, capture_output=True, text=True).stdout.strip()
    ours = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    with open(os.path.join(theirs, "_dependencies.pth"), "w") as f:
        f.write("\n".join(sorted(ours)) + "\n")  # paths only: this environment's .pth files stay its own
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
                    "--no-build-isolation", "--disable-pip-version-check", REPO], check=True)
    return python


def whole_processes(prefix, other, renamed, runs):
    """Each command and its TensorFlow script as whole processes, in turn, median of ``runs``."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    # An installed package has its bytecode: let the first run write it (a shell that sets
    # PYTHONDONTWRITEBYTECODE would otherwise have every run compile the package anew).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory(prefix="ckptdiff_installed_") as directory:
        python = installed(directory)
        starts = [statistics.median(_timed(lambda: subprocess.run([exe, "-c", "pass"], env=env)) for _ in range(9))
                  for exe in (python, sys.executable)]
        print(f"process     Python start: {starts[0] * 1000:.1f} ms installed, {starts[1] * 1000:.1f} ms in this "
              "(editable) environment; both sides below start the installed one", flush=True)
        _compare_processes(python, prefix, other, renamed, runs, env)


def _compare_processes(python, prefix, other, renamed, runs, env):
    ckptdiff = [os.path.join(os.path.dirname(python), "ckptdiff")]
    # (what, our command, the TensorFlow script, the goal printed beside the ratio). Issue 15's
    # diff is a save and a later save of one model; two models' graphs are shown beside it.
    ten = "goal >= 10"
    pairs = (
        ("ckptdiff ls --json", [*ckptdiff, "ls", "--json", prefix], [python, "-c", _TF_LS, prefix], ten),
        ("ckptdiff ls", [*ckptdiff, "ls", prefix], [python, "-c", _TF_LS, prefix], ten),
        ("ckptdiff diff", [*ckptdiff, "diff", prefix, other], [python, "-c", _TF_DIFF, prefix, other], ten),
        ("  graphs differ", [*ckptdiff, "diff", prefix, renamed], [python, "-c", _TF_DIFF, prefix, renamed],
         "reported, no goal"),
    )
    for name, ours, theirs, goal in pairs:
        subprocess.run(ours, stdout=subprocess.DEVNULL, env=env)  # warm-up, not counted
        ours_t, tf_t = [], []
        for _ in range(runs):
            # diff exits 1 when not restorable: the time counts, the status does not
            ours_t.append(_timed(lambda: subprocess.run(ours, stdout=subprocess.DEVNULL, env=env)))
            tf_t.append(_timed(lambda: subprocess.run(theirs, stdout=subprocess.DEVNULL,
                                                      stderr=subprocess.DEVNULL, env=env, check=True)))
        a, b = statistics.median(ours_t), statistics.median(tf_t)
        print(f"process     {name + ':':20s} {a * 1000:7.1f} ms ({min(ours_t) * 1000:.0f}-{max(ours_t) * 1000:.0f})   "
              f"TF script: {b * 1000:7.1f} ms   TF/ours = {b / a:.2f}x ({goal})", flush=True)

if __name__ == "__main__":
    main()
