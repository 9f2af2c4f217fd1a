"""keras-hub models built from configs (never from a hub), saved every way keras-hub and Keras save
them (a preset directory, .weights.h5, .keras, tf.train.Checkpoint), edited (layer counts, hidden
sizes, vocabularies, a task head), restored with the real loaders: the verdict and every
entry's ``restored`` agree with what the loader left in the model."""

import pytest
from makers import restore
from makers.restore import assert_agrees

from tensorboard_plugin_ckptdiff import api

BASE = {"vocabulary_size": 50, "num_layers": 2, "num_heads": 2, "hidden_dim": 32, "intermediate_dim": 37,
        "max_sequence_length": 20}
EDITS = {
    "none": {},
    "deeper": {"num_layers": 3},
    "shallower": {"num_layers": 1},
    "hidden": {"hidden_dim": 16, "intermediate_dim": 21},
    "vocabulary": {"vocabulary_size": 60},
}
SAVES = ("preset", "weights_h5", "keras", "checkpoint")


def _backbone(**overrides):
    import keras_hub

    return keras_hub.models.BertBackbone(**{**BASE, **overrides})


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    import tensorflow as tf

    model = _backbone()
    directory = tmp_path_factory.mktemp("keras_hub")
    model.save_to_preset(str(directory / "preset"))
    model.save_weights(str(directory / "m.weights.h5"))
    model.save(str(directory / "m.keras"))
    return {"preset": str(directory / "preset" / "model.weights.h5"),  # what from_preset loads
            "weights_h5": str(directory / "m.weights.h5"), "keras": str(directory / "m.keras"),
            "checkpoint": tf.train.Checkpoint(model=model).write(str(directory / "ckpt")),
            "preset_dir": str(directory / "preset")}


@pytest.mark.parametrize("how", SAVES)
@pytest.mark.parametrize("edit", sorted(EDITS))
def test_keras_hub_backbones_agree_with_the_real_loader(saved, how, edit):
    model = _backbone(**EDITS[edit])
    report = api.compare(model, saved[how])
    load = restore.tf2_read if how == "checkpoint" else restore.keras_load
    assert_agrees(report, load(model, saved[how]))


@pytest.mark.parametrize("edit", ["none", "deeper", "vocabulary"])
def test_from_preset_with_an_edited_config_is_the_load_the_report_describes(saved, edit):
    import keras_hub

    report = api.compare(_backbone(**EDITS[edit]), saved["preset"])
    try:
        keras_hub.models.BertBackbone.from_preset(saved["preset_dir"], **EDITS[edit])
        ok = True
    except Exception:  # the loader's own failure is the observation
        ok = False
    assert report.restorable == ok


def test_a_task_head_on_a_saved_backbone(saved, tmp_path):
    import keras_hub

    classifier = keras_hub.models.BertTextClassifier(backbone=_backbone(), num_classes=3, preprocessor=None)
    path = str(tmp_path / "task.weights.h5")
    classifier.save_weights(path)
    other = keras_hub.models.BertTextClassifier(backbone=_backbone(), num_classes=5, preprocessor=None)
    report = api.compare(other, path)
    assert_agrees(report, restore.keras_load(other, path))
    assert not report.restorable and report.summary["shape_mismatch"] == 2
    assert_agrees(report, restore.keras_load(other, path, skip_mismatch=True)._replace(ok=False))
