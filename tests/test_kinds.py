"""One kind per variable, whoever reads it: the same variables through every source that names
them (a TF1 Saver bundle, its meta graph, a live tf.Module; a tf-keras model live, in a legacy
h5 file and in a TF2 checkpoint) get one kind each, the one records.kind_of decides.

The sources used to keep five name lists that disagreed: ``step`` was a weight in a checkpoint
and metadata in a graph, ``iter`` the reverse, ``…/AdamW`` and ``…/Momentum_1`` optimizer
state on one side and weights on the other.
"""

import collections
import os

import pytest

from tensorboard_plugin_ckptdiff import formats, records, storage
from tensorboard_plugin_ckptdiff.architectures import live, meta_graph

NAMES = {
    "dense/kernel": records.WEIGHT,
    "dense/bias": records.WEIGHT,
    "step": records.METADATA,
    "iter": records.METADATA,
    "global_step": records.METADATA,
    "dense/kernel/Adam": records.OPTIMIZER,
    "dense/kernel/AdamW": records.OPTIMIZER,
    "dense/kernel/Momentum_1": records.OPTIMIZER,
    "beta1_power": records.OPTIMIZER,
}


def test_the_vocabulary_decides_these_kinds():
    assert {name: records.kind_of(name) for name in NAMES} == NAMES
    assert records.kind_of("dense/kernel:0") == records.WEIGHT
    assert records.kind_of(records.OBJECT_GRAPH_KEY) == records.METADATA


@pytest.fixture(scope="module")
def tf1_saver(tmp_path_factory):
    """A TF1 Saver checkpoint (and its .meta graph) holding a variable of each name."""
    import tensorflow as tf

    directory = str(tmp_path_factory.mktemp("tf1"))
    with tf.Graph().as_default():
        for name in NAMES:
            tf.compat.v1.get_variable(name, shape=[2], initializer=tf.compat.v1.zeros_initializer())
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            prefix = saver.save(session, os.path.join(directory, "model.ckpt"))
    return prefix


def _kinds(variables, names=NAMES):
    return {records.strip_output_suffix(v.full_name or v.key): v.kind for v in variables
            if records.strip_output_suffix(v.full_name or v.key) in names}


def test_a_tf1_checkpoint_its_graph_and_a_live_module_agree(tf1_saver):
    import tensorflow as tf

    checkpoint = formats.read(tf1_saver)
    graph = meta_graph.from_meta_graph_file(storage.for_path(tf1_saver), tf1_saver + ".meta")
    module = tf.Module()
    module.variables_by_name = [tf.Variable(tf.zeros([2]), name=name) for name in NAMES]
    model = live.from_model(module)
    assert _kinds(checkpoint.variables) == NAMES
    assert _kinds(graph.variables) == NAMES
    assert _kinds(model.variables) == NAMES


@pytest.fixture(scope="module")
def tf_keras_files(tmp_path_factory):
    """A tf-keras model one Adam step in: live, saved whole as legacy .h5, and as a TF2 checkpoint."""
    import numpy as np
    import tensorflow as tf
    import tf_keras

    directory = str(tmp_path_factory.mktemp("tf_keras"))
    model = tf_keras.Sequential([tf_keras.layers.Dense(3, input_shape=(2,)), tf_keras.layers.Dense(1)])
    model.compile(optimizer=tf_keras.optimizers.Adam(), loss="mse")
    model.fit(np.ones((4, 2), np.float32), np.ones((4, 1), np.float32), epochs=1, verbose=0)
    h5 = os.path.join(directory, "model.h5")
    model.save(h5)
    prefix = tf.train.Checkpoint(model=model, optimizer=model.optimizer).write(os.path.join(directory, "ckpt"))
    return model, h5, prefix


def test_a_keras_model_live_in_h5_and_in_a_checkpoint_has_the_same_kinds(tf_keras_files):
    model, h5, prefix = tf_keras_files
    counts = {
        "live": collections.Counter(v.kind for v in live.from_model(model).variables),
        "h5": collections.Counter(v.kind for v in formats.read(h5).variables),
        # The checkpoint's own bookkeeping (the object graph) is not the model's, and the
        # learning rate is a variable tf-keras saves but does not list among the optimizer's.
        "checkpoint": collections.Counter(v.kind for v in formats.read(prefix).variables
                                          if v.key != records.OBJECT_GRAPH_KEY and "/_learning_rate/" not in v.key),
    }
    assert counts["live"] == {records.WEIGHT: 4, records.OPTIMIZER: 8, records.METADATA: 1}
    assert counts["h5"] == counts["live"]
    assert counts["checkpoint"] == counts["live"]
