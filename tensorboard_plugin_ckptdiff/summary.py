"""Summary writers: put a model's variable spec (or a TF1 meta graph) into a run.

``model_spec`` writes through TF's default summary writer; the ``*_pb`` functions build the
Summary protos without TF, for writers of their own (``FileWriter.add_summary`` in TF1,
TensorBoard's ``EventFileWriter``). Both are read back by ``architectures.events``.
"""

from __future__ import annotations

from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

from tensorboard_plugin_ckptdiff import metadata, records
from tensorboard_plugin_ckptdiff.architectures import spec


def summary_metadata() -> summary_pb2.SummaryMetadata:
    """Plugin ckptdiff, content = the payload version, data class BLOB_SEQUENCE.

    TensorBoard infers the data class only for its own plugins: without it set here the
    data provider would not list the summary at all.
    """
    meta = summary_pb2.SummaryMetadata()
    meta.plugin_data.plugin_name = metadata.PLUGIN_NAME
    meta.plugin_data.content = str(metadata.PROTO_VERSION).encode("ascii")
    meta.data_class = summary_pb2.DATA_CLASS_BLOB_SEQUENCE
    return meta


def model_spec(model, step: int = 0, name: str = metadata.MODEL_SPEC_TAG):
    """Write the architecture of ``model`` (a Keras model, a tf.Module, or an Architecture)
    into the default tf.summary writer. Returns what tf.summary.write returns."""
    import tensorflow as tf

    return tf.summary.write(
        tag=name, tensor=tf.constant([spec.to_bytes(_architecture(model))]), step=step,
        metadata=summary_metadata().SerializeToString())


def model_spec_pb(architecture: records.Architecture, name: str = metadata.MODEL_SPEC_TAG) -> summary_pb2.Summary:
    """The Summary that ``model_spec`` writes, built without TF (the step goes on the Event)."""
    return _blob_summary(name, spec.to_bytes(architecture))


def meta_graph_pb(meta_graph, name: str = metadata.META_GRAPH_TAG) -> summary_pb2.Summary:
    """A TF1 MetaGraphDef (proto or bytes) as a summary the data provider serves."""
    data = meta_graph if isinstance(meta_graph, bytes) else meta_graph.SerializeToString()
    return _blob_summary(name, data)


def _blob_summary(tag: str, blob: bytes) -> summary_pb2.Summary:
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING, string_val=[blob],
        tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=1)]))
    out = summary_pb2.Summary()
    out.value.add(tag=tag, tensor=tensor, metadata=summary_metadata())
    return out


def _architecture(model) -> records.Architecture:
    if isinstance(model, records.Architecture):
        return model
    from tensorboard_plugin_ckptdiff.architectures import live

    return live.from_model(model)
