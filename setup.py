"""Checkpoint Diff: a TensorBoard plugin, CLI and Python API for checkpoint restore problems."""

import setuptools

RUNTIME = [
    "tensorboard>=2.16,<3",
    "numpy>=2,<3",  # pyfive 1.3 needs numpy 2 (as TensorFlow 2.18+ and Keras 3 do)
    "protobuf>=4.25,<8",  # TensorFlow 2.21 and TensorBoard take 7: a plugin must not downgrade it
    # HDF5 (.h5, .weights.h5, .keras) in pure Python: no byte of a checkpoint reaches libhdf5,
    # which crashed on corrupt files. formats/hdf5.py drives pyfive's decoders and works
    # around what 1.3 lacks (see its comments): a minor release may move those internals.
    "pyfive>=1.3,<1.4",
    "werkzeug>=2.3,<4",
    "ml_dtypes>=0.4,<1",  # bfloat16 and float8 dtypes without TensorFlow
    "google-crc32c>=1.5,<2",  # C-backed CRC32C: bundles checksum every block and tensor
]

TEST = [
    # Real writers for the fixtures. tf-keras 2.21 depends on "tensorflow" itself, so the
    # CPU-only wheel would install a second copy of the same package: pin tensorflow.
    "tensorflow==2.21.0",
    "keras==3.15.1",
    "tf-keras==2.21.0",
    # the tests hold the pure-Python HDF5 reading against libhdf5's, edit files, and write remaps
    "h5py>=3.10,<4",
    "safetensors>=0.4,<1",
    # Third-party loaders the verdicts are held against (tests only: the package never imports
    # them). transformers 4.57 is the last line with TF models; keras-hub 0.32 builds on Keras
    # 3.15 and pulls tensorflow-text 2.21, which matches the tensorflow pinned above.
    "transformers>=4.57,<5",
    "keras-hub>=0.32,<0.33",
    "pytest>=8,<10",
    "pytest-timeout>=2.3,<3",  # a hung reader or server fails its test instead of the whole CI run
    "hypothesis>=6.100,<7",
    "playwright>=1.50,<2",
    "psutil>=5.9,<8",
    "coverage>=7,<8",  # benchmarks/fuzz.py reports the line coverage its inputs reached
    "atheris>=2.3,<4",  # benchmarks/fuzz.py: coverage-guided fuzzing (libFuzzer) of every reader
    "fsspec>=2024.6",
    "s3fs>=2024.6",
    "moto[server]>=5,<6",
]

setuptools.setup(
    name="tensorboard_plugin_ckptdiff",
    version="0.1.0",
    description="Checkpoint Diff: why a TensorFlow/Keras checkpoint will not restore, before you restore it",
    packages=setuptools.find_packages(include=["tensorboard_plugin_ckptdiff", "tensorboard_plugin_ckptdiff.*"]),
    package_data={"tensorboard_plugin_ckptdiff": ["static/*", "static/**/*"]},
    python_requires=">=3.11",  # pyfive 1.3, and Keras 3.15 itself
    install_requires=RUNTIME,
    extras_require={
        "test": TEST,
        "remote": ["fsspec>=2024.6", "s3fs>=2024.6"],
        # `ckptdiff remap` writes .weights.h5 / .h5 / .keras with h5py; reading never needs it.
        "remap": ["h5py>=3.10,<4"],
    },
    entry_points={
        "tensorboard_plugins": ["ckptdiff = tensorboard_plugin_ckptdiff.plugin:CheckpointDiffPlugin"],
        "console_scripts": ["ckptdiff = tensorboard_plugin_ckptdiff.cli:run"],
    },
)
