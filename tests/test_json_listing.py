"""``ckptdiff ls --json`` is written without json's pure-Python indent encoder: its text
must stay byte for byte what ``json.dumps(..., indent=1)`` writes."""

import json

from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.cli import json_listing


def _reference(checkpoint):
    return json.dumps({"checkpoint": checkpoint.to_json(),
                       "variables": [v.to_json() for v in checkpoint.variables],
                       "total": len(checkpoint.variables)}, indent=1)


def test_ls_json_is_json_dumps_indent_1_for_every_kind_of_field():
    variables = (
        records.Variable("model/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE", "dense/kernel", (784, 10), "float32",
                         31360, records.WEIGHT, "dense"),
        records.Variable('quote"back\\slash\ttab\nnewline', "ünïcödé 名前 😀", (), "string", None, "metadata", None),
        records.Variable("save_counter", "save_counter", None, "int64", 8, records.METADATA),
        records.Variable("big", "big", (2 ** 40, 1, 0), "bfloat16", 2 ** 41, records.OPTIMIZER, "opt/\u2028"),
    )
    checkpoint = records.Checkpoint(id="r/c", path="r/c", format=records.TF_BUNDLE, run="r", step=3,
                                    wall_time=1700000000.123456, size_bytes=5, variables=variables)
    assert json_listing.ls_json(checkpoint) == _reference(checkpoint)
    for one in variables:  # a single row has no row before or after it
        alone = records.Checkpoint(id="o", path="o", format=records.TF_BUNDLE, variables=(one,))
        assert json_listing.ls_json(alone) == _reference(alone)
    empty = records.Checkpoint(id="e", path="e", format=records.SAFETENSORS, status=records.ERROR,
                               error="not a \"file\"")
    assert json_listing.ls_json(empty) == _reference(empty)
