"""The TensorBoard plugin: routes only, each a few lines from request to core to JSON."""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import functools
import json
import logging
import mimetypes
import os
import threading
import time
from typing import Dict, List, Optional, Tuple

from tensorboard import errors as tb_errors
from tensorboard import plugin_util
from tensorboard.backend import http_util, json_util
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from tensorboard_plugin_ckptdiff.logdir import cache, catalog, overview as runs_overview, verdicts as verdict_cache, walk as discovery
from tensorboard_plugin_ckptdiff.values import jobs, service
from tensorboard_plugin_ckptdiff import errors, metadata, records, storage

logger = logging.getLogger(__name__)

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
_ROUTE_PREFIX = f"/data/plugin/{metadata.PLUGIN_NAME}/"
_JSON = "application/json"
_CONTENT_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
                  ".html": "text/html", ".json": _JSON, ".svg": "image/svg+xml", ".map": _JSON,
                  ".png": "image/png", ".woff2": "font/woff2"}
_CARRIED = runs_overview.CARRIED
_REPORTS_KEPT = 16
_CARRIED_KEPT = 32  # architectures read from .meta files and archives, with their variables
_PAGE = 100  # overview rows per answer when the request does not say
_MATRIX_PAGE = 50  # matrix rows and columns per answer when the request does not say
_MAX_PAGE = 1000


def _status_and_code(e: Exception) -> Tuple[int, str]:
    # Most specific first: IncompleteCheckpoint is a CheckpointError.
    table = (
        (errors.IncompleteCheckpoint, 422, "incomplete_checkpoint"),
        (errors.CheckpointError, 422, "unreadable_checkpoint"),
        (errors.InvalidArgument, 400, "bad_argument"),
        (tb_errors.InvalidArgumentError, 400, "bad_argument"),
        (errors.NotFound, 404, "not_found"),
        (tb_errors.NotFoundError, 404, "not_found"),
        (tb_errors.PermissionDeniedError, 403, "permission_denied"),
        (tb_errors.UnauthenticatedError, 401, "unauthenticated"),
    )
    for cls, status, code in table:
        if isinstance(e, cls):
            return status, code
    return 500, "internal_error"


def _message(e: Exception) -> str:
    if isinstance(e, errors.CheckpointError):
        return str(e)
    if isinstance(e, tb_errors.PublicError):
        return e.message if hasattr(e, "message") else str(e)
    if isinstance(e, (errors.NotFound, KeyError)) and e.args:
        return str(e.args[0])
    return str(e)


def _json_route(handler):
    """The one place errors become API.md's JSON body: 4xx for what the request or the file
    did wrong, 500 (logged) only for our own bugs."""

    @wrappers.Request.application
    @functools.wraps(handler)
    def route(self, request):
        try:
            return handler(self, request)
        except Exception as e:
            status, code = _status_and_code(e)
            if status == 500:
                logger.exception("ckptdiff: %s failed", request.path)
                message = f"internal error ({type(e).__name__}); the TensorBoard log has the details"
            else:
                message = _message(e)
            body = {"error": {"code": code, "message": message}}
            return http_util.Respond(request, body, _JSON, code=status)

    return route


def _arg(request, name: str) -> str:
    value = request.args.get(name)
    if value is None or value == "":
        raise errors.InvalidArgument(f"missing argument {name!r}")
    return value


def _count(request, name: str) -> Optional[int]:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise errors.InvalidArgument(f"{name} must be a non-negative integer, got {raw!r}") from None
    if value < 0:
        raise errors.InvalidArgument(f"{name} must be a non-negative integer, got {raw!r}")
    return value


def _page(variables, offset: Optional[int], limit: Optional[int]) -> dict:
    start = offset or 0
    stop = None if limit is None else start + limit
    return {"variables": [v.to_json() for v in variables[start:stop]], "total": len(variables)}


def _ref(raw: str) -> Tuple[str, str]:
    kind, sep, ident = raw.partition(":")
    if not sep or kind not in ("checkpoint", "architecture") or not ident:
        raise errors.InvalidArgument(f"a reference is checkpoint:ID or architecture:ID, got {raw!r}")
    return kind, ident


class CheckpointDiffPlugin(base_plugin.TBPlugin):
    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context):
        self._context = context
        self._data_provider = context.data_provider
        flags = context.flags
        self._reload_interval = float(getattr(flags, "reload_interval", 5.0) if flags else 5.0)
        roots = discovery.roots(context.logdir or "", getattr(flags, "logdir_spec", "") if flags else "")
        self._roots = roots
        self._catalog = catalog.Catalog(roots, self._reload_interval)
        self._lock = threading.Lock()
        # experiment -> {run: architectures} from event data, kept for a reload interval
        self._architectures = cache.Versioned(same=lambda read_at, now: now - read_at < max(self._reload_interval, 1.0))
        self._reports = cache.Versioned(kept=_REPORTS_KEPT, same=cache.identical)  # diff JSON
        # experiment -> _Snapshot, for (listing version, the very event data it was built from)
        self._run_texts: Dict[str, tuple] = {}  # run -> (group, checkpoints, architectures, its /runs text)
        self._snapshots = cache.Versioned(same=lambda kept, asked: kept[0] == asked[0] and kept[1] is asked[1])
        self._carried = cache.Versioned(kept=_CARRIED_KEPT)  # (path, signature) -> Architecture
        self._carried_failed: Dict[tuple, str] = {}
        self._values = service.ValueService(self._catalog, self._readable_checkpoint)
        self._verdicts = verdict_cache.VerdictCache(self._verdict_key, self._whole)
        # The pass that verifies the listing also feeds the overview its verdicts.
        self._catalog.subscribe(self._verdicts.offer)
        if roots:
            self._catalog.start()  # in the background: TensorBoard's start never waits for it

    def get_plugin_apps(self):
        return {
            "/runs": self.runs_route,
            "/overview": self.overview_route,
            "/matrix": self.matrix_route,
            "/checkpoint": self.checkpoint_route,
            "/architecture": self.architecture_route,
            "/diff": self.diff_route,
            "/drift": self.drift_route,
            "/tensor_stats": self.tensor_stats_route,
            "/index.js": self.static_route,
            "/*": self.static_route,
        }

    def is_active(self):
        # Never blocks: the tab appears once the background scan has found a checkpoint.
        # Runs with this plugin's model_spec summaries activate it through data_plugin_names.
        return self._catalog.has_checkpoints()

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name="Checkpoint Diff")

    # ------------------------------------------------------------------ routes

    @_json_route
    def runs_route(self, request):
        return http_util.Respond(request, *self.runs_impl(*self._where(request)))

    @_json_route
    def overview_route(self, request):
        return http_util.Respond(request, *self.overview_impl(
            *self._where(request), request.args.get("q", ""), _count(request, "offset"), _count(request, "limit")))

    @_json_route
    def matrix_route(self, request):
        return http_util.Respond(request, *self.matrix_impl(
            *self._where(request), request.args.get("q", ""),
            *(_count(request, name) for name in ("row_offset", "row_limit", "col_offset", "col_limit"))))

    @_json_route
    def checkpoint_route(self, request):
        return http_util.Respond(request, *self.checkpoint_impl(
            _arg(request, "id"), _count(request, "offset"), _count(request, "limit")))

    @_json_route
    def architecture_route(self, request):
        return http_util.Respond(request, *self.architecture_impl(
            *self._where(request), _arg(request, "id"), _count(request, "offset"), _count(request, "limit")))

    @_json_route
    def diff_route(self, request):
        mode = request.args.get("mode") or "auto"
        if mode not in records.MODES:
            raise errors.InvalidArgument(f"mode is one of {', '.join(records.MODES)}; got {mode!r}")
        return http_util.Respond(request, *self.diff_impl(
            *self._where(request), _ref(_arg(request, "base")), _ref(_arg(request, "target")),
            mode, records.parse_kinds(request.args.get("kinds") or None)))

    @_json_route
    def drift_route(self, request):
        refs = [_ref(_arg(request, name)) for name in ("base", "target")]
        if any(kind != "checkpoint" for kind, _ in refs):
            raise errors.InvalidArgument("drift compares the values of two checkpoints: use checkpoint:ID on both sides")
        for _, ident in refs:
            self._catalog.find(ident)
        kinds = records.parse_kinds(request.args.get("kinds") or None) or (records.WEIGHT,)
        state = self.drift_impl(refs[0][1], refs[1][1], kinds)
        if state.status == jobs.RUNNING:  # API.md: 202 with the progress until the result is there
            return http_util.Respond(request, {"status": "running", "progress": state.progress}, _JSON, code=202)
        return http_util.Respond(request, state.result, _JSON)

    @_json_route
    def tensor_stats_route(self, request):
        base, target = _ref(_arg(request, "base")), request.args.get("target")
        target = _ref(target) if target else None
        if base[0] != "checkpoint" or (target and target[0] != "checkpoint"):
            raise errors.InvalidArgument("tensor_stats reads the values of checkpoints: use checkpoint:ID")
        body = self._values.tensor_stats(base[1], _arg(request, "base_key"), target and target[1],
                                         request.args.get("target_key"), _count(request, "bins") or 40)
        return http_util.Respond(request, body, _JSON)

    @_json_route
    def static_route(self, request):
        path = self._static_file(request.path)
        with open(path, "rb") as f:
            content = f.read()
        ext = os.path.splitext(path)[1].lower()
        content_type = _CONTENT_TYPES.get(ext) or mimetypes.guess_type(path)[0] or "application/octet-stream"
        return http_util.Respond(request, content, content_type)

    # ------------------------------------------------------------------ impls (no HTTP)

    def runs_impl(self, ctx, experiment) -> Tuple[str, str]:
        """The /runs body, serialized once per change of the logdir or of the event data."""
        snapshot = self._snapshot(ctx, experiment)
        if snapshot.runs_text is None:
            head = {
                "logdir_readable": snapshot.listing.readable,
                # the first pass over the logdir, or the verification of what it found, is
                # still under way: ask again
                "scanning": snapshot.scanning,
                # when scanning last turned false (seconds since the epoch), else null
                "scanned_wall_time": snapshot.scanned_wall_time,
                # directories the walk could not open: their checkpoints are missing from the list
                "unreadable_dirs": [{"path": path, "error": why} for path, why in snapshot.listing.unreadable_dirs],
                "modes": list(records.MODES),  # what /diff accepts as mode, "auto" first
            }
            # The body is json.dumps of {**head, "runs": [...]}, spelled in pieces with the same
            # separators: a run whose records did not change keeps its text from the last
            # build (a remote first pass changes a few runs between two asks, not 200).
            runs = ", ".join(self._run_text(run, snapshot.groups[run], checkpoints, architectures)
                             for run, (checkpoints, architectures) in snapshot.table.items())
            snapshot.runs_text = _dumps(head)[:-1] + ', "runs": [' + runs + "]}"
            if len(self._run_texts) > 2 * len(snapshot.table) + 64:  # runs gone from the logdir
                self._run_texts = {run: self._run_texts[run] for run in snapshot.table if run in self._run_texts}
        return snapshot.runs_text, _JSON

    def _run_text(self, run: str, group: str, checkpoints, architectures) -> str:
        """One run of the /runs body, encoded again only when its records changed: the
        checkpoints as the very same objects (the catalog hands out the same record while a
        checkpoint is unchanged), the architectures equal (carried ones are made anew)."""
        kept = self._run_texts.get(run)
        if kept is not None and kept[0] == group and cache.identical(kept[1], checkpoints) \
                and kept[2] == tuple(architectures):
            return kept[3]
        text = _dumps({
            "run": run,
            "group": group,
            "checkpoints": [c.to_json() for c in checkpoints],
            "architectures": [a.to_json() for a in architectures],
        })
        self._run_texts[run] = (group, tuple(checkpoints), tuple(architectures), text)
        return text

    def overview_impl(self, ctx, experiment, query: str = "", offset=None, limit=None) -> Tuple[dict, str]:
        """One row per run, problems first, with what is known now; the rest is computed in
        the background (``status`` "running" until every verdict is there: ask again)."""
        snapshot = self._snapshot(ctx, experiment)
        known, asked = self._verdicts.want(runs_overview.wanted(snapshot.rows))
        self._verdicts.stand({run: row.base for row in snapshot.rows if row.architecture is not None
                              for run in row.runs})
        body = runs_overview.overview_json(snapshot.rows, self._verdicts.lookup, query, _window(offset, limit, _PAGE),
                                           snapshot.scanning, snapshot.checkpoints, known, asked)
        return body, _JSON

    def matrix_impl(self, ctx, experiment, query: str = "", row_offset=None, row_limit=None,
                    col_offset=None, col_limit=None) -> Tuple[dict, str]:
        """Cell (i, j): does run j's newest readable checkpoint restore into run i's model."""
        snapshot = self._snapshot(ctx, experiment)
        models, columns = runs_overview.matrix_axes(snapshot.rows, query)
        rows, cols = _window(row_offset, row_limit, _MATRIX_PAGE), _window(col_offset, col_limit, _MATRIX_PAGE)
        # column by column: the worker reads each checkpoint once for the whole column
        asked = [(m.architecture, c.newest) for c in columns[cols[0]:cols[1]] if c.newest is not None
                 for m in models[rows[0]:rows[1]]]
        known, total = self._verdicts.want(asked)
        return runs_overview.matrix_json(models, columns, rows, cols, self._verdicts.lookup, known, total), _JSON

    def checkpoint_impl(self, checkpoint_id: str, offset=None, limit=None) -> Tuple[dict, str]:
        checkpoint = self._readable_checkpoint(checkpoint_id)
        return {"checkpoint": checkpoint.to_json(), **_page(checkpoint.variables, offset, limit)}, _JSON

    def architecture_impl(self, ctx, experiment, architecture_id: str, offset=None, limit=None) -> Tuple[dict, str]:
        architecture = self._architecture(ctx, experiment, architecture_id)
        return {"architecture": architecture.to_json(), **_page(architecture.variables, offset, limit)}, _JSON

    def diff_impl(self, ctx, experiment, base_ref, target_ref, mode="auto", kinds=None) -> Tuple[str, str]:
        base = self._side(ctx, experiment, base_ref)
        target = self._side(ctx, experiment, target_ref)
        # Kept with the very records it was computed from (which keeps their id()s unique).
        key, sides = (id(base), id(target), mode, kinds), (base, target)
        text = self._reports.get(key, sides)
        if text is not None:
            return text, _JSON
        from tensorboard_plugin_ckptdiff import diff

        # The remap command is planned on the whole diff, in a reader process, while this thread
        # encodes the rows (the fix, where it goes, comes last in the body: a 100k diff's rows
        # take about as long as the plan); the kinds asked for narrow what is shown.
        report = diff.compare(base, target, mode=mode)
        planned = _planner().submit(self._with_remap_command, report, base_ref)
        text = _report_text(diff.narrowed(report, kinds), fix=lambda: planned.result().fix)
        return self._reports.put(key, sides, text), _JSON

    def drift_impl(self, base_id: str, target_id: str, kinds=(records.WEIGHT,)) -> jobs.State:
        """Where the drift of the pair stands: running (with its progress) or done (its JSON)."""
        return self._values.drift(base_id, target_id, kinds)

    # ------------------------------------------------------------------ helpers

    def _with_remap_command(self, report, base_ref):
        """The report with the ``ckptdiff remap`` command for this pair in its fix (a snippet of
        language shell, absolute paths): the server plans it and never writes anything."""
        from tensorboard_plugin_ckptdiff import isolation
        from tensorboard_plugin_ckptdiff.remapping import command as remap_command

        target = report.target
        if not isinstance(target, records.Checkpoint) or not target.location or not remap_command.may_help(report):
            return report
        try:
            words = self._base_words(base_ref, report.base)
            if words is None:
                return report
            # Planning reads the target's index, object graph or HDF5 tree: in a reader process.
            location = target.location
            found = isolation.call(remap_command.planned_snippet, report, words, location, location)
        except errors.CheckpointError:  # a fix that cannot be planned is left out; the diff stands
            return report
        except Exception:
            logger.exception("ckptdiff: planning the remap command failed")
            return report
        return remap_command.with_snippet(report, found)

    def _base_words(self, ref, base) -> Optional[List[str]]:
        """BASE as ``ckptdiff remap --to`` takes it, or None where the command cannot name it."""
        kind, ident = ref
        if isinstance(base, records.Checkpoint):
            return [base.location] if base.location else None
        if ident.startswith(_CARRIED):
            found = self._catalog.find(ident[len(_CARRIED):])
            if found.meta_path is not None:
                return [found.meta_path if storage.is_remote(found.meta_path) else os.path.abspath(found.meta_path)]
            if base.source == records.KERAS_ARCHIVE:
                return [self._readable_checkpoint(found.id).location]
            return None  # a SavedModel's graph: the command would read the SavedModel as a checkpoint
        directory = discovery.run_directory(self._roots, base.run) if base.run is not None else None
        if directory is None:
            return None
        directory = directory if storage.is_remote(directory) else os.path.abspath(directory)
        return [directory, "--architecture", f"{base.source}/{base.step}"]

    def _where(self, request):
        return plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)

    def _snapshot(self, ctx, experiment) -> "_Snapshot":
        """The listing as /runs, /overview and /matrix see it, built once per change of the
        logdir, of the event data, or of what was learned about carried architectures."""
        # The version first: a rescan landing between the two reads then leaves a newer
        # listing under an older version (rebuilt next time), never an older listing under
        # the newer version, which would be served until the logdir changes again.
        version = (self._catalog.version, len(self._carried_failed))
        listing = self._catalog.listing()
        event_architectures = self._event_architectures(ctx, experiment)
        # The same listing version and the very same event data (an unchanged read is kept as
        # the same object): then the snapshot still holds.
        cached = self._snapshots.get(experiment, (version, event_architectures))
        if cached is not None:
            return cached
        checkpoints = self._catalog.records(listing)
        by_run = self._architectures_by_run(event_architectures, listing, {c.id: c for c in checkpoints})
        checkpoints_by_run: Dict[str, List[records.Checkpoint]] = collections.defaultdict(list)
        for checkpoint in checkpoints:
            checkpoints_by_run[checkpoint.run].append(checkpoint)
        table = {run: (discovery.oldest_first(checkpoints_by_run.get(run, ())), discovery.oldest_first(by_run.get(run, ())))
                 for run in sorted(set(listing.runs) | set(by_run))}
        groups = runs_overview.groups([run for run, found in event_architectures.items() if found], table)
        scanning = self._catalog.scanning(listing)
        snapshot = _Snapshot(listing, scanning, None if scanning else self._catalog.verified_at(),
                             tuple(checkpoints), table, groups, runs_overview.rows(table, groups))
        return self._snapshots.put(experiment, (version, event_architectures), snapshot)

    def _verdict_key(self, side):
        """The verdict cache's key of a listing record: what its verdicts depend on."""
        if side is None:
            return None
        if type(side) is records.Checkpoint:
            found = self._catalog.found(side.id)
            return None if found is None else (found.path, found.signature)
        if side.id.startswith(_CARRIED):
            found = self._catalog.found(side.id[len(_CARRIED):])
            return None if found is None else ("carried", found.path, found.signature)
        return ("event", side.id, side.step, side.wall_time)

    def _whole(self, side):
        """The record of ``side`` with its variables, for a diff in the background."""
        if isinstance(side, records.Checkpoint):
            return self._readable_checkpoint(side.id)
        if side.id.startswith(_CARRIED):
            return self._carried_architecture(side.id)
        return side  # an architecture from event data is listed whole

    def _readable_checkpoint(self, checkpoint_id: str) -> records.Checkpoint:
        checkpoint = self._catalog.checkpoint(checkpoint_id)
        if checkpoint.status == records.INCOMPLETE:
            raise errors.IncompleteCheckpoint(f"checkpoint {checkpoint_id} is still being written: {checkpoint.error}")
        if checkpoint.status != records.OK:
            raise errors.CheckpointError(f"checkpoint {checkpoint_id} cannot be read: {checkpoint.error}")
        return checkpoint

    def _side(self, ctx, experiment, ref):
        kind, ident = ref
        if kind == "checkpoint":
            return self._readable_checkpoint(ident)
        return self._architecture(ctx, experiment, ident)

    def _architecture(self, ctx, experiment, architecture_id: str) -> records.Architecture:
        if architecture_id.startswith(_CARRIED):
            return self._carried_architecture(architecture_id)
        for architectures in self._event_architectures(ctx, experiment).values():
            for architecture in architectures:
                if architecture.id == architecture_id:
                    if architecture.status != records.OK:
                        raise errors.CheckpointError(
                            f"architecture {architecture_id} cannot be read: {architecture.error}")
                    return architecture
        raise errors.NotFound(f"no architecture with id {architecture_id!r}: ask /runs for the ids")

    def _carried_architecture(self, architecture_id: str) -> records.Architecture:
        checkpoint_id = architecture_id[len(_CARRIED):]
        found = self._catalog.find(checkpoint_id)
        if found.carries is None:
            raise errors.NotFound(f"no architecture with id {architecture_id!r}: ask /runs for the ids")
        key = (found.path, found.signature)
        cached = self._carried.get(key)
        if cached is not None:
            return cached
        try:
            architecture = self._read_carried(found, checkpoint_id, architecture_id)
        except errors.CheckpointError as e:
            with self._lock:
                self._carried_failed[key] = str(e)  # /runs lists it as an error from now on
            raise
        return self._carried.put(key, None, architecture)

    def _read_carried(self, found, checkpoint_id: str, architecture_id: str) -> records.Architecture:
        if found.meta_path is not None:
            from tensorboard_plugin_ckptdiff import isolation
            from tensorboard_plugin_ckptdiff.architectures import meta_graph

            fs, _ = self._catalog.filesystem_path(checkpoint_id)
            # A .meta file is protobuf, parsed in C: in a reader process, like every checkpoint.
            architecture = isolation.call(meta_graph.from_meta_graph_file, fs, found.meta_path)
        else:
            architecture = self._readable_checkpoint(checkpoint_id).architecture
        if architecture is None:
            raise errors.CheckpointError(f"checkpoint {checkpoint_id} carries no architecture that could be read")
        if architecture.status != records.OK:
            raise errors.CheckpointError(f"architecture {architecture_id} cannot be read: {architecture.error}")
        return _carried_record(found, architecture, status=architecture.status, error=architecture.error,
                               variables=architecture.variables, framework=architecture.framework)

    def _event_architectures(self, ctx, experiment) -> Dict[str, list]:
        """Architectures from event data, re-read at most once per reload interval."""
        now = time.monotonic()
        cached = self._architectures.get(experiment, now)
        if cached is not None:
            return cached
        from tensorboard_plugin_ckptdiff.architectures import events

        result = events.read_architectures(self._data_provider, ctx, experiment) if self._data_provider else {}
        last = self._architectures.last(experiment)
        if last is not None and last == result:
            result = last  # unchanged: keep the object, so /runs stays cached
        return self._architectures.put(experiment, now, result)

    def _architectures_by_run(self, event_architectures, listing, checkpoints) -> Dict[str, list]:
        merged = collections.defaultdict(list, {run: list(a) for run, a in event_architectures.items()})
        for found in listing.found:
            if found.carries:
                status, error = self._carried_status(found, checkpoints[found.id])
                merged[found.run].append(_carried_record(found, None, status=status, error=error))
        return merged

    def _carried_status(self, found, carrier: records.Checkpoint) -> Tuple[str, Optional[str]]:
        """An architecture a checkpoint carries is no more readable than that checkpoint."""
        if carrier.status == records.PENDING:
            return records.PENDING, None
        if carrier.status == records.INCOMPLETE:
            return records.ERROR, "the checkpoint that carries it is still being written"
        if carrier.status != records.OK:
            return records.ERROR, f"the checkpoint that carries it cannot be read: {carrier.error}"
        with self._lock:
            failed = self._carried_failed.get((found.path, found.signature))
        if failed is None and found.meta_path is None:
            carried = carrier.architecture
            if carried is None:
                failed = "the checkpoint carries no architecture that could be read"
            elif carried.status != records.OK:
                failed = carried.error
        return (records.OK, None) if failed is None else (records.ERROR, failed)

    def _static_file(self, request_path: str) -> str:
        name = request_path[len(_ROUTE_PREFIX):] if request_path.startswith(_ROUTE_PREFIX) else ""
        parts = name.split("/")
        if not name or any(p in ("", ".", "..") or "\\" in p or "\0" in p for p in parts):
            raise errors.NotFound(f"no such route or file: {name!r}")
        root = os.path.realpath(STATIC_DIR)
        path = os.path.realpath(os.path.join(root, *parts))
        if not path.startswith(root + os.sep) or not os.path.isfile(path):
            raise errors.NotFound(f"no such route or file: {name!r}")
        return path


@dataclasses.dataclass
class _Snapshot:
    listing: catalog.Listing
    scanning: bool
    scanned_wall_time: Optional[float]
    checkpoints: Tuple[records.Checkpoint, ...]
    table: Dict[str, tuple]  # run -> (checkpoints, architectures), oldest first, by run name
    groups: Dict[str, str]  # run -> the overview row it belongs to
    rows: List[runs_overview.Row]
    runs_text: Optional[str] = None  # the /runs body, serialized on first use


def _window(offset: Optional[int], limit: Optional[int], default: int) -> Tuple[int, int]:
    start = offset or 0
    return start, start + min(default if limit is None else limit, _MAX_PAGE)


def _carried_record(found: discovery.Found, architecture, **fields) -> records.Architecture:
    source = found.carries
    if architecture is not None and architecture.source:
        source = architecture.source
    return records.Architecture(id=_CARRIED + found.id, source=source, run=found.run, step=found.step,
                                wall_time=found.wall_time, **fields)


# Entries encoded this many at a time: a slice's dicts die young, in the youngest generation.
_ROWS_AT_ONCE = 100


@functools.lru_cache(maxsize=None)
def _planner() -> concurrent.futures.ThreadPoolExecutor:
    """Threads that wait on a reader process planning a diff's remap command (made once)."""
    return concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="CkptDiffRemapPlan")


def _report_text(report, fix=None) -> str:
    """``_dumps(report.to_json())`` byte for byte, its entries encoded a slice at a time;
    ``fix()``, when given, is the fix to encode instead of the report's (asked for last).

    The whole body at once is ~5 tracked objects per row (the row's dict and both variables'),
    all alive until the encoder runs: a 10,000-row diff promoted ~50k of them to the oldest
    generation, and beside TensorFlow's objects in TensorBoard's process that set off a full
    collection on most diffs (issue 14: the core may not pause the collector).
    tests/test_plugin_routes.py holds the text to json.dumps of the whole body."""
    parts = []
    for name, value in dataclasses.replace(report, entries=()).to_json().items():
        if name == "entries":
            rows = report.entries
            text = "[" + ", ".join(_dumps([e.to_json() for e in rows[i:i + _ROWS_AT_ONCE]])[1:-1]
                                   for i in range(0, len(rows), _ROWS_AT_ONCE)) + "]"
        elif name == "fix" and fix is not None:
            text = _dumps(fix().to_json())
        else:
            text = _dumps(value)
        parts.append(json.dumps(name) + ": " + text)
    return "{" + ", ".join(parts) + "}"


def _dumps(body) -> str:
    # Serialized once and cached: Respond would re-encode a dict on every request.
    # Cleanse (NaN/Infinity -> strings, as TensorBoard's JSON does) walks every value in
    # Python: seconds for a 100k-entry diff. Only bodies that hold a non-finite float need it.
    try:
        return json.dumps(body, allow_nan=False)
    except ValueError:
        return json.dumps(json_util.Cleanse(body))
