"""What would make the restore succeed: the assignment map and code for the target's loader.

Every snippet is code that runs against the real loader (the tests run each kind) and says
which base variables it leaves holding saved values (``Snippet.restores``). A snippet is
offered only where it changes the outcome: a loader that fails, or variables only code can
bring in (renamed, re-typed); an all-match diff, or one whose only gap is weights the file
does not hold, offers none. Paths are where the file is (absolute, or a URL).
"""

from __future__ import annotations

import collections
import operator
from itertools import compress, repeat
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple

from tensorboard_plugin_ckptdiff.diff import casting
from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.diff.pairing import (
    KERAS3, KERAS_LEGACY, TF1_SAVER, TF2_CHECKPOINT, TRANSFORMERS_H5, TRANSFORMERS_SAFETENSORS, Pairing)
from tensorboard_plugin_ckptdiff.diff import rows

if TYPE_CHECKING:  # the rename search is imported when a diff has something to search
    from tensorboard_plugin_ckptdiff.diff.renamed import Rename

_MAX_LISTED = 200  # beyond this, a snippet would be a wall of names: it says how to build the map


def assignment_map(renames: Sequence[Rename]) -> Tuple[Tuple[str, str], ...]:
    """(target name or scope, base name or scope): one line per scope that moved as a whole."""
    out: Dict[str, str] = {}
    for r in renames:
        if r.whole_scope:
            out[r.target_scope + "/"] = r.base_scope + "/"
        else:
            out[r.target_scope] = r.base_scope
    return tuple(out.items())


def location(side) -> str:
    """The path a pasted snippet opens: the file itself, wherever the snippet runs."""
    if isinstance(side, records.Checkpoint):
        return side.location or side.path
    return "PATH"


def suggest(pairing: Pairing, entries: "rows.Rows", renames: Sequence[Rename],
            path: str, judged) -> records.Fix:
    """The fix for the rows of a diff (rows.Rows, their restored flags set)."""
    mapping = assignment_map(renames)
    snippets: List[records.Snippet] = []
    loader, failed = pairing.loader, judged.failed
    if loader == TF1_SAVER:
        # Restorable with a shape mismatch: the Saver would assign a resource variable the
        # checkpoint's shape; the map restores the rest and leaves those at their initializers.
        if not judged.restorable or mapping or records.SHAPE_MISMATCH in entries.status:
            snippet = _init_from_checkpoint(pairing, entries, mapping, path)
            if snippet is not None:
                snippets.append(snippet)
    elif loader == TF2_CHECKPOINT:
        snippets += _tf2(entries, path, failed)
    elif loader == KERAS3:
        snippets += _keras3(pairing, entries, path, failed)
    elif loader == KERAS_LEGACY and failed:
        snippets += _legacy_by_name(pairing, path)
    elif loader in (TRANSFORMERS_H5, TRANSFORMERS_SAFETENSORS) and failed:
        snippets.append(_from_pretrained(loader, entries, path))
    return records.Fix(mapping, tuple(s for s in snippets if s.restores))


def _in_order(entries, keys) -> Tuple[str, ...]:
    return tuple(e.base.key for e in entries if e.base is not None and e.base.key in keys)


def _restores_in_order(made: "rows.Rows", keys: List[str]) -> Tuple[str, ...]:
    # ``keys`` were collected in row order: they are the answer unless a key repeats, when
    # every base variable holding it counts.
    unique = set(keys)
    return tuple(keys) if len(unique) == len(keys) else _base_keys_in(made, unique)


def _base_keys_in(made: "rows.Rows", keys) -> Tuple[str, ...]:
    """The keys of the base variables whose key is in ``keys``, in order."""
    return tuple(k for k in map(_key, made.base[:made.base_count]) if k in keys)


_key = operator.attrgetter("key")


def _init_from_checkpoint(pairing, made, mapping, path) -> Optional[records.Snippet]:
    """Every variable that can be restored: renamed scopes, then whole scopes that match."""
    # The base variables' rows come first, in the pairing's order, and a diff may have 100k:
    # each match's name, the other base variables' names and what the snippet restores are
    # picked by C loops over the status column. The TF1 Saver pairs by name, so a match's name
    # in the checkpoint is its own.
    names = pairing.base_paths_in_order
    status = made.status[:len(names)]
    is_match = list(map(operator.eq, status, repeat(records.MATCH)))
    matched = list(compress(names, is_match))
    others = compress(names, map(operator.not_, is_match))
    restores = made.base_keys(map(_RESTORED_BY_MAP.__contains__, status))
    # A top scope moves as a whole when every base variable under it matched: one of the
    # matches' tops that none of the other base variables shares ("" is no scope). A match
    # under a top another base variable has is never in one: str.startswith tells those
    # (there are few other tops to try), and only the rest are split into their tops.
    other_tops = set(_tops(others))
    other_tops.discard("")
    prefixes = tuple(top + "/" for top in other_tops)
    shared = (list(map(str.startswith, matched, repeat(prefixes))) if len(prefixes) <= _PREFIXES_TRIED
              else [False] * len(matched))
    rest = list(compress(matched, map(operator.not_, shared)))
    rest_tops = _tops(rest)
    whole = set(rest_tops).difference(other_tops)
    whole.discard("")
    # The map is listed only when it is short: count its keys first, and build the map, in its
    # order, only to show it. Its keys: the renames' and the whole scopes' (few), then each
    # match outside a whole scope (up to every variable): those are counted, less any that is
    # a key already, rather than put in a set of 100k names.
    full = dict(mapping)
    keys = set(full).union([top + "/" for top in whole])
    alone = list(compress(matched, shared))
    alone += compress(rest, map(operator.not_, map(whole.__contains__, rest_tops)))
    count = len(keys) + len(alone) - operator.countOf(map(keys.__contains__, alone), True)
    if not count:  # nothing the checkpoint holds fits: no map restores anything
        return None
    lines = ["import tensorflow as tf", "",
             "# Build the model in graph mode first; then, before running the initializer:"]
    if count <= _MAX_LISTED:
        for top, name in zip(_tops(matched), matched):
            if top in whole:
                full.setdefault(top + "/", top + "/")
            else:
                full.setdefault(name, name)
        lines.append("assignment_map = {")
        lines += [f"    {k!r}: {v!r}," for k, v in full.items()]
        lines.append("}")
    else:
        lines.append(f"assignment_map = ...  # {count} entries: report.fix.assignment_map plus the matches")
    lines.append(f"tf.compat.v1.train.init_from_checkpoint({path!r}, assignment_map)")
    return records.Snippet("Restore by name with an assignment map (init_from_checkpoint)", "\n".join(lines),
                           restores=_restores_in_order(made, restores))


_RESTORED_BY_MAP = frozenset((records.MATCH, records.RENAMED))
_PREFIXES_TRIED = 16  # str.startswith tries each: beyond this many, every match is split instead


def _tops(names) -> List[str]:
    """Each name's top scope ("a" of "a/b/c"; "" for a name without one)."""
    return [name.partition("/")[0] if "/" in name else "" for name in names]


def _tf2(made, path, failed) -> List[records.Snippet]:
    """By hand: RestoreV2 neither renames nor casts, and a failed restore stops part-way."""
    renamed = records.RENAMED in made.status
    if not failed and not renamed:
        return []  # what is missing is not in the file; what is extra is ignored: no code helps
    # Every match (it has both sides), a rename, and a dtype that casts.
    keep = list(map(operator.eq, made.status, repeat(records.MATCH)))
    casts = False
    for i, e in made.notable():
        keep[i] = e.base is not None and e.target is not None and (
            e.status in (records.MATCH, records.RENAMED)
            or e.status == records.DTYPE_MISMATCH and e.cast != casting.INCOMPATIBLE)
        casts = casts or (keep[i] and e.status == records.DTYPE_MISMATCH)
    restores = tuple(made.base_keys(keep))
    if not restores:
        return []
    lines = ["import tensorflow as tf", "", f"reader = tf.train.load_checkpoint({path!r})"]
    if len(restores) <= _MAX_LISTED:
        lines.append("saved_as = {  # the model's variable -> its key in the checkpoint")
        lines += [f"    {e.base.key!r}: {e.target.key!r}," for e in made.where(keep)]
        lines.append("}")
    else:  # a wall of names helps nobody: let the diff say it
        lines[1:1] = ["import tensorboard_plugin_ckptdiff as ckptdiff", ""]
        lines += [f"report = ckptdiff.compare(model, {path!r})",
                  "saved_as = {e.base.key: e.target.key for e in report.entries",
                  "            if e.status in ('match', 'renamed') or e.status == 'dtype_mismatch'"
                  " and e.cast != 'incompatible'}"]
    lines += ["for v in model.variables:",
              "    key = saved_as.get(getattr(v, 'path', v.name.split(':')[0]))",
              "    if key is not None:",
              "        v.assign(tf.cast(reader.get_tensor(key), v.dtype))"]
    what = " and ".join(w for w, present in (("casting", casts), ("renamed variables", renamed)) if present) \
        or "what fits"
    return [records.Snippet(f"Load {what} by hand (tf.train.Checkpoint neither renames nor casts)",
                            "\n".join(lines), restores=restores)]


def _keras3(pairing, made, path, failed) -> List[records.Snippet]:
    from tensorboard_plugin_ckptdiff.diff import restored

    entries = list(made)  # every Keras row is made already (rows.entries_of)
    out = []
    moves = slot_moves(entries)
    promised = _after_moves(pairing, moves) if moves else ()
    # Offered only when the moves bring in more than the file gives as it is.
    if set(promised) > {e.base.key for e in entries if e.restored}:
        steps = "\n".join(f"editor.rename_object({old!r}, {new.rsplit('/', 1)[-1]!r})" for old, new in moves)
        edited = _edited_path(path)
        out.append(records.Snippet(
            "Move layers to the slots this model reads them from (KerasFileEditor)",
            "import keras\n\n"
            f"editor = keras.saving.KerasFileEditor({path!r})\n"
            f"{steps}\n"
            f"editor.save({edited!r})\n"
            f"model.load_weights({edited!r}, skip_mismatch=True)",
            restores=promised))
    if failed:
        keys = {e.base.key for e, flag in zip(entries, restored.flags(KERAS3, made, True)) if flag}
        out.append(records.Snippet(
            "Load what fits, leaving mismatched layers at their initial values",
            f"model.load_weights({path!r}, skip_mismatch=True)", restores=_in_order(entries, keys)))
    return out


def _edited_path(path: str) -> str:
    for suffix in (".weights.h5", ".keras"):
        if path.endswith(suffix):
            return path[: -len(suffix)] + ".edited.weights.h5"
    return path + ".edited.weights.h5"


def _after_moves(pairing, moves) -> Tuple[str, ...]:
    """What load_weights(skip_mismatch=True) restores once the file's layers are moved."""
    import dataclasses

    moved = dict(moves)

    def move(v):
        if v.layer_path in moved:
            return dataclasses.replace(v, layer_path=moved[v.layer_path])
        return v

    base = records.Architecture(id="base", source="live_model", variables=pairing.base_variables)
    target = records.Checkpoint(id="edited", path="edited", format=records.KERAS_WEIGHTS_H5,
                                variables=tuple(move(v) for v in pairing.target_variables))
    return rows.restored_keys(base, target, mode="keras_order")


def _legacy_by_name(pairing, path) -> List[records.Snippet]:
    """tf-keras ``load_weights(by_name=True, skip_mismatch=True)``: layers matched by name; a
    layer whose weight count differs is skipped whole, a weight whose shape differs alone."""
    held: Dict[str, List[records.Variable]] = collections.defaultdict(list)
    for t in pairing.target_variables:
        if t.kind == records.WEIGHT and t.layer_path is not None and t.index is not None:
            held[t.layer_path].append(t)
    wanted: Dict[str, List[records.Variable]] = collections.defaultdict(list)
    for b in pairing.base_variables:
        if b.kind == records.WEIGHT and b.layer is not None and b.index is not None:
            wanted[b.layer].append(b)
    keys = []
    for layer, expected in wanted.items():
        saved = sorted(held.get(layer, ()), key=lambda v: v.index)
        expected = sorted(expected, key=lambda v: v.index)
        if not saved or len(saved) != len(expected):
            continue
        keys += [b.key for b, t in zip(expected, saved) if b.shape == t.shape]
    if not keys:
        return []
    return [records.Snippet(
        "Load what fits, by layer name (tf-keras)",
        f"model.load_weights({path!r}, by_name=True, skip_mismatch=True)\n"
        f"# restores {len(keys)} of {sum(len(v) for v in wanted.values())} weights; layers whose name, "
        "weight count or shapes differ keep their initial values",
        restores=tuple(b.key for b in pairing.base_variables if b.key in set(keys)))]


def _from_pretrained(loader, made, path) -> records.Snippet:
    from tensorboard_plugin_ckptdiff.diff import restored

    keys = set(made.base_keys(restored.each_can_restore(loader, made)))
    return records.Snippet(
        "Load with from_pretrained, leaving the weights whose shape differs newly initialized",
        "# `model` is the model you are restoring into (a TFPreTrainedModel): the same class and config\n"
        f"model = type(model).from_pretrained({path!r}, config=model.config, ignore_mismatched_sizes=True)",
        restores=_base_keys_in(made, keys))


def slot_moves(entries) -> List[Tuple[str, str]]:
    """Layers of the file whose variables fit, one to one, a layer slot of the model that is
    wrong now (an inserted or removed layer shifts every slot after it)."""
    base_slots: Dict[str, List[records.Variable]] = collections.defaultdict(list)
    target_slots: Dict[str, List[records.Variable]] = collections.defaultdict(list)
    broken = set()
    for e in entries:
        if e.base is not None and e.base.layer_path and e.base.kind == records.WEIGHT:
            base_slots[e.base.layer_path].append(e.base)
            if e.status != records.MATCH and e.status != records.DTYPE_MISMATCH:
                broken.add(e.base.layer_path)
        if e.target is not None and e.target.layer_path and e.target.kind == records.WEIGHT:
            target_slots[e.target.layer_path].append(e.target)
            if e.status != records.MATCH and e.status != records.DTYPE_MISMATCH:
                broken.add(e.target.layer_path)

    def signature(vs):
        return tuple((v.shape, v.dtype) for v in sorted(vs, key=lambda v: v.index or 0))

    wanted: Dict[tuple, List[str]] = collections.defaultdict(list)
    for slot in broken:
        if slot in base_slots:
            wanted[signature(base_slots[slot])].append(slot)
    offered: Dict[tuple, List[str]] = collections.defaultdict(list)
    for slot in broken:
        if slot in target_slots:
            offered[signature(target_slots[slot])].append(slot)
    moves = [(o[0], w[0]) for sig, w in wanted.items() for o in [offered.get(sig, [])]
             if len(w) == 1 and len(o) == 1 and o[0] != w[0]]
    # Rename the later slots first so a chain (dense_1 -> dense_2 -> dense_3) never overwrites.
    return sorted(moves, key=lambda m: m[1], reverse=True)
