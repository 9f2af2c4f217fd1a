"""records.assemble and records.object_nodes: the readers' fast constructors make records
equal to the dataclass's own."""

import dataclasses
import pickle

import pytest

from tensorboard_plugin_ckptdiff import records

_ROW = {"key": "dense/kernel", "name": "dense/kernel", "shape": (3, 4), "dtype": "float32", "size_bytes": 48,
        "kind": records.WEIGHT, "layer": "dense", "full_name": "dense/kernel", "object_path": None}


def _built():
    return records.Variable(**_ROW)


def test_a_row_that_leaves_out_defaulted_fields_makes_the_same_record():
    (assembled,) = records.assemble(records.Variable, [dict(_ROW)])
    built = _built()
    assert assembled == built and hash(assembled) == hash(built) and repr(assembled) == repr(built)
    assert dataclasses.asdict(assembled) == dataclasses.asdict(built)
    assert assembled.layer_path is None and assembled.index is None and assembled.layer_index is None


def test_an_assembled_record_pickles_replaces_and_stays_frozen():
    (assembled,) = records.assemble(records.Variable, [dict(_ROW)])
    assert pickle.loads(pickle.dumps(assembled)) == _built()
    moved = dataclasses.replace(assembled, index=2)
    assert moved.index == 2 and assembled.index is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        assembled.index = 3


def test_a_row_must_name_every_field_without_a_default():
    row = dict(_ROW)
    del row["dtype"]
    with pytest.raises(TypeError, match="dtype"):
        records.assemble(records.Variable, [row])


def test_a_row_may_not_name_a_field_the_record_lacks():
    with pytest.raises(TypeError, match="colour"):
        records.assemble(records.Variable, [dict(_ROW, colour="red")])


def test_every_row_names_as_many_fields_as_the_first():
    with pytest.raises(TypeError, match="same fields"):
        records.assemble(records.Variable, [dict(_ROW), dict(_ROW, index=1)])


def test_a_field_with_a_default_factory_must_be_named():
    """Only a plain default leaves a class attribute to answer for an omitted field."""

    @dataclasses.dataclass(frozen=True)
    class Tagged:
        key: str
        tags: tuple = dataclasses.field(default_factory=tuple)

    with pytest.raises(TypeError, match="tags"):
        records.assemble(Tagged, [{"key": "a"}])
    (made,) = records.assemble(Tagged, [{"key": "a", "tags": ()}])
    assert made == Tagged("a")


def test_object_nodes_are_the_dataclass_s_own_nodes():
    """records.object_nodes sets ObjectNode's slots directly: the nodes must still compare,
    hash, print, pickle, replace and refuse assignment like ObjectNode(...)'s."""
    fields = ((("dense", 1),), (("VARIABLE_VALUE", "dense/.ATTRIBUTES/VARIABLE_VALUE", "dense/kernel"),), ((0, "m", 2),))
    (made,) = records.object_nodes([fields])
    built = records.ObjectNode(*fields)
    assert made == built and hash(made) == hash(built) and repr(made) == repr(built)
    assert pickle.loads(pickle.dumps(made)) == built
    assert dataclasses.replace(made, children=()) == records.ObjectNode((), *fields[1:])
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.children = ()
    assert made != records.ObjectNode()
