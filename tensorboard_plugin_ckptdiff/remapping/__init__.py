"""Write the fix: a copy of the target checkpoint that the base's own loader restores as it is.

``remap`` takes the diff of the base against the target (remap_plan.py says what it changes),
has the target format's writer lay the new checkpoint out from metadata alone, checks that no
file it would write is one it reads, streams the values into files beside the destination
under temporary names (staging.py) and moves them into place only once every value was read
and checked; then it reads the new checkpoint back and diffs it against the base, so the
verdict printed is the one of the file on disk. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from typing import TYPE_CHECKING, Optional, Sequence, Tuple

from tensorboard_plugin_ckptdiff import records, storage
from tensorboard_plugin_ckptdiff.remapping import plan as remap_plan
from tensorboard_plugin_ckptdiff.errors import CheckpointError, InvalidArgument

if TYPE_CHECKING:  # the diff package is imported when a diff is made, not to name its type
    from tensorboard_plugin_ckptdiff.diff.report import Report

# The writer of each format: a module here (formats/ only reads), with the functions used below.
_WRITERS = {
    records.TF_BUNDLE: "tf_bundle_writer",
    records.SAFETENSORS: "safetensors_writer",
    records.KERAS_WEIGHTS_H5: "keras_h5_writer",
    records.KERAS_LEGACY_H5: "keras_h5_writer",
    records.KERAS_ARCHIVE: "keras_h5_writer",
}


@dataclasses.dataclass(frozen=True)
class Remapped:
    """A written remap: where, what it changed, and the diff of the new file against the base."""

    path: str
    format: str
    files: Tuple[str, ...]
    renamed: int
    cast: int
    dropped: int
    moved_layers: int
    copied: int  # variables written as they were
    left: Tuple[str, ...]  # what was left as it is on purpose, one sentence each
    report: Report  # the written file against the base

    @property
    def restorable(self) -> bool:
        return self.report.restorable

    @property
    def verdict(self) -> str:
        return self.report.verdict

    def to_json(self) -> dict:
        return {"path": self.path, "format": self.format, "files": list(self.files), "renamed": self.renamed,
                "cast": self.cast, "dropped": self.dropped, "moved_layers": self.moved_layers,
                "copied": self.copied, "left": list(self.left), "restorable": self.restorable,
                "verdict": self.verdict, "report": self.report.to_json()}

    def to_text(self) -> str:
        from tensorboard_plugin_ckptdiff.diff import text

        return text.remapped(self)


def writer_for(fmt: Optional[str]):
    name = _WRITERS.get(fmt)
    if name is None:
        raise InvalidArgument(f"remap does not write {fmt or 'this'} checkpoints; it writes "
                              f"{', '.join(sorted(_WRITERS))}")
    return importlib.import_module(f"tensorboard_plugin_ckptdiff.remapping.{name}")


def remap(report_or_pair, out: str, mode: str = "auto", drop_unexpected: bool = False, cast: str = remap_plan.SAFE,
          overwrite: bool = False) -> Remapped:
    """Write ``out``: the target of ``report_or_pair`` (a Report, or a (base, target) pair as
    compare() takes them) remapped so that the base's loader restores it."""
    report = _full_report(report_or_pair, mode)
    plan = remap_plan.plan(report, drop_unexpected=drop_unexpected, cast=cast)
    target = where(report.target)
    writer = writer_for(target.format)
    if "://" in os.fspath(out):
        raise InvalidArgument(f"the output is written locally; {out!r} is a URL")
    out = writer.output_prefix(os.fspath(out)) if hasattr(writer, "output_prefix") else os.fspath(out)
    fs = storage.for_path(target.path)
    layout = writer.layout(fs, target, plan)
    outputs = writer.output_files(out, layout)
    _refuse_overwriting(out, writer.input_files(fs, target, layout), outputs, overwrite)
    from tensorboard_plugin_ckptdiff.remapping.staging import Staging

    with Staging(out) as staging:
        _, last = writer.write(fs, target, layout, out, staging)
        last = list(last)
        state = _state_file(writer, out, staging)
        if state:
            last.append(state)
        # An older checkpoint at ``out`` stops looking whole before its files are replaced.
        written = staging.commit(last=last, remove_first=[p for p in last if os.path.lexists(p)])
    return _result(report, plan, writer, layout, out, written)


def where(target: records.Checkpoint) -> records.Checkpoint:
    """The target with ``path`` naming its file wherever this runs (the tab's records name it
    relative to the logdir; ``location`` is where it is)."""
    return dataclasses.replace(target, path=target.location) if target.location else target


def _full_report(report_or_pair, mode: str) -> Report:
    from tensorboard_plugin_ckptdiff import api, diff

    from tensorboard_plugin_ckptdiff.diff.report import Report

    if isinstance(report_or_pair, Report):  # recomputed whole: a report may show some kinds only
        base, target, mode = report_or_pair.base, report_or_pair.target, report_or_pair.mode
        report = diff.compare(base, target, mode=mode)
    elif isinstance(report_or_pair, (tuple, list)) and len(report_or_pair) == 2:
        report = api.compare(report_or_pair[0], report_or_pair[1], mode=mode)
    else:
        raise InvalidArgument("remap takes a Report from compare() or a (base, target) pair")
    target = report.target
    if not isinstance(target, records.Checkpoint):
        raise InvalidArgument("the target of a remap is a checkpoint (what is read), not an architecture")
    if target.status != records.OK:
        raise CheckpointError(f"the checkpoint is {target.status}: {target.error}", target.path)
    return report


def _refuse_overwriting(out: str, inputs: Sequence[str], outputs: Sequence[str], overwrite: bool) -> None:
    read = {_real(p) for p in inputs if "://" not in p}
    for path in outputs:
        if _real(path) in read:
            raise InvalidArgument(f"the output {out!r} would overwrite {path!r}, a file of the checkpoint being "
                                  "read: write elsewhere")
    if not overwrite:
        for path in outputs:
            if os.path.lexists(path):
                what = "exists" if path == out else f"exists ({path!r})"
                raise InvalidArgument(f"{out!r} {what}: choose another output or pass --overwrite")


def _real(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


def _state_file(writer, out: str, staging) -> Optional[str]:
    """A bundle written into a directory without a ``checkpoint`` state file gets one naming it
    (tf.train.latest_checkpoint finds it); an existing state file is someone's: left alone."""
    if writer.FORMAT != records.TF_BUNDLE:
        return None
    from tensorboard_plugin_ckptdiff.formats._bundle import state_file

    path = os.path.join(os.path.dirname(os.path.abspath(out)), state_file.STATE_FILE)
    if os.path.lexists(path):
        return None
    with open(staging.path(path), "wb") as f:
        f.write(state_file.text(os.path.basename(out)))
    return path


def _result(report, plan, writer, layout, out, written) -> Remapped:
    from tensorboard_plugin_ckptdiff import diff, formats

    new = formats.read(out)
    after = diff.compare(report.base, new, mode=report.mode)
    not_moved = getattr(layout, "not_moved", ())
    renamed = len(plan.renames) - len(not_moved)
    left = plan.left + tuple(f"{key} keeps its name: {why}." for key, why in not_moved)
    changed = renamed + len(plan.casts) + len(plan.drops)
    total = sum(1 for v in report.target.variables if v.key != records.OBJECT_GRAPH_KEY)
    return Remapped(path=out, format=new.format, files=tuple(written), renamed=renamed, cast=len(plan.casts),
                    dropped=len(plan.drops), moved_layers=len(plan.slot_moves), copied=max(0, total - changed),
                    left=left, report=after)
