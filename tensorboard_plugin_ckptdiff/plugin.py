"""The TensorBoard plugin: routes only, each a few lines from request to core to JSON."""

from tensorboard.plugins import base_plugin

from tensorboard_plugin_ckptdiff import metadata


class CheckpointDiffPlugin(base_plugin.TBPlugin):
    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context):
        self._context = context

    def get_plugin_apps(self):
        return {}

    def is_active(self):
        return False

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name="Checkpoint Diff")
