"""Hugging Face transformers' TF loader: how ``TFPreTrainedModel.from_pretrained`` pairs weights.

Held against transformers 4.x ``modeling_tf_utils`` (the last line with TF models):
- ``tf_model.h5`` (``load_tf_weights_from_h5``): for each of the model's top-level layers
  whose name is in the file's ``layer_names``, its weights are looked up in that layer's group
  by name with the first component (the model's own name, ``tf_bert_model``) dropped on both
  sides, so a base model and a model with a head share ``bert/...``. Layers and weights the
  model does not have are ignored. A missing ``.../embeddings:0`` is looked for as
  ``.../weight:0``. A shape that differs is reshaped when the element count fits, else it
  raises, or with ``ignore_mismatched_sizes=True`` that weight is skipped. Nothing is assigned
  before every weight was checked. Dtypes are cast.
- TF safetensors (``load_tf_weights_from_safetensors``; ``__metadata__`` ``format: tf``): keys
  are the weight names with the model name stripped (``strip_model_name_and_prefix``); the
  model's weights are looked up by the same, one by one in ``model.weights`` order, so a
  failure leaves the weights before it assigned.
- ``_keys_to_ignore_on_load_missing/unexpected`` only filter the warnings it prints: a weight
  they name is still left at its initial value, so it still counts as not restored here.
The model is the one ``from_pretrained`` builds from the config it is given
(``config=model.config``); without one it builds the checkpoint's own.
"""

from __future__ import annotations

import re
from typing import Callable, Optional, Tuple

from tensorboard_plugin_ckptdiff import records

WRITER = "transformers"
FRAMEWORK = "transformers"
# Model names transformers gives its TF models: the class name in snake case (TFBertModel ->
# tf_bert_model), with Keras's counter when a second one is built in the process.
_MODEL_NAME = re.compile(r"^tf_[a-z0-9_]+$")


def strip_model_name_and_prefix(name: str) -> str:
    """transformers' own rule (modeling_tf_utils), without a load_weight_prefix."""
    if "model." not in name and len(name.split("/")) > 1:
        name = "/".join(name.split("/")[1:])
    return name


def display_name(name: str) -> str:
    """What a person reads: the name without the model's own (``bert/encoder/...``), no ``:0``."""
    return strip_model_name_and_prefix(records.strip_output_suffix(name))


def written_by_transformers_h5(variables) -> bool:
    """A legacy h5 whose every weight is ``<model name>/<its layer>/...`` with one model name
    of transformers' form: what ``save_pretrained`` (tf-keras ``save_weights``) writes."""
    model_names = set()
    seen = False
    for v in variables:
        if v.kind != records.WEIGHT or v.layer_path is None or v.index is None:
            continue
        parts = (v.full_name or v.name).split("/")
        if len(parts) < 3 or parts[1] != v.layer_path:
            return False
        model_names.add(parts[0])
        seen = True
    return seen and len(model_names) == 1 and bool(_MODEL_NAME.match(model_names.pop()))


def is_transformers_model(obj) -> bool:
    names = {f"{c.__module__}.{c.__qualname__}" for c in type(obj).__mro__}
    return any(n.startswith("transformers.") and n.endswith(".TFPreTrainedModel") for n in names)


def applies(base, target) -> bool:
    """``auto`` chooses from_pretrained's rule: the file was written by transformers, or a
    transformers model is restored from an h5 or safetensors file."""
    if not isinstance(target, records.Checkpoint):
        return False
    if target.writer == WRITER:
        return True
    if target.format not in (records.KERAS_LEGACY_H5, records.SAFETENSORS):
        return False
    if isinstance(base, records.Architecture):
        return base.framework == FRAMEWORK
    return isinstance(base, records.Checkpoint) and base.writer == WRITER


def _raw(v: records.Variable) -> str:
    """The weight's TF name as transformers compares it (``:0`` included)."""
    name = v.full_name or v.name
    return name if re.search(r":\d+$", name) else name + ":0"


def _stripped(side, v: records.Variable, h5: bool) -> str:
    if isinstance(side, records.Checkpoint) and side.format == records.SAFETENSORS:
        return v.key  # save_pretrained already stripped the model name
    raw = _raw(v)
    return "/".join(raw.split("/")[1:]) if h5 else strip_model_name_and_prefix(raw)


def _layer(side, v: records.Variable) -> Optional[str]:
    if isinstance(side, records.Checkpoint) and side.format == records.SAFETENSORS:
        return v.key.split("/", 1)[0]  # the top-level layer a stripped name starts with
    return v.layer_path


def identities(base, target, loader: str) -> Tuple[Callable, Callable]:
    """(base identity, target identity) functions for pairing.by_identity."""
    h5 = loader == records.TRANSFORMERS_H5
    if h5:
        def target_id(t):
            return (_layer(target, t), _stripped(target, t, True))

        def primary(b):
            return (_layer(base, b), _stripped(base, b, True))
    else:
        def target_id(t):
            return t.key if target.format == records.SAFETENSORS else _stripped(target, t, False)

        def primary(b):
            return _stripped(base, b, False)
    held = {target_id(t) for t in target.variables}

    def base_id(b):
        ident = primary(b)
        if h5 and ident not in held and ident[1].endswith("embeddings:0"):
            # transformers' retro-compatibility patch: embeddings saved as ".../weight:0"
            alternative = (ident[0], ident[1][: -len("embeddings:0")] + "weight:0")
            if alternative in held:
                return alternative
        return ident

    return base_id, target_id
