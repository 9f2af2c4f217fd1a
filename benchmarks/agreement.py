"""Randomized agreement, long run: the diff's verdict and every entry's ``restored`` against the
real loaders. Prints the agreement rate per family and each disagreement:
- random tiny Keras models and edits in every Keras/TF format, and their dense layers as TF1
  graphs under the Saver, with resource and with ref variables (tests/test_restore_agreement_random.py);
- random transformers 4.x TF models (BERT, GPT-2) saved with save_pretrained as tf_model.h5 and TF
  safetensors, edited, loaded with from_pretrained with and without ignore_mismatched_sizes, the
  fix run (tests/test_from_pretrained.py);
- keras-hub BertBackbone edits in every way it is saved (tests/test_keras_hub.py).

    python benchmarks/agreement.py [CASES] [SEED] [TRANSFORMERS_CASES]
"""

import collections
import os
import random
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(cases=200, seed=1, transformers_cases=40):
    import warnings

    from makers import restore

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
            _count(tally, n, fmt, edit, report, outcome, spec, edited)
        for fmt, resource in (("tf1_saver_resource", None), ("tf1_saver_ref", False)):
            with tempfile.TemporaryDirectory() as directory:
                report, outcome = restore.tf1_case(spec, edited, directory, resource)
            _count(tally, n, fmt, edit, report, outcome, spec, edited)
    _transformers(tally, transformers_cases, seed)
    _keras_hub(tally)
    total = sum(tally.values())
    agreed = sum(v for (_, _, ok), v in tally.items() if ok)
    print(f"{agreed}/{total} agree ({agreed / total:.1%})")
    for (fmt, edit, ok), v in sorted(tally.items()):
        print(f"  {fmt:18} {edit:8} {'agree' if ok else 'DISAGREE'} {v}")
    return 0 if agreed == total else 1


def _count(tally, n, fmt, edit, report, outcome, spec, edited):
    from test_restore_agreement import assert_agrees

    try:  # the verdict, and restored per weight whether the load finished or raised
        assert_agrees(report, outcome)
        agrees = True
    except AssertionError:
        agrees = False
    tally[(fmt, edit, agrees)] += 1
    if not agrees:
        print(f"DISAGREE case {n} {fmt} {edit}: tool {report.restorable} ({report.verdict}) "
              f"loader {outcome.ok} ({(outcome.error or '')[:200]})\n  saved {spec}\n  loaded {edited}")


def _transformers(tally, cases, seed):
    """from_pretrained, both formats, both calls and the fix: one tally entry per case and format."""
    import random

    from makers import hf
    from test_from_pretrained import EDITS, check_case, random_case

    rng = random.Random(seed)
    for n in range(cases):
        edit, saved, loaded = random_case(rng, EDITS[n % len(EDITS)])
        model = hf.build(saved["family"], saved["role"], hf.config(
            saved["family"], saved["layers"], saved["hidden"], saved["vocab"], saved["labels"]), randomize=n + 1)
        for how in ("h5", "safetensors"):
            with tempfile.TemporaryDirectory() as directory:
                problems = check_case(hf.save(model, directory, how), loaded)
            tally[(f"transformers_{how}", edit, not problems)] += 1
            if problems:
                print(f"DISAGREE transformers case {n} {how} {edit}: {problems}\n  saved {saved}\n  loaded {loaded}")


def _keras_hub(tally):
    import tensorflow as tf
    from makers import restore
    from test_keras_hub import EDITS, _backbone
    from test_restore_agreement import assert_agrees

    from tensorboard_plugin_ckptdiff import api

    with tempfile.TemporaryDirectory() as directory:
        saved = _backbone()
        paths = {"keras_hub_weights_h5": os.path.join(directory, "m.weights.h5"),
                 "keras_hub_keras": os.path.join(directory, "m.keras")}
        saved.save_weights(paths["keras_hub_weights_h5"])
        saved.save(paths["keras_hub_keras"])
        paths["keras_hub_checkpoint"] = tf.train.Checkpoint(model=saved).write(os.path.join(directory, "ckpt"))
        for edit, overrides in sorted(EDITS.items()):
            for fmt, path in sorted(paths.items()):
                model = _backbone(**overrides)
                load = restore.tf2_read if fmt.endswith("checkpoint") else restore.keras_load
                try:
                    assert_agrees(api.compare(model, path), load(model, path))
                    agrees = True
                except AssertionError as e:
                    agrees = False
                    print(f"DISAGREE keras-hub {fmt} {edit}: {e}")
                tally[(fmt, edit, agrees)] += 1


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:4])))
