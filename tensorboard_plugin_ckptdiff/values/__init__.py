"""Value drift between two checkpoints: the drift, histograms, and the background jobs."""
