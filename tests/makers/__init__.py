"""Writers of real checkpoints with real TensorFlow/Keras, for tests, benchmarks and demo_logs.

Each module writes one family of files into a directory it is given and returns the paths.
TensorFlow is imported inside the functions: importing this package stays cheap.
"""
