"""Object-path pairing (tf.train.Checkpoint) on a hand-built object graph: each variable's own
path is looked up for all variables at once, and whatever that lookup does not settle (a path
only the walk or the root reaches, a name, a value already taken) goes through the rule."""

from makers.diff_records import checkpoint, model, var

from tensorboard_plugin_ckptdiff import diff, records

VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"


def graph():
    """root -> model -> dense -> {kernel, bias}; root -> optimizer -> iter; root -> alias ->
    model (a second way to the model, which the graph's index of paths does not hold)."""
    node = records.ObjectNode

    def value(path):
        return (("VARIABLE_VALUE", path + VALUE, path),)

    return records.ObjectGraph((
        node(children=(("model", 1), ("optimizer", 5), ("alias", 7))),
        node(children=(("dense", 2),)),
        node(children=(("kernel", 3), ("bias", 4))),
        node(attributes=value("model/dense/kernel")),
        node(attributes=value("model/dense/bias")),
        node(children=(("iter", 6),)),
        node(attributes=value("optimizer/iter")),
        node(children=(("again", 1),)),
    ))


def saved(*extra):
    held = [var(p, shape, key=p + VALUE, object_path=p) for p, shape in
            (("model/dense/kernel", (3, 4)), ("model/dense/bias", (4,)), ("optimizer/iter", ()))]
    return checkpoint(*held, *extra, flavor=records.OBJECT_BASED, object_graph=graph())


def pairs(report):
    return {(e.base.key if e.base else None, e.target.key if e.target else None): e.status for e in report.entries}


def test_a_model_s_paths_start_at_its_root_and_its_optimizer_is_found_beside_it():
    base = model(var("dense/kernel", (3, 4), key="k", object_path="dense/kernel"),
                 var("dense/bias", (4,), key="b", object_path="dense/bias"),
                 var("iter", (), key="i", object_path="optimizer/iter", kind=records.OPTIMIZER))
    report = diff.compare(base, saved())
    assert report.mode == "object_path"
    assert pairs(report) == {("k", "model/dense/kernel" + VALUE): "match", ("b", "model/dense/bias" + VALUE): "match",
                             ("i", "optimizer/iter" + VALUE): "match"}  # the optimizer: from the graph's root
    assert report.restorable


def test_paths_the_index_lacks_names_and_taken_values_go_through_the_rule():
    # Checkpoint against checkpoint: a variable is looked up by its path, then by its name,
    # and takes the first value found that no earlier variable took.
    base = checkpoint(
        var("first", (3, 4), key="a", object_path="model/dense/kernel"),
        var("model/dense/kernel", (3, 4), key="b", object_path="model/dense/kernel"),  # both ways taken
        var("model/dense/bias", (4,), key="c", object_path="moved/bias"),  # no such path: its name
        var("via alias", (3, 4), key="d", object_path="alias/again/dense/kernel"),  # walked: taken
        var("optimizer/iter", (), key="e", object_path="alias/again/dense/bias"),  # walked, taken: its name
        flavor=records.OBJECT_BASED)
    report = diff.compare(base, saved())
    assert pairs(report) == {
        ("a", "model/dense/kernel" + VALUE): "match",
        ("b", None): "missing",
        ("c", "model/dense/bias" + VALUE): "match",
        ("d", None): "missing",
        ("e", "optimizer/iter" + VALUE): "match",
    }
    assert [e.base.key for e in report.entries] == ["a", "b", "c", "d", "e"]  # the base's order
