"""``python -m tensorboard_plugin_ckptdiff`` runs the ckptdiff command."""

from tensorboard_plugin_ckptdiff import cli

cli.run()
