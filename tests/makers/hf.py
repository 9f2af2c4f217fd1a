"""Hugging Face transformers 4.x TF models built from tiny configs (never from a hub), saved the
ways transformers and tf-keras save them, and loaded with the real ``from_pretrained``.

Every saved weight is filled with its own random values first, so that "this weight holds a
saved value" can be read off the loaded model: no freshly initialized weight (zeros, ones,
N(0, 0.02)) equals one of them. transformers and TF are imported inside the functions.
"""

from __future__ import annotations

import os
from typing import Dict, FrozenSet, NamedTuple, Optional

import numpy as np

SENTINEL = 7.0

# (family, class names by role): the base model, and models with a head on it.
FAMILIES = {
    "bert": ("BertConfig", {"base": "TFBertModel", "classifier": "TFBertForSequenceClassification",
                            "tokens": "TFBertForTokenClassification"}),
    "gpt2": ("GPT2Config", {"base": "TFGPT2Model", "classifier": "TFGPT2ForSequenceClassification",
                            "lm": "TFGPT2LMHeadModel"}),
}


def config(family="bert", layers=2, hidden=32, vocab=50, labels=3):
    import transformers

    if family == "bert":
        return transformers.BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                                       num_attention_heads=2, intermediate_size=hidden + 5,
                                       max_position_embeddings=20, num_labels=labels)
    return transformers.GPT2Config(vocab_size=vocab, n_embd=hidden, n_layer=layers, n_head=2, n_positions=20,
                                   num_labels=labels, pad_token_id=0)


def build(family, role, cfg, randomize: Optional[int] = None):
    """A built model; ``randomize``: a seed to give every weight its own random values."""
    import transformers

    model = getattr(transformers, FAMILIES[family][1][role])(cfg)
    model.build_in_name_scope()
    if randomize is not None:
        rng = np.random.default_rng(randomize)
        for w in model.weights:
            w.assign(rng.normal(3.0, 1.0, tuple(w.shape)).astype(w.dtype.as_numpy_dtype))
    return model


def save(model, directory, how) -> str:
    """The path a loader is pointed at: ``h5`` / ``safetensors`` (save_pretrained), ``weights``
    (tf-keras save_weights, the same legacy h5), ``checkpoint`` (tf.train.Checkpoint)."""
    os.makedirs(directory, exist_ok=True)
    if how in ("h5", "safetensors"):
        model.save_pretrained(directory, safe_serialization=how == "safetensors")
        return os.path.join(directory, "model.safetensors" if how == "safetensors" else "tf_model.h5")
    if how == "weights":
        path = os.path.join(directory, "weights.h5")
        model.save_weights(path)
        return path
    import tensorflow as tf

    return tf.train.Checkpoint(model=model).write(os.path.join(directory, "ckpt"))


class Outcome(NamedTuple):
    ok: bool  # from_pretrained returned a model
    restored: FrozenSet[str]  # weight names without the model's own name ("bert/...:0" less ":0")
    error: Optional[str]


def short(name: str) -> str:
    """A weight's name with the model's own name and ':0' dropped: the same for every instance."""
    name = name[:-2] if name.endswith(":0") else name
    return name.split("/", 1)[1] if "/" in name else name


def saved_values(path) -> list:
    if path.endswith(".safetensors"):
        from safetensors.numpy import load_file

        return list(load_file(path).values())
    import h5py

    out = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda _, obj: out.append(np.asarray(obj)) if isinstance(obj, h5py.Dataset) else None)
    return out


def _holding_saved(model, values) -> FrozenSet[str]:
    by_size: Dict[int, list] = {}
    for v in values:
        by_size.setdefault(v.size, []).append(v.ravel())
    found = set()
    for w in model.weights:
        x = np.asarray(w.numpy()).ravel()
        if any(np.array_equal(x, v.astype(x.dtype)) for v in by_size.get(x.size, ())):
            found.add(short(w.name))
    return frozenset(found)


def from_pretrained(model, path, ignore_mismatched_sizes=False) -> Outcome:
    """``type(model).from_pretrained(path, config=model.config, ...)``, the real call. When it
    raises, what it leaves behind is read from transformers' own ``load_tf_weights`` (the
    function from_pretrained calls after building the model) on a copy filled with a sentinel."""
    from transformers.modeling_tf_utils import load_tf_weights

    values = saved_values(path)
    try:
        loaded = type(model).from_pretrained(path, config=model.config,
                                             ignore_mismatched_sizes=ignore_mismatched_sizes)
    except Exception as e:  # the loader's own failure is the observation
        for w in model.weights:
            w.assign(np.full(tuple(w.shape), SENTINEL, w.dtype.as_numpy_dtype))
        try:
            load_tf_weights(model, path, ignore_mismatched_sizes=ignore_mismatched_sizes)
        except Exception:
            pass
        return Outcome(False, _holding_saved(model, values), f"{type(e).__name__}: {e}")
    return Outcome(True, _holding_saved(loaded, values), None)


def predicted(report) -> FrozenSet[str]:
    """The report's restored weights, named as Outcome names them."""
    from tensorboard_plugin_ckptdiff import records

    return frozenset(short(e.base.full_name or e.base.key) for e in report.entries
                     if e.base is not None and e.base.kind == records.WEIGHT and e.restored)


def promised(report, snippet) -> FrozenSet[str]:
    by_key = {e.base.key: e.base for e in report.entries if e.base is not None}
    return frozenset(short(by_key[k].full_name or k) for k in snippet.restores)
