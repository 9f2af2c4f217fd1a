"""How each loader pairs a model's variables with a checkpoint's: the diff modes.

``name``, ``object_path`` and ``keras_order`` are the rules of TF's and Keras's loaders;
``transformers`` is ``TFPreTrainedModel.from_pretrained`` (from_pretrained.py); ``structure``
pairs two files of one Keras model written in different formats by layer order and variable
order (structure.py), where no loader reads one into the other."""

from __future__ import annotations

import dataclasses
import functools
import operator
from itertools import compress, repeat
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.errors import InvalidArgument

# The modes and their loaders are vocabulary (records.py); their rules are this module.
from tensorboard_plugin_ckptdiff.records import (
    AUTO, KERAS3, KERAS_LEGACY, KERAS_ORDER, MODES, NAME, OBJECT_PATH, STRUCTURE, STRUCTURE_ONLY, TF1_SAVER,
    TF2_CHECKPOINT, TRANSFORMERS, TRANSFORMERS_H5, TRANSFORMERS_SAFETENSORS)


@dataclasses.dataclass(frozen=True)
class Pairing:
    """What a loader would pair, and what it would leave alone on either side."""

    mode: str
    loader: str
    # The target variable paired with each base variable (None: none), in base_variables'
    # order: one tuple for a side of 100k rather than a (base, target) tuple per pair.
    partners: Tuple[Optional[records.Variable], ...]
    missing: Tuple[records.Variable, ...]  # base variables the loader finds nothing for
    unexpected: Tuple[records.Variable, ...]  # target variables nothing asks for
    base_variables: Tuple[records.Variable, ...]
    target_variables: Tuple[records.Variable, ...]
    # The name each side is looked up by under this mode, '/'-separated: what a rename changes.
    base_path: Callable[[records.Variable], str] = str
    target_path: Callable[[records.Variable], str] = str

    # Each side's paths in its variables' order when the pairing computed them already (name
    # mode: the identities are the paths); None: each is asked of base_path/target_path.
    known_paths: Optional[Tuple[Sequence[str], Sequence[str]]] = dataclasses.field(
        default=None, compare=False, repr=False)

    # Every path of a side, in its variables' order: computed once, on first use.
    @functools.cached_property
    def base_paths_in_order(self) -> Sequence[str]:
        if self.known_paths is not None:
            return self.known_paths[0]
        return [self.base_path(v) for v in self.base_variables]

    @functools.cached_property
    def target_paths_in_order(self) -> Sequence[str]:
        if self.known_paths is not None:
            return self.known_paths[1]
        return [self.target_path(v) for v in self.target_variables]

    @property
    def pairs(self) -> Tuple[Tuple[records.Variable, records.Variable], ...]:
        """(base, target) of every pair, in the base's order."""
        return tuple((b, t) for b, t in zip(self.base_variables, self.partners) if t is not None)


def variables_of(side) -> Tuple[records.Variable, ...]:
    if not isinstance(side, (records.Checkpoint, records.Architecture)):
        raise InvalidArgument(f"a diff side is a Checkpoint or an Architecture, not {type(side).__name__}")
    if side.status != records.OK:
        what = "checkpoint" if isinstance(side, records.Checkpoint) else "architecture"
        raise InvalidArgument(f"the {what} {side.id!r} is {side.status}: {side.error or 'not readable'}")
    variables = side.variables
    # The object graph's own entry is no variable. It is a TF bundle's key: the files that cannot
    # hold one (a safetensors side may have 100k variables) are not searched for it.
    if isinstance(side, records.Checkpoint) and side.format in _NO_OBJECT_GRAPH:
        return tuple(variables)
    keys = list(map(_key, variables))  # C loops: a bundle may have 100k variables
    if keys.count(records.OBJECT_GRAPH_KEY) != 1:
        return tuple([v for v in variables if v.key != records.OBJECT_GRAPH_KEY])
    at = keys.index(records.OBJECT_GRAPH_KEY)
    return tuple(variables[:at]) + tuple(variables[at + 1:])


_full_name = operator.attrgetter("full_name")
_key = operator.attrgetter("key")
_object_path = operator.attrgetter("object_path")
_NO_OBJECT_GRAPH = (records.SAFETENSORS, records.KERAS_WEIGHTS_H5, records.KERAS_ARCHIVE, records.KERAS_LEGACY_H5)


def _format(side) -> Optional[Tuple[str, Optional[str]]]:
    if isinstance(side, records.Checkpoint):
        return side.format, side.flavor
    return None


def resolve(base, target, mode: str) -> Tuple[str, str]:
    """(effective mode, loader): ``auto`` is the rule of the real loader for the target's format."""
    if mode not in MODES:
        raise InvalidArgument(f"mode is one of {', '.join(MODES)}; got {mode!r}")
    fmt = _format(target) or _format(base)
    if mode == AUTO:
        mode = _auto(fmt, target, base)
    if mode == NAME:
        return mode, TF1_SAVER
    if mode == OBJECT_PATH:
        return mode, TF2_CHECKPOINT
    if mode == TRANSFORMERS:
        safetensors = fmt is not None and fmt[0] == records.SAFETENSORS
        return mode, TRANSFORMERS_SAFETENSORS if safetensors else TRANSFORMERS_H5
    if mode == STRUCTURE:
        return mode, STRUCTURE_ONLY
    legacy = fmt is not None and fmt[0] == records.KERAS_LEGACY_H5
    if fmt is None and isinstance(base, records.Architecture) and base.framework == "tf_keras":
        legacy = True
    return mode, KERAS_LEGACY if legacy else KERAS3


def _auto(fmt, target, base=None) -> str:
    if fmt is None:  # two architectures: the only identity both surely have is the name
        return NAME
    from tensorboard_plugin_ckptdiff.diff import from_pretrained, structure

    if from_pretrained.applies(base, target):
        return TRANSFORMERS
    if structure.applies(base, target):
        return STRUCTURE
    name, flavor = fmt
    if name in (records.KERAS_WEIGHTS_H5, records.KERAS_ARCHIVE, records.KERAS_LEGACY_H5):
        return KERAS_ORDER
    if name == records.SAFETENSORS:
        return NAME
    if name == records.TF_BUNDLE and flavor == records.NAME_BASED:
        return NAME
    if name == records.TF_BUNDLE and flavor is None and getattr(target, "object_graph", None) is None:
        return NAME
    return OBJECT_PATH


def pair(base, target, mode: str = AUTO) -> Pairing:
    mode, loader = resolve(base, target, mode)
    base_vars, target_vars = variables_of(base), variables_of(target)
    if mode == NAME:
        return _by_identity(mode, loader, base_vars, target_vars, name_of, name_of)
    if mode == KERAS_ORDER:
        slot = _legacy_slot if loader == KERAS_LEGACY else _keras3_slot
        return _by_identity(mode, loader, base_vars, target_vars, slot, slot)
    if mode == TRANSFORMERS:
        from tensorboard_plugin_ckptdiff.diff import from_pretrained

        base_id, target_id = from_pretrained.identities(base, target, loader)
        return _by_identity(mode, loader, base_vars, target_vars, base_id, target_id)
    if mode == STRUCTURE:
        from tensorboard_plugin_ckptdiff.diff import structure

        base_id, target_id = structure.identities(base, target)
        return _by_identity(mode, loader, base_vars, target_vars, base_id, target_id)
    return _by_object_path(base, target, base_vars, target_vars)


# --- identities -----------------------------------------------------------------------------


def name_of(v: records.Variable) -> str:
    return records.strip_output_suffix(v.full_name or v.name)


def _names(variables) -> List[str]:
    """name_of of each variable, without a call per variable (a side may have 100k)."""
    names = list(map(_full_name, variables))  # a C loop; a variable without one goes by its name
    if not all(names):  # a None or "" among them
        names = [v.full_name or v.name for v in variables]
    # Most sides have no ":0" to strip: one search of the joined names says so.
    if ":0\n" not in "\n".join(names) + "\n":
        return names
    return [n[:-2] if n.endswith(":0") else n for n in names]


def _keras3_slot(v: records.Variable):
    return None if v.layer_path is None or v.index is None else (v.layer_path, v.index)


def _legacy_slot(v: records.Variable):
    return None if v.layer_index is None or v.index is None else (v.layer_index, v.index)


def _by_identity(mode, loader, base_vars, target_vars, base_id, target_id) -> Pairing:
    """Pair equal identities; a repeated identity pairs in order (the i-th with the i-th)."""
    base_ids = _names(base_vars) if base_id is name_of else [base_id(b) for b in base_vars]
    target_ids = _names(target_vars) if target_id is name_of else [target_id(t) for t in target_vars]
    index = dict(zip(target_ids, target_vars))
    index.pop(None, None)
    if len(index) == len(target_ids):
        # No target identity repeats, the common case: each base variable takes the target of
        # its identity out of the index, the first of a repeated base identity taking it (a
        # later one finds it gone: missing), and what stays in the index, in the target's
        # order, is unexpected. C loops: a side may have 100k variables.
        partners = list(map(index.pop, base_ids, repeat(None)))
        missing = list(compress(base_vars, map(operator.is_, partners, repeat(None))))
        unexpected = tuple(index.values())
    else:
        partners, missing, taken = _in_order(base_vars, base_ids, target_vars, target_ids)
        unexpected = tuple(t for t in target_vars if id(t) not in taken)
    # In name mode the identities are the paths: keep them rather than compute them again.
    known = (base_ids, target_ids) if mode == NAME else None
    return Pairing(mode, loader, tuple(partners), tuple(missing), unexpected, base_vars, target_vars,
                   name_of, name_of, known)


def _in_order(base_vars, base_ids, target_vars, target_ids):
    waiting: Dict[object, List[records.Variable]] = {}
    for t, ident in zip(target_vars, target_ids):
        if ident is not None:
            waiting.setdefault(ident, []).append(t)
    for queue in waiting.values():
        queue.reverse()
    partners, missing, taken = [], [], set()
    for b, ident in zip(base_vars, base_ids):
        queue = waiting.get(ident) if ident is not None else None
        if queue:
            t = queue.pop()
            taken.add(id(t))
            partners.append(t)
        else:
            missing.append(b)
            partners.append(None)
    return partners, missing, taken


# --- object paths ----------------------------------------------------------------------------


def _by_object_path(base, target, base_vars, target_vars) -> Pairing:
    graph = target.object_graph if isinstance(target, records.Checkpoint) else None
    if graph is None or not graph.nodes:
        return _by_identity(OBJECT_PATH, TF2_CHECKPOINT, base_vars, target_vars, _own_path, _own_path)
    by_key = dict(zip(map(_key, target_vars), target_vars))
    if isinstance(base, records.Architecture):
        start = model_root(graph, [b.object_path for b in base_vars if b.object_path])
        candidates = lambda b: (b.object_path,)  # noqa: E731
    else:  # checkpoint against checkpoint: both paths start at their roots
        start = 0
        candidates = lambda b: (b.object_path, b.name)  # noqa: E731
    # Each path is looked up in the graph's index of paths (ObjectGraph.walks_from), walked
    # only when not there: a walk per variable was most of a 20k-variable diff.
    indexes = {0: graph.walks_from(0), start: graph.walks_from(start)}

    def value_at(path, s):
        node = indexes[s].get(path)
        if node is None:
            node = graph.walk(path, s)
            if node is None:
                return None
        key = graph.value_keys.get(node)
        return by_key.get(key) if key is not None else None

    # Each base variable's own path looked up at once, by C loops (a side may have 100k): the
    # node in the index, the checkpoint key of its value, the target variable of that key.
    # Where that finds a variable not taken yet it is the partner the rule below would give;
    # anything else (not in the index, taken, no path) goes through the rule itself.
    value_keys = graph.value_keys
    paths = list(map(_object_path, base_vars))
    first = list(map(by_key.get, map(value_keys.get, map(indexes[start].get, paths))))
    # operator.is_, not `None in first`: that asks each variable's (Python) __eq__
    found_all = all(map(operator.is_not, first, repeat(None))) and all(paths)
    taken = set(map(id, first)) if found_all else None
    if found_all and len(taken) == len(first):
        # Every one found, each a different variable: the partners, nothing missing; and every
        # target taken when there are as many (the diff of two saves of one model).
        unexpected = () if len(taken) == len(target_vars) else tuple(
            compress(target_vars, map(operator.not_, map(taken.__contains__, map(id, target_vars)))))
        return Pairing(OBJECT_PATH, TF2_CHECKPOINT, tuple(first), (), unexpected, base_vars, target_vars,
                       _own_path, _own_path)
    partners, missing, taken = [], [], set()
    for b, found in zip(base_vars, first):
        if found is None or id(found) in taken or not b.object_path:
            found = None
            for path in candidates(b):
                found = value_at(path, start) if path else None
                if found is None and path and start != 0:
                    found = value_at(path, 0)  # an optimizer tracked beside the model
                if found is not None and id(found) not in taken:
                    break
                found = None
        partners.append(found)
        if found is None:
            missing.append(b)
        else:
            taken.add(id(found))
    unexpected = tuple(t for t in target_vars if id(t) not in taken)
    within = _paths_within(graph, start) if (missing and unexpected) else {}
    key_node = {}
    if within:
        for node_id, node in enumerate(graph.nodes):
            for name, key, _ in node.attributes:
                if name == "VARIABLE_VALUE":
                    key_node[key] = node_id

    def target_path(t: records.Variable) -> str:
        path = within.get(key_node.get(t.key))
        return path if path is not None else _own_path(t)

    return Pairing(OBJECT_PATH, TF2_CHECKPOINT, tuple(partners), tuple(missing), unexpected,
                   base_vars, target_vars, _own_path, target_path)


def _own_path(v: records.Variable) -> str:
    return v.object_path or v.key


def model_root(graph: records.ObjectGraph, paths: Sequence[str], sample: int = 64) -> int:
    """The node a model maps to: the root (Keras-2-style save_weights) or one of its children
    (``tf.train.Checkpoint(model=m)``), whichever resolves most of the model's own paths."""
    sample_paths = list(paths[:sample])
    best, best_score = 0, -1
    candidates = [0] + [child for name, child in graph.nodes[0].children if name == "model"]
    candidates += [child for name, child in graph.nodes[0].children if name != "model"]
    for node in candidates:
        score = sum(1 for p in sample_paths if graph.walk(p, node) is not None)
        if score > best_score:
            best, best_score = node, score
    return best


def _paths_within(graph: records.ObjectGraph, start: int) -> Dict[int, str]:
    """node -> shortest path from ``start`` (breadth first, as TF names keys)."""
    paths = {start: ""}
    queue = [start]
    for node in queue:
        prefix = paths[node]
        for name, child in graph.nodes[node].children:
            if child not in paths and 0 <= child < len(graph.nodes):
                paths[child] = f"{prefix}/{name}" if prefix else name
                queue.append(child)
    return paths
