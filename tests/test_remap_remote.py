"""``ckptdiff remap`` of a checkpoint on s3:// (the tab's command for a logdir on object storage):
read by byte ranges through fsspec, written locally, and the same bytes as the file uploaded."""

import os

import numpy as np

import tensorboard_plugin_ckptdiff as ckptdiff
from tensorboard_plugin_ckptdiff import formats
from test_object_storage import s3  # noqa: F401  (moto's S3 server on loopback, the checkpoints uploaded)


def test_a_remote_bundle_is_remapped_into_a_local_copy_of_the_same_bytes(s3, tmp_path):  # noqa: F811
    url = s3["url"] + "/exp/ckpt/ckpt-2"
    result = ckptdiff.remap((url, url), str(tmp_path / "ckpt-2"))
    assert result.restorable
    local = os.path.join(s3["local"], "ckpt")
    for name in ("ckpt-2.index", "ckpt-2.data-00000-of-00001"):
        with open(tmp_path / name, "rb") as a, open(os.path.join(local, name), "rb") as b:
            assert a.read() == b.read(), name


def test_a_remote_keras_file_is_remapped_with_its_values(s3, tmp_path):  # noqa: F811
    url = s3["url"] + "/exp/ckpt/model-02.weights.h5"
    result = ckptdiff.remap((url, url), str(tmp_path / "model.weights.h5"))
    assert result.restorable
    original = formats.read(os.path.join(s3["local"], "ckpt", "model-02.weights.h5"))
    for v in original.variables:
        np.testing.assert_array_equal(formats.read_tensor(formats.read(result.path), v.key),
                                      formats.read_tensor(original, v.key))
