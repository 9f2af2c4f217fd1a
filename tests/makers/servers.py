"""Helpers for tests and benchmarks that talk to a real `tensorboard` process on loopback."""

import json
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_listening(command_for, env=None, seconds: float = 120, starts: int = 3):
    """(process, port) of a server whose command line is ``command_for(port)``, on a free
    loopback port, once it accepts connections.

    A free port is found by binding port 0 and closing it; until the server binds it, another
    process's outgoing connection may take it (the suite makes thousands), and the server then
    exits at once ("already in use"): it is started again on another port. Any other exit
    fails with what the server wrote on stderr."""
    for start in range(starts):
        port = free_port()
        said = tempfile.TemporaryFile()
        process = subprocess.Popen(command_for(port), stdout=subprocess.DEVNULL, stderr=said, env=env)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if process.poll() is not None:
                said.seek(0)
                text = said.read().decode(errors="replace")
                if "already in use" in text and start + 1 < starts:
                    break
                raise AssertionError(f"{command_for(port)[0]} exited with status {process.returncode}: {text[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return process, port
            except OSError:
                time.sleep(0.2)
        else:
            stop(process)
            raise AssertionError(f"{command_for(port)[0]} did not listen within {seconds:.0f} s")
    raise AssertionError("no free port held")  # not reached: the last start raises above


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
