"""What would make the restore succeed: the assignment map and code for the target's loader."""

from __future__ import annotations

import collections
from typing import Dict, List, Optional, Sequence, Tuple

from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.pairing import KERAS3, KERAS_LEGACY, TF1_SAVER, TF2_CHECKPOINT, Pairing
from tensorboard_plugin_ckptdiff.renamed import Rename

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


def suggest(pairing: Pairing, entries: Sequence[records.Entry], renames: Sequence[Rename],
            path: str, restorable: bool) -> records.Fix:
    mapping = assignment_map(renames)
    snippets: List[records.Snippet] = []
    if pairing.loader == TF1_SAVER:
        if not restorable or mapping:
            snippet = _init_from_checkpoint(pairing, entries, mapping, path)
            if snippet is not None:
                snippets.append(snippet)
    elif pairing.loader == TF2_CHECKPOINT:
        snippets += _tf2(entries, path, restorable)
    elif pairing.loader == KERAS3:
        snippets += _keras3(entries, path, restorable)
    elif pairing.loader == KERAS_LEGACY and not restorable:
        snippets.append(records.Snippet(
            "Load what fits, by layer name (tf-keras)",
            f"model.load_weights({path!r}, by_name=True, skip_mismatch=True)\n"
            "# layers whose name or shapes differ keep their initial values"))
    return records.Fix(mapping, tuple(snippets))


def _init_from_checkpoint(pairing, entries, mapping, path) -> Optional[records.Snippet]:
    """Every variable that can be restored: renamed scopes, then whole scopes that match."""
    full = dict(mapping)
    base_paths, target_paths = pairing.base_paths, pairing.target_paths
    matched = [(base_paths[id(e.base)], e.target) for e in entries if e.status == records.MATCH and e.base is not None]
    tops = collections.Counter(name.split("/", 1)[0] for name in base_paths.values() if "/" in name)
    matched_tops = collections.Counter(name.split("/", 1)[0] for name, _ in matched if "/" in name)
    whole = {top for top, n in matched_tops.items() if tops[top] == n}
    for name, target in matched:
        top = name.split("/", 1)[0] if "/" in name else None
        if top in whole:
            full.setdefault(top + "/", top + "/")
        else:
            full.setdefault(target_paths[id(target)], name)
    if not full:  # nothing the checkpoint holds fits: no map restores anything
        return None
    lines = ["import tensorflow as tf", "",
             "# Build the model in graph mode first; then, before running the initializer:"]
    if len(full) <= _MAX_LISTED:
        lines.append("assignment_map = {")
        lines += [f"    {k!r}: {v!r}," for k, v in full.items()]
        lines.append("}")
    else:
        lines.append(f"assignment_map = ...  # {len(full)} entries: report.fix.assignment_map plus the matches")
    lines.append(f"tf.compat.v1.train.init_from_checkpoint({path!r}, assignment_map)")
    return records.Snippet("Restore by name with an assignment map (init_from_checkpoint)", "\n".join(lines))


def _tf2(entries, path, restorable) -> List[records.Snippet]:
    manual = [e for e in entries if e.base is not None and e.target is not None
              and e.status in (records.RENAMED, records.DTYPE_MISMATCH)]
    out = []
    if any(e.status == records.UNEXPECTED for e in entries) or not restorable:
        out.append(records.Snippet(
            "Restore what matches, ignoring values the model does not have",
            "import tensorflow as tf\n\n"
            f"status = tf.train.Checkpoint(model=model).restore({path!r})\n"
            "status.expect_partial()  # unexpected checkpoint values are not an error"))
    if manual and len(manual) <= _MAX_LISTED:
        pairs = "\n".join(f"    {e.base.key!r}: {e.target.key!r}," for e in manual)
        out.append(records.Snippet(
            "Load renamed and re-typed variables by hand (the checkpoint loader neither renames nor casts)",
            "import tensorflow as tf\n\n"
            f"reader = tf.train.load_checkpoint({path!r})\n"
            "saved_as = {\n" + pairs + "\n}\n"
            "for v in model.variables:\n"
            "    key = saved_as.get(getattr(v, 'path', v.name.split(':')[0]))\n"
            "    if key is not None:\n"
            "        v.assign(tf.cast(reader.get_tensor(key), v.dtype))"))
    return out


def _keras3(entries, path, restorable) -> List[records.Snippet]:
    out = []
    renames = _slot_renames(entries)
    if renames:
        steps = "\n".join(f"editor.rename_object({old!r}, {new.rsplit('/', 1)[-1]!r})" for old, new in renames)
        edited = path[: -len(".weights.h5")] + ".edited.weights.h5" if path.endswith(".weights.h5") else "edited.weights.h5"
        out.append(records.Snippet(
            "Move layers to the slots this model reads them from (KerasFileEditor)",
            "import keras\n\n"
            f"editor = keras.saving.KerasFileEditor({path!r})\n"
            f"{steps}\n"
            f"editor.save({edited!r})\n"
            f"model.load_weights({edited!r}, skip_mismatch=True)"))
    if not restorable:
        out.append(records.Snippet(
            "Load what fits, leaving mismatched layers at their initial values",
            f"model.load_weights({path!r}, skip_mismatch=True)"))
    return out


def _slot_renames(entries) -> List[Tuple[str, str]]:
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
