"""The rows of a diff: one Entry per pair, rename and leftover of a Pairing, with its status,
cast and detail, and which of them the loader restores."""

from __future__ import annotations

import bisect
import collections
import collections.abc
import dataclasses
import operator
from itertools import compress, repeat
from typing import TYPE_CHECKING, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.diff import casting, pairing, restored, verdict
from tensorboard_plugin_ckptdiff.records import shape_text

if TYPE_CHECKING:  # the rename search is imported when a diff has something to search
    from tensorboard_plugin_ckptdiff.diff import renamed


def restored_keys(base, target, mode: str = "auto") -> Tuple[str, ...]:
    """Keys of the base variables the loader of ``mode`` leaves holding saved values (no fix,
    no rename search: what a snippet's promise is computed with)."""
    paired = pairing.pair(base, target, mode)
    made = entries_of(paired, ())
    judged = verdict.judge(paired.loader, made)
    flags = restored.flags(paired.loader, made, judged.failed)
    return tuple(made.base_keys(flags))


class Rows(collections.abc.Sequence):
    """A diff's rows in order, as a Sequence of records.Entry (what ``Report.entries`` holds).

    Most rows of a big diff are plain: a match with nothing to say (same shape and dtype), or a
    target nothing asks for. Those are kept as columns and become Entry objects only when the
    rows are read; the diff's own rules (verdict, restored, fix, the counts) read the columns
    and the few other rows, which are made at once (``notable``). 100k Entry objects made in
    every compare() were half its time, most of it the garbage collector walking them: they
    outlive the young generations and set off a full collection of everything tracked (issue
    15). Iterated, every row is made once and kept; a row or a slice is made on its own. The
    rows equal (and hash as) the tuple of their Entry objects, what ``entries`` used to be.

    Columns, one value per row: ``status``; ``base`` and ``target`` (Variable or None);
    ``restored`` (what the loader leaves holding saved values, set once the verdict is known).
    The first ``base_count`` rows are the base variables', in the pairing's order."""

    def __init__(self, status: List[str], base: list, target: list, made: list, base_count: int,
                 notable: Optional[Sequence[int]] = None):
        self.status = status
        self.base = base
        self.target = target
        self.base_count = base_count
        # A plain row is (MATCH, b, t, None, None, "", restored) or (UNEXPECTED, None, t, None,
        # None, _UNEXPECTED_DETAIL, False): nothing but its columns. Every other row is made.
        self._made = made  # the Entry of each row made already; None where plain
        if notable is None:  # the rows made: given by entries_of, else found
            notable = compress(range(len(made)), map(operator.is_not, made, repeat(None)))
        self._notable = [(i, made[i]) for i in notable]
        self._restored: Optional[List[bool]] = None  # set_restored's; until then a match is restored
        self._all: Optional[Tuple[records.Entry, ...]] = None

    @property
    def restored(self) -> List[bool]:
        if self._restored is None:
            self._restored = list(map(operator.eq, self.status, repeat(records.MATCH)))
        return self._restored

    def counts(self) -> Dict[str, int]:
        """How many rows have each status, from the notable rows: the others are plain matches
        among the base variables' rows and unexpected after them."""
        counts = collections.Counter(e.status for _, e in self._notable)
        base_made = bisect.bisect_left(self._notable, (self.base_count,))
        counts[records.MATCH] += self.base_count - base_made
        counts[records.UNEXPECTED] += len(self.status) - self.base_count - (len(self._notable) - base_made)
        return {status: counts.get(status, 0) for status in records.STATUSES}

    def notable(self) -> List[Tuple[int, records.Entry]]:
        """(index, Entry) of every row that is not plain, in order: all a loader's rule needs to
        read where a plain match cannot change it (every row, for the Keras loaders)."""
        return self._notable

    def set_restored(self, flags: Sequence[bool]) -> None:
        """Each row's ``restored`` (restored.flags), before the rows are handed out."""
        self._restored = list(flags)
        if self._all is not None:  # read already (a Keras rule reads every row): each is made
            records.mark_restored(list(self._all), self.restored)
        else:
            records.mark_restored([e for _, e in self._notable], [self.restored[i] for i, _ in self._notable])

    def at(self, i: int) -> records.Entry:
        """Row ``i`` without making the others."""
        if self._all is not None:
            return self._all[i]
        made = self._made[i]
        return made if made is not None else records.entry_row(
            self.status[i], self.base[i], self.target[i], None, None, _PLAIN_DETAIL[self.status[i]],
            self.restored[i])

    def base_keys(self, keep: Iterable[bool]) -> List[str]:
        """The keys of the base variables of the rows ``keep`` flags, in order (C loops)."""
        return list(map(_key, compress(self.base[:self.base_count], keep)))

    def where(self, keep: Iterable[bool]) -> List[records.Entry]:
        """The rows whose flag in ``keep`` is true, made without the others."""
        return [self.at(i) for i in compress(range(len(self.status)), keep)]

    def kinds(self) -> List[str]:
        """Each row's kind (Entry.kind: its base's, else its target's), without making rows."""
        count = self.base_count
        return list(map(_kind, self.base[:count])) + list(map(_kind, self.target[count:]))

    def subset(self, keep: Sequence[bool]) -> "Rows":
        """The rows whose flag in ``keep`` is true, still plain where they were."""
        out = Rows(list(compress(self.status, keep)), list(compress(self.base, keep)),
                   list(compress(self.target, keep)), list(compress(self._made, keep)),
                   sum(keep[:self.base_count]))
        out._restored = list(compress(self.restored, keep))
        return out

    def _entries(self) -> Tuple[records.Entry, ...]:
        if self._all is None:
            made = list(self._made)
            plain = list(compress(range(len(made)), map(operator.is_, made, repeat(None))))
            status = list(map(self.status.__getitem__, plain))
            new = records.entry_columns(len(plain), status, map(self.base.__getitem__, plain),
                                        map(self.target.__getitem__, plain), repeat(None), repeat(None),
                                        map(_PLAIN_DETAIL.__getitem__, status), map(self.restored.__getitem__, plain))
            collections.deque(map(made.__setitem__, plain, new), 0)
            self._all = tuple(made)
        return self._all

    def __len__(self) -> int:
        return len(self.status)

    def __getitem__(self, i):
        if self._all is not None:
            return self._all[i]
        # A row or a slice is made on its own (the plugin encodes 100 rows at a time: each
        # slice's Entry objects die young); only iterating makes and keeps them all.
        if isinstance(i, slice):
            return tuple(map(self.at, range(*i.indices(len(self.status)))))
        return self.at(i)

    def __iter__(self) -> Iterator[records.Entry]:
        return iter(self._entries())

    def __eq__(self, other) -> bool:
        if isinstance(other, Rows):
            other = other._entries()
        return isinstance(other, tuple) and self._entries() == other

    def __hash__(self) -> int:
        return hash(self._entries())

    def __repr__(self) -> str:
        return repr(self._entries())


def columns(entries: Sequence[records.Entry]) -> Tuple[Sequence[str], Sequence[str], Sequence[bool]]:
    """(status, kind, restored) of each row of any sequence of Entry: a Rows' own columns,
    read without making its rows."""
    if isinstance(entries, Rows):
        return entries.status, entries.kinds(), entries.restored
    return [e.status for e in entries], [e.kind for e in entries], [e.restored for e in entries]


def listed(entries: Sequence[records.Entry]) -> List[records.Entry]:
    """The rows a person needs to see: every one but the matches that are restored."""
    status, _, restored_ = columns(entries)
    keep = map(operator.or_, map(operator.ne, status, repeat(records.MATCH)), map(operator.not_, restored_))
    return entries.where(keep) if isinstance(entries, Rows) else list(compress(entries, keep))


_UNEXPECTED_DETAIL = "in the checkpoint only: the model does not ask for it"
_PLAIN_DETAIL = {records.MATCH: "", records.UNEXPECTED: _UNEXPECTED_DETAIL}
_key = operator.attrgetter("key")
_kind = operator.attrgetter("kind")
_NO_VARIABLE = object()  # what a row without a partner has for a shape or dtype: equal to none


def entries_of(paired: pairing.Pairing, renames: Sequence[renamed.Rename]) -> Rows:
    """One row per base variable, in the pairing's order, then one per unexpected target that no
    rename took (fix.py reads the base variables' rows by that order)."""
    by_base = {id(r.base): r for r in renames}
    renamed_targets = {id(r.target) for r in renames}
    keras3 = paired.loader == pairing.KERAS3
    # The Keras loaders' rules read every row (a layer's variable count, its order): all made.
    every_row = keras3 or paired.loader == pairing.KERAS_LEGACY
    reshaping = paired.mode == pairing.TRANSFORMERS
    base_vars, partners = paired.base_variables, paired.partners
    count = len(base_vars)
    status = [records.MATCH] * count
    target = list(partners)
    made: list = [None] * count
    if every_row:
        others = range(count)
    else:  # plain matches (a partner of the same shape and dtype) stay columns: found in C loops
        if not paired.missing:  # each base variable has a partner: read as the base's are
            shapes, dtypes = map(_shape, partners), map(_dtype, partners)
        else:
            shapes = map(getattr, partners, repeat("shape"), repeat(_NO_VARIABLE))
            dtypes = map(getattr, partners, repeat("dtype"), repeat(_NO_VARIABLE))
        same_shape = map(operator.eq, map(_shape, base_vars), shapes)
        same_dtype = map(operator.eq, map(_dtype, base_vars), dtypes)
        others = list(compress(range(count), map(operator.not_, map(operator.and_, same_shape, same_dtype))))
    renamed_, missing = records.RENAMED, records.MISSING
    missing_detail = "not in the checkpoint: it would keep its initial value"
    for i in others:
        b, t = base_vars[i], partners[i]
        if t is not None:
            e = _pair_entry(b, t, keras3)
            if reshaping and e.status == records.SHAPE_MISMATCH and restored.reshapes(b.shape, t.shape):
                e = _reshaped(e)
            elif e.status == records.SHAPE_MISMATCH and restored.assigned_any_shape(paired.loader, b):
                e = _assigned_any_shape(e)
        else:
            r = by_base.get(id(b))
            if r is not None:
                e = records.entry_row(renamed_, b, r.target, None, r.confidence,
                                      f"saved as {paired.target_path(r.target)}: {r.evidence}", False)
            else:
                e = records.entry_row(missing, b, None, None, None, missing_detail, False)
        status[i], target[i], made[i] = e.status, e.target, e
    extra = [t for t in paired.unexpected if id(t) not in renamed_targets]
    status += [records.UNEXPECTED] * len(extra)
    target += extra
    if every_row:
        made += records.entry_columns(len(extra), repeat(records.UNEXPECTED), repeat(None), extra, repeat(None),
                                      repeat(None), repeat(_UNEXPECTED_DETAIL), repeat(False))
    else:
        made += [None] * len(extra)
    notable = list(others) + list(range(count, count + len(extra))) if every_row else others
    return Rows(status, list(base_vars) + [None] * len(extra), target, made, count, notable)


_shape = operator.attrgetter("shape")
_dtype = operator.attrgetter("dtype")


def _pair_entry(b: records.Variable, t: records.Variable, keras3: bool) -> records.Entry:
    if not _same_shape(b.shape, t.shape):
        return records.Entry(records.SHAPE_MISMATCH, b, t, detail=(
            f"the model expects {shape_text(b.shape)}, the checkpoint holds {shape_text(t.shape)}"))
    if b.dtype != t.dtype:
        cast = casting.cast(t.dtype, b.dtype)
        return records.Entry(records.DTYPE_MISMATCH, b, t, cast=cast, detail=(
            f"the model expects {b.dtype}, the checkpoint holds {t.dtype} ({cast} cast)"))
    if keras3 and b.layer and t.layer and b.layer != t.layer and b.kind == records.WEIGHT:
        return records.Entry(records.MATCH, b, t, detail=verdict.renamed_layer_detail(b, t), restored=True)
    return records.Entry(records.MATCH, b, t, restored=True)


def _reshaped(entry: records.Entry) -> records.Entry:
    """transformers reshapes a value whose element count fits: say so on the row."""
    return dataclasses.replace(entry, detail=entry.detail + "; same number of values, and from_pretrained reshapes it")


def _assigned_any_shape(entry: records.Entry) -> records.Entry:
    """The TF1 Saver assigns a resource variable any shape: say so."""
    return dataclasses.replace(entry, detail=(
        f"{entry.detail}; the Saver assigns a resource variable without checking its shape: this one "
        "would take the checkpoint's"))


def _same_shape(a, b) -> bool:
    if a == b or a is None or b is None:
        return True
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))
