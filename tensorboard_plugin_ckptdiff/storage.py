"""Local and remote files behind one small interface, with ranged reads.

Readers open files through here so the same code reads a logdir on disk and one on
object storage (``s3://``, ``gs://``... through fsspec). Only what a reader touches is
fetched: ``open()`` returns a seekable file whose reads become byte-range requests remotely.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat as stat_mod
from typing import BinaryIO, List, NamedTuple, Optional

# Requests in flight at once to one remote logdir (the prefetcher's bound, logdir/prefetch.py).
# S3 and GCS serve thousands per prefix per second; the bound keeps a huge logdir from opening
# a socket per object. Tried at 32 (benchmarks/remote.py, 50 ms a request, alternated runs):
# the first pass came 0.5-0.8 s sooner on a quiet machine and no sooner on a busy one, while a
# click's cold /diff during it took 1.2-1.7 s against 0.4-0.8 s: the prefetch's extra work
# is CPU the click waits for. 16 it stays; the variable is there for a store far away.
REMOTE_REQUESTS = int(os.environ.get("CKPTDIFF_REMOTE_REQUESTS") or 16)
# Connections s3fs may keep open: botocore's default pool is 10, below REMOTE_REQUESTS, so
# requests past the tenth would queue for a connection while the store sits idle. Room for
# the prefetcher's bound and the requests a user's click makes beside it.
_S3_CONNECTIONS = 2 * REMOTE_REQUESTS


class Stat(NamedTuple):
    size: int
    mtime: float
    is_dir: bool


def is_remote(path: str) -> bool:
    return "://" in path


class LocalFS:
    sep = os.sep

    def open(self, path: str) -> BinaryIO:
        # Non-blocking, then regular files only: opening a FIFO named like a checkpoint
        # would otherwise block the discovery thread forever (O_NONBLOCK is a no-op on files).
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        try:
            if not stat_mod.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.EINVAL, "not a regular file (a FIFO, socket or device)")
            return os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise

    def stat(self, path: str) -> Optional[Stat]:
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            return None
        return Stat(st.st_size, st.st_mtime, stat_mod.S_ISDIR(st.st_mode))

    def listdir(self, path: str) -> List[str]:
        return sorted(os.listdir(path))

    def scandir(self, path: str):
        """(name, is_dir, is_symlink, Stat or None) for each entry, without following links."""
        with os.scandir(path) as it:
            for entry in it:
                try:
                    is_link = entry.is_symlink()
                    is_dir = entry.is_dir(follow_symlinks=False)
                    st = entry.stat(follow_symlinks=False)
                    yield entry.name, is_dir, is_link, Stat(st.st_size, st.st_mtime, is_dir)
                except OSError:
                    yield entry.name, False, False, None

    def join(self, *parts: str) -> str:
        return os.path.join(*parts)

    def dirname(self, path: str) -> str:
        return os.path.dirname(path)

    def basename(self, path: str) -> str:
        return os.path.basename(path)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path)

    def realpath(self, path: str) -> str:
        return os.path.realpath(path)


class FsspecFS:
    """Remote files through fsspec (s3fs, gcsfs...). Paths keep their scheme."""

    sep = "/"

    def __init__(self, protocol: str, **options):
        import fsspec  # optional dependency: only remote logdirs need it

        if protocol in ("s3", "s3a"):
            # Explicit options replace what fsspec's configuration (FSSPEC_S3_CONFIG_KWARGS...)
            # would give, so the configured client settings are merged in, not dropped.
            from fsspec.config import conf

            config = {}
            for proto in ("s3", "s3a"):
                config.update(conf.get(proto, {}).get("config_kwargs") or {})
            config.update(options.get("config_kwargs") or {})
            config.setdefault("max_pool_connections", _S3_CONNECTIONS)
            options["config_kwargs"] = config
        self.protocol = protocol
        self._options = options
        self._fs = fsspec.filesystem(protocol, **options)  # here: a missing s3fs or gcsfs is said at once

    @property
    def fs(self):
        if self._fs is None:
            import fsspec

            self._fs = fsspec.filesystem(self.protocol, **self._options)  # fsspec keeps one per options
        return self._fs

    def __getstate__(self):
        # A reader process gets this with every remote checkpoint, mostly beside the bytes it
        # needs (prefetch.Held): it makes the fsspec file system (and imports s3fs, botocore and
        # aiohttp, ~0.7 s of CPU) only when a read goes past them.
        return {"protocol": self.protocol, "_options": self._options, "_fs": None}

    def _strip(self, path: str) -> str:
        return path.split("://", 1)[1] if "://" in path else path

    def _url(self, path: str) -> str:
        return path if "://" in path else f"{self.protocol}://{path}"

    def open(self, path: str) -> BinaryIO:
        # Small read-ahead blocks: metadata reads touch the footer, the index and the h5 tree
        # only, and an HDF5 parser jumps between scattered object headers (64 KiB: ~0.5 MB fetched for
        # the tree of an 8 MiB .weights.h5, against 1.6 MB with 256 KiB blocks).
        return self.fs.open(self._strip(path), "rb", block_size=64 * 1024, cache_type="readahead")

    def stat(self, path: str) -> Optional[Stat]:
        try:
            info = self.fs.info(self._strip(path))
        except (OSError, FileNotFoundError, ValueError):
            return None
        return _stat_of(info)

    # The walk lists a remote logdir with one listing by prefix (prefix_listing.py).
    lists_by_prefix = True

    def find_all(self, path: str) -> List[tuple]:
        """(key relative to ``path``, Stat) of every object below ``path``: one listing of
        the whole prefix (a request per 1,000 keys), always fresh from the store."""
        root = self._strip(path).rstrip("/")
        self.fs.invalidate_cache()  # a listing cached by an earlier pass would hide new files
        found = self.fs.find(root, detail=True)
        return [(name[len(root) + 1:], _stat_of(info)) for name, info in sorted(found.items())
                if name.startswith(root + "/") and info.get("type") != "directory"]

    def read_bytes(self, path: str, end: Optional[int] = None) -> bytes:
        """Bytes [0, end) of ``path`` (all of it without ``end``), in one request."""
        if end is None:
            return self.fs.cat_file(self._strip(path))
        return self.fs.cat_file(self._strip(path), start=0, end=end)

    def listdir(self, path: str) -> List[str]:
        return sorted(posixpath.basename(p.rstrip("/")) for p in self.fs.ls(self._strip(path), detail=False))

    def scandir(self, path: str):
        for info in self.fs.ls(self._strip(path), detail=True):
            name = posixpath.basename(info["name"].rstrip("/"))
            st = _stat_of(info)
            yield name, st.is_dir, False, st

    def join(self, *parts: str) -> str:
        return posixpath.join(*parts)

    def dirname(self, path: str) -> str:
        return posixpath.dirname(path)

    def basename(self, path: str) -> str:
        return posixpath.basename(path)

    def exists(self, path: str) -> bool:
        return self.fs.exists(self._strip(path))

    def isdir(self, path: str) -> bool:
        return self.fs.isdir(self._strip(path))

    def realpath(self, path: str) -> str:
        return path  # object stores have no links


def _stat_of(info) -> Stat:
    """A Stat from an fsspec info dict. The modification time is part of a checkpoint's
    signature (a rewrite of the same size is a change): S3 says LastModified (a datetime),
    GCS says updated (ISO text), others mtime."""
    mtime = info.get("mtime") or info.get("LastModified") or info.get("updated") or 0
    if isinstance(mtime, str):
        import datetime  # here: only an object store's listing (fsspec has it loaded already)

        try:
            mtime = datetime.datetime.fromisoformat(mtime.replace("Z", "+00:00"))
        except ValueError:
            mtime = 0
    if hasattr(mtime, "timestamp"):
        mtime = mtime.timestamp()
    try:
        mtime = float(mtime)
    except (TypeError, ValueError):
        mtime = 0.0
    return Stat(int(info.get("size") or 0), mtime, info.get("type") == "directory")


_LOCAL = LocalFS()


def kernel_copy(fs, path: str, offset: int, length: int, out) -> Optional[int]:
    """Append bytes [offset, offset + length) of ``path`` to the open local file ``out`` inside
    the kernel (copy_file_range: no byte passes through Python, as ``cp`` copies); returns how
    many were there to copy (fewer: the file is shorter), or None where the kernel cannot do it
    (a remote file, no copy_file_range, another filesystem on an old kernel): read and write."""
    if not isinstance(fs, LocalFS) or not hasattr(os, "copy_file_range"):
        return None
    out.flush()
    start = out.tell()
    done = 0
    try:
        with fs.open(path) as f:
            while done < length:
                n = os.copy_file_range(f.fileno(), out.fileno(), length - done, offset + done, start + done)
                if n == 0:
                    break  # the end of the file
                done += n
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):
            raise
        out.truncate(start)
        return None
    out.seek(start + done)
    return done


def for_path(path: str, **options):
    """The filesystem that serves ``path``."""
    if is_remote(path):
        protocol = path.split("://", 1)[0]
        if protocol == "file":
            return _LOCAL
        return FsspecFS(protocol, **options)
    return _LOCAL
