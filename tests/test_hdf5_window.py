"""hdf5.Window, the view every HDF5 read goes through: it keeps reads inside the file (or the
zip member) it shows, whatever position a corrupt field asks for, and caps reads in all."""

import io

import pytest

from tensorboard_plugin_ckptdiff.errors import CheckpointError
from tensorboard_plugin_ckptdiff.formats import hdf5

DATA = bytes(range(256)) * 4  # 1 KiB; the window shows bytes [100, 300)


def window():
    return hdf5.Window(io.BytesIO(DATA), 100, 200)


def test_reads_are_the_bytes_of_the_view_and_stop_at_its_end():
    w = window()
    assert w.read(4) == DATA[100:104] and w.tell() == 4
    w.seek(190)
    assert w.read(50) == DATA[290:300]  # clipped at the view's end, not the file's
    assert w.read(1) == b"" and w.tell() == 200
    w.seek(0)
    assert w.read() == DATA[100:300] and w.read(-1) == b""
    w.seek(10)
    assert w.read(None) == DATA[110:300]


def test_seeks_are_relative_as_io_says_and_never_before_the_start():
    w = window()
    assert w.seek(50) == 50
    assert w.seek(10, 1) == 60
    assert w.seek(-20, 2) == 180
    assert w.read(2) == DATA[280:282]
    assert w.seek(-500, 1) == 0  # a negative offset stops at the view's start
    assert w.read(3) == DATA[100:103]
    assert w.seek(1000) == 1000 and w.read(8) == b""  # past the end: nothing, not the next bytes
    with pytest.raises(ValueError):
        w.seek(0, 3)


def test_reads_beyond_what_the_size_explains_are_refused():
    w = window()
    # A structure that points back into itself makes the parser read the same bytes forever.
    with pytest.raises(CheckpointError, match="point back into themselves"):
        for _ in range(100_000):
            w.seek(0)
            w.read(64)
