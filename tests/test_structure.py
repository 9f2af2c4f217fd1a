"""One Keras model saved as a TF2 object-based checkpoint, a .weights.h5 and a .keras archive:
no key is shared, yet the diff pairs every variable through the model's structure (layer
order, then variable order), and drift compares their values."""

import numpy as np
import pytest
from makers import restore

import tensorboard_plugin_ckptdiff as ckptdiff
from tensorboard_plugin_ckptdiff import records


def _model(units=(4, 5)):
    import keras

    inner = keras.Sequential([keras.layers.Dense(units[0], name="inner"), keras.layers.Dense(units[1])], name="blk")
    model = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization(), inner,
                              keras.layers.LayerNormalization(), keras.layers.Dense(2, name="head")], name="net")
    model.compile(optimizer="adam", loss="mse")
    return model


def _train(model, steps=1):
    for _ in range(steps):
        model.train_on_batch(np.linspace(0, 1, 6, dtype="float32").reshape(2, 3), np.ones((2, 2), "float32"))


def _save_all(model, directory):
    import tensorflow as tf

    bundle = tf.train.Checkpoint(model=model, optimizer=model.optimizer).write(f"{directory}/ckpt")
    weights = f"{directory}/model.weights.h5"
    model.save_weights(weights)
    archive = f"{directory}/model.keras"
    model.save(archive)
    return {"tf_bundle": bundle, "keras_weights_h5": weights, "keras_archive": archive}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    model = _model()
    _train(model)
    first = _save_all(model, str(tmp_path_factory.mktemp("step1")))
    _train(model, 3)
    later = _save_all(model, str(tmp_path_factory.mktemp("step4")))
    return model, first, later


@pytest.mark.parametrize("a, b", [("tf_bundle", "keras_weights_h5"), ("keras_weights_h5", "tf_bundle"),
                                  ("tf_bundle", "keras_archive")])
def test_the_same_model_in_two_formats_pairs_every_variable_by_structure(files, a, b):
    model, first, _ = files
    report = ckptdiff.compare(ckptdiff.read(first[a]), ckptdiff.read(first[b]))
    assert report.mode == "structure"
    assert report.summary["match"] == len(report.entries) == len(model.weights) + len(model.optimizer.variables)
    assert report.restorable and report.verdict.startswith("Same structure")


def test_each_weight_is_paired_with_the_same_weight(files):
    _, first, _ = files
    from tensorboard_plugin_ckptdiff import formats

    bundle, weights = ckptdiff.read(first["tf_bundle"]), ckptdiff.read(first["keras_weights_h5"])
    for e in ckptdiff.compare(bundle, weights).entries:
        assert np.array_equal(formats.read_tensor(bundle, e.base.key), formats.read_tensor(weights, e.target.key))


def test_drift_across_formats_compares_values_through_the_structure(files):
    model, first, later = files
    same = ckptdiff.drift(first["tf_bundle"], first["keras_weights_h5"])
    assert same.mode == "structure" and len(same.entries) == len(model.weights)
    assert all(e.max_abs == 0 for e in same.entries)
    moved = ckptdiff.drift(first["tf_bundle"], later["keras_archive"])
    assert len(moved.entries) == len(model.weights) and any(e.max_abs > 0 for e in moved.entries)


def test_another_model_pairs_layer_by_layer_and_says_what_differs(tmp_path, files):
    _, first, _ = files
    other = _model(units=(4, 7))
    _train(other)
    files_of_other = _save_all(other, str(tmp_path))
    report = ckptdiff.compare(ckptdiff.read(first["tf_bundle"]), ckptdiff.read(files_of_other["keras_weights_h5"]))
    assert report.mode == "structure" and not report.restorable
    mismatched = {e.base.name for e in report.entries
                  if e.status == records.SHAPE_MISMATCH and e.base.kind == records.WEIGHT}
    # The inner block's second Dense (5 -> 7 units), the LayerNorm after it and the head's kernel.
    # (auto-named layers carry the process's counters: dense_91, layer_normalization_1)
    assert len(mismatched) == 5 and "net/head/kernel" in mismatched
    assert {name.rsplit("/", 1)[-1] for name in mismatched} == {"kernel", "bias", "gamma", "beta"}


def test_a_tf_keras_checkpoint_pairs_with_its_legacy_h5_by_weighted_layer_order(tmp_path):
    import tensorflow as tf

    spec = {"blocks": [("dense", 4, "a"), ("bn", "n"), ("dense", 2, "b")], "dtype": "float32"}
    model = restore.build(spec, framework="tf_keras")
    bundle = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))
    legacy = str(tmp_path / "m.h5")
    model.save_weights(legacy)
    report = ckptdiff.compare(ckptdiff.read(bundle), ckptdiff.read(legacy))
    assert report.mode == "structure" and report.summary["match"] == len(model.weights) == len(report.entries)
