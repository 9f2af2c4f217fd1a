"""Hand-built records for the diff's unit tests: variables and sides written out in full."""

from tensorboard_plugin_ckptdiff import records


def var(name, shape, dtype="float32", kind=records.WEIGHT, **fields):
    fields.setdefault("full_name", name)
    fields.setdefault("key", name)
    return records.Variable(name=name, shape=tuple(shape), dtype=dtype, kind=kind, **fields)


def model(*variables, framework=None):
    return records.Architecture(id="model", source="model_spec", variables=tuple(variables), framework=framework)


def checkpoint(*variables, format=records.TF_BUNDLE, flavor=records.NAME_BASED, object_graph=None, path="ckpt/model"):
    return records.Checkpoint(id=path, path=path, format=format, flavor=flavor, variables=tuple(variables),
                              object_graph=object_graph)


def keras3_var(layer_path, index, shape, dtype="float32", layer=None, kind=records.WEIGHT):
    """A Keras 3 .weights.h5 slot ("layers/dense_1", 0), named as the reader names it."""
    key = f"{layer_path}/vars/{index}"
    return records.Variable(key=key, name=key, shape=tuple(shape), dtype=dtype, kind=kind, full_name=key,
                            layer=layer or layer_path.rsplit("/", 1)[-1], layer_path=layer_path, index=index)


def legacy_var(layer, index, layer_index, leaf, shape, dtype="float32"):
    """A legacy h5 weight ("d1/d1/kernel:0"), named as the reader names it."""
    return records.Variable(key=f"{layer}/{layer}/{leaf}:0", name=f"{layer}/{leaf}", shape=tuple(shape), dtype=dtype,
                            full_name=f"{layer}/{leaf}", layer=layer, layer_path=layer, index=index,
                            layer_index=layer_index)


def dense(layer, n_in, n_out, dtype="float32"):
    return [var(f"{layer}/kernel", (n_in, n_out), dtype, layer=layer), var(f"{layer}/bias", (n_out,), dtype, layer=layer)]


def statuses(report):
    """{(base name or None, target name or None): status} of every entry."""
    return {(e.base.name if e.base else None, e.target.name if e.target else None): e.status for e in report.entries}
