"""A real `tensorboard` under load: many runs, many clients, and what they saw; and the same
app served by a process that dropped root (permissions only bite there)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Dict, List, NamedTuple, Tuple


# ---------------------------------------------------------------- an unprivileged server

_AS_NOBODY = r"""
import json, os, sys, time
from makers import logdirs
from werkzeug.test import Client
from tensorboard import program
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_ingester
from tensorboard.plugins.core import core_plugin
from tensorboard_plugin_ckptdiff import formats, plugin
for name in formats._MODULES:
    try:
        formats.reader_for_format(name)
    except ImportError:
        pass
# Python's own lib may sit in a directory only root can read: load what requests need first.
import encodings.ascii, encodings.cp437, encodings.idna, encodings.latin_1, email, http.server
import logging.handlers, mimetypes, zipfile
mimetypes.init()
os.setgid(65534)
os.setuid(65534)
# TensorBoard's own event loader raises on an unreadable directory: in its reload thread,
# as a real `tensorboard` runs it, that does not stop our plugin.
client = Client(logdirs.tensorboard_app("--logdir", sys.argv[1], "--reload_task", "thread"))
out = []
for path in json.loads(sys.argv[2]):
    response = client.get(path)
    # /runs says "pending" until it has read each checkpoint: ask until it has.
    while path.endswith("/runs") and response.status_code == 200 and json.loads(response.get_data())["scanning"]:
        time.sleep(0.05)
        response = client.get(path)
    out.append((response.status_code, response.get_data(as_text=True)))
sys.stdout.write("\n@@RESULT@@" + json.dumps(out))
sys.stdout.flush()
logdirs.stop_reloading()  # an exit with it running may abort (see stop_reloading)
"""


def get_as_nobody(logdir: str, paths: List[str], timeout: float = 300.0) -> List[Tuple[int, str]]:
    """GET each path from the real TensorBoard app over ``logdir``, served by a process that
    dropped root for the 'nobody' user: root reads every file, so permissions only bite here."""
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=tests + os.pathsep + os.environ.get("PYTHONPATH", ""),
               TF_CPP_MIN_LOG_LEVEL="2", HOME=tempfile.gettempdir())
    proc = subprocess.run([sys.executable, "-c", _AS_NOBODY, logdir, json.dumps(paths)], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=tempfile.gettempdir())
    if "@@RESULT@@" not in proc.stdout:
        raise AssertionError(f"the unprivileged server failed (exit {proc.returncode}): {proc.stderr[-3000:]}")
    return [tuple(x) for x in json.loads(proc.stdout.split("@@RESULT@@", 1)[1])]


# ---------------------------------------------------------------- a real tensorboard under load


class TensorBoard:
    """`tensorboard --logdir LOGDIR` on a free loopback port, until stop()."""

    def __init__(self, logdir: str, *flags: str):
        from makers import servers

        def command(port):
            return [os.path.join(os.path.dirname(sys.executable), "tensorboard"), "--logdir", logdir,
                    "--host", "127.0.0.1", "--port", str(port), *flags]

        self.process, self.port = servers.start_listening(
            command, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES=""))
        self.base = f"http://127.0.0.1:{self.port}/data/plugin/ckptdiff/"

    def runs(self, timeout: float = 120.0) -> dict:
        """The /runs body once the plugin has listed and read every checkpoint."""
        import time
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"tensorboard exited with status {self.process.returncode}")
            try:
                with urllib.request.urlopen(self.base + "runs", timeout=30) as response:
                    body = json.loads(response.read())
                if any(run["checkpoints"] for run in body["runs"]) and not body["scanning"]:
                    return body
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        raise AssertionError("tensorboard never listed a checkpoint")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Load(NamedTuple):
    requests: int
    errors: List[str]  # 5xx, refused connections, timeouts
    client_errors: int  # 4xx
    seconds: float
    latencies: Dict[str, List[float]]  # per route, seconds


def hammer(base: str, runs_body: dict, clients: int, seconds: float, seed: int = 0) -> Load:
    """``clients`` threads, each a browser tab asking /runs, /checkpoint (whole or a page)
    and /diff of two ok checkpoints, with gzip accepted, until ``seconds`` have passed."""
    import random
    import threading
    import time
    import urllib.error
    import urllib.parse
    import urllib.request

    ids = [c["id"] for run in runs_body["runs"] for c in run["checkpoints"] if c["status"] == "ok"]
    latencies: Dict[str, List[float]] = {"runs": [], "checkpoint": [], "diff": []}
    errors: List[str] = []
    client_errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def one(rng):
        route = rng.choices(("runs", "checkpoint", "diff"), (2, 2, 1))[0]
        if route == "runs":
            query = ""
        elif route == "checkpoint":
            args = {"id": rng.choice(ids)}
            if rng.random() < 0.5:
                args.update(offset=str(rng.randrange(4)), limit="50")
            query = "?" + urllib.parse.urlencode(args)
        else:
            query = "?" + urllib.parse.urlencode({"base": "checkpoint:" + rng.choice(ids),
                                                  "target": "checkpoint:" + rng.choice(ids)})
        request = urllib.request.Request(base + route + query, headers={"Accept-Encoding": "gzip"})
        start = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
            status = response.status
        except urllib.error.HTTPError as e:
            status = e.code
        except OSError as e:
            status = f"{type(e).__name__}: {e}"
        took = time.monotonic() - start
        with lock:
            latencies[route].append(took)
            if isinstance(status, str) or status >= 500:
                errors.append(f"{route}{query}: {status}")
            elif status >= 400:
                client_errors[0] += 1

    def client(k):
        rng = random.Random(seed * 1000 + k)
        while time.monotonic() < stop_at:
            one(rng)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - began
    return Load(sum(len(v) for v in latencies.values()), errors, client_errors[0], took, latencies)


def load_logdir(logdir: str) -> None:
    """Runs a user would load-test with: TF2 training (3 checkpoints), a TF1 Saver run, a
    Keras fit run, and the seed files (every other format)."""
    from makers import logdirs, runs

    runs.tf2_training(os.path.join(logdir, "tf2"))
    runs.tf1_saver(os.path.join(logdir, "tf1"))
    runs.keras_fit(os.path.join(logdir, "keras"))
    logdirs.seed_files(logdir)
