"""Every plain-text form the CLI and the Python API print: a checkpoint's listing, a diff report
(the status table with repeated layers folded, the verdict and the fix) and what remap wrote.
It reads records; nothing below it knows it exists (the UI and JSON live elsewhere)."""

from __future__ import annotations

import collections
import operator
import re
from itertools import compress, repeat
from typing import Dict, List, Tuple

from tensorboard_plugin_ckptdiff import records
from tensorboard_plugin_ckptdiff.diff import rows as diff_rows
from tensorboard_plugin_ckptdiff.records import shape_text

_NUMBER = re.compile(r"\d+")


def _bytes(n) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def checkpoint_text(checkpoint: records.Checkpoint) -> str:
    flavor = f" ({checkpoint.flavor})" if checkpoint.flavor else ""
    lines = [f"{checkpoint.path}: {checkpoint.format}{flavor}, {len(checkpoint.variables)} variables"]
    # A listing can hold tens of thousands of rows sharing a few shapes and sizes: format
    # each distinct one once, and each row with one %-format.
    shapes = {}
    sizes = {}
    rows = []
    for v in checkpoint.variables:
        shape = shapes.get(v.shape)
        if shape is None:
            shape = shapes[v.shape] = shape_text(v.shape)
        size = sizes.get(v.size_bytes)
        if size is None:
            size = sizes[v.size_bytes] = _bytes(v.size_bytes)
        rows.append((v.name, shape, v.dtype, v.kind, size, v.key))
    widths = [max([len(r[i]) for r in rows] + [0]) for i in range(5)]
    row_format = "  %%-%ds  %%-%ds  %%-%ds  %%-%ds  %%-%ds" % tuple(widths)
    for r in rows:
        line = row_format % r[:5]
        lines.append(line if r[5] == r[0] else f"{line}  [{r[5]}]")
    return "\n".join(lines)


def report_text(report, matches: bool = False) -> str:
    """The report for a terminal; ``matches`` also lists the rows that match."""
    lines = [f"{_side(report.base)}  <-  {_side(report.target)}   (paired by {report.mode})", ""]
    lines.append(counts_line(report.entries))
    # A match the loader will still leave alone (its layer failed, the load stopped) is listed:
    # it is exactly the row a person would otherwise trust.
    listed = [_row(e) for e in (report.entries if matches else diff_rows.listed(report.entries))]
    if listed:
        lines.append("")
        lines += _table(_fold(listed))
    lines += ["", report.verdict]
    if not report.resumable and report.restorable:
        lines.append("Not resumable: the optimizer state would not all be restored.")
    if report.fix.assignment_map:
        lines += ["", "Assignment map (checkpoint -> model):"]
        lines += [f"  {k} -> {v}" for k, v in report.fix.assignment_map]
    for snippet in report.fix.snippets:
        lines += ["", f"# {snippet.title}", snippet.code]
    return "\n".join(lines)


_KIND_WORDS = ((records.WEIGHT, "weights"), (records.OPTIMIZER, "optimizer"), (records.METADATA, "counters"))


def counts_line(entries) -> str:
    """Counts per status, kind by kind, in the verdict's own units ("weights: 4 match")."""
    status, kinds, restored = diff_rows.columns(entries)
    counts = collections.Counter(zip(kinds, status))
    # A match always has both sides: one the loader leaves alone is a base variable left alone.
    left = collections.Counter(compress(kinds, map(operator.and_, map(operator.eq, status, repeat(records.MATCH)),
                                                   map(operator.not_, restored))))
    parts = []
    for kind, word in _KIND_WORDS:
        found = {s: counts[kind, s] for s in records.STATUSES if counts[kind, s]}
        if not found:
            continue
        text = ", ".join(f"{n} {s}" for s, n in found.items())
        if left[kind]:
            text += f" ({left[kind]} of the matches not restored)"
        parts.append(f"{word}: {text}")
    return "; ".join(parts) or "no variables"


def _side(side) -> str:
    if isinstance(side, records.Checkpoint):
        flavor = f", {side.flavor}" if side.flavor else ""
        return f"{side.path} ({side.format}{flavor})"
    return f"{side.id} ({side.source})"


def _row(e: records.Entry) -> Tuple[str, str, str, str]:
    """(status, name, what the model expects, what the checkpoint holds)."""
    b, t = e.base, e.target
    name = (b or t).name
    if e.status == records.RENAMED:
        name = f"{b.name} <- {t.name}"
    expects = f"{shape_text(b.shape)} {b.dtype}" if b else ""
    holds = f"{shape_text(t.shape)} {t.dtype}" if t else ""
    status = e.status + (f" ({e.cast})" if e.cast else "") + (f" ({e.confidence:.2f})" if e.confidence else "")
    if e.base is not None and e.target is not None and e.status != records.RENAMED:
        if e.status == records.MATCH and not e.restored:
            status = "match, not restored"
        elif e.status != records.MATCH and e.restored:
            status += ", restored"
    return status, name, expects, holds


def _fold(rows: List[Tuple[str, str, str, str]]) -> List[Tuple[str, str, str, str]]:
    """Rows that differ only by one number in the name become one: ``layers.{0..11}.attention``."""
    groups: Dict[tuple, List[Tuple[str, ...]]] = {}
    for status, name, expects, holds in rows:
        key = (status, _NUMBER.sub("\0", name), expects, holds)
        groups.setdefault(key, []).append(tuple(_NUMBER.findall(name)))
    out = []
    for (status, pattern, expects, holds), found in groups.items():
        varying = [i for i in range(len(found[0])) if len({f[i] for f in found}) > 1]
        if len(varying) > 1:  # two numbers move at once: not one repeated layer
            out += [(status, _fill(pattern, f), expects, holds) for f in found]
            continue
        numbers = list(found[0])
        if varying:
            numbers[varying[0]] = _range([int(f[varying[0]]) for f in found])
        out.append((status, _fill(pattern, numbers), expects, holds))
    return out


def _fill(pattern: str, numbers) -> str:
    parts = pattern.split("\0")
    return parts[0] + "".join(n + p for n, p in zip(numbers, parts[1:]))


def _range(found: List[int]) -> str:
    if len(found) == 1:
        return str(found[0])
    values = sorted(set(found))
    if values == list(range(values[0], values[-1] + 1)):
        return f"{{{values[0]}..{values[-1]}}}"
    return "{" + ",".join(str(v) for v in values) + "}"


def _table(rows) -> List[str]:
    header = ("status", "variable", "model expects", "checkpoint holds")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return [fmt(header)] + [fmt(r) for r in rows]


def remapped(result) -> str:
    """What ``ckptdiff remap`` wrote, then the written file's diff against the base."""
    done = [f"{n} {word}" for n, word in ((result.renamed, "renamed"), (result.cast, "cast"),
                                          (result.dropped, "dropped"), (result.moved_layers, "layers moved"))
            if n]
    lines = [f"Wrote {result.path} ({result.format}): {', '.join(done) or 'nothing to change'}; "
             f"{result.copied} copied as they were."]
    lines += [f"  {sentence}" for sentence in result.left]
    report = result.report
    lines += ["", counts_line(report.entries)]
    listed = [_row(e) for e in diff_rows.listed(report.entries)]
    if listed:
        lines += [""] + _table(_fold(listed))
    lines += ["", report.verdict]
    return "\n".join(lines)
