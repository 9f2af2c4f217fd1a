"""Randomized agreement: random tiny Keras models, random edits, every format, and the same
models' dense layers as TF1 graphs under the Saver (resource and ref variables); the real loader
decides what was restored and the diff must agree on the verdict and on every variable.

A fixed seed keeps CI stable; benchmarks/agreement.py runs the same check over many more cases.
"""

import random

import pytest
from makers import restore
from makers.restore import assert_agrees

from tensorboard_plugin_ckptdiff import api

CASES = 20


def _cases():
    rng = random.Random(20240611)
    out = []
    for n in range(CASES):
        spec = restore.random_spec(rng)
        edit, edited = restore.random_edit(spec, rng, edit=restore.EDITS[n % len(restore.EDITS)])
        out.append(pytest.param(spec, edited, id=f"{n}-{edit}"))
    return out


@pytest.mark.parametrize("fmt", sorted(restore.FORMATS))
@pytest.mark.parametrize("saved_spec, loaded_spec", _cases())
def test_diff_agrees_with_the_real_loader(tmp_path, fmt, saved_spec, loaded_spec):
    framework, write, load = restore.FORMATS[fmt]
    path = write(restore.build(saved_spec, framework=framework), str(tmp_path))
    model = restore.build(loaded_spec, framework=framework)
    report = api.compare(model, path)
    assert_agrees(report, load(model, path))


@pytest.mark.parametrize("resource", [None, False], ids=["resource variables", "ref variables"])
@pytest.mark.parametrize("saved_spec, loaded_spec", _cases())
def test_diff_agrees_with_the_tf1_saver(tmp_path, resource, saved_spec, loaded_spec):
    # None: TF's default, resource variables under TF2 behaviour, graph mode included.
    assert_agrees(*restore.tf1_case(saved_spec, loaded_spec, str(tmp_path), resource))
