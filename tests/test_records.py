"""records.assemble, records.object_nodes and records.entry_row: the fast constructors of the
readers and the diff make records equal to the dataclass's own."""

import dataclasses
import itertools
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


def test_entry_row_makes_the_same_entry_as_the_class():
    """records.entry_row, the diff's per-row constructor, sets every slot the class would."""
    b, t = _built(), dataclasses.replace(_built(), key="other")
    fields = [f.name for f in dataclasses.fields(records.Entry)]
    for values in [(records.MATCH, b, t, None, None, "", True),
                   (records.RENAMED, b, t, None, 0.75, "saved as other", False),
                   (records.UNEXPECTED, None, t, None, None, "in the checkpoint only", False),
                   (records.DTYPE_MISMATCH, b, t, "lossy", None, "cast", False)]:
        fast, built = records.entry_row(*values), records.Entry(*values)
        assert type(fast) is records.Entry and len(values) == len(fields)
        assert fast == built and hash(fast) == hash(built) and repr(fast) == repr(built)
        assert [getattr(fast, name) for name in fields] == list(values)
        assert fast.to_json() == built.to_json() and pickle.loads(pickle.dumps(fast)) == built
        with pytest.raises(dataclasses.FrozenInstanceError):
            fast.restored = not fast.restored


def test_entry_columns_make_the_rows_entry_row_makes():
    """records.entry_columns, the diff's constructor for its plain matches and unexpected rows:
    the rows the class makes, one per position, from columns and repeated values alike."""
    b, t = _built(), dataclasses.replace(_built(), key="other")
    values = [(records.MATCH, b, t, None, None, "", True),
              (records.RENAMED, b, t, "lossy", 0.75, "why", False),
              (records.UNEXPECTED, None, t, None, None, "in the checkpoint only", False)]
    made = records.entry_columns(3, *zip(*values))
    assert made == [records.Entry(*v) for v in values] and all(type(e) is records.Entry for e in made)
    assert [hash(e) for e in made] == [hash(records.Entry(*v)) for v in values]
    assert pickle.loads(pickle.dumps(made)) == made
    with pytest.raises(dataclasses.FrozenInstanceError):
        made[0].status = records.MISSING
    same = records.entry_columns(2, itertools.repeat(records.MATCH), [b, t], [t, b], itertools.repeat(None),
                                 itertools.repeat(None), itertools.repeat(""), itertools.repeat(True))
    assert same == [records.Entry(records.MATCH, b, t, restored=True),
                    records.Entry(records.MATCH, t, b, restored=True)]
    assert records.entry_columns(0, *([()] * 7)) == []


def test_mark_restored_gives_each_new_entry_its_flag():
    """records.mark_restored, which sets the flag on rows the diff made a moment ago."""
    b = _built()
    made = [records.entry_row(records.MATCH, b, b, None, None, "", True),
            records.entry_row(records.MISSING, b, None, None, None, "not in the checkpoint", False)]
    records.mark_restored(made, [False, True])
    assert made == [records.Entry(records.MATCH, b, b, restored=False),
                    records.Entry(records.MISSING, b, None, detail="not in the checkpoint", restored=True)]
    assert [hash(e) for e in made] == [hash(dataclasses.replace(e)) for e in made]


def test_walks_from_agrees_with_walk():
    """ObjectGraph.walks_from, pairing's index of paths, says what walk() says for every path it
    holds: through shared nodes, a repeated name (the first edge wins), a name holding "/", an
    empty name and a child id past the end of the nodes."""
    node = records.ObjectNode
    graph = records.ObjectGraph((
        node(children=(("model", 1), ("optimizer", 2), ("odd/name", 3), ("", 4), ("far", 99), ("far", 5))),
        node(children=(("layer", 3), ("layer", 4), ("kernel", 5))),
        node(children=(("slot", 5), ("model", 1), ("again", 1), ("again", 6))),
        node(children=(("bias", 6),)),
        node(children=(("gamma", 6),)),
        node(), node()))
    for start in (0, 1, 2):
        index = graph.walks_from(start)
        assert index[""] == start and graph.walks_from(start) is index
        for path, node_id in index.items():
            assert graph.walk(path, start) == node_id, path
    index = graph.walks_from(0)
    assert index["model/layer/bias"] == 6 and "odd/name" not in index
    assert index["model/kernel"] == 5 and index["optimizer/slot"] == 5 and index["far"] == 99
    assert index["optimizer/again"] == 1  # the first edge of a name, though its node was seen
    assert "optimizer/model/kernel" not in index  # node 1 is entered once, as "model"
    assert graph.walk("optimizer/model/kernel", 0) == 5  # a second way in: walk() answers it


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


def _graph():
    node = records.ObjectNode
    return records.ObjectGraph((
        node(children=(("model", 1),)),
        node(attributes=(("VARIABLE_VALUE", "model/.ATTRIBUTES/VARIABLE_VALUE", "dense/kernel"),),
             slot_variables=((1, "m", 0),)),
    ))


def test_checkpoints_architectures_and_graphs_travel_packed_and_come_back_equal():
    """What a reader process sends back: variables made every way (the dataclass, assemble with
    and without the defaulted fields) in one checkpoint, its graph, its architecture."""
    made = records.Variable("a", "a", (3, None), "float32", kind=records.OPTIMIZER, index=2)
    (lean,) = records.assemble(records.Variable, [{"key": "b", "name": "b", "shape": (), "dtype": "int64"}])
    (full,) = records.assemble(records.Variable, [dataclasses.asdict(made)])
    architecture = records.Architecture(id="m", source="model_spec", variables=(made, lean), framework="keras3")
    graph = _graph()
    graph.walks_from(0)  # an index built before it travels is built again after, not sent
    checkpoint = records.Checkpoint(id="c", path="c", format=records.TF_BUNDLE, variables=(made, lean, full),
                                    object_graph=graph, architecture=architecture, location="/tmp/c")
    back = pickle.loads(pickle.dumps(checkpoint))
    assert back == checkpoint and hash(back) == hash(checkpoint)
    assert back.variables[1].size_bytes is None and back.variables[1].kind == records.WEIGHT  # the defaults
    assert "_walks" not in vars(back.object_graph)
    assert back.object_graph.nodes == graph.nodes and back.object_graph.walks_from(0) == graph.walks_from(0)
    assert back.architecture == architecture and back.location == "/tmp/c"
    with pytest.raises(dataclasses.FrozenInstanceError):
        back.variables[0].key = "x"
    assert records.variables_packed(checkpoint.variables) is not None


def test_a_variable_marshal_cannot_hold_travels_pickle_s_way():
    import numpy as np

    odd = records.Variable("a", "a", (3,), "float32", size_bytes=np.int64(12))  # a number marshal refuses
    checkpoint = records.Checkpoint(id="c", path="c", format=records.SAFETENSORS, variables=(odd,))
    assert records.variables_packed(checkpoint.variables) is None
    assert pickle.loads(pickle.dumps(checkpoint)) == checkpoint
