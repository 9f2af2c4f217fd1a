"""The ``checkpoint`` state file (a text-format CheckpointState) that names a directory's checkpoints.

TF1 Savers write absolute paths into it; TF2 writes paths relative to the directory. Each
entry is resolved by its base name inside the state file's own directory, so a moved logdir
still works and a hostile state file cannot point anywhere else.
"""

from __future__ import annotations

import codecs
import re
from typing import List, Optional, Tuple

from tensorboard_plugin_ckptdiff.errors import CheckpointError

STATE_FILE = "checkpoint"
_MAX_SIZE = 16 << 20  # a state file lists a few checkpoints; anything larger is not one
_FIELD = re.compile(rb'\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*("(?:[^"\\\n]|\\.)*"|[^\s"]+)\s*')


def _parse(text: bytes) -> List[Tuple[str, object]]:
    """(field, value) pairs in file order: strings unescaped, numbers as float."""
    fields = []
    pos = 0
    while pos < len(text):
        if text[pos:pos + 1].isspace():
            pos += 1
            continue
        if text[pos:pos + 1] == b"#":
            newline = text.find(b"\n", pos)
            pos = len(text) if newline < 0 else newline + 1
            continue
        match = _FIELD.match(text, pos)
        if match is None:
            raise CheckpointError(f"the 'checkpoint' state file is not a text CheckpointState (bad text at byte {pos})")
        field, raw = match.group(1).decode(), match.group(2)
        if raw.startswith(b'"'):
            try:
                value = codecs.escape_decode(raw[1:-1])[0].decode("utf-8")
            except (ValueError, UnicodeDecodeError) as e:
                raise CheckpointError(f"the 'checkpoint' state file has a malformed path string: {e}") from e
        else:
            try:
                value = float(raw)
            except ValueError as e:
                raise CheckpointError(f"the 'checkpoint' state file has a malformed number {raw[:40]!r}") from e
        fields.append((field, value))
        pos = match.end()
    return fields


def _read_fields(fs, directory: str) -> Optional[List[Tuple[str, object]]]:
    path = fs.join(directory, STATE_FILE)
    st = fs.stat(path)
    if st is None or st.is_dir:
        return None
    if st.size > _MAX_SIZE:
        raise CheckpointError(f"the 'checkpoint' state file is {st.size} bytes, too large to be a CheckpointState", path)
    with fs.open(path) as f:
        return _parse(f.read(_MAX_SIZE + 1))


def base_name(recorded: str) -> Optional[str]:
    """The last component of a recorded path (either separator), or None if it names
    nothing usable ('', '.', '..')."""
    name = re.split(r"[/\\]", recorded)[-1]
    return None if name in ("", ".", "..") or "\x00" in name else name


def _resolve(fs, directory: str, recorded: str) -> Optional[str]:
    name = base_name(recorded)
    return None if name is None else fs.join(directory, name)


def latest(fs, directory: str) -> Optional[str]:
    """The prefix of the directory's latest checkpoint, or None without a state file or path."""
    fields = _read_fields(fs, directory)
    if not fields:
        return None
    recorded = [v for f, v in fields if f == "model_checkpoint_path" and isinstance(v, str)]
    if not recorded:
        everything = [v for f, v in fields if f == "all_model_checkpoint_paths" and isinstance(v, str)]
        recorded = everything[-1:]
    return _resolve(fs, directory, recorded[-1]) if recorded else None


def entries(fs, directory: str) -> List[Tuple[str, Optional[float]]]:
    """(prefix, timestamp or None) for each checkpoint the state file lists, oldest first."""
    fields = _read_fields(fs, directory) or []
    paths = [v for f, v in fields if f == "all_model_checkpoint_paths" and isinstance(v, str)]
    stamps = [v for f, v in fields if f == "all_model_checkpoint_timestamps" and isinstance(v, float)]
    latest_paths = [v for f, v in fields if f == "model_checkpoint_path" and isinstance(v, str)]
    if latest_paths and latest_paths[-1] not in paths:
        paths.append(latest_paths[-1])
    out: List[Tuple[str, Optional[float]]] = []
    seen = set()
    for i, recorded in enumerate(paths):
        prefix = _resolve(fs, directory, recorded)
        if prefix is None or prefix in seen:
            continue
        seen.add(prefix)
        out.append((prefix, stamps[i] if i < len(stamps) else None))
    return out


def text(name: str) -> bytes:
    """A state file naming one checkpoint, ``name`` relative to its directory (as TF2 writes)."""
    quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return f"model_checkpoint_path: {quoted}\nall_model_checkpoint_paths: {quoted}\n".encode("utf-8")
