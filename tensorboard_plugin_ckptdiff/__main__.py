"""``python -m tensorboard_plugin_ckptdiff`` runs the ckptdiff command."""

import sys

from tensorboard_plugin_ckptdiff import cli

sys.exit(cli.main())
