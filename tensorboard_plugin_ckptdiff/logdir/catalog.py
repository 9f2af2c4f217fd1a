"""What the plugin knows about the logdir, kept fresh in the background and safe to share
between TensorBoard's request threads.

A background thread rescans on TensorBoard's reload cadence; a request only ever reads the
last published listing (the very first one may wait for the first scan, with a bound).
Reads are cached by (path, size, mtime) of every file a checkpoint is made of, so a refresh
re-reads only what changed and an unchanged checkpoint is parsed once.

After each walk the same thread verifies what it has not read yet: it reads each new
checkpoint's metadata (CRCs, header bounds, the HDF5 tree) through ``_read``, newest first
and one run after another, and hands the full record to the listeners (the overview's
verdicts), so the pass that makes a listing honest is the one that feeds the overview. Until
then a checkpoint the sniff found plausible is listed ``pending``, never ``ok``.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import logging
import threading
import time
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from tensorboard_plugin_ckptdiff import errors, isolation, records, storage
from tensorboard_plugin_ckptdiff.logdir import prefetch
from tensorboard_plugin_ckptdiff.logdir import walk as discovery

logger = logging.getLogger(__name__)

FIRST_SCAN_WAIT_SECONDS = 10.0
# Checkpoints kept with all their variables, least recently used dropped first: as many as
# hold this many variables in all (a variable record is ~0.5 KB), so the verification pass
# keeps a logdir of small checkpoints whole for the overview's verdicts, and a few big ones
# never take gigabytes.
FULL_READ_VARIABLES = 200_000
# A remote logdir's checkpoints fetched this far ahead of the one being verified: enough to
# keep every request slot busy, few enough that their bytes stay small.
FETCH_AHEAD = 4 * prefetch.MAX_IN_FLIGHT
SNIFFS_PUBLISHED_EVERY = 0.5  # seconds: a remote pass shows its sniffs as it goes


@dataclasses.dataclass(frozen=True)
class Listing:
    runs: Tuple[str, ...] = ()
    found: Tuple[discovery.Found, ...] = ()
    by_id: Dict[str, discovery.Found] = dataclasses.field(default_factory=dict)
    sniffed: Dict[str, discovery.Sniffed] = dataclasses.field(default_factory=dict)
    readable: bool = True
    unreadable_dirs: Tuple[Tuple[str, str], ...] = ()  # (name, why) of directories not listed
    # False until the first pass over the logdir has finished: a large or remote logdir takes
    # a while, and an empty listing must not read as "no checkpoints here".
    complete: bool = False


class Catalog:
    def __init__(self, roots: List[discovery.Root], reload_interval: float = 5.0):
        self._roots = roots
        self._fs = {root.path: storage.for_path(root.path) for root in roots}
        self._interval = reload_interval
        self._lock = threading.Lock()
        self._listing = Listing()
        self._scanned = threading.Event()
        self._version = 0  # bumped whenever what /runs would show changes
        self._sniff_cache: Dict[Tuple, discovery.Sniffed] = {}
        self._summaries: Dict[Tuple, records.Checkpoint] = {}  # full reads, without variables
        self._pending_records: Dict[Tuple, records.Checkpoint] = {}  # records(): unread checkpoints
        self._full: "collections.OrderedDict[Tuple, records.Checkpoint]" = collections.OrderedDict()
        self._full_variables = 0  # in self._full
        self._key_locks: Dict[Tuple, threading.Lock] = {}
        self._thread: Optional[threading.Thread] = None
        self._listeners: List[Callable[[discovery.Found, records.Checkpoint], None]] = []
        # A logdir on object storage: listed by prefix, its checkpoints' bytes fetched ahead in
        # parallel (prefetch.py), the listing published before anything is read from it.
        self._remote = any(getattr(fs, "lists_by_prefix", False) for fs in self._fs.values())
        self._fetcher = prefetch.Fetcher() if self._remote else None
        self._on_demand = prefetch.Fetcher(8) if self._remote else None  # what a request asks for
        self._state_cache: Dict[Tuple, object] = {}
        self._sniffs_due: Dict[str, discovery.Sniffed] = {}
        self._sniffs_published = 0.0
        # A request's read goes before the pass's next one: the pass waits while any is reading
        # (reader processes are few, and the pass would otherwise take every free one).
        self._requests_reading = 0
        self._requests_done = threading.Condition()
        self._in_pass = threading.local()
        # The published listing's checkpoints still to verify, and the wall time at which the
        # last of them was (None while any is left): when /runs first says scanning is over.
        self._unverified_keys: set = set()
        self._verified_at: Optional[float] = None

    # ------------------------------------------------------------ background refresh

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._loop, name="CkptDiffDiscovery", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                self.refresh()
            except Exception:  # a bug in one pass must not stop later ones
                logger.exception("checkpoint discovery failed")
                self._scanned.set()
            if self._interval is None or self._interval <= 0:
                return
            time.sleep(self._interval)

    def refresh(self) -> None:
        """One full pass: walk, sniff what changed, publish; then verify what is new."""
        from tensorboard_plugin_ckptdiff.formats._bundle import state_file

        found: List[discovery.Found] = []
        runs = set()
        readable = True
        unreadable_dirs: List[Tuple[str, str]] = []
        for root in self._roots:
            fs = self._fs[root.path]
            by_prefix = getattr(fs, "lists_by_prefix", False)
            if not by_prefix and fs.stat(root.path) is None:
                readable = False
                continue
            if self._remote:
                dirs = list(discovery.walk(fs, root.path))
                # A listing that holds anything says the root is there; only an empty one is
                # asked again (a stat is two requests on S3, in front of everything else).
                if by_prefix and not any(d.files for d in dirs) and fs.stat(root.path) is None:
                    readable = False
                    continue
                entries = prefetch.state_files(self._fetcher, fs, dirs, self._state_cache)
                scan = discovery.scan(fs, root, entries, dirs=dirs)
            else:
                scan = discovery.scan(fs, root, state_file.entries)
            runs.update(scan.runs)
            found.extend(scan.found)
            readable = readable and scan.root_readable
            unreadable_dirs.extend(scan.unreadable_dirs)
        sniff_cache = {}
        sniffed = {}
        for f in found:
            key = (f.path, f.signature)
            result = self._sniff_cache.get(key)
            if (result is None or result.status == records.INCOMPLETE) and self._remote and not f.missing:
                sniffed[f.id] = discovery.Sniffed()  # listed pending now, sniffed as verification fetches it
                continue
            if result is None or result.status == records.INCOMPLETE:
                result = discovery.sniff(self._fs_of(f), f)
            sniff_cache[key] = result
            sniffed[f.id] = result
        by_id = {}
        for f in found:
            by_id.setdefault(f.id, f)  # two logdir_spec roots may collide: the first wins
        listing = Listing(tuple(sorted(runs)), tuple(by_id.values()), by_id, sniffed, readable,
                          tuple(sorted(unreadable_dirs)), complete=True)
        with self._lock:
            changed = listing.runs != self._listing.runs or listing.found != self._listing.found or \
                listing.sniffed != self._listing.sniffed or listing.readable != self._listing.readable or \
                listing.unreadable_dirs != self._listing.unreadable_dirs or not self._listing.complete
            self._listing = listing
            self._sniff_cache = sniff_cache
            live = set(sniff_cache)
            self._summaries = {k: v for k, v in self._summaries.items() if k in live}
            self._count_unverified()
            if changed:
                self._version += 1
        self._scanned.set()
        self.verify(listing)

    def subscribe(self, listener: Callable[[discovery.Found, records.Checkpoint], None]) -> None:
        """``listener(found, checkpoint)`` is called with every checkpoint the verification
        pass reads, variables included, in that pass's thread."""
        with self._lock:
            self._listeners.append(listener)

    def verify(self, listing: Listing) -> None:
        """Read every checkpoint of ``listing`` not read yet: newest of each run first, so
        the overview has a verdict per run early, then the older ones."""
        todo = self.unverified(listing)
        if not todo:
            return
        order = _verification_order(todo)

        def load(i: int) -> Optional[records.Checkpoint]:
            self._in_pass.active = True
            try:
                if self._remote:
                    self._sniff_fetched(order, i)
                with self._requests_done:
                    self._requests_done.wait_for(lambda: not self._requests_reading, timeout=30)
                return self._load(order[i])
            except Exception:  # a reader bug on one file must not stop the pass
                logger.exception("checkpoint verification failed")
                return None

        if self._remote:
            # Remote: as many reads at once as there are reader processes, so one waiting on a
            # large file's ranges does not hold the pass; listeners still run here, in order.
            pool = concurrent.futures.ThreadPoolExecutor(isolation.WORKERS, thread_name_prefix="CkptDiffVerify")
            loaded = pool.map(load, range(len(order)))
        else:
            pool, loaded = None, map(load, range(len(order)))
        for found, checkpoint in zip(order, loaded):
            if checkpoint is None:
                continue
            with self._lock:
                listeners = list(self._listeners)
            for listener in listeners:
                try:
                    listener(found, checkpoint)
                except Exception:
                    logger.exception("checkpoint listener failed")
        if pool is not None:
            pool.shutdown()
        self._publish_sniffs()
        with self._lock:
            self._version += 1  # "scanning" may have turned false

    def _sniff_fetched(self, order: List[discovery.Found], i: int) -> None:
        """Remote: start fetching the next checkpoints, wait for this one's bytes and sniff
        it from them (no request), publishing sniffs every so often."""
        summaries = self._summaries  # a request may have read one already: not fetched again
        for ahead in order[i:i + FETCH_AHEAD]:
            if (ahead.path, ahead.signature) not in summaries:
                self._fetcher.start(self._fs_of(ahead), ahead)
        found = order[i]
        key = (found.path, found.signature)
        if key in self._sniff_cache or key in summaries:
            return
        result = discovery.sniff(self._fetcher.started(found).result(), found)
        with self._lock:
            self._sniff_cache[key] = result
            self._sniffs_due[found.id] = result
        if result.status != records.OK or time.monotonic() - self._sniffs_published > SNIFFS_PUBLISHED_EVERY:
            self._publish_sniffs()

    def _publish_sniffs(self) -> None:
        with self._lock:
            due, self._sniffs_due = self._sniffs_due, {}
            self._sniffs_published = time.monotonic()
            due = {k: v for k, v in due.items() if self._listing.sniffed.get(k, v) != v}
            if due:
                self._listing = dataclasses.replace(self._listing, sniffed={**self._listing.sniffed, **due})
                self._count_unverified()
                self._version += 1

    def unverified(self, listing: Listing) -> List[discovery.Found]:
        """Checkpoints the sniff found plausible whose metadata has not been read yet."""
        with self._lock:
            return _unread(listing, self._summaries)

    def scanning(self, listing: Listing) -> bool:
        """True until the first walk has ended and every checkpoint it found was verified."""
        return not listing.complete or bool(self.unverified(listing))

    def verified_at(self) -> Optional[float]:
        """The wall time at which every checkpoint of the published listing had been verified
        (None while one is left, or before the first walk has ended)."""
        with self._lock:
            return self._verified_at if self._listing.complete else None

    def _count_unverified(self) -> None:
        """After the published listing changed (under the lock): what is left to verify."""
        left = {(f.path, f.signature) for f in _unread(self._listing, self._summaries)}
        if left:
            self._verified_at = None
        elif self._unverified_keys or self._verified_at is None:
            self._verified_at = time.time()
        self._unverified_keys = left

    def _without_server_paths(self, found: discovery.Found, checkpoint: records.Checkpoint) -> records.Checkpoint:
        """A reader's message may name the file it opened by its server path (an OSError's
        text does): the listing goes to remote browsers, so name it relative to the logdir."""
        if not checkpoint.error:
            return checkpoint
        error = checkpoint.error
        for root in self._roots:
            if found.path.startswith(root.path):
                error = error.replace(root.path.rstrip("/") + "/", "")
        return checkpoint if error == checkpoint.error else dataclasses.replace(checkpoint, error=error)

    def _fs_of(self, found: discovery.Found):
        for root in self._roots:
            if found.path.startswith(root.path):
                return self._fs[root.path]
        return storage.for_path(found.path)

    # ------------------------------------------------------------ what requests see

    def listing(self) -> Listing:
        if not self._scanned.is_set():
            self.start()
            if not self._remote:  # remote: what is found is served as it is found, never waited for
                self._scanned.wait(FIRST_SCAN_WAIT_SECONDS)
        with self._lock:
            return self._listing

    @property
    def version(self) -> int:
        with self._lock:
            return self._version

    def has_checkpoints(self) -> bool:
        """Non-blocking: whether the last scan found anything (for is_active)."""
        with self._lock:
            return bool(self._listing.found)

    def records(self, listing: Listing) -> List[records.Checkpoint]:
        """Every checkpoint as /runs shows it: what a full read learned, else the sniff; a
        plausible file nobody has read yet is ``pending``."""
        with self._lock:
            summaries = dict(self._summaries)
        # An unread checkpoint's record is made once per (found, sniff) and handed out again
        # while both stay: /runs is rebuilt many times a second while a remote pass runs, and
        # re-encodes only the runs whose records are not the very same objects as last time.
        pending, kept = self._pending_records, {}
        out = []
        for f in listing.found:
            record = summaries.get((f.path, f.signature))
            if record is None:
                key = (f, listing.sniffed[f.id])
                record = pending.get(key)
                if record is None:
                    record = discovery.listing_record(f, key[1])
                    if record.status == records.OK:
                        record = dataclasses.replace(record, status=records.PENDING)
                kept[key] = record
            out.append(record)
        self._pending_records = kept  # only what this listing holds (a race only costs a rebuild)
        return out

    def found(self, checkpoint_id: str) -> Optional[discovery.Found]:
        """What the last published listing holds under this id (None: nothing), without
        waiting for a first scan."""
        return self._listing.by_id.get(checkpoint_id)

    def find(self, checkpoint_id: str) -> discovery.Found:
        """The checkpoint /runs handed out under this id; anything else is not found."""
        found = self.listing().by_id.get(checkpoint_id) if isinstance(checkpoint_id, str) else None
        if found is None:
            raise errors.NotFound(f"no checkpoint with id {checkpoint_id!r}: ask /runs for the ids")
        return found

    def checkpoint(self, checkpoint_id: str) -> records.Checkpoint:
        """The checkpoint with all its variables (read once, then cached)."""
        return self._load(self.find(checkpoint_id))

    def _load(self, found: discovery.Found) -> records.Checkpoint:
        """The full record of ``found``: from the cache, else read (one reader per checkpoint,
        the others wait for its result)."""
        key = (found.path, found.signature)
        with self._lock:
            cached = self._full.get(key)
            if cached is not None:
                self._full.move_to_end(key)
                return cached
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                cached = self._full.get(key)
            if cached is None:
                cached = self._without_server_paths(found, self._read(found))
                with self._lock:
                    self._keep(key, cached)
                    summary = _summary(cached)
                    if self._summaries.get(key) != summary:
                        self._summaries[key] = summary
                        self._version += 1
                    if key in self._unverified_keys:
                        self._unverified_keys.discard(key)
                        if not self._unverified_keys:
                            self._verified_at = time.time()
                    self._key_locks.pop(key, None)
        return cached

    def _keep(self, key, checkpoint: records.Checkpoint) -> None:
        """Cache a full read, dropping the least recently used ones beyond the budget."""
        self._full[key] = checkpoint
        self._full_variables += len(checkpoint.variables)
        while self._full_variables > FULL_READ_VARIABLES and len(self._full) > 1:
            _, dropped = self._full.popitem(last=False)
            self._full_variables -= len(dropped.variables)

    def filesystem_path(self, checkpoint_id: str):
        """(fs, path) a reader opens, for code that reads values (drift)."""
        found = self.find(checkpoint_id)
        return self._fs_of(found), found.path

    def _read(self, found: discovery.Found) -> records.Checkpoint:
        """The checkpoint read and checked in a reader process (isolation.py): whatever its
        bytes do to the parsers, this returns a record, ``error`` with a message at worst."""
        fields = dict(id=found.id, run=found.run, size_bytes=found.size_bytes)
        fields.update({k: v for k, v in (("step", found.step), ("wall_time", found.wall_time)) if v is not None})
        sniffed = self._listing.sniffed.get(found.id)
        request = not getattr(self._in_pass, "active", False)
        if request:
            with self._requests_done:
                self._requests_reading += 1
        try:
            if sniffed is not None and sniffed.status != records.OK:
                # The magic bytes already say it cannot be read: do not hand it to a parser.
                return discovery.listing_record(found, sniffed)
            return isolation.call(read_found, found, self._reading_fs(found), fields)
        except errors.CheckpointError as e:  # the reader process crashed, hung or ran out of memory
            return discovery.listing_record(found, discovery.Sniffed(status=records.ERROR, error=e.message))
        finally:
            if request:
                with self._requests_done:
                    self._requests_reading -= 1
                    self._requests_done.notify_all()
            if self._remote:
                self._fetcher.forget(found)
                self._on_demand.forget(found)

    def _reading_fs(self, found: discovery.Found):
        """Where a reader process reads ``found`` from: remote, the bytes fetched ahead (by
        the pass, or now, in parallel, for a request that cannot wait for it)."""
        fs = self._fs_of(found)
        if not self._remote:
            return fs
        future = self._fetcher.started(found) or self._on_demand.start(fs, found)
        return future.result()


def _unread(listing: Listing, summaries) -> List[discovery.Found]:
    """The checkpoints of ``listing`` the sniff found plausible and no full read has summed up."""
    return [f for f in listing.found
            if (f.path, f.signature) not in summaries and listing.sniffed[f.id].status == records.OK]


def _summary(checkpoint: records.Checkpoint) -> records.Checkpoint:
    """What the listing keeps of a full read: no variables, and of a carried architecture
    only whether it could be read."""
    carried = checkpoint.architecture
    if carried is not None:
        carried = dataclasses.replace(carried, variables=())
    return dataclasses.replace(checkpoint, variables=(), object_graph=None, architecture=carried)


def _verification_order(found: Iterable[discovery.Found]) -> List[discovery.Found]:
    """Newest checkpoint of every run, then the second newest of every run, and so on."""
    by_run: Dict[str, List[discovery.Found]] = collections.defaultdict(list)
    for f in found:
        by_run[f.run].append(f)
    return discovery.interleave([list(reversed(discovery.oldest_first(items))) for _, items in sorted(by_run.items())])


def read_found(found: discovery.Found, fs, fields) -> records.Checkpoint:
    """What the catalog keeps of one checkpoint; runs in a reader process."""
    from tensorboard_plugin_ckptdiff import formats

    checkpoint = formats.read_or_error(found.path, fs, **fields)
    # Readers name the file they opened; the API names it relative to the logdir.
    return dataclasses.replace(checkpoint, path=found.rel, format=checkpoint.format or found.format)
