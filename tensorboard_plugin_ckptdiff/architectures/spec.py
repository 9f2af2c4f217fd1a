"""An Architecture as bytes and back: the versioned payload of a model_spec summary."""

from __future__ import annotations

import dataclasses
import gzip
import json

from tensorboard_plugin_ckptdiff import metadata, records

# The payload names itself, so a blob found anywhere can be recognised before it is trusted.
FORMAT = "ckptdiff.model_spec"
_GZIP_MAGIC = b"\x1f\x8b"
_VARIABLE_FIELDS = tuple(f.name for f in dataclasses.fields(records.Variable))


class SpecError(ValueError):
    """A model_spec payload this version cannot read; the message says why."""


def to_bytes(architecture: records.Architecture) -> bytes:
    """gzip'd JSON: {"format", "version", "framework", "variables": [{field: value}]}."""
    payload = {
        "format": FORMAT,
        "version": metadata.PROTO_VERSION,
        "framework": architecture.framework,
        "source": architecture.source,
        "variables": [
            {name: _jsonable(getattr(v, name)) for name in _VARIABLE_FIELDS}
            for v in architecture.variables
        ],
    }
    text = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")
    # mtime=0: the same model gives the same bytes, so demo logs and tests are reproducible.
    return gzip.compress(text, mtime=0)


def from_bytes(data: bytes, **fields) -> records.Architecture:
    """The Architecture in ``data``; ``fields`` (id, run, step, wall_time...) are set on it.

    Raises SpecError for anything that is not a payload of a version we know.
    """
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise SpecError(f"model spec is not valid gzip data ({e}).") from None
    try:
        payload = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise SpecError(f"model spec is not JSON ({e}).") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise SpecError("model spec payload lacks its format marker; it was not written by summary.model_spec.")
    version = payload.get("version")
    if version != metadata.PROTO_VERSION:
        raise SpecError(
            f"model spec version {version!r} is not supported (this Checkpoint Diff reads version "
            f"{metadata.PROTO_VERSION}); upgrade tensorboard_plugin_ckptdiff to read it.")
    try:
        variables = tuple(_variable(v) for v in payload["variables"])
    except (KeyError, TypeError, ValueError) as e:
        raise SpecError(f"model spec has a malformed variable entry ({e!r}).") from None
    fields.setdefault("id", "model_spec")
    fields.setdefault("source", "model_spec")
    fields.setdefault("framework", payload.get("framework"))
    return records.Architecture(variables=variables, **fields)


def _jsonable(value):
    return list(value) if isinstance(value, tuple) else value


def _variable(entry: dict) -> records.Variable:
    known = {k: entry[k] for k in _VARIABLE_FIELDS if k in entry}  # newer fields are ignored
    shape = known.get("shape")
    if shape is not None:
        known["shape"] = tuple(None if d is None else int(d) for d in shape)
    for name in ("key", "name", "dtype"):
        if not isinstance(known.get(name), str):
            raise ValueError(f"{name} must be a string")
    return records.Variable(**known)
