"""The rename search: which missing and unexpected variables are one variable under two names.

Evidence, strongest first: a whole scope moved (every variable of scope A has a one-to-one
partner in scope B with the same relative name, shape and dtype, A is gone from the
checkpoint and B is new to it, and no other scope explains them); a single variable renamed
inside a layer that stayed (same parent, same shape and dtype); name similarity; position,
only where the format keeps the model's order. Candidates are bucketed by a (shape, dtype)
signature first, so the search stays near-linear in the number of variables.
"""

from __future__ import annotations

import bisect
import dataclasses
import difflib
import functools
import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from tensorboard_plugin_ckptdiff import records

_DIGITS = re.compile(r"\d+")
_SCORED_PAIRS = 1024  # beyond this many candidate pairs in one bucket, names are not scored


@dataclasses.dataclass(frozen=True)
class Rename:
    base: records.Variable
    target: records.Variable
    confidence: float
    base_scope: str  # the part of the base path that differs ("incorrect_name")
    target_scope: str  # what it was called in the target ("dense_1")
    whole_scope: bool  # every variable of the scope moved together
    evidence: str


@dataclasses.dataclass(frozen=True)
class _Side:
    """One side's leftovers with their paths split, and every path of that side, sorted."""

    leftovers: Tuple[Tuple[Tuple[str, ...], records.Variable], ...]
    all_paths: Tuple[str, ...]
    rank: Dict[int, int]  # id(variable) -> position among the leftovers

    def count_under(self, scope: str) -> int:
        paths = self.all_paths
        exact = bisect.bisect_right(paths, scope) - bisect.bisect_left(paths, scope)
        # '0' follows '/': [scope + "/", scope + "0") is everything inside the scope.
        inside = bisect.bisect_left(paths, scope + "0") - bisect.bisect_left(paths, scope + "/")
        return exact + inside


def _side(leftovers, path_of: Callable[[records.Variable], str], paths: Sequence[str]) -> _Side:
    split = tuple((tuple(path_of(v).split("/")), v) for v in leftovers)
    return _Side(split, tuple(sorted(paths)), {id(v): i for i, (_, v) in enumerate(split)})


def find(missing: Sequence[records.Variable], unexpected: Sequence[records.Variable],
         base_paths: Sequence[str], target_paths: Sequence[str], ordered: bool = False,
         base_path: Callable[[records.Variable], str] = str,
         target_path: Callable[[records.Variable], str] = str) -> List[Rename]:
    """Renames among ``missing`` (base side) and ``unexpected`` (target side); ``*_paths`` are
    the paths of every variable of each side, ``base_path``/``target_path`` a variable's path."""
    shared = {(v.shape, v.dtype) for v in missing} & {(v.shape, v.dtype) for v in unexpected}
    if not shared:
        return []
    missing = [v for v in missing if (v.shape, v.dtype) in shared]
    unexpected = [v for v in unexpected if (v.shape, v.dtype) in shared]
    a = _side(missing, base_path, base_paths)
    b = _side(unexpected, target_path, target_paths)
    found: List[Rename] = []
    # id()s of the variables a rename took, one set per side: two reads of one model may share
    # their records (tf_bundle.named_variables), so an id says nothing of its side.
    claimed = (set(), set())
    found += _scope_renames(a, b, claimed, ordered)
    found += _leaf_renames(a, b, claimed, ordered)
    return found


# --- whole scopes ------------------------------------------------------------------------------


def _moved_scopes(side: _Side, other: _Side) -> Dict[str, List[Tuple[str, records.Variable]]]:
    """scope -> [(relative path, variable)] for scopes (not leaves) that exist only on this
    side and whose every variable is a leftover: the scopes that moved as a whole."""
    groups: Dict[str, List[Tuple[str, records.Variable]]] = {}
    for parts, var in side.leftovers:
        for depth in range(1, len(parts)):
            groups.setdefault("/".join(parts[:depth]), []).append(("/".join(parts[depth:]), var))
    return {scope: members for scope, members in groups.items()
            if other.count_under(scope) == 0 and side.count_under(scope) == len(members)}


def _signature(members) -> tuple:
    # The kind too: a model's weights are never the same variables as an optimizer's slots of
    # the same shape (a whole-model h5 holds Adam/m/dense_1/kernel beside dense_1/kernel).
    return tuple(sorted((rel, v.shape, v.dtype, v.kind) for rel, v in members))


def _scope_renames(a: _Side, b: _Side, claimed: Tuple[set, set], ordered: bool) -> List[Rename]:
    scopes_a, scopes_b = _moved_scopes(a, b), _moved_scopes(b, a)
    if not scopes_a or not scopes_b:
        return []
    by_signature: Dict[tuple, List[str]] = {}
    for scope, members in scopes_b.items():
        by_signature.setdefault(_signature(members), []).append(scope)
    claimed_a, claimed_b = claimed
    out: List[Rename] = []
    for depth in sorted({s.count("/") for s in scopes_a}):
        groups: Dict[tuple, List[str]] = {}
        for scope, members in scopes_a.items():
            if scope.count("/") == depth and not any(id(v) in claimed_a for _, v in members):
                groups.setdefault(_signature(members), []).append(scope)
        for signature, base_scopes in groups.items():
            free = [s for s in by_signature.get(signature, ())
                    if not any(id(v) in claimed_b for _, v in scopes_b[s])]
            rank_a = {s: a.rank[id(scopes_a[s][0][1])] for s in base_scopes}
            rank_b = {s: b.rank[id(scopes_b[s][0][1])] for s in free}
            for sa, sb, certainty, evidence in _assign(base_scopes, free, rank_a, rank_b, ordered):
                partner = dict(scopes_b[sb])
                size = len(scopes_a[sa])
                similarity = _similarity(sa.rsplit("/", 1)[-1], sb.rsplit("/", 1)[-1])
                confidence = min(0.99, 0.55 + 0.3 * certainty + 0.1 * similarity + (0.05 if size > 1 else 0))
                why = (f"every variable of {sb}/ ({size}) has a partner of the same shape and dtype "
                       f"in {sa}/; {evidence}")
                for rel, var in scopes_a[sa]:
                    other = partner[rel]
                    claimed_a.add(id(var))
                    claimed_b.add(id(other))
                    out.append(Rename(var, other, round(confidence, 2), sa, sb, True, why))
    return out


# --- single variables ----------------------------------------------------------------------------


def _leaf_renames(a: _Side, b: _Side, claimed: Tuple[set, set], ordered: bool) -> List[Rename]:
    """A variable renamed inside a scope that stayed: same parent, same shape and dtype."""
    def buckets(side, claimed):
        out: Dict[tuple, List[str]] = {}
        members = {}
        for parts, var in side.leftovers:
            if id(var) in claimed:
                continue
            path = "/".join(parts)
            members[path] = var
            out.setdefault(("/".join(parts[:-1]), var.shape, var.dtype), []).append(path)
        return out, members

    buckets_a, vars_a = buckets(a, claimed[0])
    buckets_b, vars_b = buckets(b, claimed[1])
    out: List[Rename] = []
    for key, paths_a in buckets_a.items():
        paths_b = [p for p in buckets_b.get(key, ()) if a.count_under(p) == 0]
        paths_a = [p for p in paths_a if b.count_under(p) == 0]
        rank_a = {p: a.rank[id(vars_a[p])] for p in paths_a}
        rank_b = {p: b.rank[id(vars_b[p])] for p in paths_b}
        for pa, pb, certainty, evidence in _assign(paths_a, paths_b, rank_a, rank_b, ordered):
            leaf_a, leaf_b = pa.rsplit("/", 1)[-1], pb.rsplit("/", 1)[-1]
            similarity = _similarity(leaf_a, leaf_b)
            confidence = min(0.95, 0.45 + 0.3 * certainty + 0.2 * similarity)
            scope = key[0]
            where = f"in {scope}/" if scope else "at the top level"
            why = f"the only variable of this shape and dtype {where} on each side; {evidence}"
            out.append(Rename(vars_a[pa], vars_b[pb], round(confidence, 2), pa, pb, False, why))
    return out


# --- choosing partners -----------------------------------------------------------------------------


def _assign(names_a: List[str], names_b: List[str], rank_a, rank_b, ordered: bool):
    """One-to-one partners between two lists of interchangeable candidates:
    (a, b, certainty 0..1, evidence). Unresolvable candidates stay unpaired."""
    if not names_a or not names_b:
        return []
    if len(names_a) == 1 and len(names_b) == 1:
        return [(names_a[0], names_b[0], 1.0, "nothing else explains them")]
    out = []
    left_a, left_b = list(names_a), list(names_b)
    for key, evidence in ((_parent, "same parent scope"), (_numbers, "same numbers in the name")):
        pairs = _unique_by(left_a, left_b, key)
        out += [(x, y, 0.8, evidence) for x, y in pairs]
        done_a, done_b = {x for x, _ in pairs}, {y for _, y in pairs}
        left_a = [x for x in left_a if x not in done_a]
        left_b = [y for y in left_b if y not in done_b]
        if not left_a or not left_b:
            return out
    if len(left_a) * len(left_b) <= _SCORED_PAIRS:
        scored = sorted(((_similarity(x, y) + (0.1 if ordered and _same_place(x, y, left_a, left_b) else 0), x, y)
                         for x in left_a for y in left_b), reverse=True)
        used_a, used_b = set(), set()
        for score, x, y in scored:
            if score < 0.5 or x in used_a or y in used_b:
                continue
            used_a.add(x)
            used_b.add(y)
            out.append((x, y, 0.3 + 0.4 * min(score, 1.0), "the most similar name"))
    elif ordered and len(left_a) == len(left_b):
        left_a.sort(key=rank_a.get)
        left_b.sort(key=rank_b.get)
        out += [(x, y, 0.3, "the same position in both") for x, y in zip(left_a, left_b)]
    return out


def _same_place(x, y, left_a, left_b) -> bool:
    return left_a.index(x) == left_b.index(y)


def _unique_by(names_a, names_b, key) -> List[Tuple[str, str]]:
    index_a: Dict[object, List[str]] = {}
    index_b: Dict[object, List[str]] = {}
    for n in names_a:
        index_a.setdefault(key(n), []).append(n)
    for n in names_b:
        index_b.setdefault(key(n), []).append(n)
    return [(xs[0], index_b[k][0]) for k, xs in index_a.items()
            if k is not None and len(xs) == 1 and len(index_b.get(k, ())) == 1]


def _parent(name: str) -> Optional[str]:
    return name.rsplit("/", 1)[0] if "/" in name else None


def _numbers(name: str) -> Optional[tuple]:
    found = tuple(_DIGITS.findall(name))
    return found or None


@functools.lru_cache(maxsize=4096)  # a rename repeats in every layer: gamma -> scale, 500 times
def _similarity(x: str, y: str) -> float:
    return difflib.SequenceMatcher(None, x, y, autojunk=False).ratio()
