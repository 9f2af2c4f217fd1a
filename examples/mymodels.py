"""The model of demo_logs/added_layer, for the README's example (run from the repository root):

    ckptdiff diff examples.mymodels:model demo_logs/added_layer/ckpt/model.weights.h5
"""

import keras


def model():
    """Dense 64 -> 32 -> 10 on 10 features: a Dense(32) was inserted after the file was saved."""
    return keras.Sequential([
        keras.Input((10,), name="features"),
        keras.layers.Dense(64, activation="relu", name="dense"),
        keras.layers.Dense(32, activation="relu", name="dense_1"),
        keras.layers.Dense(10, name="dense_2"),
    ], name="classifier")
