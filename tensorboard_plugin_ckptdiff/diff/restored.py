"""Which base variables end up holding saved values: each loader's rule, variable by variable.

A status says how two variables compare; whether the value arrives also depends on what the
loader does around it. Keras 3 loads a layer's variables in order and stops at the first that
fails (a layer whose kernel does not fit keeps its initial bias too), and skips a layer whose
variable count differs; loaders that stop at their first error keep what they assigned before
it (tf-keras's by-order h5 loading, transformers' safetensors loading, both in the model's
order), and those that check everything first assign nothing at all (the TF1 Saver's
RestoreV2 missing a key, RestoreV2 refusing a dtype, transformers' h5 loading). The TF1 Saver
checks no shape of a whole resource variable: it assigns the saved value, shape and all; a ref
variable's refused shape stops its assignments, which run in no promised order. A failed
tf.train.Checkpoint restore stops in an order TF does not promise: nothing of it is counted as
restored.
"""

from __future__ import annotations

import collections
import operator
from itertools import repeat
from typing import Callable, List, Optional

from tensorboard_plugin_ckptdiff.diff import casting
from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.diff.pairing import (
    KERAS3, KERAS_LEGACY, STRUCTURE_ONLY, TF1_SAVER, TRANSFORMERS_H5, TRANSFORMERS_SAFETENSORS)

# Loaders that cast a saved value to the variable's dtype rather than refuse it.
CASTING = (KERAS3, KERAS_LEGACY, TRANSFORMERS_H5, TRANSFORMERS_SAFETENSORS, STRUCTURE_ONLY)
TRANSFORMERS = (TRANSFORMERS_H5, TRANSFORMERS_SAFETENSORS)


def can_restore(loader: str, e: records.Entry) -> bool:
    """This pair, on its own, would receive the saved value under ``loader``."""
    if e.base is None or e.target is None:
        return False
    if e.status == records.MATCH:
        return True
    if e.status == records.DTYPE_MISMATCH:
        return loader in CASTING and e.cast != casting.INCOMPATIBLE
    if e.status == records.SHAPE_MISMATCH:
        return assigned_any_shape(loader, e.base) or loader in TRANSFORMERS and reshapes(e.base.shape, e.target.shape)
    return False  # renamed: every loader looks variables up by name or path


def assigned_any_shape(loader: str, v: records.Variable) -> bool:
    """The TF1 Saver assigns a whole resource variable (TF2's default, also in graph mode) the
    saved value whatever its shape (AssignVariableOp checks none), without an error; a ref
    variable's Assign, or the slices of a partitioned one, refuse another shape."""
    return loader == TF1_SAVER and v.resource is True


def reshapes(expected, held) -> bool:
    """transformers reshapes a saved value whose element count fits (np.reshape succeeds)."""
    if expected is None or held is None or any(d is None for d in tuple(expected) + tuple(held)):
        return False
    return _count(expected) == _count(held)


def _count(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def each_can_restore(loader: str, rows) -> List[bool]:
    """can_restore of each row of ``rows`` (rows.Rows): a plain row can when it matches."""
    out = list(map(operator.eq, rows.status, repeat(records.MATCH)))
    for i, e in rows.notable():
        out[i] = can_restore(loader, e)
    return out


def flags(loader: str, rows, failed: bool) -> List[bool]:
    """``restored`` for each row of ``rows`` (rows.Rows); ``failed``: the loader raises
    (verdict.judge found why). A plain row is restored when it matches, unless the load fails."""
    if failed and loader not in (KERAS3, KERAS_LEGACY, TRANSFORMERS_SAFETENSORS):
        # TF1 Saver, transformers h5: everything is checked before anything is assigned (a TF1
        # ref variable's shape is checked as it is assigned, in no promised order: as below).
        # tf.train.Checkpoint: RestoreV2 refuses a dtype before anything is assigned; a refused
        # shape stops the assignments somewhere in an order TF does not promise (the object
        # graph's traversal, run as one function or op by op): nothing counts as restored.
        return [False] * len(rows)
    out = each_can_restore(loader, rows)
    notable = rows.notable()
    if loader == KERAS3:
        _layer_by_layer(list(rows), out)  # every Keras row is notable: nothing new is made
    elif loader == KERAS_LEGACY and failed:
        entries = list(rows)
        if _counts_differ(entries):
            out = [False] * len(entries)  # layer and weight counts are checked before any value is set
        else:
            _until_first_failure(loader, entries, out, _legacy_order)
    elif loader == TRANSFORMERS_SAFETENSORS and failed:
        # Assigned in the model's order (the base rows come first, in it), stopping at the first
        # pair it cannot assign: a plain match never stops it.
        for i, e in notable:
            if i < rows.base_count and e.target is not None and not can_restore(loader, e):
                out[i:rows.base_count] = [False] * (rows.base_count - i)
                break
    return out


def _legacy_order(entries, i):
    b = entries[i].base
    return (b.layer_index if b.layer_index is not None else 1 << 30, b.index or 0, i)


def _until_first_failure(loader, entries, out, order: Callable) -> None:
    """A loader that assigns in ``order`` and stops at the first pair it cannot assign."""
    ordered = sorted((i for i, e in enumerate(entries) if e.base is not None), key=lambda i: order(entries, i))
    stopped = False
    for i in ordered:
        e = entries[i]
        if not stopped and e.target is not None and not can_restore(loader, e):
            stopped = True
        if stopped:
            out[i] = False


def legacy_count_problem(entries) -> Optional[str]:
    base = {e.base.layer_index for e in entries if e.base is not None and e.base.kind == records.WEIGHT}
    target = {e.target.layer_index for e in entries if e.target is not None and e.status != records.RENAMED
              and e.target.kind == records.WEIGHT}
    if len(base) != len(target):
        return (f"the model has {len(base)} layers with weights but the file holds {len(target)}, "
                "and a legacy h5 file is loaded layer by layer in order.")
    return None


def _counts_differ(entries) -> bool:
    """tf-keras checks the layer count, then each layer's weight count, before setting values."""
    if legacy_count_problem(entries) is not None:
        return True
    base = collections.Counter(e.base.layer_index for e in entries
                               if e.base is not None and e.base.kind == records.WEIGHT)
    held = collections.Counter(e.target.layer_index for e in entries if e.target is not None
                               and e.status != records.RENAMED and e.target.kind == records.WEIGHT)
    return base != held


def _layer_by_layer(entries, out) -> None:
    """Keras 3: per layer slot, nothing when the variable count differs, else in index order
    up to the first variable that cannot be assigned."""
    slots = collections.defaultdict(list)
    held = collections.Counter()
    for i, e in enumerate(entries):
        if e.base is not None and e.base.layer_path is not None:
            slots[e.base.layer_path].append(i)
        if e.target is not None and e.target.layer_path is not None and e.status != records.RENAMED:
            held[e.target.layer_path] += 1
    for slot, members in slots.items():
        if held[slot] != len(members):
            for i in members:
                out[i] = False
            continue
        stopped = False
        for i in sorted(members, key=lambda i: entries[i].base.index or 0):
            if not stopped and not out[i]:
                stopped = True
            if stopped:
                out[i] = False
