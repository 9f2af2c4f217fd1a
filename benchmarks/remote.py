"""A logdir on S3 at a network's latency, opened by a real ``tensorboard --logdir s3://...``.

moto's S3 server runs on loopback behind a proxy (tests/makers/object_store.py) that waits
``--delay`` (50 ms) before forwarding each request and writes every request down: kind (LIST,
GET ranged / whole, HEAD), key, bytes, who asked (s3fs: this plugin; boto3: TensorBoard's own
event reading) and which process (the server, or one of its reader processes). The logdir is
``--runs`` x ``--per-run`` checkpoints of six formats, written once by the real TensorFlow /
Keras writers and copied into runs with their events (tests/makers/format_mix.py).

TensorBoard 2.21 opens ``s3://`` event files only without TensorFlow (its own boto3 or fsspec
file system); with TensorFlow installed it exits ("Unsupported filename scheme 's3'"), and
``--load_fast=true`` exits too (its data server knows local paths and gs:// only). So the
server runs from this interpreter with ``import tensorflow`` failing, as in an environment
without it (``--tensorboard`` runs another executable as it is); ``--invocations`` checks
each of those facts again on a small logdir.

Figures, in one run:
- a first ``tensorboard``: the first complete ``/runs`` (every checkpoint listed and verified,
  ``scanning`` false; asked every 2 s as the tab asks, timed by the ``scanned_wall_time`` the
  server says), with when the first answer came and when checkpoints first showed; the
  overview complete (it waits for TensorBoard's own event reading); requests and bytes per
  checkpoint (by kind, process and format), how many were in flight at once, how much each
  read pulled, the CPU each process spent; then a reload window over the unchanged logdir,
  and a checkpoint uploaded after the first pass: when it is listed;
- the plugin's own Catalog in this process (no delay: counts only): one more pass over the
  unchanged logdir, exactly: requests per directory listing, objects re-read;
- a second ``tensorboard``: a cold ``/checkpoint`` and a cold ``/diff`` (a ``.weights.h5``
  against a ``.keras``), asked while its first pass runs, of checkpoints that pass reaches last.
moto is a Python server on the same cores as TensorBoard: the CPU it spent during the first
pass is printed beside TensorBoard's (a real store's is not on the user's machine).
Goals (issue 15): first complete /runs < 10 s, <= 3 requests per checkpoint on average; a
reload <= 1 request per directory listing, no object re-read.

    .venv/bin/python benchmarks/remote.py [--runs 200] [--per-run 5] [--delay 0.05] [--short]
                                          [--json OUT] [--tensorboard PATH] [--invocations]
                                          [--tensorboard-flag=--max_reload_threads=8] [--first-pass-only]
"""

import argparse
import collections
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "tests"))

from makers import format_mix, object_store, servers  # noqa: E402

API = "data/plugin/ckptdiff/"
BUCKET, PREFIX = "bench", "logdir"
GOAL_SECONDS, GOAL_PER_CHECKPOINT, GOAL_PER_LISTING = 10.0, 3.0, 1.0
# Seconds between two questions to /overview, and to /runs until the first pass has listed
# every checkpoint and after that pass: the questions the tab asks, more often, so that those
# figures are timed to a quarter second.
POLL = 0.25
# During the first pass /runs is asked as often as the tab asks it (RESCAN_MS): asking 8x as
# often cost TensorBoard CPU the tab does not (the pass came ~0.6-1 s later in alternated
# runs), and the time it ended is not the poll's: /runs says it (``scanned_wall_time``).
FIRST_PASS_POLL = 2.0
_BUNDLE_FILE = re.compile(r"\.(index|meta|data-\d{5}-of-\d{5})$")


# ---------------------------------------------------------------- the logdir and the store


def write_logdir(root, runs, per_run):
    made = format_mix.families(os.path.join(root, "families"), per_run)
    logdir = os.path.join(root, "logdir")
    format_mix.copies(made, logdir, runs)
    return logdir


def upload(client, logdir):
    """Straight to moto (not through the proxy): the logdir as a training job left it."""
    jobs = []
    for directory, _, names in os.walk(logdir):
        for name in names:
            path = os.path.join(directory, name)
            jobs.append((path, f"{PREFIX}/{os.path.relpath(path, logdir).replace(os.sep, '/')}"))
    client.create_bucket(Bucket=BUCKET)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda job: client.upload_file(job[0], BUCKET, job[1]), jobs))
    return len(jobs), sum(os.path.getsize(p) for p, _ in jobs)


def hide_tensorflow(directory):
    """A directory that, first on PYTHONPATH, makes ``import tensorflow`` fail: TensorBoard,
    its reader processes and Keras then behave as where TensorFlow is not installed."""
    package = os.path.join(directory, "tensorflow")
    os.makedirs(package, exist_ok=True)
    with open(os.path.join(package, "__init__.py"), "w") as f:
        f.write('raise ImportError("TensorFlow hidden by benchmarks/remote.py")\n')
    return directory


def environment(proxy, extra_path=None):
    """What a user sets for an S3-compatible endpoint: the endpoint, credentials, a region."""
    env = dict(os.environ, **object_store.CREDENTIALS, AWS_ENDPOINT_URL=proxy.endpoint)
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join([extra_path] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    return env


class Server:
    """A real ``tensorboard --logdir s3://...`` on a loopback port."""

    def __init__(self, command, env, reload_interval, log_path, extra=()):
        self.port = servers.free_port()
        self.base = f"http://127.0.0.1:{self.port}/"
        self.started = time.monotonic()
        self.started_wall = time.time()  # the server's clock: /runs says when scanning ended by it
        self._log = open(log_path, "w")
        self.process = subprocess.Popen(
            [*command, "--logdir", f"s3://{BUCKET}/{PREFIX}", "--host", "127.0.0.1", "--port", str(self.port),
             "--reload_interval", str(reload_interval), *extra],
            env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def pids(self):
        """The server and its reader processes."""
        import psutil

        try:
            me = psutil.Process(self.process.pid)
            return [me.pid] + [c.pid for c in me.children(recursive=True)]
        except psutil.Error:
            return []

    def get(self, route, **query):
        import urllib.parse

        url = self.base + route + ("?" + urllib.parse.urlencode(query) if query else "")
        return servers.get_json(url, timeout=300)

    def wait_up(self, seconds=120):
        servers.wait_until(lambda: self.process.poll() is None and self.get("data/environment")[0] == 200,
                           "tensorboard to answer", seconds)
        return time.monotonic() - self.started

    def stop(self):
        servers.stop(self.process)
        self._log.close()


def _checkpoints(body):
    return [c for run in body["runs"] for c in run["checkpoints"]]


# ---------------------------------------------------------------- what the requests were


class Owners:
    """Which checkpoint (and format) each object key belongs to, from a /runs listing."""

    def __init__(self, checkpoints):
        self.by_key = {}
        for c in checkpoints:
            self.by_key[f"{PREFIX}/{c['path']}"] = c
        self.listing = {c["id"]: c for c in checkpoints}

    def of(self, key):
        if key in self.by_key:
            return self.by_key[key]
        stripped = _BUNDLE_FILE.sub("", key)
        return self.by_key.get(stripped) if stripped != key else None

    def what(self, request):
        if request.kind == object_store.LIST:
            return "listing"
        owner = self.of(request.key)
        if owner is not None:
            return owner["format"]
        name = request.key.rsplit("/", 1)[-1]
        return "events" if "tfevents" in name else "state file" if name == "checkpoint" else "other"


def concurrency(requests):
    """(mean requests in flight while any was, most at once) over ``requests``."""
    if not requests:
        return 0.0, 0
    edges = sorted([(r.start, 1) for r in requests] + [(r.end, -1) for r in requests])
    level = peak = 0
    busy = weighted = 0.0
    last = edges[0][0]
    for at, step in edges:
        if level:
            busy += at - last
            weighted += (at - last) * level
        level += step
        peak = max(peak, level)
        last = at
    return (weighted / busy if busy else 0.0), peak


def spans(requests, started, server_pid):
    """When each process's requests of each kind began and ended, from the server's start:
    the walk (the server's LISTs), the sniff (its GETs), the verification (reader processes)."""
    out = {}
    for r in requests:
        who = "server" if r.pid == server_pid else "reader processes" if r.pid is not None else "unknown"
        first, last = out.get(f"{who} {r.kind}", (r.start, r.end))
        out[f"{who} {r.kind}"] = (min(first, r.start), max(last, r.end))
    return {k: (round(a - started, 2), round(b - started, 2)) for k, (a, b) in sorted(out.items(), key=lambda kv: kv[1])}


def summary(requests, owners, checkpoints, server_pid):
    """Counts and bytes of ``requests`` by kind, process and format, per checkpoint."""
    n = max(1, len(checkpoints))
    kinds = object_store.tally(requests)
    total = sum(k["requests"] for k in kinds.values())
    data = sum(k["bytes"] for k in kinds.values())
    mean, peak = concurrency(requests)
    by_process = {"server": object_store.tally([r for r in requests if r.pid == server_pid]),
                  "reader processes": object_store.tally([r for r in requests if r.pid not in (server_pid, None)]),
                  "unknown": object_store.tally([r for r in requests if r.pid is None])}
    formats = collections.Counter(c["format"] for c in checkpoints)
    sizes = collections.defaultdict(list)
    for c in checkpoints:
        sizes[c["format"]].append(c["size_bytes"] or 0)
    per_format = {}
    for what in sorted({owners.what(r) for r in requests} | set(formats)):
        mine = [r for r in requests if owners.what(r) == what]
        entry = {"requests": len(mine), "bytes": sum(r.bytes for r in mine),
                 "kinds": {k: v["requests"] for k, v in object_store.tally(mine).items() if v["requests"]}}
        if what in formats:
            entry.update(checkpoints=formats[what], requests_per_checkpoint=len(mine) / formats[what],
                         bytes_per_checkpoint=entry["bytes"] / formats[what],
                         mean_checkpoint_bytes=statistics.mean(sizes[what]))
        per_format[what] = entry
    fetched = collections.Counter(r.key for r in requests if r.kind in (object_store.GET_RANGED, object_store.GET_WHOLE))
    lengths = [r.bytes for r in requests if r.kind == object_store.GET_RANGED]
    return {
        "requests": total, "bytes": data, "per_checkpoint": total / n, "bytes_per_checkpoint": data / n,
        "kinds": kinds, "by_process": by_process, "per_format": per_format,
        "in_flight_mean": mean, "in_flight_max": peak,
        "ranged_get_bytes": {"median": statistics.median(lengths) if lengths else 0, "max": max(lengths, default=0)},
        "objects_fetched": len(fetched), "objects_fetched_more_than_once": sum(1 for c in fetched.values() if c > 1),
        "fetches_of_those": sum(c for c in fetched.values() if c > 1),
        "lists": [r.key for r in requests if r.kind == object_store.LIST][:3],
    }


# ---------------------------------------------------------------- phase 1: the first pass


def first_pass(server, expected, figures, poll):
    """Ask /runs until every checkpoint is listed and verified: every POLL seconds until every
    checkpoint is listed (when the walk's results show, to a quarter second), then every
    ``poll`` seconds, as the tab asks while the server reads them. When the listing became
    complete is what /runs says (``scanned_wall_time``): the poll only finds out."""
    marks = figures["marks"] = {}
    marks["tensorboard up"] = server.wait_up()
    while True:
        asked = time.monotonic()
        status, body = server.get(API + "runs")
        now = time.monotonic()
        assert status == 200, body
        if "first /runs answered" not in marks:
            marks["first /runs answered"] = now - server.started
            marks["first /runs waited"] = now - asked
        listed = _checkpoints(body)
        pending = [c for c in listed if c["status"] == "pending"]
        if listed and "first checkpoint listed" not in marks:
            marks["first checkpoint listed"] = now - server.started
        if len(listed) >= expected and "every checkpoint listed" not in marks:
            marks["every checkpoint listed"] = now - server.started
        if not body["scanning"] and len(listed) >= expected and not pending:
            marks["first complete /runs"] = body["scanned_wall_time"] - server.started_wall
            marks[f"seen by a poll every {poll:g} s"] = now - server.started
            return body
        if server.process.poll() is not None:
            raise AssertionError("tensorboard exited; see its log")
        time.sleep(poll if "every checkpoint listed" in marks else POLL)


def overview(server, figures, runs):
    """The overview complete: every run's verdict. Its architectures come from the events,
    which TensorBoard itself reads (boto3, one request at a time): when TensorBoard has
    loaded every run is marked too, from the server's start."""
    start = time.monotonic()
    loaded = False
    while time.monotonic() - start < 600:
        if not loaded and len(server.get("data/runs")[1]) >= runs:
            loaded = True
            figures["marks"]["tensorboard's own runs all loaded"] = time.monotonic() - server.started
        status, body = server.get(API + "overview", limit=1)
        assert status == 200, body
        if body["status"] == "done" and loaded and body["total"] >= runs:
            # From the server's start, like every mark (this loop began at the first complete /runs).
            figures["marks"]["overview complete"] = time.monotonic() - server.started
            figures["overview"] = {"runs": body["total"], "counts": body["counts"]}
            return
        time.sleep(POLL)
    figures["marks"]["overview NOT complete at"] = time.monotonic() - server.started
    figures["overview"] = {"runs": body["total"], "counts": body["counts"]}


def reload_window(server, proxy, seconds, figures):
    """What the server asks the store for while nothing changes."""
    start = time.monotonic()
    time.sleep(seconds)
    pid = server.process.pid
    ours = proxy.since(start, agent="s3fs")
    figures["reload window"] = {
        "seconds": seconds,
        "server": object_store.tally([r for r in ours if r.pid == pid]),
        "reader processes": object_store.tally([r for r in ours if r.pid != pid]),
        "objects re-read": len({r.key for r in ours if r.kind != object_store.LIST}),
        "tensorboard events (boto3)": object_store.tally(proxy.since(start, agent="boto3")),
    }


def new_checkpoint(server, moto, body, seconds, figures):
    """A checkpoint uploaded now: how long until /runs lists it (None: not within seconds)."""
    source = next(c for c in _checkpoints(body) if c["format"] == "safetensors")
    key = f"{PREFIX}/{source['path'].rsplit('/', 1)[0]}/model-99.safetensors"
    moto.client().copy_object(Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": f"{PREFIX}/{source['path']}"})
    start = time.monotonic()
    appeared = None
    while time.monotonic() - start < seconds:
        if any(c["path"] == key[len(PREFIX) + 1:] for c in _checkpoints(server.get(API + "runs")[1])):
            appeared = time.monotonic() - start
            break
        time.sleep(POLL)
    figures["new checkpoint listed after"] = appeared
    figures["new checkpoint waited"] = seconds
    moto.client().delete_object(Bucket=BUCKET, Key=key)


# ---------------------------------------------------------------- phase 2: one reload, exactly


def catalog_reload(proxy, moto, figures, dirs):
    """The plugin's Catalog in this process over the same store: a first pass, then one more
    over the unchanged logdir (counted exactly), then one after an upload (is it seen?)."""
    from tensorboard_plugin_ckptdiff import isolation
    from tensorboard_plugin_ckptdiff.logdir import catalog
    from tensorboard_plugin_ckptdiff.logdir import walk as discovery

    saved = proxy.delay
    proxy.delay = 0.0  # counts only
    os.environ.update(object_store.CREDENTIALS, AWS_ENDPOINT_URL=proxy.endpoint)
    try:
        cat = catalog.Catalog(discovery.roots(f"s3://{BUCKET}/{PREFIX}"), reload_interval=0)
        cat.refresh()
        mark = time.monotonic()
        cat.refresh()
        second = proxy.since(mark, agent="s3fs")
        lists = sum(1 for r in second if r.kind == object_store.LIST)
        figures["reload, one pass"] = {
            "directories": dirs, "requests": len(second), "lists": lists,
            "per_listing": len(second) / dirs,
            "kinds": object_store.tally(second),
            "objects re-read": len({r.key for r in second if r.kind != object_store.LIST}),
        }
        listed = {f.id for f in cat.listing().found}
        source = next(f for f in cat.listing().found if f.format == "safetensors")
        key = f"{PREFIX}/{source.rel.rsplit('/', 1)[0]}/model-98.safetensors"
        moto.client().copy_object(Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": f"{PREFIX}/{source.rel}"})
        cat.refresh()
        figures["reload, one pass"]["upload seen by the next pass"] = bool({f.id for f in cat.listing().found} - listed)
        moto.client().delete_object(Bucket=BUCKET, Key=key)
    finally:
        proxy.delay = saved
        isolation.pool().close()


# ---------------------------------------------------------------- phase 3: cold reads


def _last_verified(checkpoints, fmt):
    """The checkpoint of format ``fmt`` that the verification pass reaches last: the oldest
    of the last run (newest of every run first, runs in name order)."""
    mine = [c for c in checkpoints if c["format"] == fmt]
    last_run = max(c["run"] for c in mine)
    return min((c for c in mine if c["run"] == last_run), key=lambda c: (c["step"] or 0, c["id"]))


def cold_reads(server, proxy, expected, figures):
    server.wait_up()
    while True:
        status, body = server.get(API + "runs")
        if status == 200 and len(_checkpoints(body)) >= expected:
            break
        time.sleep(POLL)
    checkpoints = _checkpoints(body)
    owners = Owners(checkpoints)
    asks = {
        "/checkpoint (tf_bundle)": (API + "checkpoint", {"id": _last_verified(checkpoints, "tf_bundle")["id"]}),
        "/diff (.weights.h5 vs .keras)": (API + "diff", {
            "base": "checkpoint:" + _last_verified(checkpoints, "keras_weights_h5")["id"],
            "target": "checkpoint:" + _last_verified(checkpoints, "keras_archive")["id"]}),
    }
    figures["cold"] = {}
    for name, (route, query) in asks.items():
        ids = [v.split(":", 1)[-1] for v in query.values()]
        was_pending = all(owners.listing[i]["status"] == "pending" for i in ids)
        start = time.monotonic()
        status, answer = server.get(route, **query)
        seconds = time.monotonic() - start
        assert status == 200, answer
        mine = [r for r in proxy.since(start, time.monotonic(), agent="s3fs")
                if (owners.of(r.key) or {}).get("id") in ids]
        warm_start = time.monotonic()
        server.get(route, **query)
        figures["cold"][name] = {"seconds": seconds, "warm_seconds": time.monotonic() - warm_start,
                                 "first_request_after": min((r.start for r in mine), default=start) - start,
                                 "last_request_done": max((r.end for r in mine), default=start) - start,
                                 "cold": was_pending, "ids": ids, "requests": len(mine),
                                 "bytes": sum(r.bytes for r in mine),
                                 "kinds": {k: v["requests"] for k, v in object_store.tally(mine).items() if v["requests"]},
                                 "in_flight_max": concurrency(mine)[1]}


# ---------------------------------------------------------------- --invocations


INVOCATIONS = (
    ("tensorboard, TensorFlow installed", False, ()),
    ("tensorboard --load_fast=true, TensorFlow installed", False, ("--load_fast=true",)),
    ("tensorboard, without TensorFlow", True, ()),
    ("tensorboard --load_fast=true, without TensorFlow", True, ("--load_fast=true",)),
)


def invocations(proxy, shim, workdir, seconds=120):
    """Which ``tensorboard --logdir s3://`` invocations start, read events, and list checkpoints."""
    tensorboard = [os.path.join(os.path.dirname(sys.executable), "tensorboard")]
    rows = []
    for name, hidden, extra in INVOCATIONS:
        log = os.path.join(workdir, "invocation.log")
        server = Server(tensorboard, environment(proxy, shim if hidden else None), 5, log, extra)
        row = {"invocation": name}
        try:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and server.process.poll() is None:
                try:
                    status, body = server.get(API + "runs")
                    if status == 200 and not body["scanning"] and _checkpoints(body):
                        break
                except OSError:
                    pass
                time.sleep(1)
            if server.process.poll() is not None:
                with open(log) as f:
                    said = [line.strip() for line in f if "scheme" in line or "data server" in line]
                row.update(starts=False, says=said[-1] if said else f"exit {server.process.returncode}")
            else:
                time.sleep(6)  # one more reload of TensorBoard's own
                runs = server.get("data/runs")[1]
                body = server.get(API + "runs")[1]
                row.update(starts=True, event_runs=len(runs), checkpoints=len(_checkpoints(body)),
                           architectures=sum(len(r["architectures"]) for r in body["runs"]))
        finally:
            if server.process.poll() is None:
                server.stop()
            else:
                server._log.close()
        rows.append(row)
    return rows


# ---------------------------------------------------------------- the run


def _kinds_line(kinds):
    return ", ".join(f"{k} {v['requests']:,}" for k, v in kinds.items() if v["requests"]) or "none"


def report(figures):
    p = figures["first pass"]
    print(f"\nlogdir: {figures['runs']} runs x {figures['per_run']} checkpoints = {figures['checkpoints']:,} "
          f"({', '.join(f'{k} {v}' for k, v in sorted(figures['formats'].items()))}); "
          f"{figures['objects']:,} objects, {figures['object_bytes'] / 1e6:.1f} MB; "
          f"{figures['delay'] * 1000:.0f} ms per request; tensorboard: {figures['tensorboard']}")
    print("first tensorboard, from its start:")
    for name, seconds in figures["marks"].items():
        goal = f"   goal < {GOAL_SECONDS:.0f} s: {seconds / GOAL_SECONDS:.2f}x of it" if name == "first complete /runs" else ""
        print(f"  {name:32s} {seconds:8.2f} s{goal}")
    print("  CPU seconds to the poll that saw it (2 cores): " + ", ".join(
        f"{k} {v:.1f}" for k, v in figures["cpu seconds in the first pass"].items()))
    print(f"  plugin requests to the first complete /runs: {p['requests']:,} = {p['per_checkpoint']:.2f} per checkpoint "
          f"(goal <= {GOAL_PER_CHECKPOINT:.0f}); {p['bytes'] / 1e6:.2f} MB = {p['bytes_per_checkpoint'] / 1e3:.1f} KB per checkpoint")
    print(f"    by kind: {_kinds_line(p['kinds'])}")
    for who, kinds in p["by_process"].items():
        if any(v["requests"] for v in kinds.values()):
            print(f"    {who}: {_kinds_line(kinds)}; {sum(v['bytes'] for v in kinds.values()) / 1e6:.2f} MB")
    print(f"    in flight: mean {p['in_flight_mean']:.2f} while any, max {p['in_flight_max']}; ranged GETs: "
          f"median {p['ranged_get_bytes']['median'] / 1024:.1f} KiB, max {p['ranged_get_bytes']['max'] / 1024:.1f} KiB; "
          f"objects fetched {p['objects_fetched']:,}, of them {p['objects_fetched_more_than_once']:,} more than once "
          f"({p['fetches_of_those']:,} fetches)")
    print(f"    {'what':18s} {'ckpts':>6s} {'req/ckpt':>9s} {'KB/ckpt':>8s} {'KB file':>8s}  requests by kind")
    for what, e in p["per_format"].items():
        if "checkpoints" in e:
            print(f"    {what:18s} {e['checkpoints']:6d} {e['requests_per_checkpoint']:9.2f} "
                  f"{e['bytes_per_checkpoint'] / 1e3:8.1f} {e['mean_checkpoint_bytes'] / 1e3:8.1f}  {e['kinds']}")
        else:
            print(f"    {what:18s} {'':6s} {e['requests']:9d} {e['bytes'] / 1e3:8.1f} {'':8s}  {e['kinds']} (in all)")
    print(f"    when (s from the server's start): " + "; ".join(f"{k} {a:.1f}-{b:.1f}" for k, (a, b) in p["spans"].items()))
    tb = figures["tensorboard events (boto3), first pass"]
    print(f"  tensorboard's own event reading meanwhile (boto3): {_kinds_line(tb)}")
    if "overview" not in figures:  # --first-pass-only
        return
    print(f"  overview: {figures['overview']}")
    w = figures["reload window"]
    print(f"reload window, {w['seconds']:.0f} s after the overview: server {_kinds_line(w['server'])}; "
          f"reader processes {_kinds_line(w['reader processes'])}; objects re-read {w['objects re-read']}; "
          f"tensorboard's events {_kinds_line(w['tensorboard events (boto3)'])}")
    after = figures["new checkpoint listed after"]
    print(f"a checkpoint uploaded after that: " + (f"listed after {after:.1f} s" if after is not None
                                                   else f"NOT listed within {figures['new checkpoint waited']:.0f} s"))
    r = figures["reload, one pass"]
    print(f"one more pass of the plugin's Catalog over the unchanged logdir ({r['directories']} directories): "
          f"{r['requests']:,} requests = {r['per_listing']:.2f} per directory listing (goal <= {GOAL_PER_LISTING:.0f}), "
          f"{r['lists']} of them LIST; objects re-read: {r['objects re-read']} (goal 0); "
          f"an upload seen by the next pass: {'yes' if r['upload seen by the next pass'] else 'NO'}")
    print("second tensorboard, asked while its first pass runs:")
    for name, c in figures["cold"].items():
        print(f"  cold {name:32s} {c['seconds'] * 1000:8.0f} ms ({'cold' if c['cold'] else 'NOT cold: already read'}); "
              f"{c['requests']} requests {c['kinds']}, {c['bytes'] / 1e3:.1f} KB, at most {c['in_flight_max']} at once, "
              f"the first after {c['first_request_after']:.2f} s, the last done at {c['last_request_done']:.2f} s; "
              f"asked again: {c['warm_seconds'] * 1000:.0f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--per-run", type=int, default=5)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds added to every request (default 0.05)")
    parser.add_argument("--short", action="store_true", help="10 runs x 3 checkpoints, shorter waits (CI)")
    parser.add_argument("--reload-interval", type=float, default=5.0, help="tensorboard's --reload_interval")
    parser.add_argument("--reload-window", type=float, default=None, help="seconds watched after the overview")
    parser.add_argument("--tensorboard", help="a tensorboard executable to run as it is (default: this "
                        "interpreter's, with TensorFlow hidden)")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--requests-log", help="write every request of the first pass here (JSON lines)")
    parser.add_argument("--tensorboard-flag", action="append", default=[], metavar="FLAG",
                        help="pass this flag to both tensorboards (repeatable), "
                             "e.g. --tensorboard-flag=--max_reload_threads=8")
    parser.add_argument("--poll", type=float, default=FIRST_PASS_POLL,
                        help="seconds between two asks of /runs during the first pass (default: the tab's %(default)g)")
    parser.add_argument("--first-pass-only", action="store_true",
                        help="stop after the first tensorboard's first complete /runs (for quick iterations)")
    parser.add_argument("--invocations", action="store_true",
                        help="only check which tensorboard invocations work on s3:// (with and without TF)")
    args = parser.parse_args()
    if args.short:
        args.runs, args.per_run = 10, 3
    window = args.reload_window or (2 * args.reload_interval + (2 if args.short else 10))
    workdir = tempfile.mkdtemp(prefix="ckptdiff-remote-")
    moto = proxy = None
    try:
        shim = hide_tensorflow(os.path.join(workdir, "without_tensorflow"))
        print(f"writing {args.runs} runs x {args.per_run} checkpoints...", flush=True)
        logdir = write_logdir(workdir, 6 if args.invocations else args.runs, args.per_run)
        moto = object_store.MotoServer()
        objects, object_bytes = upload(moto.client(), logdir)
        candidates = []  # pids the proxy tells apart: the running server's tree
        proxy = object_store.DelayProxy(moto.endpoint, args.delay, candidates=lambda: list(candidates))
        if args.invocations:
            for row in invocations(proxy, shim, workdir):
                print(json.dumps(row))
            return 0
        if args.tensorboard:
            command, env, how = [args.tensorboard], environment(proxy), args.tensorboard
        else:
            command = [os.path.join(os.path.dirname(sys.executable), "tensorboard")]
            env, how = environment(proxy, shim), "this interpreter's, TensorFlow hidden (no TF: TensorBoard reads events with boto3)"
        if args.tensorboard_flag:
            how += "; flags: " + " ".join(args.tensorboard_flag)
        expected = args.runs * args.per_run
        figures = {"runs": args.runs, "per_run": args.per_run, "checkpoints": expected, "objects": objects,
                   "object_bytes": object_bytes, "delay": args.delay, "tensorboard": how}

        print("first tensorboard: the first pass...", flush=True)
        server = Server(command, env, args.reload_interval, os.path.join(workdir, "tensorboard-1.log"),
                        extra=args.tensorboard_flag)
        candidates[:] = [server.process.pid]
        refresh_pids = _pid_refresher(server, candidates)
        try:
            moto_cpu, own_cpu = _cpu_seconds([moto.process.pid]), _cpu_seconds([os.getpid()])
            body = first_pass(server, expected, figures, args.poll)
            # Requests are counted to the moment it ended by the server's clock; CPU to the poll.
            complete = server.started + figures["marks"]["first complete /runs"]
            figures["cpu seconds in the first pass"] = {
                "moto (the S3 server, on the same cores)": _cpu_seconds([moto.process.pid]) - moto_cpu,
                f"this benchmark (the delay proxy, /runs every {args.poll:g} s)": _cpu_seconds([os.getpid()]) - own_cpu,
                "tensorboard": _cpu_seconds([server.process.pid]),
                "its reader processes": _cpu_seconds([p for p in server.pids() if p != server.process.pid])}
            checkpoints = _checkpoints(body)
            figures["statuses"] = dict(collections.Counter(c["status"] for c in checkpoints))
            figures["formats"] = dict(collections.Counter(c["format"] for c in checkpoints))
            figures["architectures"] = dict(collections.Counter(a["source"] for run in body["runs"]
                                                                for a in run["architectures"]))
            figures["listed"] = len(checkpoints)
            owners = Owners(checkpoints)
            first = proxy.since(server.started, complete, agent="s3fs")
            figures["first pass"] = summary(first, owners, checkpoints, server.process.pid)
            figures["first pass"]["spans"] = spans(first, server.started, server.process.pid)
            if args.requests_log:
                _write_log(args.requests_log, proxy.since(server.started, complete), owners, server)
            figures["tensorboard events (boto3), first pass"] = object_store.tally(
                proxy.since(server.started, complete, agent="boto3"))
            if args.first_pass_only:
                report(figures)
                return 0
            overview(server, figures, args.runs)
            print("reload window...", flush=True)
            reload_window(server, proxy, window, figures)
            new_checkpoint(server, moto, body, window + (5 if args.short else 30), figures)
        finally:
            refresh_pids.stop()
            server.stop()

        print("the plugin's Catalog in this process: one more pass...", flush=True)
        candidates[:] = []
        catalog_reload(proxy, moto, figures, dirs=args.runs + 1)

        print("second tensorboard: cold reads...", flush=True)
        server = Server(command, env, args.reload_interval, os.path.join(workdir, "tensorboard-2.log"),
                        extra=args.tensorboard_flag)
        candidates[:] = [server.process.pid]
        refresh_pids = _pid_refresher(server, candidates)
        try:
            cold_reads(server, proxy, expected, figures)
        finally:
            refresh_pids.stop()
            server.stop()

        report(figures)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(figures, f, indent=1, default=str)
        return 0
    finally:
        if proxy is not None:
            proxy.stop()
        if moto is not None:
            moto.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _write_log(path, requests, owners, server):
    """Every request of the first pass, one JSON object a line, times from the server's start."""
    with open(path, "w") as f:
        for r in requests:
            who = "server" if r.pid == server.process.pid else "reader" if r.pid is not None else "unknown"
            f.write(json.dumps({"start": round(r.start - server.started, 4), "seconds": round(r.end - r.start, 4),
                                "kind": r.kind, "key": r.key, "range": r.range, "bytes": r.bytes, "agent": r.agent,
                                "process": who, "what": owners.what(r)}) + "\n")


def _cpu_seconds(pids):
    """User + system CPU seconds of these processes so far (0 for one that is gone)."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


class _pid_refresher:
    """Keeps ``candidates`` at the server's process tree (reader processes start on demand)."""

    def __init__(self, server, candidates):
        import threading

        self._stop = threading.Event()

        def loop():
            while not self._stop.wait(0.2):
                candidates[:] = server.pids() or candidates

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join()


if __name__ == "__main__":
    sys.exit(main())
