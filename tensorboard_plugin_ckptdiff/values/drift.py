"""Value drift between two checkpoints: how far each paired variable and each layer moved.

The diff pairs the variables (any formats, mixed included); values are then streamed from
both files in bounded chunks through each reader's ``iter_chunks``, so the working set is a
few fixed buffers whatever the tensor sizes. Sums are kept in float64, so bfloat16 and
float16 values lose nothing to accumulation.
"""

from __future__ import annotations

import dataclasses
import math
import os
import queue
import threading
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Optional, Tuple

from tensorboard_plugin_ckptdiff import records, storage
from tensorboard_plugin_ckptdiff.errors import CheckpointError, IncompleteCheckpoint, InvalidArgument

if TYPE_CHECKING:  # the diff package is imported when a diff is made, not to name its type
    from tensorboard_plugin_ckptdiff.diff.report import Report

# Why a pair has no figures (the words of the diff where they apply).
MISSING = records.MISSING  # only in base
UNEXPECTED = records.UNEXPECTED  # only in target
SHAPE_MISMATCH = records.SHAPE_MISMATCH
DTYPE_MISMATCH = records.DTYPE_MISMATCH
NOT_NUMERIC = "not_numeric"  # strings, resources, complex values
UNKNOWN_SHAPE = "unknown_shape"
UNREADABLE = "unreadable"

# A read hands over up to this many bytes per side; the arithmetic then walks it in blocks
# small enough to stay in cache (float64 copies of both sides and their difference).
READ_BYTES = 8 << 20
BLOCK_ELEMENTS = 1 << 16
# A reader without iter_chunks is read whole, so only tensors this small go that way.
WHOLE_READ_LIMIT = 64 << 20

Progress = Callable[[float], None]


@dataclasses.dataclass(frozen=True)
class VariableDrift:
    """How far one paired variable moved from base to target."""

    name: str
    base_key: str
    target_key: str
    l2: float  # ‖a − b‖
    relative: Optional[float]  # ‖a − b‖ / ‖a‖; None when a is all zeros and b is not
    max_abs: float  # max |a − b|
    cosine: Optional[float]  # None when exactly one side is all zeros
    layer: Optional[str] = None
    kind: str = records.WEIGHT
    shape: records.Shape = None
    dtype: str = ""
    base_norm: float = 0.0
    target_norm: float = 0.0

    def to_json(self) -> dict:
        return {
            "name": self.name, "base_key": self.base_key, "target_key": self.target_key,
            "l2": _number(self.l2), "relative": _number(self.relative), "max_abs": _number(self.max_abs),
            "cosine": _number(self.cosine), "layer": self.layer, "kind": self.kind,
            "shape": None if self.shape is None else list(self.shape), "dtype": self.dtype,
            "base_norm": _number(self.base_norm), "target_norm": _number(self.target_norm),
        }


@dataclasses.dataclass(frozen=True)
class LayerDrift:
    """A layer's variables taken together: ‖Δ‖ over all of them relative to their ‖base‖."""

    layer: str
    relative: Optional[float]
    l2: float
    base_norm: float
    variables: int

    def to_json(self) -> dict:
        return {"layer": self.layer, "relative": _number(self.relative), "l2": _number(self.l2),
                "base_norm": _number(self.base_norm), "variables": self.variables}


@dataclasses.dataclass(frozen=True)
class Skipped:
    name: str
    reason: str
    detail: str = ""

    def to_json(self) -> dict:
        return {"name": self.name, "reason": self.reason, "detail": self.detail}


@dataclasses.dataclass(frozen=True)
class Drift:
    """Every compared pair (in the diff's order), the layers in model order, and the pairs
    that could not be compared with the reason."""

    entries: Tuple[VariableDrift, ...]
    layers: Tuple[LayerDrift, ...]
    skipped: Tuple[Skipped, ...]
    mode: Optional[str] = None
    base: Optional[records.Checkpoint] = None
    target: Optional[records.Checkpoint] = None

    def to_json(self) -> dict:
        out = {"entries": [e.to_json() for e in self.entries],
               "layers": [layer.to_json() for layer in self.layers],
               "skipped": [s.to_json() for s in self.skipped],
               "mode": self.mode}
        for side in ("base", "target"):
            checkpoint = getattr(self, side)
            out[side] = checkpoint.to_json() if checkpoint is not None else None
        return out

    def top(self, n: int) -> Tuple[VariableDrift, ...]:
        """The ``n`` variables that moved most, relative to their size (undefined last)."""
        ranked = sorted(self.entries, key=lambda e: (e.relative is None, -(e.relative or 0.0), -e.l2))
        return tuple(ranked[:n])


@dataclasses.dataclass(frozen=True)
class Source:
    """Where one checkpoint's values are read from: its record, filesystem and reader path
    (the plugin's records name files relative to the logdir, so the path travels apart)."""

    checkpoint: records.Checkpoint
    fs: object
    path: str
    _open: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, checkpoint: records.Checkpoint, fs=None, path: Optional[str] = None) -> "Source":
        path = path or checkpoint.path
        return cls(checkpoint, fs or storage.for_path(path), path)

    def chunks(self, variable: records.Variable, max_bytes: int) -> Iterator:
        return self._reader()(variable, max_bytes)

    def _reader(self):
        """Opened once per source: readers that can parse their index once say so with
        ``chunk_reader(fs, path)``; others get ``iter_chunks`` per variable."""
        if "reader" not in self._open:
            from tensorboard_plugin_ckptdiff import formats

            module = formats.reader_for_format(self.checkpoint.format)
            if hasattr(module, "chunk_reader"):
                read = module.chunk_reader(self.fs, self.path)
                self._open["reader"] = lambda variable, max_bytes: read(variable.key, max_bytes)
            elif hasattr(module, "iter_chunks"):
                self._open["reader"] = lambda variable, max_bytes: module.iter_chunks(
                    self.fs, self.path, variable.key, max_bytes)
            else:
                self._open["reader"] = lambda variable, max_bytes: self._whole(module, variable)
        return self._open["reader"]

    def _whole(self, module, variable: records.Variable) -> Iterator:
        if variable.size_bytes is None or variable.size_bytes > WHOLE_READ_LIMIT:
            raise CheckpointError(
                f"the {self.checkpoint.format} reader cannot stream {variable.key!r} in chunks and it is too "
                "large to read whole")
        return iter((module.read_tensor(self.fs, self.path, variable.key).reshape(-1),))


def drift(base, target, mode: str = "auto", kinds=(records.WEIGHT,), progress: Optional[Progress] = None) -> Drift:
    """Drift from ``base`` to ``target``: paths, Checkpoints from formats.read(), or Sources."""
    from tensorboard_plugin_ckptdiff import diff

    base, target = _source(base), _source(target)
    report = diff.compare(base.checkpoint, target.checkpoint, mode=mode)
    return compute(report, base, target, kinds=kinds, progress=progress)


def _source(side) -> Source:
    if isinstance(side, Source):
        return side
    if isinstance(side, records.Checkpoint):
        return Source.of(side)
    if isinstance(side, (str, os.PathLike)):
        from tensorboard_plugin_ckptdiff import formats

        return Source.of(formats.read(os.fspath(side)))
    raise InvalidArgument(
        f"drift compares the values of two checkpoints; got a {type(side).__name__} "
        "(give a checkpoint path or a read() result)")


def compute(report: Report, base: Source, target: Source, kinds=(records.WEIGHT,),
            progress: Optional[Progress] = None) -> Drift:
    """Figures for every comparable pair of ``report`` (a diff of base against target)."""
    entries = [e for e in report.entries if kinds is None or e.kind in kinds]
    pairs, skipped = [], []
    for entry in entries:
        reason = _why_not(entry)
        if reason is None:
            pairs.append(entry)
        else:
            side = entry.base or entry.target
            skipped.append(Skipped(side.name, reason, entry.detail))
    total = sum(_bytes(e.base) + _bytes(e.target) for e in pairs) or 1
    done = 0
    compared = []
    for entry in pairs:
        try:
            compared.append(_compare(entry, base, target))
        except IncompleteCheckpoint:
            raise
        except CheckpointError as e:
            skipped.append(Skipped(entry.base.name, UNREADABLE, e.message))
        except OSError as e:
            # A writer (CheckpointManager's max_to_keep) deleted or replaced the files after
            # they were listed: the figures so far describe a checkpoint that is gone.
            raise CheckpointError(
                f"the checkpoint's files changed while they were read ({e.strerror or e}): "
                "it was probably deleted or rewritten by its writer; list the runs again") from e
        done += _bytes(entry.base) + _bytes(entry.target)
        if progress is not None:
            progress(done / total)
    return Drift(tuple(compared), _layers(compared), tuple(skipped), report.mode,
                 base.checkpoint, target.checkpoint)


def _why_not(entry: records.Entry) -> Optional[str]:
    a, b = entry.base, entry.target
    if b is None:
        return MISSING
    if a is None:
        return UNEXPECTED
    if entry.status in (SHAPE_MISMATCH, DTYPE_MISMATCH):
        return entry.status
    if a.dtype != b.dtype:
        return DTYPE_MISMATCH
    if a.shape is None or b.shape is None or None in a.shape or None in b.shape:
        return UNKNOWN_SHAPE
    if tuple(a.shape) != tuple(b.shape):
        return SHAPE_MISMATCH
    if real_dtype(a.dtype) is None:
        return NOT_NUMERIC
    return None


def real_dtype(name: str):
    import numpy as np

    from tensorboard_plugin_ckptdiff.formats import dtypes

    try:
        found = dtypes.numpy_dtype(name)
    except (TypeError, ValueError):
        return None
    if found is None or np.issubdtype(found, np.complexfloating) or found.kind in "OSU":
        return None
    return found


def _bytes(variable: records.Variable) -> int:
    if variable.size_bytes is not None:
        return variable.size_bytes
    return math.prod(variable.shape or ()) * (real_dtype(variable.dtype).itemsize)


class _Sums:
    """Running float64 sums over aligned blocks of both sides.

    Products are summed with numpy's pairwise ``sum`` rather than ``np.dot``: as accurate or
    better, and BLAS's dot spins up threads that, on a busy machine, cost several times the
    arithmetic itself."""

    def __init__(self):
        import numpy as np

        self.diff2 = self.base2 = self.target2 = self.dot = 0.0
        self.max_abs = 0.0
        self._a, self._b, self._d, self._t = (np.empty(BLOCK_ELEMENTS, np.float64) for _ in range(4))

    def add(self, a, b) -> None:
        import numpy as np

        for start in range(0, len(a), BLOCK_ELEMENTS):
            x, y = a[start:start + BLOCK_ELEMENTS], b[start:start + BLOCK_ELEMENTS]
            n = len(x)
            fa, fb, fd, ft = self._a[:n], self._b[:n], self._d[:n], self._t[:n]
            np.copyto(fa, x, casting="unsafe")
            np.copyto(fb, y, casting="unsafe")
            np.subtract(fa, fb, out=fd)
            self.max_abs = max(self.max_abs, float(np.abs(fd, out=ft).max()))
            self.diff2 += float(np.multiply(fd, fd, out=ft).sum())
            self.base2 += float(np.multiply(fa, fa, out=ft).sum())
            self.target2 += float(np.multiply(fb, fb, out=ft).sum())
            self.dot += float(np.multiply(fa, fb, out=ft).sum())


def _compare(entry: records.Entry, base: Source, target: Source) -> VariableDrift:
    a, b = entry.base, entry.target
    item = real_dtype(a.dtype).itemsize
    read = max(item, READ_BYTES - READ_BYTES % item)
    left, right = base.chunks(a, read), target.chunks(b, read)
    if _bytes(a) > read:  # more than one read: let the next ones come while this one is summed
        left, right = read_ahead(left), read_ahead(right)
    sums = _Sums()
    count = 0
    for x, y in aligned(left, right):
        sums.add(x, y)
        count += len(x)
    expected = math.prod(a.shape)
    if count != expected:
        raise CheckpointError(f"{a.key!r} holds {count} values where its shape {list(a.shape)} needs {expected}")
    l2 = math.sqrt(sums.diff2)
    base_norm, target_norm = math.sqrt(sums.base2), math.sqrt(sums.target2)
    return VariableDrift(
        name=a.name, base_key=a.key, target_key=b.key, l2=l2, relative=_ratio(l2, base_norm),
        max_abs=sums.max_abs, cosine=_cosine(sums.dot, base_norm, target_norm, l2), layer=layer_of(a, b),
        kind=a.kind, shape=tuple(a.shape), dtype=a.dtype, base_norm=base_norm, target_norm=target_norm)


def aligned(left: Iterable, right: Iterable) -> Iterator:
    """Equal-length pieces of two flat chunk streams whose chunk boundaries differ (a sliced
    variable against a whole one); both streams are read to their end, so each reader
    finishes its own checks (CRCs) before the last piece leaves."""
    left, right = iter(left), iter(right)
    x, y = _next_values(left), _next_values(right)
    while x is not None and y is not None:
        n = min(len(x), len(y))
        yield x[:n], y[:n]
        x = x[n:] if len(x) > n else _next_values(left)
        y = y[n:] if len(y) > n else _next_values(right)
    if x is not None or y is not None:
        raise CheckpointError("the two variables hold different numbers of values")


_END = object()


def read_ahead(chunks: Iterator, depth: int = 2) -> Iterator:
    """The chunks of ``chunks``, read by a helper thread at most ``depth`` ahead: file reads
    and CRCs release the GIL, so the disk works while the previous chunk is summed."""
    slots: "queue.Queue" = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def pump():
        try:
            for chunk in chunks:
                if not _put(slots, (chunk, None), stop):
                    return
            _put(slots, (_END, None), stop)
        except BaseException as e:  # handed to the consumer, raised there
            _put(slots, (_END, e), stop)

    threading.Thread(target=pump, name="CkptDiffReadAhead", daemon=True).start()
    try:
        while True:
            chunk, error = slots.get()
            if chunk is _END:
                if error is not None:
                    raise error
                return
            yield chunk
    finally:
        stop.set()  # a consumer that stops early releases the thread


def _put(slots: "queue.Queue", item, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            slots.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _next_values(chunks: Iterator):
    for chunk in chunks:
        if len(chunk):
            return chunk
    return None


def _ratio(l2: float, base_norm: float) -> Optional[float]:
    if l2 == 0.0:
        return 0.0  # unchanged, even when both sides are all zeros
    if base_norm == 0.0:
        return None
    return l2 / base_norm


def _cosine(dot: float, base_norm: float, target_norm: float, l2: float) -> Optional[float]:
    if l2 == 0.0:
        return 1.0  # identical values point the same way, zeros included
    if base_norm == 0.0 or target_norm == 0.0:
        return None
    return max(-1.0, min(1.0, dot / (base_norm * target_norm)))


def layer_of(a: records.Variable, b: records.Variable) -> str:
    """The layer a pair belongs to: the reader's layer, else the name's parent scope."""
    for side in (a, b):
        if side.layer:
            return side.layer
    name = a.name
    for sep in ("/", "."):
        if sep in name:
            return name.rsplit(sep, 1)[0]
    return name


def _layers(compared) -> Tuple[LayerDrift, ...]:
    sums = {}  # insertion order: the model's order, as the diff lists it
    for e in compared:
        diff2, base2, count = sums.get(e.layer, (0.0, 0.0, 0))
        sums[e.layer] = (diff2 + e.l2 ** 2, base2 + e.base_norm ** 2, count + 1)
    out = []
    for layer, (diff2, base2, count) in sums.items():
        l2, base_norm = math.sqrt(diff2), math.sqrt(base2)
        out.append(LayerDrift(layer, _ratio(l2, base_norm), l2, base_norm, count))
    return tuple(out)


def _number(x: Optional[float]) -> Optional[float]:
    # JSON has no NaN or infinity; a weight that holds them has no meaningful figure.
    return x if x is not None and math.isfinite(x) else None
