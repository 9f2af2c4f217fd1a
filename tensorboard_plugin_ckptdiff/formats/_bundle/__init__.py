"""TensorFlow tensor bundles' parts: the table, entries, object graph, names, slices, state file."""
