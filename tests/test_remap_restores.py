"""Every seed problem a remap can fix, end to end: the original is written by real TensorFlow,
Keras or transformers, remapped by ``ckptdiff.remap``, and the result is restored with the real
loader, which must then hold every saved value unchanged (or its cast). The verdict printed
for the written file must say restorable, or exactly what is left."""

import os

import numpy as np
import pytest
from makers import hf, restore

import tensorboard_plugin_ckptdiff as ckptdiff
from tensorboard_plugin_ckptdiff import formats


def _tf():
    import tensorflow as tf

    return tf


def _fill(variables):
    restore._fill(variables)


def _written(model, directory, name="ckpt"):
    """``tf.train.Checkpoint(model=model).write``: a TF2 object-based checkpoint of ``model``."""
    return _tf().train.Checkpoint(model=model).write(str(directory / "ckpt" / name))


# ------------------------------------------------------------------ TF1: a renamed scope


def _tf1_graph(scope, partitioned=False):
    def build():
        tf = _tf()
        v1 = tf.compat.v1
        with v1.variable_scope(scope):
            v1.get_variable("kernel", (10, 6), initializer=v1.glorot_uniform_initializer(seed=1))
            v1.get_variable("bias", (6,), initializer=v1.random_uniform_initializer(seed=2))
            if partitioned:
                v1.get_variable("embedding", (9, 4), partitioner=v1.fixed_size_partitioner(3),
                                initializer=v1.random_normal_initializer(seed=3))
        with v1.variable_scope("dense_output"):
            v1.get_variable("kernel", (6, 2), initializer=v1.glorot_uniform_initializer(seed=4))
        v1.train.get_or_create_global_step()

    return build


def _tf1_save(build, prefix):
    tf = _tf()
    with tf.Graph().as_default():
        build()
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            return tf.compat.v1.train.Saver().save(sess, prefix)


def _tf1_architecture(build):
    tf = _tf()
    from tensorboard_plugin_ckptdiff.architectures import meta_graph

    with tf.Graph().as_default():
        build()
        return meta_graph.from_meta_graph(tf.compat.v1.train.export_meta_graph(), id="tf1_graph")


def _assembled(values, name):
    """A variable's value, its partitions (name/part_k) put back together along axis 0."""
    if name in values:
        return values[name]
    parts = sorted((k for k in values if k.startswith(name + "/part_")), key=lambda k: int(k.rsplit("_", 1)[1]))
    return np.concatenate([values[k] for k in parts])


@pytest.mark.parametrize("partitioned", [False, True], ids=["plain", "partitioned"])
def test_tf1_renamed_scope_restores_with_the_saver(tmp_path, partitioned):
    saved = _tf1_save(_tf1_graph("dense_1", partitioned), str(tmp_path / "ckpt" / "model.ckpt"))
    model = _tf1_graph("incorrect_name", partitioned)
    report = ckptdiff.compare(_tf1_architecture(model), saved)
    assert not report.restorable and report.summary["renamed"] == 2 + partitioned
    out = str(tmp_path / "remapped" / "model.ckpt")
    result = ckptdiff.remap(report, out)
    assert result.restorable and result.verdict.startswith("Restorable"), result.verdict
    assert result.renamed == 2 + partitioned
    restored = restore.tf1_restored_values(model, out)  # raises if the Saver misses anything
    original = restore.tf1_values(saved)
    for name, value in original.items():
        np.testing.assert_array_equal(_assembled(restored, name.replace("dense_1/", "incorrect_name/")), value)
    # the state file names it, so TF finds it as the directory's latest checkpoint
    assert _tf().train.latest_checkpoint(os.path.dirname(out)) == out


def test_a_renamed_partitioned_variable_stays_sliced(tmp_path):
    saved = _tf1_save(_tf1_graph("dense_1", partitioned=True), str(tmp_path / "ckpt" / "model.ckpt"))
    out = str(tmp_path / "remapped" / "model.ckpt")
    ckptdiff.remap((_tf1_architecture(_tf1_graph("incorrect_name", partitioned=True)), saved), out)
    from tensorboard_plugin_ckptdiff import storage
    from tensorboard_plugin_ckptdiff.formats import tf_bundle

    bundle = tf_bundle.load_index(storage.for_path(out), out)
    original = tf_bundle.load_index(storage.for_path(saved), saved)
    extents = [e for e, _ in bundle.slices["incorrect_name/embedding"]]
    assert extents == [e for e, _ in original.slices["dense_1/embedding"]] and len(extents) == 3
    assert "dense_1/embedding" not in bundle.slices and bundle.entries["incorrect_name/embedding"].slices


# ------------------------------------------------------------------ TF2 object-based: renamed variables


def _subclassed(attribute):
    import keras

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            setattr(self, attribute, keras.layers.Dense(3))
            self.head = keras.layers.Dense(1)

        def call(self, x):
            return self.head(getattr(self, attribute)(x))

    net = Net()
    net(np.zeros((1, 2), "float32"))
    return net


def _trained(model):
    import keras

    tf = _tf()
    optimizer = keras.optimizers.Adam(0.1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(tf.ones((2, 2))) ** 2)
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    return optimizer


def _renamed_tf2_checkpoint(tmp_path):
    """A subclassed model's TF2 checkpoint with its optimizer, its layer attribute ``dense1``,
    and the same model with the attribute renamed ``encoder``: (saved, optimizer, path, model)."""
    saved = _subclassed("dense1")
    optimizer = _trained(saved)
    path = _tf().train.Checkpoint(model=saved, optimizer=optimizer).write(str(tmp_path / "ckpt" / "ckpt"))
    return saved, optimizer, path, _subclassed("encoder")


def test_tf2_renamed_attribute_restores_with_tf_train_checkpoint_optimizer_included(tmp_path):
    tf = _tf()
    saved, saved_optimizer, path, model = _renamed_tf2_checkpoint(tmp_path)
    optimizer = __import__("keras").optimizers.Adam(0.1)
    optimizer.build(model.trainable_variables)
    report = ckptdiff.compare(model, path)
    assert not report.restorable and report.summary["renamed"] == 2
    result = ckptdiff.remap(report, str(tmp_path / "remapped" / "ckpt"))
    assert result.restorable, result.verdict
    _fill(model.weights + optimizer.variables)
    tf.train.Checkpoint(model=model, optimizer=optimizer).read(result.path).assert_consumed()
    for a, b in zip(model.weights, saved.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(optimizer.variables, saved_optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    keys = {name for name, _ in tf.train.list_variables(result.path)}
    assert "model/encoder/_kernel/.ATTRIBUTES/VARIABLE_VALUE" in keys  # named where the model has it
    assert not any("dense1" in k for k in keys)


def test_tf2_drop_unexpected_leaves_a_checkpoint_the_model_consumes_whole(tmp_path):
    tf = _tf()
    saved, optimizer, path, model = _renamed_tf2_checkpoint(tmp_path)
    result = ckptdiff.remap((model, path), str(tmp_path / "remapped" / "ckpt"), drop_unexpected=True)
    assert result.restorable and result.dropped > 0 and result.report.summary["unexpected"] == 0, result.verdict
    assert not [k for k, _ in tf.train.list_variables(result.path) if k.startswith("optimizer/")]
    _fill(model.weights)
    tf.train.Checkpoint(model=model).read(result.path).assert_consumed()  # nothing left unmatched
    for a, b in zip(model.weights, saved.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def _module(weight_name, block_name="block"):
    tf = _tf()

    class Block(tf.Module):
        def __init__(self):
            super().__init__()
            setattr(self, weight_name, tf.Variable(np.arange(6, dtype="float32").reshape(2, 3) + 0.5))
            self.b = tf.Variable(np.array([1.5, -2.0, 3.25], "float32"))

    root = tf.Module()
    setattr(root, block_name, Block())
    root.scale = tf.Variable(2.5)
    return root


def test_tf2_variable_renamed_inside_its_object_restores(tmp_path):
    tf = _tf()
    saved = _module("w")
    path = _written(saved, tmp_path, "module")
    model = _module("kernel")
    report = ckptdiff.compare(model, path)
    assert [e.status for e in report.entries if e.status != "match"] == ["renamed"]
    result = ckptdiff.remap(report, str(tmp_path / "remapped" / "module"))
    assert result.restorable, result.verdict
    _fill(model.variables)
    tf.train.Checkpoint(model=model).read(result.path).assert_consumed()
    np.testing.assert_array_equal(model.block.kernel.numpy(), saved.block.w.numpy())
    np.testing.assert_array_equal(model.block.b.numpy(), saved.block.b.numpy())
    assert model.scale.numpy() == 2.5


def test_tf2_sharded_checkpoint_keeps_its_shards_and_slices(tmp_path):
    tf = _tf()
    saved = tf.Module()
    saved.big = tf.Variable(tf.reshape(tf.range(4 * 64, dtype=tf.float32), (4, 64)))
    saved.small = tf.Variable([1.0, 2.0])
    options = tf.train.CheckpointOptions(
        experimental_sharding_callback=tf.train.experimental.MaxShardSizePolicy(max_shard_size=200))
    path = tf.train.Checkpoint(model=saved).write(str(tmp_path / "ckpt" / "sharded"), options=options)
    model = tf.Module()
    model.large = tf.Variable(tf.zeros((4, 64)))
    model.small = tf.Variable([0.0, 0.0])
    result = ckptdiff.remap((model, path), str(tmp_path / "remapped" / "sharded"))
    assert result.restorable and result.renamed == 1, result.verdict
    tf.train.Checkpoint(model=model).read(result.path).assert_consumed()
    np.testing.assert_array_equal(model.large.numpy(), saved.big.numpy())
    from tensorboard_plugin_ckptdiff import storage
    from tensorboard_plugin_ckptdiff.formats import tf_bundle

    before = tf_bundle.load_index(storage.for_path(path), path)
    after = tf_bundle.load_index(storage.for_path(result.path), result.path)
    assert after.header.num_shards == before.header.num_shards > 1
    assert [e for _, e in after.slices["model/large/.ATTRIBUTES/VARIABLE_VALUE"]] and \
        len(after.slices["model/large/.ATTRIBUTES/VARIABLE_VALUE"]) == len(
            before.slices["model/big/.ATTRIBUTES/VARIABLE_VALUE"]) > 1


# ------------------------------------------------------------------ float16 saved, float32 expected


def _dense(dtype):
    return restore.dense_model([8, 3], dtype=dtype, input_dim=5)


def test_float16_saved_float32_expected_is_cast_and_restores(tmp_path):
    tf = _tf()
    saved = _dense("float16")
    path = _written(saved, tmp_path)
    model = _dense("float32")
    report = ckptdiff.compare(model, path)
    assert "RestoreV2 does not cast" in report.verdict
    result = ckptdiff.remap(report, str(tmp_path / "remapped" / "ckpt"))
    assert result.restorable and result.cast == 4, result.verdict
    _fill(model.weights)
    # What the model does not hold stays in the file: expected, so TF need not warn at exit.
    tf.train.Checkpoint(model=model).read(result.path).assert_existing_objects_matched().expect_partial()
    for a, b in zip(model.weights, saved.weights):
        assert a.dtype == "float32"
        np.testing.assert_array_equal(a.numpy(), b.numpy().astype("float32"))


def test_a_lossy_cast_is_made_only_when_asked(tmp_path):
    tf = _tf()
    saved = _dense("float32")
    path = _written(saved, tmp_path)
    model = _dense("float16")
    safe = ckptdiff.remap((model, path), str(tmp_path / "safe" / "ckpt"))
    assert not safe.restorable and safe.cast == 0
    assert any("--cast lossy" in sentence for sentence in safe.left)
    lossy = ckptdiff.remap((model, path), str(tmp_path / "lossy" / "ckpt"), cast="lossy")
    assert lossy.restorable and lossy.cast == 4, lossy.verdict
    _fill(model.weights)
    # What the model does not hold stays in the file: expected, so TF need not warn at exit.
    tf.train.Checkpoint(model=model).read(lossy.path).assert_existing_objects_matched().expect_partial()
    for a, b in zip(model.weights, saved.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy().astype("float16"))


# ------------------------------------------------------------------ legacy h5: a layer renamed, loaded by name


def _tf_keras(name, compiled=False):
    import tf_keras

    model = tf_keras.Sequential([tf_keras.Input((3,)), tf_keras.layers.Dense(4, name=name),
                                 tf_keras.layers.Dropout(0.1, name="drop"), tf_keras.layers.Dense(2, name="out")])
    if compiled:
        model.compile(optimizer="adam", loss="mse")
        model.fit(np.ones((4, 3), "float32"), np.ones((4, 2), "float32"), verbose=0)
    return model


@pytest.mark.parametrize("whole_model", [False, True], ids=["save_weights", "model.save"])
def test_legacy_h5_layer_renamed_restores_by_name(tmp_path, whole_model):
    saved = _tf_keras("dense_1", compiled=whole_model)
    path = str(tmp_path / "weights.h5")
    saved.save(path) if whole_model else saved.save_weights(path)
    model = _tf_keras("incorrect_name")
    report = ckptdiff.compare(model, path, mode="name")
    assert report.summary["renamed"] == 2
    result = ckptdiff.remap(report, str(tmp_path / "remapped" / "weights.h5"))
    assert result.restorable, result.verdict
    _fill(model.weights)
    model.load_weights(result.path, by_name=True)
    for a, b in zip(model.weights, saved.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    if whole_model:  # the optimizer's state and the model's config came along (text as text or bytes)
        import h5py

        from tensorboard_plugin_ckptdiff.formats import hdf5

        with h5py.File(path, "r") as before, h5py.File(result.path, "r") as after:
            assert hdf5.text_list(after.attrs["model_config"]) == hdf5.text_list(before.attrs["model_config"])
            assert hdf5.text_list(after["optimizer_weights"].attrs["weight_names"]) == hdf5.text_list(
                before["optimizer_weights"].attrs["weight_names"])


# ------------------------------------------------------------------ transformers: a prefix that differs


@pytest.fixture(scope="module")
def bert():
    config = hf.config("bert")
    return config, hf.build("bert", "base", config, randomize=11)


def _roberta(bert_config):
    import transformers

    config = transformers.RobertaConfig(**{k: getattr(bert_config, k) for k in (
        "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
        "max_position_embeddings")})
    model = transformers.TFRobertaModel(config)
    model.build_in_name_scope()
    return model


@pytest.mark.parametrize("how", ["h5", "safetensors"])
def test_transformers_prefix_difference_restores_with_from_pretrained(tmp_path, bert, how):
    config, saved = bert
    path = hf.save(saved, str(tmp_path / "bert"), how)
    model = _roberta(config)
    report = ckptdiff.compare(model, path)
    assert report.mode == "transformers" and report.summary["renamed"] == len(model.weights)
    out = str(tmp_path / "remapped" / os.path.basename(path))
    result = ckptdiff.remap(report, out)
    assert result.restorable, result.verdict
    loaded = type(model).from_pretrained(os.path.dirname(out), config=model.config)  # a directory, as usual
    expected = {hf.short(w.name).split("/", 1)[1]: w.numpy() for w in saved.weights}  # less bert/
    got = {hf.short(w.name).split("/", 1)[1]: w.numpy() for w in loaded.weights}  # less roberta/
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        np.testing.assert_array_equal(got[name], value)


# ------------------------------------------------------------------ Keras 3: layers in the wrong slot


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_keras3_layers_move_to_the_slots_the_model_reads(tmp_path, suffix):
    import keras

    saved = restore.dense_model([4, 2])
    path = str(tmp_path / f"m{suffix}")
    saved.save_weights(path) if suffix == ".weights.h5" else keras.saving.save_model(saved, path)
    model = restore.dense_model([4, 4, 2])  # a layer inserted: the file's second layer now sits one slot early
    result = ckptdiff.remap((model, path), str(tmp_path / "remapped" / f"m{suffix}"))
    assert result.moved_layers == 1
    # what no remap can fix is said exactly: the inserted layer has no saved values
    assert not result.restorable and model.layers[1].name in result.verdict, result.verdict
    assert [e.status for e in result.report.entries if e.status != "match"] == ["missing", "missing"]
    outcome = restore.keras_load(model, result.path, skip_mismatch=True)
    assert outcome.restored == {v.path for v in model.layers[0].weights + model.layers[2].weights}
    for a, b in zip(model.layers[0].weights + model.layers[2].weights, saved.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    if suffix == ".keras":  # the archive's other members are copied unchanged
        import zipfile

        with zipfile.ZipFile(path) as before, zipfile.ZipFile(result.path) as after:
            assert before.namelist() == after.namelist()
            assert before.read("config.json") == after.read("config.json")


def test_keras3_drop_unexpected_makes_a_layers_variable_count_fit(tmp_path):
    import keras

    saved = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="d")])
    path = str(tmp_path / "m.weights.h5")
    saved.save_weights(path)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, use_bias=False, name="d")])
    assert not ckptdiff.compare(model, path).restorable  # Keras refuses 2 variables for a 1-variable layer
    kept = ckptdiff.remap((model, path), str(tmp_path / "kept.weights.h5"))
    assert not kept.restorable
    result = ckptdiff.remap((model, path), str(tmp_path / "dropped.weights.h5"), drop_unexpected=True)
    assert result.restorable and result.dropped == 1, result.verdict
    outcome = restore.keras_load(model, result.path)
    assert outcome.ok, outcome.error
    np.testing.assert_array_equal(model.weights[0].numpy(), saved.weights[0].numpy())


# ------------------------------------------------------------------ the written file reads as planned


def test_every_written_file_reads_back_as_the_preview_planned(tmp_path):
    """The remap command the diff offers promises what a preview of the layout restores: the
    preview must be what the reader then reads from the written file."""
    from tensorboard_plugin_ckptdiff.remapping import command as remap_command, plan as remap_plan
    from tensorboard_plugin_ckptdiff import remapping, storage

    cases = []
    saved = _subclassed("dense1")
    cases.append((_subclassed("encoder"), _written(saved, tmp_path / "a")))
    cases.append((_dense("float32"), _written(_dense("float16"), tmp_path / "b")))
    keras_path = str(tmp_path / "c.weights.h5")
    restore.dense_model([4, 2]).save_weights(keras_path)
    cases.append((restore.dense_model([4, 4, 2]), keras_path))
    legacy = str(tmp_path / "d.h5")
    _tf_keras("dense_1").save_weights(legacy)
    cases.append((_tf_keras("incorrect_name"), legacy, "name"))
    for i, case in enumerate(cases):
        model, path, mode = (case + ("auto",))[:3]
        report = ckptdiff.compare(model, path, mode=mode)
        plan = remap_plan.plan(report)
        out = str(tmp_path / f"out{i}" / os.path.basename(path))
        target = remapping.where(report.target)
        writer = remapping.writer_for(target.format)
        fs = storage.for_path(target.path)
        planned = writer.planned(fs, target, writer.layout(fs, target, plan), out)
        written = ckptdiff.remap(report, out)
        read = formats.read(out)
        assert _shape(planned) == _shape(read), path
        promised = set(remap_command.preview(report, plan, out))
        assert promised == {e.base.key for e in written.report.entries if e.base is not None and e.restored}


def _shape(checkpoint):
    return sorted((v.key, v.name, v.shape, v.dtype, v.kind, v.layer, v.full_name, v.object_path, v.layer_path,
                   v.index, v.layer_index) for v in checkpoint.variables), checkpoint.writer
