"""Every kind of fix snippet, pasted and run against the real loader on real files, from another
working directory: the restore then loads exactly the variables the snippet promises
(``Snippet.restores``). A diff with nothing to fix offers nothing. (transformers'
from_pretrained snippet is run in test_from_pretrained.py.)"""

import os

import numpy as np
import pytest
from makers import restore

from tensorboard_plugin_ckptdiff import api, records


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """Run the snippet from a directory that is not the one the file was named from."""
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)
    return other


def _run(snippet, model):
    assert snippet.restores, "a snippet promises what it restores"
    exec(compile(snippet.code, "<snippet>", "exec"), {"model": model})


def _keras3(units, names=None, dtype=None):
    return restore.dense_model(units, names=names, dtype=dtype)


def _holding(model, expected):
    """Keys of ``model``'s variables whose values equal the ``expected`` arrays (by key)."""
    out = set()
    for v in model.variables:
        key = getattr(v, "path", None) or v.name[:-2]
        if key in expected and np.array_equal(np.asarray(v.numpy(), "float64"), np.asarray(expected[key], "float64")):
            out.add(key)
    return out


def _relative(path, start):
    return os.path.relpath(path, start)


def test_keras3_skip_mismatch_snippet_loads_what_it_promises(tmp_path, monkeypatch, elsewhere):
    path = str(tmp_path / "m.weights.h5")
    _keras3([4, 3]).save_weights(path)
    monkeypatch.chdir(tmp_path)
    model = _keras3([4, 5, 3])
    report = api.compare(model, "m.weights.h5")  # named relative to where the user stands
    monkeypatch.chdir(elsewhere)
    snippet = next(s for s in report.fix.snippets if "KerasFileEditor" not in s.code)
    assert repr(path) in snippet.code  # absolute: it runs from anywhere
    restore._fill(model.weights)
    _run(snippet, model)
    assert restore._changed(model.weights, restore._keras_key) == set(snippet.restores)


def test_keras3_file_editor_snippet_moves_layers_and_loads_what_it_promises(tmp_path, elsewhere):
    path = str(tmp_path / "m.weights.h5")
    saved = _keras3([4, 2])
    saved.save_weights(path)
    model = _keras3([4, 4, 2])  # a layer inserted: the file's last layer now sits one slot early
    report = api.compare(model, path)
    snippet = next(s for s in report.fix.snippets if "KerasFileEditor" in s.code)
    restore._fill(model.weights)
    _run(snippet, model)
    restored = restore._changed(model.weights, restore._keras_key)
    assert restored == set(snippet.restores)
    assert {k.rsplit("/", 2)[-2] for k in restored} == {model.layers[0].name, model.layers[2].name}
    plain = next(s for s in report.fix.snippets if s is not snippet)
    assert set(snippet.restores) > set(plain.restores)  # offered because it brings in more


def test_legacy_h5_by_name_snippet_loads_what_it_promises(tmp_path, elsewhere):
    path = str(tmp_path / "m.h5")
    spec = {"blocks": [("dense", 4, "a"), ("dense", 3, "b")], "dtype": "float32"}
    restore.build(spec, framework="tf_keras").save_weights(path)
    model = restore.build({"blocks": [("dense", 4, "a"), ("dense", 5, "new"), ("dense", 3, "b")],
                           "dtype": "float32"}, framework="tf_keras")
    report = api.compare(model, path)
    (snippet,) = report.fix.snippets
    assert "by_name=True" in snippet.code
    restore._fill(model.weights)
    _run(snippet, model)
    assert restore._changed(model.weights, restore._keras_key) == set(snippet.restores)
    assert len(snippet.restores) == 3  # layer a, and b's bias: its kernel is (5, 3) now


def test_tf2_dtype_change_is_loaded_by_hand_with_a_cast_not_with_expect_partial(tmp_path, elsewhere):
    import tensorflow as tf

    path = restore.tf2_write(_keras3([4, 2], dtype="float16"), str(tmp_path))
    model = _keras3([4, 2], dtype="float32")
    report = api.compare(model, path)
    assert not report.restorable and report.fix.snippets
    assert all("expect_partial" not in s.code for s in report.fix.snippets)
    (snippet,) = report.fix.snippets
    restore._fill(model.weights)
    _run(snippet, model)
    reader = tf.train.load_checkpoint(path)
    expected = {e.base.key: reader.get_tensor(e.target.key) for e in report.entries if e.target is not None}
    assert _holding(model, expected) == set(snippet.restores) == {v.path for v in model.weights}


def test_tf2_shape_change_loads_every_other_variable_by_hand(tmp_path, elsewhere):
    import tensorflow as tf

    path = restore.tf2_write(_keras3([4, 2]), str(tmp_path))
    model = _keras3([4, 3])
    report = api.compare(model, path)
    (snippet,) = report.fix.snippets
    restore._fill(model.weights)
    _run(snippet, model)
    reader = tf.train.load_checkpoint(path)
    expected = {e.base.key: reader.get_tensor(e.target.key) for e in report.entries
                if e.target is not None and e.status == records.MATCH}
    assert _holding(model, expected) == set(snippet.restores)
    assert len(snippet.restores) == 2  # the first layer; the second's kernel and bias differ


def test_tf1_assignment_map_snippet_restores_what_it_promises(tmp_path, elsewhere):
    saved = [("dense_1", (3, 4)), ("out", (4, 2))]
    path = restore.tf1_save(saved, str(tmp_path / "model.ckpt"))
    layers = [("renamed", (3, 4)), ("out", (4, 5))]  # a scope renamed, a head resized
    report = api.compare(restore.tf1_architecture(layers), path)
    (snippet,) = report.fix.snippets
    loaded = restore.tf1_initialized_by(layers, snippet.code)
    values = restore.tf1_values(path)
    holding = {name for name, value in loaded.items()
               if any(np.array_equal(value, v) for v in values.values() if np.shape(v) == np.shape(value))}
    assert holding == set(snippet.restores) == {"renamed/kernel", "renamed/bias", "global_step"}


@pytest.mark.parametrize("write", ["weights_h5", "tf2", "legacy_h5", "tf1"])
def test_a_diff_with_nothing_to_fix_offers_no_snippet(tmp_path, write):
    if write == "weights_h5":
        path = str(tmp_path / "m.weights.h5")
        _keras3([4, 2]).save_weights(path)
        model = _keras3([4, 2])
    elif write == "tf2":
        path = restore.tf2_write(_keras3([4, 2]), str(tmp_path))
        model = _keras3([4, 2])
    elif write == "legacy_h5":
        path = str(tmp_path / "m.h5")
        spec = {"blocks": [("dense", 4, "a")], "dtype": "float32"}
        restore.build(spec, framework="tf_keras").save_weights(path)
        model = restore.build(spec, framework="tf_keras")
    else:
        layers = [("d0", (3, 4))]
        path = restore.tf1_save(layers, str(tmp_path / "model.ckpt"))
        model = restore.tf1_architecture(layers)
    report = api.compare(model, path)
    assert report.restorable and report.summary["match"] == len(report.entries)
    assert report.fix.snippets == () and "# " not in report.to_text()


def test_a_tf2_checkpoint_with_only_extra_values_offers_no_snippet(tmp_path):
    path = restore.tf2_write(_keras3([4, 2]), str(tmp_path))
    report = api.compare(_keras3([4]), path)  # expect_partial() would silence a warning, fix nothing
    assert report.summary["unexpected"] and report.fix.snippets == ()
