"""A remote checkpoint's bytes fetched ahead, in parallel and bounded, before anything parses them.

On object storage a request costs a round trip (tens of milliseconds) however few bytes it
carries, so what decides the time of a pass over a remote logdir is how many requests are made
one after another. A reader parsing a file through a read-ahead buffer asks for its bytes as it
goes, one request after another (an HDF5 tree is a dozen scattered reads). Instead, this module
fetches what a checkpoint's readers will need in one request per file — small files whole, a
TensorFlow index whole (the reader reads all of it), of a large file only the few bytes its
signature check needs, and nothing a read never opens (a TF1 Saver's ``.meta``, the data shards
of a name-based bundle) — with at most ``MAX_IN_FLIGHT`` requests in flight for the whole
logdir, so a logdir of 100,000 objects neither waits on one request at a time nor floods the
store.

The bytes are parsed only where they always were: the sniff reads its few bytes from them, and
the reader process (isolation.py) gets them with the checkpoint, as a ``Held`` file system that
answers from them and asks the store only for what was not fetched (ranges of large files).
Sizes come from the listing, so no reader needs a request to stat a file either.
"""

from __future__ import annotations

import io
import posixpath
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Dict, List, Optional, Tuple

from tensorboard_plugin_ckptdiff import records, storage
from tensorboard_plugin_ckptdiff.formats import tf_bundle

# Requests in flight at once for one TensorBoard (CKPTDIFF_REMOTE_REQUESTS).
MAX_IN_FLIGHT = storage.REMOTE_REQUESTS
# A file up to this size is fetched whole: one request, against one per read-ahead block a
# parser would make through its scattered reads (every file of a small checkpoint).
WHOLE_BYTES = 256 * 1024
# A TensorFlow .index is read whole by its reader (and sniffed at both ends): fetched whole
# up to this size (an index of 100,000 variables is ~6 MB).
WHOLE_INDEX_BYTES = 64 << 20
# Of a larger file, the bytes its signature check reads: HDF5 8, zip 4, safetensors 8.
SIGNATURE_BYTES = 8


def wanted(found) -> List[Tuple[str, Optional[storage.Stat], int]]:
    """(path, Stat, bytes to fetch from its start) of each file of ``found`` worth fetching
    ahead; the size itself means the whole file. What the listing says about the checkpoint's
    own path comes first: a bundle prefix is no object (Stat None), a SavedModel a directory."""
    if found.format == records.SAVED_MODEL:
        base, out = found.path, [(found.path, storage.Stat(0, 0.0, True), 0)]
    else:
        base = posixpath.dirname(found.path)
        out = [(found.path, None, 0)] if found.format == records.TF_BUNDLE else []
    for name, size, mtime in found.signature:
        path = posixpath.join(base, name)
        st = storage.Stat(size, mtime, False)
        if found.format == records.TF_BUNDLE and name.endswith(".meta"):
            # A TF1 Saver's graph: no checkpoint read opens it (the architecture it carries is
            # read when someone asks for it, on its own).
            out.append((path, st, 0))
        elif size <= WHOLE_BYTES or (name.endswith(".index") and size <= WHOLE_INDEX_BYTES):
            out.append((path, st, size))
        elif path == found.path:  # the file a sniff looks at: its signature only
            out.append((path, st, SIGNATURE_BYTES))
        else:
            out.append((path, st, 0))  # its size is known; its bytes are read as needed
    return out


class Held:
    """A file system that answers from bytes fetched ahead (whole files, or a file's first
    bytes) and from stats the listing gave, and asks ``inner`` for everything else. It travels
    to the reader process with the checkpoint (plain data: it pickles)."""

    sep = "/"

    def __init__(self, inner, stats: Dict[str, Optional[storage.Stat]], data: Dict[str, bytes]):
        self.inner = inner
        self.stats = stats
        self.data = data

    def open(self, path: str):
        data = self.data.get(path)
        st = self.stats.get(path)
        if data is not None and st is not None and len(data) == st.size:
            return io.BytesIO(data)
        if data:
            return _HeadFirst(data, lambda: self.inner.open(path))
        return self.inner.open(path)

    def stat(self, path: str) -> Optional[storage.Stat]:
        return self.stats[path] if path in self.stats else self.inner.stat(path)

    def exists(self, path: str) -> bool:
        return self.stats[path] is not None if path in self.stats else self.inner.exists(path)

    def listdir(self, path: str):
        return self.inner.listdir(path)

    def scandir(self, path: str):
        return self.inner.scandir(path)

    join = staticmethod(posixpath.join)
    dirname = staticmethod(posixpath.dirname)
    basename = staticmethod(posixpath.basename)

    def isdir(self, path: str) -> bool:
        if path in self.stats:
            return self.stats[path] is not None and self.stats[path].is_dir
        return self.inner.isdir(path)

    def realpath(self, path: str) -> str:
        return path


class _HeadFirst(io.RawIOBase):
    """A file whose first bytes are in memory: reads inside them cost nothing, a read past
    them opens the real file (once) and reads from there."""

    def __init__(self, head: bytes, opener):
        self._head = head
        self._opener = opener
        self._file = None
        self._pos = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, offset, whence=io.SEEK_SET):
        if whence == io.SEEK_END:
            self._real().seek(offset, io.SEEK_END)
            self._pos = self._file.tell()
        else:
            self._pos = offset if whence == io.SEEK_SET else self._pos + offset
        return self._pos

    def tell(self):
        return self._pos

    def read(self, n=-1):
        if n is not None and n >= 0 and self._pos + n <= len(self._head):
            out = self._head[self._pos:self._pos + n]
        else:
            f = self._real()
            f.seek(self._pos)
            out = f.read(n)
        self._pos += len(out)
        return out

    def readinto(self, b):
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    def _real(self):
        if self._file is None:
            self._file = self._opener()
        return self._file

    def close(self):
        if self._file is not None:
            self._file.close()
        super().close()


class Fetcher:
    """Fetches checkpoints' files ahead on a bounded pool of threads. ``start(fs, found)``
    begins (once per checkpoint version) and returns a Future of its ``Held`` file system."""

    def __init__(self, max_in_flight: int = MAX_IN_FLIGHT):
        self._pool = ThreadPoolExecutor(max_in_flight, thread_name_prefix="CkptDiffFetch")
        self._lock = threading.Lock()
        self._started: Dict[Tuple, Future] = {}

    def start(self, fs, found) -> Future:
        key = (found.path, found.signature)
        with self._lock:
            future = self._started.get(key)
            if future is None:
                future = self._started[key] = self._gather(fs, wanted(found))
            return future

    def started(self, found) -> Optional[Future]:
        with self._lock:
            return self._started.get((found.path, found.signature))

    def submit(self, fn, *args) -> Future:
        """Any other request, on the same bound."""
        return self._pool.submit(fn, *args)

    def forget(self, found) -> None:
        """Drop the bytes of a checkpoint that has been read (its record is cached)."""
        with self._lock:
            self._started.pop((found.path, found.signature), None)

    def _gather(self, fs, files) -> Future:
        result: Future = Future()
        stats = {path: st for path, st, _ in files}
        data: Dict[str, bytes] = {}
        jobs = [(path, n) for path, st, n in files if st is not None and n > 0]
        # A bundle's data shards hold what a metadata read needs only when the bundle is
        # object-based (its object graph is a string tensor there); a name-based (TF1 Saver)
        # read only checks their sizes, which the listing gave. Which one it is, the index
        # says: the shards wait for it. (``files`` are one checkpoint's: beside an index,
        # every data shard is its bundle's.)
        index = next((path for path, _ in jobs if path.endswith(".index")), None)
        shards = [(path, n) for path, n in jobs if index is not None and tf_bundle.shard_of(path) is not None]
        jobs = [job for job in jobs if job not in shards]
        if not jobs:
            result.set_result(Held(fs, stats, data))
            return result
        left = [len(jobs) + len(shards)]
        lock = threading.Lock()

        def done(path, future):
            try:
                data[path] = future.result()
            except Exception:  # unreadable now: the reader asks again and says why
                pass
            if path == index and shards:
                wanted_shards = _OBJECT_GRAPH_KEY in data.get(index, b"")
                for shard_path, n in shards:
                    if wanted_shards:
                        submit(shard_path, n)
                    else:
                        count_down()
            count_down()

        def count_down():
            with lock:
                left[0] -= 1
                last = left[0] == 0
            if last:
                result.set_result(Held(fs, stats, data))

        def submit(path, n):
            future = self._pool.submit(_fetch, fs, path, n, stats[path].size)
            future.add_done_callback(lambda f, path=path: done(path, f))

        for path, n in jobs:
            submit(path, n)
        return result


# The key of a bundle's object graph as its index holds it: TF writes index blocks
# uncompressed, and a key is stored after the prefix it shares with the key before it, which
# for this one is at most its leading "_". Only a hint for what to fetch: a bundle whose index
# hides it has its shards read by its reader, as they always could be.
_OBJECT_GRAPH_KEY = records.OBJECT_GRAPH_KEY.lstrip("_").encode()


def _fetch(fs, path: str, n: int, size: int) -> bytes:
    """The first ``n`` bytes of ``path`` (all of it when ``n`` is its size), in one request."""
    return fs.read_bytes(path, None if n >= size else n)


def state_files(fetcher: Fetcher, fs, dirs, cache: Dict[Tuple, object]):
    """``state_entries(fs, directory)`` for discovery.scan over a remote walk: every
    ``checkpoint`` state file read in parallel, one request each, and only when it changed
    (``cache`` is keyed by directory, size and mtime and kept by the caller)."""
    from tensorboard_plugin_ckptdiff.formats._bundle import state_file

    stats = {d.path: d.files[state_file.STATE_FILE] for d in dirs if state_file.STATE_FILE in d.files}
    futures = {}
    for directory, st in stats.items():
        key = (directory, st.size, st.mtime)
        if key not in cache:
            futures[key] = fetcher.submit(_state_entries, fs, directory, st)
    for key, future in futures.items():
        try:
            cache[key] = future.result()
        except Exception as e:  # noqa: BLE001 — raised again to the scan, which drops only the timestamps
            cache[key] = e

    def entries(_fs, directory):
        st = stats[directory]
        value = cache[(directory, st.size, st.mtime)]
        if isinstance(value, Exception):
            raise value
        return value

    return entries


def _state_entries(fs, directory: str, st: storage.Stat):
    from tensorboard_plugin_ckptdiff.formats._bundle import state_file

    path = posixpath.join(directory, state_file.STATE_FILE)
    data = {path: fs.read_bytes(path)} if st.size <= WHOLE_BYTES else {}
    return state_file.entries(Held(fs, {path: st}, data), directory)
