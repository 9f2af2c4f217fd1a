"""An S3 API on loopback for tests and benchmarks: moto's server in its own process, a
logdir uploaded into it, and a proxy in front of it that makes each request cost what it
costs over a network and writes down every request.

moto_server runs in its own process: an in-process server thread competes for the GIL with
the code under test (h5py's callbacks into an fsspec file once stalled that way).
"""

from __future__ import annotations

import collections
import dataclasses
import errno
import functools
import http.client
import http.server
import os
import socket
import struct
import sys
import threading
import time
import urllib.parse
import urllib.request
from typing import Dict, List, Optional

from makers import servers

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


# moto_server as its console script runs it, without werkzeug's line on stderr per request:
# writing that line was ~7% of the server's CPU, spent on the cores TensorBoard is measured on
# (benchmarks/remote.py). A port already taken is still said on stderr (servers.py reads it).
_QUIET_MOTO = ("import logging, sys; logging.getLogger('werkzeug').setLevel(logging.WARNING); "
               "from moto.server import main; sys.argv[0] = 'moto_server'; sys.exit(main())")


class MotoServer:
    """moto_server on a free loopback port; ``endpoint`` is its URL."""

    def __init__(self, seconds: float = 60):
        self.process, port = servers.start_listening(
            lambda port: [sys.executable, "-c", _QUIET_MOTO, "-H", "127.0.0.1", "-p", str(port)], seconds=seconds)
        self.endpoint = f"http://127.0.0.1:{port}"
        # It accepts connections (start_listening waited for that) and serves from then on:
        # one answer says the HTTP side works too.
        try:
            urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=seconds).close()
        except OSError as e:
            self.stop()
            raise AssertionError(f"moto_server listens but does not answer: {e}") from e

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
                            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])

    def stop(self) -> None:
        servers.stop(self.process)


def upload(client, local: str, bucket: str, prefix: str = "") -> int:
    """Every file under ``local`` into ``bucket`` under ``prefix`` (created when missing),
    keys '/'-separated; returns how many objects."""
    try:
        client.create_bucket(Bucket=bucket)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    count = 0
    for directory, _, names in os.walk(local):
        for name in sorted(names):
            path = os.path.join(directory, name)
            key = os.path.relpath(path, local).replace(os.sep, "/")
            client.upload_file(path, bucket, f"{prefix.rstrip('/')}/{key}" if prefix else key)
            count += 1
    return count


# ---------------------------------------------------------------- the proxy


LIST, HEAD, GET_RANGED, GET_WHOLE, OTHER = "LIST", "HEAD", "GET ranged", "GET whole", "other"
KINDS = (LIST, GET_RANGED, GET_WHOLE, HEAD, OTHER)


@dataclasses.dataclass
class Request:
    """One request the proxy forwarded."""

    start: float  # time.monotonic() when it arrived
    end: float  # when its answer was sent
    kind: str  # one of KINDS
    bucket: str
    key: str  # the object's key; for a LIST, the prefix listed
    range: Optional[str]  # the Range header of a ranged GET
    status: int
    bytes: int  # body bytes sent back
    agent: str  # who asked, from the User-Agent: "s3fs", "boto3" or what it says
    pid: Optional[int]  # the process that opened the connection, when it can be told
    delimited: bool = False  # a LIST of one level ("delimiter=/"), not of everything below


def _agent(user_agent: str) -> str:
    if "aiobotocore" in user_agent:
        return "s3fs"  # fsspec's S3 (this package's catalog and readers)
    if "Boto3" in user_agent:
        return "boto3"  # TensorBoard's own S3 file system, without TensorFlow
    return user_agent.split(" ", 1)[0] or "unknown"


def _classify(method: str, path: str, query: Dict[str, List[str]], headers) -> tuple:
    """(kind, bucket, key or prefix, range) of a path-style S3 request."""
    parts = urllib.parse.unquote(path).lstrip("/").split("/", 1)
    bucket, key = parts[0], (parts[1] if len(parts) > 1 else "")
    if method == "GET" and not key and ("list-type" in query or "prefix" in query or "delimiter" in query
                                        or not query):
        return LIST, bucket, query.get("prefix", [""])[0], None
    if method == "HEAD" and key:
        return HEAD, bucket, key, None
    if method == "GET" and key:
        ranged = headers.get("Range")
        return (GET_RANGED if ranged else GET_WHOLE), bucket, key, ranged
    return OTHER, bucket, key, None


class _PeerProcesses:
    """Which process opened a loopback connection: the socket's inode, then the process among
    ``candidates()`` holding it. Linux only; None elsewhere."""

    def __init__(self, candidates):
        self._candidates = candidates
        self._netlink = True  # until the kernel says it has no socket diagnostics

    def pid(self, peer_port: int, local_port: int) -> Optional[int]:
        inode = self._inode(peer_port, local_port)
        if inode is None:
            return None
        target = f"socket:[{inode}]"
        for pid in self._candidates():
            try:
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                        return pid
            except OSError:
                continue
        return None

    def _inode(self, peer_port: int, local_port: int) -> Optional[str]:
        if self._netlink:
            try:
                return _diag_inode(peer_port, local_port)
            except OSError:
                self._netlink = False
        return self._listed_inode(peer_port)

    @staticmethod
    def _listed_inode(port: int) -> Optional[str]:
        """The same from /proc/net/tcp: that file lists every socket of the machine (thousands
        once closed connections wait in TIME_WAIT), ~9 ms to read each time."""
        try:
            with open("/proc/net/tcp") as f:
                lines = f.readlines()[1:]
        except OSError:
            return None
        for line in lines:
            fields = line.split()
            # An established socket with an owner: a closed connection that left the same port
            # in TIME_WAIT (inode 0, listed first at times) is no one's.
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01" and fields[9] != "0":
                return fields[9]
        return None


_SOCK_DIAG_BY_FAMILY = 20
_NETLINK_SOCK_DIAG = 4
_NO_COOKIE = 0xFFFFFFFF


def _diag_inode(peer_port: int, local_port: int, probing: bool = False) -> Optional[str]:
    """The inode of the client socket 127.0.0.1:peer_port -> 127.0.0.1:local_port, asked of
    the kernel's socket diagnostics (netlink sock_diag, what ``ss`` uses) for that one
    connection: ~20 us, where reading /proc/net/tcp took ~9 ms per connection and was 40% of
    this proxy's CPU, spent on the cores the benchmark measures TensorBoard on. OSError when
    the kernel offers no such lookup."""
    loopback = socket.inet_aton("127.0.0.1") + bytes(12)
    # struct inet_diag_req_v2: family, protocol, ext, pad, states; struct inet_diag_sockid:
    # ports and addresses in network order, interface, cookie (none: any socket of that tuple)
    request = struct.pack("=BBBBI", socket.AF_INET, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF) + \
        struct.pack("!HH16s16s", peer_port, local_port, loopback, loopback) + struct.pack("=III", 0, _NO_COOKIE, _NO_COOKIE)
    header = struct.pack("=IHHII", 16 + len(request), _SOCK_DIAG_BY_FAMILY, 1, 1, 0)  # NLM_F_REQUEST
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as s:
        s.sendto(header + request, (0, 0))
        answer = s.recv(65536)
    if struct.unpack_from("=H", answer, 4)[0] != _SOCK_DIAG_BY_FAMILY:
        # struct nlmsgerr: -errno. No such connection (any more) is an answer; anything else
        # (a kernel without TCP diagnostics says EINVAL or ENOENT for the family) is not.
        error = -struct.unpack_from("=i", answer, 16)[0]
        if error == errno.ENOENT and not probing and _diag_works():
            return None
        raise OSError(error, os.strerror(error))
    # struct inet_diag_msg after the 16-byte netlink header: family, state, timer, retrans,
    # the 48-byte sockid, then expires, rqueue, wqueue, uid, inode
    state, = struct.unpack_from("=B", answer, 16 + 1)
    inode = struct.unpack_from("=5I", answer, 16 + 4 + 48)[4]
    # Established and owned: a connection that left the same tuple in TIME_WAIT is no one's.
    return str(inode) if state == 1 and inode else None


@functools.lru_cache(maxsize=None)
def _diag_works() -> bool:
    """Whether the kernel answers TCP socket diagnostics at all: asked once, about a connection
    made for the purpose (a kernel without the module says ENOENT for every socket)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname()) as client:
            accepted, _ = server.accept()
            with accepted:
                try:
                    return _diag_inode(client.getsockname()[1], server.getsockname()[1], probing=True) is not None
                except OSError:
                    return False


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hanging up is no news
            super().handle_error(request, client_address)


class DelayProxy:
    """A thread-per-connection HTTP proxy on loopback in front of ``upstream`` that waits
    ``delay`` seconds before forwarding each request (a network's round trip: what every
    request to object storage costs, however small) and records every request.

    ``candidates()`` lists the pids whose connections should be told apart (a server and
    its reader processes); without it requests carry no pid."""

    def __init__(self, upstream: str, delay: float = 0.05, candidates=None):
        self.delay = delay
        self.requests: List[Request] = []
        self._lock = threading.Lock()
        self._in_flight = 0
        self._busy_since: Optional[float] = None
        self.concurrency_seconds = 0.0  # sum over time of requests in flight (for the mean)
        self.busy_seconds = 0.0  # time with at least one request in flight
        self.max_in_flight = 0
        target = urllib.parse.urlsplit(upstream)
        peers = _PeerProcesses(candidates) if candidates is not None and sys.platform.startswith("linux") else None
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the S3 clients expect
            # TCP_NODELAY: the status line and headers go out in one write and the body in
            # another; with Nagle's algorithm on, the body waits for the client's delayed ACK
            # of the headers (40 ms on Linux), a stall a real store's answer does not have.
            disable_nagle_algorithm = True

            def setup(self):
                super().setup()
                self.upstream = None
                self.peer_pid = peers.pid(self.client_address[1], self.server.server_address[1]) \
                    if peers is not None else None

            def log_message(self, *args):  # quiet
                pass

            def _forward(self):
                arrived = time.monotonic()
                proxy._enter(arrived)
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                    body = self.rfile.read(length) if length else None
                    time.sleep(max(0.0, proxy.delay - (time.monotonic() - arrived)))
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
                    for attempt in (1, 2):  # a kept-alive upstream connection may have been closed
                        if self.upstream is None:
                            self.upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
                        try:
                            self.upstream.request(self.command, self.path, body=body, headers=headers)
                            answer = self.upstream.getresponse()
                            break
                        except (http.client.RemoteDisconnected, ConnectionError):
                            self.upstream.close()
                            self.upstream = None
                            if attempt == 2:
                                raise
                    payload = answer.read()
                    self.send_response(answer.status, answer.reason)
                    for name, value in answer.getheaders():
                        if name.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length"):
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)) if self.command != "HEAD"
                                     else answer.getheader("Content-Length", "0"))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                    self.wfile.flush()
                finally:
                    proxy._leave(time.monotonic())
                split = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
                kind, bucket, key, ranged = _classify(self.command, split.path, query, self.headers)
                proxy._record(Request(arrived, time.monotonic(), kind, bucket, key, ranged, answer.status,
                                      len(payload) if self.command != "HEAD" else 0,
                                      _agent(self.headers.get("User-Agent", "")), self.peer_pid,
                                      delimited=bool(query.get("delimiter"))))

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

            def finish(self):
                if self.upstream is not None:
                    self.upstream.close()
                super().finish()

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="DelayProxy", daemon=True)
        self._thread.start()

    def _enter(self, now: float) -> None:
        with self._lock:
            self._account(now)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _leave(self, now: float) -> None:
        with self._lock:
            self._account(now)
            self._in_flight -= 1

    def _account(self, now: float) -> None:
        if self._busy_since is not None:
            span = now - self._busy_since
            self.concurrency_seconds += span * self._in_flight
            if self._in_flight:
                self.busy_seconds += span
        self._busy_since = now

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def since(self, start: float, end: Optional[float] = None, agent: Optional[str] = None) -> List[Request]:
        """The requests that arrived in [start, end), of one agent when given."""
        with self._lock:
            requests = list(self.requests)
        return [r for r in requests if r.start >= start and (end is None or r.start < end)
                and (agent is None or r.agent == agent)]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def tally(requests) -> Dict[str, Dict[str, int]]:
    """{kind: {"requests": n, "bytes": b}} for every kind, in KINDS order."""
    out = {kind: {"requests": 0, "bytes": 0} for kind in KINDS}
    for r in requests:
        out[r.kind]["requests"] += 1
        out[r.kind]["bytes"] += r.bytes
    return out


def by_pid(requests) -> "collections.Counter[Optional[int]]":
    return collections.Counter(r.pid for r in requests)
