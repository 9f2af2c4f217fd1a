"""The ``ckptdiff remap`` command a diff offers as a fix: a snippet of language ``shell``.

Offered only where writing the fix changes the outcome: the command's checkpoint, restored
as it is with the loader of the diff, would restore more of the base than the file does now.
What it promises (``Snippet.restores``) is computed the way the command computes it, from
the writer's layout of the new file read back as records, without writing anything. The CLI
and the tab add it (they know how BASE and TARGET are spelled on a command line; the tab
gives the files' absolute paths); compare() in Python does not.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import shlex
from typing import TYPE_CHECKING, Optional, Sequence, Tuple

from tensorboard_plugin_ckptdiff.diff import pairing
from tensorboard_plugin_ckptdiff import records, storage
from tensorboard_plugin_ckptdiff.remapping import plan as remap_plan
from tensorboard_plugin_ckptdiff.errors import CheckpointError, InvalidArgument

if TYPE_CHECKING:  # the diff package is imported when a diff is made, not to name its type
    from tensorboard_plugin_ckptdiff.diff.report import Report

OUTPUT_DIR = "remapped"  # the command writes beside the target, into this directory
TITLE = "Write a checkpoint that restores as it is (ckptdiff remap), then load it as usual"


def offered(report: Report, base_argument: Optional[Sequence[str]], target_argument: str,
            target_file: str) -> Report:
    """``report`` (a whole diff: kinds not narrowed) with the remap command added to its fix,
    when it helps. ``base_argument``: BASE as command-line words (None: BASE cannot be named
    there); ``target_file``: the checkpoint TARGET resolves to, spelled as the command's output
    should be (relative as the user gave it, or absolute)."""
    return with_snippet(report, planned_snippet(report, base_argument, target_argument, target_file))


def planned_snippet(report: Report, base_argument: Sequence[str], target_argument: str,
                    target_file: str) -> Optional[records.Snippet]:
    """The command's snippet, or None (what ``offered`` adds; the tab runs it in a reader
    process, since it reads the target's metadata)."""
    try:
        return snippet(report, base_argument, target_argument, output_for(target_file))
    except (CheckpointError, InvalidArgument, OSError):
        return None


def with_snippet(report: Report, found: Optional[records.Snippet]) -> Report:
    if found is None:
        return report
    return dataclasses.replace(report, fix=dataclasses.replace(report.fix, snippets=report.fix.snippets + (found,)))


def may_help(report: Report) -> bool:
    """Whether the diff holds anything a remap changes (most do not): checked before any plan."""
    counts = report.summary
    return bool(counts["renamed"] or counts["dtype_mismatch"] or counts["unexpected"]
                or report.mode == pairing.KERAS_ORDER and (counts["shape_mismatch"] or counts["missing"]))


def output_for(target_file: str) -> str:
    """Where the command writes: ``remapped/`` beside the target, under the target's own name
    (transformers' from_pretrained finds tf_model.h5 / model.safetensors in a directory).
    A remote target's copy goes under the current directory."""
    if "://" in target_file:
        return posixpath.join(OUTPUT_DIR, posixpath.basename(target_file.rstrip("/")))
    directory, name = os.path.split(target_file.rstrip("/\\"))
    if name.endswith(".index"):
        name = name[: -len(".index")]
    return os.path.join(directory, OUTPUT_DIR, name)


def snippet(report: Report, base_argument: Optional[Sequence[str]], target_argument: str,
            out: str) -> Optional[records.Snippet]:
    from tensorboard_plugin_ckptdiff import remapping

    target = report.target
    if base_argument is None or not isinstance(target, records.Checkpoint) or target.status != records.OK:
        return None
    if not may_help(report):
        return None  # nothing a remap changes: no plan is made, no writer imported
    try:
        remapping.writer_for(target.format)
    except InvalidArgument:
        return None
    before = {e.base.key for e in report.entries if e.base is not None and e.restored}
    for drop in (False, True) if report.summary["unexpected"] else (False,):
        plan = remap_plan.plan(report, drop_unexpected=drop)
        if not plan.changes:
            continue
        promised = preview(report, plan, out)
        if set(promised) > before:
            lines = [["ckptdiff", "remap", target_argument], ["--to", *base_argument],
                     ["-o", out], ["--mode", report.mode] + (["--drop-unexpected"] if drop else [])]
            # One line per part, continued with a backslash: long absolute paths stay readable.
            code = " \\\n    ".join(" ".join(shlex.quote(w) for w in line) for line in lines)
            return records.Snippet(TITLE, code, language="shell", restores=promised)
    return None


def preview(report: Report, plan, out: str) -> Tuple[str, ...]:
    """Keys of the base variables the file ``plan`` writes would restore (reads the target's
    metadata, never its values)."""
    from tensorboard_plugin_ckptdiff import remapping
    from tensorboard_plugin_ckptdiff.diff import rows

    target = remapping.where(report.target)
    writer = remapping.writer_for(target.format)
    fs = storage.for_path(target.path)
    planned = writer.planned(fs, target, writer.layout(fs, target, plan), out)
    return rows.restored_keys(report.base, planned, mode=report.mode)
