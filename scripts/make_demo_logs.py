"""Write demo_logs/: one small real run per restore problem, for the dashboard and the README.

Usage: python scripts/make_demo_logs.py [OUTPUT_DIR]   (default: demo_logs/ in the repo)

Each case is tests/makers/runs.py (one copy of the code for tests and demos): models are
tiny and seeded; only wall times and event file names change from one invocation to the next.
"""

import os
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # same numbers on every machine

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, REPO)

from makers import runs  # noqa: E402


def main(argv):
    out = os.path.abspath(argv[1] if len(argv) > 1 else os.path.join(REPO, "demo_logs"))
    if os.path.exists(out):
        shutil.rmtree(out)  # stale runs from an older layout would mislead the dashboard
    for name, make in runs.ALL.items():
        made = make(os.path.join(out, name))
        print(f"{name}: {os.path.relpath(made.train, out)} + {len(made.checkpoints)} checkpoint(s)")
    _relative_state_files(out)
    return 0


def _relative_state_files(out):
    """TF1 Savers write this machine's absolute paths into `checkpoint` state files; a
    shipped logdir must not carry them. Relative entries are what TF itself resolves
    against the state file's directory, so the files stay valid for TF and for us."""
    for directory, _, files in os.walk(out):
        if "checkpoint" not in files:
            continue
        path = os.path.join(directory, "checkpoint")
        with open(path) as f:
            lines = f.read().splitlines()
        fixed = []
        for line in lines:
            field, sep, value = line.partition(": ")
            if sep and value.startswith('"') and os.path.isabs(value.strip('"')):
                value = '"%s"' % os.path.basename(value.strip('"'))
            fixed.append(field + sep + value)
        with open(path, "w") as f:
            f.write("\n".join(fixed) + "\n")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
