"""The suite's servers start on a free loopback port even when another process takes the
port first (makers.servers.start_listening): the port is free when chosen, and until the
server binds it any outgoing connection may take it."""

import socket
import sys
import urllib.request

from makers import servers


def _http_server(port):
    return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]


def test_a_port_taken_before_the_server_binds_it_is_left_for_another(monkeypatch):
    taken = socket.socket()  # bound, not listening: as an outgoing connection holds its port
    taken.bind(("127.0.0.1", 0))
    chosen = [taken.getsockname()[1]]
    real = servers.free_port
    monkeypatch.setattr(servers, "free_port", lambda: chosen.pop(0) if chosen else real())
    process, port = servers.start_listening(_http_server, seconds=60)
    try:
        assert port != taken.getsockname()[1] and not chosen
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as response:
            assert response.status == 200
    finally:
        servers.stop(process)
        taken.close()


def test_a_server_that_fails_otherwise_says_what_it_wrote():
    def broken(port):
        return [sys.executable, "-c", "import sys; sys.exit('no such logdir: /nowhere')"]

    try:
        servers.start_listening(broken, seconds=30)
    except AssertionError as e:
        assert "no such logdir: /nowhere" in str(e) and "status 1" in str(e)
    else:
        raise AssertionError("a server that exits at once must fail the start")
