"""Randomized agreement, long run: random tiny Keras models and edits in every format, the diff's
verdict and per-variable statuses against the real loader. Prints the agreement rate and each
disagreement (the same check as tests/test_restore_agreement_random.py, over more cases).

    python benchmarks/agreement.py [CASES] [SEED]
"""

import collections
import os
import random
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(cases=200, seed=1):
    import warnings

    from makers import restore
    from test_restore_agreement import predicted

    from tensorboard_plugin_ckptdiff import api

    import tensorflow as tf

    warnings.simplefilter("ignore")
    tf.get_logger().setLevel("ERROR")  # every partial restore warns; the tally is the output
    rng = random.Random(seed)
    tally = collections.Counter()
    for n in range(cases):
        spec = restore.random_spec(rng)
        edit, edited = restore.random_edit(spec, rng)
        for fmt, (framework, write, load) in sorted(restore.FORMATS.items()):
            with tempfile.TemporaryDirectory() as directory:
                path = write(restore.build(spec, framework=framework), directory)
                model = restore.build(edited, framework=framework)
                report = api.compare(model, path)
                outcome = load(model, path)
            agrees = report.restorable == outcome.ok and (not outcome.ok or predicted(report) == outcome.restored)
            tally[(fmt, edit, agrees)] += 1
            if not agrees:
                print(f"DISAGREE case {n} {fmt} {edit}: tool {report.restorable} ({report.verdict}) "
                      f"loader {outcome.ok} ({(outcome.error or '')[:200]})\n  saved {spec}\n  loaded {edited}")
    total = sum(tally.values())
    agreed = sum(v for (_, _, ok), v in tally.items() if ok)
    print(f"{agreed}/{total} agree ({agreed / total:.1%})")
    for (fmt, edit, ok), v in sorted(tally.items()):
        print(f"  {fmt:18} {edit:8} {'agree' if ok else 'DISAGREE'} {v}")
    return 0 if agreed == total else 1


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:3])))
