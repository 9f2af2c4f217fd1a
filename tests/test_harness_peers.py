"""The delay proxy's attribution of a connection to a process (benchmarks/remote.py counts
requests by process with it): the kernel's lookup of one connection and the /proc/net/tcp
scan it replaced name the same socket, and the process that holds it."""

import errno
import os
import socket
import subprocess
import sys

import pytest

from makers import object_store

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the proxy attributes on Linux only")


@pytest.fixture
def connection():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    yield client, server.getsockname()[1]
    for s in (accepted, client, server):
        s.close()


def test_the_kernel_lookup_and_the_proc_scan_name_the_client_socket(connection):
    client, proxy_port = connection
    peer_port = client.getsockname()[1]
    inode = str(os.fstat(client.fileno()).st_ino)
    assert object_store._diag_inode(peer_port, proxy_port) == inode
    assert object_store._PeerProcesses._listed_inode(peer_port) == inode


def test_a_connection_gone_is_no_ones(connection):
    client, proxy_port = connection
    peer_port = client.getsockname()[1]
    client.close()
    assert object_store._diag_inode(peer_port, proxy_port) is None


def test_the_process_holding_the_socket_is_found():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(60)
    child = subprocess.Popen([sys.executable, "-c", (
        "import socket, sys; c = socket.create_connection(('127.0.0.1', int(sys.argv[1]))); "
        "print(c.getsockname()[1], flush=True); sys.stdin.read()"), str(server.getsockname()[1])],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    accepted = None
    try:
        accepted, (_, peer_port) = server.accept()
        assert int(child.stdout.readline()) == peer_port
        peers = object_store._PeerProcesses(lambda: [os.getpid(), child.pid])
        assert peers.pid(peer_port, server.getsockname()[1]) == child.pid
        peers._netlink = False  # the fallback: the same answer from /proc/net/tcp
        assert peers.pid(peer_port, server.getsockname()[1]) == child.pid
    finally:
        if accepted is not None:
            accepted.close()
        child.stdin.close()
        child.wait(timeout=30)
        server.close()


def test_a_kernel_without_tcp_diagnostics_falls_back_to_the_proc_scan(connection, monkeypatch):
    """Such a kernel answers ENOENT for every socket: that must not read as "no one's"."""
    client, proxy_port = connection
    peer_port = client.getsockname()[1]
    monkeypatch.setattr(object_store, "_diag_works", lambda: False)
    with socket.socket() as gone:  # a tuple no socket has: the kernel answers ENOENT
        gone.bind(("127.0.0.1", 0))
        with pytest.raises(OSError):
            object_store._diag_inode(gone.getsockname()[1], proxy_port)

    def no_diagnostics(peer_port, local_port, probing=False):
        raise OSError(errno.ENOENT, os.strerror(errno.ENOENT))

    monkeypatch.setattr(object_store, "_diag_inode", no_diagnostics)
    peers = object_store._PeerProcesses(lambda: [os.getpid()])
    assert peers.pid(peer_port, proxy_port) == os.getpid()
    assert peers._netlink is False
