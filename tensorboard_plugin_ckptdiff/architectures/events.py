"""Architectures found in runs' event data, read through TensorBoard's data provider.

Sources, best first: this plugin's model_spec summaries, the Keras config (tag ``keras``,
rebuilt with Keras when it is importable), TF1 run graphs (``__run_graph__``) and meta
graphs written by ``summary.meta_graph_pb``. Bad data in one summary gives that summary an
Architecture with status ``error``; it never stops the others from being read.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import threading
from typing import Callable, Dict, List, Optional

from tensorboard_plugin_ckptdiff import metadata, records
from tensorboard_plugin_ckptdiff.architectures import meta_graph, spec

logger = logging.getLogger(__name__)

MODEL_SPEC = "model_spec"
KERAS_CONFIG = "keras_config"
GRAPH = "graph"
META_GRAPH = "meta_graph"

KERAS_PLUGIN = "graph_keras_model"  # what Keras's TensorBoard callback writes under tag "keras"
GRAPHS_PLUGIN = "graphs"
RUN_GRAPH_TAG = "__run_graph__"
# Every point of a run's model specs is kept: a spec per fit() is a handful, not a series.
_DOWNSAMPLE = 1000

KerasLoader = Callable[[str], object]


def read_architectures(data_provider, ctx, experiment_id,
                       keras_loader: Optional[KerasLoader] = None) -> Dict[str, List[records.Architecture]]:
    """{run: [Architecture, ...]} oldest first, for every run with an architecture.

    ``keras_loader`` turns a Keras config JSON into a built model (default: Keras 3, then
    tf-keras); it raises ImportError when no Keras is importable, which gives an error
    Architecture for that config.
    """
    loader = keras_loader or rebuild_keras_model
    found: Dict[str, List[records.Architecture]] = {}
    for plugin, build in (
        (metadata.PLUGIN_NAME, _from_ckptdiff),
        (KERAS_PLUGIN, lambda data, **f: _from_keras_config(data, loader, **f)),
        (GRAPHS_PLUGIN, _from_run_graph),
    ):
        for run, tag, datum, blob in _blobs(data_provider, ctx, experiment_id, plugin):
            if plugin == GRAPHS_PLUGIN and tag != RUN_GRAPH_TAG:
                continue  # run metadata and profiles: no variables there
            fields = {"run": run, "step": int(datum.step), "wall_time": float(datum.wall_time)}
            architecture = _built(plugin, loader, build, blob, tag, fields)
            if architecture is not None:
                found.setdefault(run, []).append(architecture)
    return {run: _with_unique_ids(sorted(archs, key=_age)) for run, archs in sorted(found.items())}


def rebuild_keras_model(config_json: str):
    """A built model from a Keras config JSON: Keras 3 for configs it wrote, tf-keras for
    Keras 2 configs (or when Keras 3 cannot read them). ImportError when neither is there."""
    version = str(json.loads(config_json).get("keras_version", ""))
    loaders = [_keras3_from_json, _tf_keras_from_json]
    if version.startswith("2."):
        loaders.reverse()
    errors = []
    for load in loaders:
        try:
            return load(config_json)
        except ImportError as e:
            errors.append(e)
        except Exception as e:  # a config one Keras cannot read may suit the other
            errors.append(e)
    if all(isinstance(e, ImportError) for e in errors):
        raise ImportError("neither keras nor tf_keras is importable")
    raise ValueError(f"Keras could not rebuild the model from its config: {errors[0]}")


def _keras3_from_json(config_json: str):
    import keras

    return keras.models.model_from_json(config_json)


def _tf_keras_from_json(config_json: str):
    import tf_keras

    return tf_keras.models.model_from_json(config_json)


# --- reading -------------------------------------------------------------------------------


def _blobs(data_provider, ctx, experiment_id, plugin):
    """(run, tag, datum, first blob bytes) for each point of each blob sequence of a plugin."""
    try:
        series = data_provider.read_blob_sequences(
            ctx, experiment_id=experiment_id, plugin_name=plugin, downsample=_DOWNSAMPLE)
    except Exception as e:  # a provider that cannot answer hides this source, not the others
        logger.warning("ckptdiff: reading %s blob sequences failed: %s", plugin, e)
        return
    for run, tags in sorted(series.items()):
        for tag, data in sorted(tags.items()):
            for datum in data:
                if not datum.values:
                    continue
                try:
                    blob = data_provider.read_blob(ctx, blob_key=datum.values[0].blob_key)
                except Exception as e:
                    blob = e  # reported on this architecture, below
                yield run, tag, datum, blob


# The plugin asks again every reload interval, from a request: rebuilding a Keras config
# imports and builds a model (about a second), so an unchanged summary is built once.
_BUILT: "collections.OrderedDict[tuple, Optional[records.Architecture]]" = collections.OrderedDict()
_BUILT_KEPT = 512
_BUILT_LOCK = threading.Lock()


def _built(plugin, loader, build, blob, tag, fields) -> Optional[records.Architecture]:
    if isinstance(blob, Exception):
        return _build_safely(build, blob, tag, fields)
    key = (plugin, loader if plugin == KERAS_PLUGIN else None, tag, hashlib.blake2b(blob).digest(),
           tuple(sorted(fields.items())))
    with _BUILT_LOCK:
        if key in _BUILT:
            _BUILT.move_to_end(key)
            return _BUILT[key]
    architecture = _build_safely(build, blob, tag, fields)
    with _BUILT_LOCK:
        _BUILT[key] = architecture
        while len(_BUILT) > _BUILT_KEPT:
            _BUILT.popitem(last=False)
    return architecture


def _build_safely(build, blob, tag, fields) -> Optional[records.Architecture]:
    source = _source_of(build, tag)
    fields = dict(fields, source=source, id=_id(fields["run"], source, fields["step"], tag))
    if isinstance(blob, Exception):
        return records.Architecture(status=records.ERROR, error=f"could not read the summary: {blob}", **fields)
    try:
        return build(blob, tag=tag, **fields)
    except Exception as e:  # bad data is reported on its architecture, never raised
        return records.Architecture(status=records.ERROR, error=_message(source, e), **fields)


def _source_of(build, tag) -> str:
    if build is _from_ckptdiff:
        return META_GRAPH if tag == metadata.META_GRAPH_TAG else MODEL_SPEC
    return GRAPH if build is _from_run_graph else KERAS_CONFIG


def _id(run: str, source: str, step: int, tag: str) -> str:
    default_tags = (metadata.MODEL_SPEC_TAG, metadata.META_GRAPH_TAG, "keras", RUN_GRAPH_TAG)
    suffix = "" if tag in default_tags else f"/{tag}"
    return f"{run}/{source}/{step}{suffix}"


def _message(source: str, e: Exception) -> str:
    if isinstance(e, spec.SpecError):
        return str(e)
    return f"could not read the {source.replace('_', ' ')}: {e}"


def _from_ckptdiff(blob: bytes, tag: str, source: str, **fields) -> records.Architecture:
    if source == META_GRAPH:
        return meta_graph.from_meta_graph(blob, **fields)
    return spec.from_bytes(blob, source=MODEL_SPEC, **fields)


def _from_run_graph(blob: bytes, tag: str, source: str, **fields) -> Optional[records.Architecture]:
    architecture = meta_graph.from_graph_def(blob, **fields)
    # TF2 function graphs capture variables as inputs: no variable ops, no architecture.
    return architecture if architecture.variables else None


def _from_keras_config(blob: bytes, loader: KerasLoader, tag: str, source: str, **fields) -> records.Architecture:
    config_json = blob.decode("utf-8")
    try:
        model = loader(config_json)
    except ImportError:
        return records.Architecture(
            source=source, status=records.ERROR, **fields,
            error="Keras is not importable where TensorBoard runs: install keras (or tf-keras) "
                  "to see the variables of this Keras config, or write a model_spec summary.")
    from tensorboard_plugin_ckptdiff.architectures import live

    rebuilt = live.from_model(model)
    if not rebuilt.variables:
        return records.Architecture(
            source=source, status=records.ERROR, framework=rebuilt.framework, **fields,
            error="the Keras config has no input shape, so its variables are unknown; "
                  "write a model_spec summary (ModelSpecCallback) instead.")
    # The optimizer of the rebuilt model is not the run's: only the model's own variables.
    weights = tuple(v for v in rebuilt.variables if v.kind == records.WEIGHT)
    return records.Architecture(source=source, variables=weights, framework=rebuilt.framework, **fields)


def _age(architecture: records.Architecture):
    return (architecture.step if architecture.step is not None else -1, architecture.wall_time or 0.0)


def _with_unique_ids(architectures: List[records.Architecture]) -> List[records.Architecture]:
    import dataclasses

    seen: Dict[str, int] = {}
    out = []
    for a in architectures:
        n = seen.get(a.id, 0)
        seen[a.id] = n + 1
        out.append(a if n == 0 else dataclasses.replace(a, id=f"{a.id}#{n}"))
    return out
