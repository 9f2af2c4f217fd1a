"""transformers' TFPreTrainedModel.from_pretrained, held against the real call: tiny BERT and GPT-2
models built from configs, saved with save_pretrained (tf_model.h5 and TF safetensors), edited
(heads, layer counts, hidden sizes, vocabularies, base <-> head) and loaded with and without
ignore_mismatched_sizes. The verdict and every entry's ``restored`` must say what happened."""

import os
import random

import pytest
from makers import hf, restore

from tensorboard_plugin_ckptdiff import api, records

FORMATS = ("h5", "safetensors")


@pytest.fixture(scope="session")
def saved(tmp_path_factory):
    """{(family, role, layers, hidden, vocab, labels, how): path}, written once per session."""
    cache = {}

    def get(family="bert", role="classifier", layers=2, hidden=32, vocab=50, labels=3, how="h5"):
        key = (family, role, layers, hidden, vocab, labels, how)
        if key not in cache:
            model = hf.build(family, role, hf.config(family, layers, hidden, vocab, labels), randomize=len(cache) + 1)
            directory = str(tmp_path_factory.mktemp(f"{family}_{role}_{how}"))
            cache[key] = hf.save(model, directory, how)
        return cache[key]

    return get


def _agrees(model, path):
    report = api.compare(model, path)
    outcome = hf.from_pretrained(model, path)
    assert report.mode == "transformers"
    assert report.restorable == (outcome.ok and not any(
        e.base is not None and e.base.kind == records.WEIGHT and not e.restored for e in report.entries)), (
        report.verdict, outcome.error)
    assert hf.predicted(report) == outcome.restored, (report.verdict, outcome.error)
    return report, outcome


@pytest.mark.parametrize("how", FORMATS + ("weights",))  # weights: tf-keras save_weights, same h5
def test_the_same_model_restores_every_weight(saved, how):
    model = hf.build("bert", "classifier", hf.config())
    report, outcome = _agrees(model, saved(how=how))
    assert outcome.ok and report.restorable and report.summary["match"] == len(model.weights)
    assert not report.fix.snippets  # nothing to fix: no snippet


@pytest.mark.parametrize("how", FORMATS)
def test_a_deeper_checkpoint_loads_every_layer_the_model_has_and_ignores_the_rest(saved, how):
    model = hf.build("bert", "classifier", hf.config(layers=2))
    report, outcome = _agrees(model, saved(layers=3, how=how))
    assert outcome.ok and report.restorable
    assert report.summary["unexpected"] == 16 and not report.summary["missing"]


@pytest.mark.parametrize("how", FORMATS)
def test_a_new_layer_is_missing_and_never_paired_with_another_layer(saved, how):
    model = hf.build("bert", "classifier", hf.config(layers=3))
    report, _ = _agrees(model, saved(layers=2, how=how))
    missing = {e.base.name for e in report.entries if e.status == records.MISSING}
    assert missing and all(name.startswith("bert/encoder/layer_._2/") for name in missing)
    assert report.summary["renamed"] == 0 and not report.restorable


@pytest.mark.parametrize("how", FORMATS + ("weights",))
def test_a_resized_head_is_a_shape_mismatch_and_ignore_mismatched_sizes_loads_the_rest(saved, how):
    path = saved(labels=3, how=how)
    model = hf.build("bert", "classifier", hf.config(labels=5))
    report, outcome = _agrees(model, path)
    assert not outcome.ok and "ignore_mismatched_sizes" in report.verdict
    assert {e.base.name for e in report.entries if e.status == records.SHAPE_MISMATCH} == {
        "classifier/kernel", "classifier/bias"}
    (snippet,) = report.fix.snippets
    assert os.path.isabs(path) and repr(path) in snippet.code
    namespace = {"model": model}
    exec(compile(snippet.code, "<snippet>", "exec"), namespace)  # the pasted fix, run
    loaded = namespace["model"]
    assert loaded is not model
    assert hf.promised(report, snippet) == hf.from_pretrained(model, path, True).restored
    assert hf.promised(report, snippet) == hf._holding_saved(loaded, hf.saved_values(path))


@pytest.mark.parametrize("how", FORMATS)
def test_a_head_model_from_a_base_checkpoint_and_back(saved, how):
    head = hf.build("bert", "classifier", hf.config())
    report, outcome = _agrees(head, saved(role="base", how=how))
    assert outcome.ok and not report.restorable  # the head is newly initialized
    assert {e.base.name for e in report.entries if e.status == records.MISSING} == {
        "classifier/kernel", "classifier/bias"}
    base = hf.build("bert", "base", hf.config())
    report, outcome = _agrees(base, saved(role="classifier", how=how))
    assert outcome.ok and report.restorable and report.summary["unexpected"] == 2


def test_files_written_by_save_pretrained_are_known_as_transformers(saved):
    for how in FORMATS:
        checkpoint = api.as_target(saved(how=how))
        assert checkpoint.writer == "transformers"
        assert any(v.name == "bert/embeddings/word_embeddings/weight" for v in checkpoint.variables)


def test_a_plain_tf_keras_h5_keeps_tf_keras_load_weights_rule(tmp_path):
    path = str(tmp_path / "m.h5")
    spec = {"blocks": [("dense", 4, "a"), ("dense", 3, "b")], "dtype": "float32"}
    restore.build(spec, framework="tf_keras").save_weights(path)
    checkpoint = api.as_target(path)
    assert checkpoint.writer is None
    assert api.compare(restore.build(spec, framework="tf_keras"), checkpoint).mode == "keras_order"


def test_tf_keras_load_weights_rule_stays_available_for_a_transformers_h5(saved):
    model = hf.build("bert", "classifier", hf.config(layers=2))
    path = saved(layers=3, how="h5")
    report = api.compare(model, path, mode="keras_order")
    outcome = restore.keras_load(model, path)  # tf-keras model.load_weights: by order
    assert report.restorable == outcome.ok is False


def test_a_tf_checkpoint_of_a_transformers_model_is_restored_by_object_path(tmp_path):
    saved_model = hf.build("bert", "classifier", hf.config(), randomize=5)
    path = hf.save(saved_model, str(tmp_path), "checkpoint")
    model = hf.build("bert", "classifier", hf.config(labels=4))
    report = api.compare(model, path)
    outcome = restore.tf2_read(model, path)
    assert report.mode == "object_path" and report.restorable == outcome.ok is False


# --- randomized: random edits of random saved models, both formats, both calls ----------------

EDITS = ("none", "layers", "hidden", "vocab", "labels", "base_to_head", "head_to_base", "other_head")
CASES = 8


def random_case(rng, edit=None):
    family = rng.choice(sorted(hf.FAMILIES))
    saved = {"family": family, "role": rng.choice(("base", "classifier")), "layers": rng.choice((1, 2)),
             "hidden": 32, "vocab": rng.choice((40, 50)), "labels": rng.choice((2, 3))}
    loaded = dict(saved)
    edit = edit or rng.choice(EDITS)
    if edit == "layers":
        loaded["layers"] = 3 - saved["layers"]
    elif edit == "hidden":
        loaded["hidden"] = 16
    elif edit == "vocab":
        loaded["vocab"] = 90 - saved["vocab"]
    elif edit == "labels":
        loaded["labels"] = 5 - saved["labels"]
    elif edit == "base_to_head":
        saved["role"], loaded["role"] = "base", "classifier"
    elif edit == "head_to_base":
        saved["role"], loaded["role"] = "classifier", "base"
    elif edit == "other_head":
        loaded["role"] = "tokens" if family == "bert" else "lm"
    return edit, saved, loaded


def check_case(saved_path, loaded):
    """Both calls of from_pretrained against the report: a list of disagreements (empty: agree)."""
    model = hf.build(loaded["family"], loaded["role"], hf.config(
        loaded["family"], loaded["layers"], loaded["hidden"], loaded["vocab"], loaded["labels"]))
    report = api.compare(model, saved_path)
    problems = []
    plain = hf.from_pretrained(model, saved_path)
    unrestored = any(e.base is not None and e.base.kind == records.WEIGHT and not e.restored for e in report.entries)
    if report.mode != "transformers":
        problems.append(f"mode {report.mode}")
    if report.restorable != (plain.ok and not unrestored):
        problems.append(f"restorable {report.restorable} ({report.verdict}) but loader ok={plain.ok} {plain.error}")
    if hf.predicted(report) != plain.restored:
        problems.append(f"restored differs: tool-only {sorted(hf.predicted(report) - plain.restored)[:3]}, "
                        f"loader-only {sorted(plain.restored - hf.predicted(report))[:3]}")
    ignoring = hf.from_pretrained(model, saved_path, ignore_mismatched_sizes=True)
    for snippet in report.fix.snippets:
        if hf.promised(report, snippet) != ignoring.restored or not ignoring.ok:
            problems.append(f"snippet {snippet.title!r} promises other weights than it loads")
    if not plain.ok and ignoring.restored and not report.fix.snippets:
        problems.append("the load fails, ignore_mismatched_sizes would load weights, and no fix says so")
    return problems


def _cases():
    rng = random.Random(13)
    cases = [random_case(rng, EDITS[n % len(EDITS)]) for n in range(CASES)]  # every edit, random rest
    return [pytest.param(*case, id=f"{n}-{case[0]}") for n, case in enumerate(cases)]


@pytest.mark.parametrize("how", FORMATS)
@pytest.mark.parametrize("edit, saved_spec, loaded_spec", _cases())
def test_random_edits_agree_with_from_pretrained(saved, how, edit, saved_spec, loaded_spec):
    path = saved(**{k: v for k, v in saved_spec.items()}, how=how)
    assert check_case(path, loaded_spec) == []
