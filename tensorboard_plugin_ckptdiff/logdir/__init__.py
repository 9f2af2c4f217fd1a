"""Where checkpoints are in a logdir: walking it, the catalog, the runs overview and verdicts."""
