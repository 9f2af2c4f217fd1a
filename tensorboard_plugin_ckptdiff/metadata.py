"""The plugin's name and the versioned metadata of its own summaries."""

PLUGIN_NAME = "ckptdiff"
# Tag under which summary.model_spec writes a model's variable spec.
MODEL_SPEC_TAG = "ckptdiff/model_spec"
# Bumped when the content of a model_spec summary changes incompatibly; readers refuse
# versions they do not know with a message, instead of misreading them.
PROTO_VERSION = 1
