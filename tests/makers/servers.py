"""Helpers for tests and benchmarks that talk to a real `tensorboard` process on loopback."""

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, timeout: float = 60):
    """(HTTP status, decoded JSON body) of a GET; error statuses return their body too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def wait_until(predicate, what: str, seconds: float = 120):
    """Call ``predicate`` until it is true; connection errors and half-written answers while
    a server starts count as "not yet". Fails naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"gave up waiting for {what}")


def stop(process: subprocess.Popen) -> None:
    """Terminate a server, and kill it if it does not exit within 20 s."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
