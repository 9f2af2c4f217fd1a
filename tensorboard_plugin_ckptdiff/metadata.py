"""The plugin's name and the versioned metadata of its own summaries."""

PLUGIN_NAME = "ckptdiff"
# Tag under which summary.model_spec writes a model's variable spec.
MODEL_SPEC_TAG = "ckptdiff/model_spec"
# Bumped when the content of a model_spec summary changes incompatibly; readers refuse
# versions they do not know with a message, instead of misreading them.
PROTO_VERSION = 1
# Tag under which summary.meta_graph writes a TF1 MetaGraphDef: TensorBoard's data provider
# does not serve the `meta_graph_def` events a FileWriter writes, only summaries.
META_GRAPH_TAG = "ckptdiff/meta_graph"
