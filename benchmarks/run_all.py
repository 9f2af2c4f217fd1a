"""Run every benchmark in turn with its defaults and print their figures (``./run bench``).

Each benchmark is a script of its own that measures its reference in the same run and
prints ratios; this only runs them one after another, so one command gives every figure
the README quotes. Pass names to run a subset: ``./run bench read_index diff``.
"""

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# Order: quick ones first; remote, fuzz and load take minutes by design.
ORDER = ("read_index", "read_h5", "isolation", "diff", "logdir", "remote", "drift", "remap", "ui", "agreement", "load",
         "fuzz")
QUICK_ARGS = {"fuzz": ["--minutes", "5"]}


def main(argv):
    names = argv[1:] or ORDER
    failed = []
    for name in names:
        script = os.path.join(HERE, f"{name}.py")
        if not os.path.exists(script):
            print(f"no benchmark named {name!r} (have: {', '.join(ORDER)})", file=sys.stderr)
            return 2
        print(f"\n=== {name} ===", flush=True)
        start = time.monotonic()
        code = subprocess.call([sys.executable, script, *QUICK_ARGS.get(name, [])])
        print(f"=== {name}: exit {code}, {time.monotonic() - start:.0f} s", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
