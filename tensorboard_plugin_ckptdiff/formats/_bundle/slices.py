"""The OrderedCode keys under which a bundle stores each slice of a sliced variable.

TF writes ``EncodeTensorNameSlice``: WriteNumIncreasing(0), WriteString(name),
WriteNumIncreasing(rank), then per dimension WriteSignedNumIncreasing(start) and
WriteSignedNumIncreasing(length) (-1 for the whole dimension). Every such key starts with
byte 0x00, which no variable name does. remapping/bundle_encoding.py writes the same (a
renamed sliced variable keeps its slices under keys of its new name).
"""

from __future__ import annotations

from typing import Tuple

from tensorboard_plugin_ckptdiff.errors import CheckpointError

Extents = Tuple[Tuple[int, int], ...]


def _bad(key: bytes) -> CheckpointError:
    return CheckpointError(f"the index file is corrupt: malformed slice key {key[:60]!r}")


def _num_increasing(key: bytes, pos: int) -> Tuple[int, int]:
    if pos >= len(key):
        raise _bad(key)
    n = key[pos]
    if n > 8 or pos + 1 + n > len(key):
        raise _bad(key)
    return int.from_bytes(key[pos + 1:pos + 1 + n], "big"), pos + 1 + n


def _string(key: bytes, pos: int) -> Tuple[bytes, int]:
    out = bytearray()
    while True:
        end = pos
        while end < len(key) and key[end] not in (0x00, 0xFF):
            end += 1
        out += key[pos:end]
        if end + 1 >= len(key):
            raise _bad(key)
        pair = key[end:end + 2]
        if pair == b"\x00\x01":
            return bytes(out), end + 2
        if pair == b"\x00\xff":
            out.append(0x00)
        elif pair == b"\xff\x00":
            out.append(0xFF)
        else:
            raise _bad(key)
        pos = end + 2


def _signed_num_increasing(key: bytes, pos: int) -> Tuple[int, int]:
    if pos >= len(key):
        raise _bad(key)
    word = (key[pos] << 8) | (key[pos + 1] if pos + 1 < len(key) else 0)
    positive = bool(word & 0x8000)
    if not positive:
        word ^= 0xFFFF
    n = 0
    while n < 16 and word & (0x8000 >> n):
        n += 1
    if n == 0 or n > 10 or pos + n > len(key):
        raise _bad(key)
    raw = int.from_bytes(key[pos:pos + n], "big") ^ (((1 << n) - 1) << (8 * n - n))
    if raw >= 1 << (8 * n - 1):  # n-byte two's complement
        raw -= 1 << (8 * n)
    return raw, pos + n


def decode(key: bytes) -> Tuple[str, Extents]:
    """(variable name, ((start, length), ...)) of a slice key."""
    zero, pos = _num_increasing(key, 0)
    if zero != 0:
        raise _bad(key)
    name, pos = _string(key, pos)
    rank, pos = _num_increasing(key, pos)
    if rank > 64:
        raise _bad(key)
    extents = []
    for _ in range(rank):
        start, pos = _signed_num_increasing(key, pos)
        length, pos = _signed_num_increasing(key, pos)
        extents.append((start, length))
    if pos != len(key):
        raise _bad(key)
    try:
        return name.decode("utf-8"), tuple(extents)
    except UnicodeDecodeError as e:
        raise _bad(key) from e


def box(extents: Extents, full_shape: Tuple[int, ...]) -> Tuple[Tuple[int, int], ...]:
    """(start, stop) per dimension, with -1 lengths resolved against the full shape,
    checked to lie inside it."""
    if len(extents) != len(full_shape):
        raise CheckpointError(
            f"the index file is corrupt: a slice of rank {len(extents)} for a tensor of rank {len(full_shape)}")
    out = []
    for (start, length), dim in zip(extents, full_shape):
        stop = dim if length == -1 else start + length
        if start < 0 or length < -1 or stop > dim:
            raise CheckpointError(
                f"the index file is corrupt: a slice [{start}, {stop}) lies outside a dimension of {dim}")
        out.append((start, stop))
    return tuple(out)
