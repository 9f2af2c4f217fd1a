"""Benchmark: a 100,000-variable diff in the Checkpoint Diff tab, measured in Chromium.

Prints the time from the /diff response's arrival to the first rows painted (goal < 1 s), the
server's answer time for context, and the frame time while scrolling the table.

    .venv/bin/python benchmarks/ui.py [--variables 100000] [--synthetic]

By default a real TensorBoard serves two safetensors checkpoints of N variables that differ
(a renamed scope, shape and dtype changes, missing and unexpected variables). --synthetic
runs TensorBoard on demo_logs/ and answers /diff with a generated N-entry report, to time the
UI alone.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
GOAL_FIRST_ROWS_MS = 1000.0
FRAME_BUDGET_MS = 1000.0 / 60


def _name(i):
    return f"model/block_{i // 100}/layer_{(i // 2) % 50}/{'kernel' if i % 2 == 0 else 'bias'}"


def write_checkpoints(directory, count):
    """Two safetensors files of `count` variables with every kind of difference in them."""
    import numpy as np
    from safetensors.numpy import save_file

    os.makedirs(directory, exist_ok=True)
    small = np.zeros((2,), np.float32)
    base, target = {}, {}
    for i in range(count):
        name = _name(i)
        base[name] = small
        if i % 1000 == 1:
            continue  # missing from the target
        if i % 1000 == 2:
            target[name] = np.zeros((3,), np.float32)  # shape mismatch
        elif i % 1000 == 3:
            target[name] = np.zeros((2,), np.float16)  # dtype mismatch
        elif (i // 100) % 97 == 5:
            target[name.replace("block_", "stage_")] = small  # a renamed scope
        else:
            target[name] = small
    for i in range(count // 1000):
        target[f"extra/unexpected_{i}"] = small
    save_file(base, os.path.join(directory, "base.safetensors"))
    save_file(target, os.path.join(directory, "target.safetensors"))


def synthetic_report(count):
    statuses = ["match"] * 94 + ["missing", "unexpected", "shape_mismatch", "dtype_mismatch", "renamed", "match"]
    entries = []
    for i in range(count):
        status = statuses[i % len(statuses)]
        v = {"key": _name(i), "name": _name(i), "shape": [2], "dtype": "float32", "size_bytes": 8,
             "kind": "weight", "layer": None}
        entries.append({"status": status, "base": None if status == "unexpected" else v,
                        "target": None if status == "missing" else dict(v, key="t/" + v["key"]),
                        "cast": "lossy" if status == "dtype_mismatch" else None,
                        "confidence": 0.9 if status == "renamed" else None, "detail": ""})
    summary = {s: sum(1 for e in entries if e["status"] == s) for s in set(statuses)}
    return {"base": {}, "target": {}, "mode": "name", "restorable": False, "resumable": False,
            "verdict": "Not restorable: synthetic.", "summary": summary, "entries": entries,
            "fix": {"assignment_map": {}, "snippets": []}}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url, seconds=180):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                body = json.loads(r.read())
                ids = [c["id"] for run in body["runs"] for c in run["checkpoints"] if c["status"] == "ok"]
                if len(ids) >= 2:
                    return sorted(ids)
        except (OSError, ValueError):
            pass
        time.sleep(0.5)
    raise SystemExit("TensorBoard did not list the two checkpoints")


# Watches the plugin's frame from outside (the shipped code has no hooks for it): when the
# /diff body has been read, and when the first rows of the table are painted after it.
WATCH = """
if (location.pathname.endsWith('plugin_entry.html')) {
  const marks = window.__marks = {};
  const fetch0 = window.fetch;
  window.fetch = async (...args) => {
    const url = String(args[0]);
    const started = performance.now();
    const response = await fetch0(...args);
    if (!url.startsWith('diff?')) return response;
    const text0 = response.text.bind(response);
    response.text = async () => {
      const text = await text0();
      Object.assign(marks, {request: started, received: performance.now()});
      window.__diffText = text; // parsed again once painted, to tell how much of the time parsing takes
      return text;
    };
    return response;
  };
  new MutationObserver(() => {
    if (marks.received && !marks.built && document.querySelector('#panel-diff .vt-row.item')) {
      marks.built = performance.now();
      requestAnimationFrame(() => requestAnimationFrame(() => { marks.painted = performance.now(); }));
    }
  }).observe(document, {childList: true, subtree: true});
}
"""

SCROLL_JS = """async (frames) => {
  const vp = document.querySelector('#panel-diff .vt-viewport');
  const step = Math.max(1, Math.floor((vp.scrollHeight - vp.clientHeight) / frames));
  const times = [];
  let last = await new Promise(requestAnimationFrame);
  for (let i = 0; i < frames; i++) {
    vp.scrollTop += step;
    const now = await new Promise(requestAnimationFrame);
    times.push(now - last);
    last = now;
  }
  times.sort((a, b) => a - b);
  const rows = [...vp.querySelectorAll('.vt-row')].filter((r) => getComputedStyle(r).display !== 'none').length;
  return {median: times[Math.floor(times.length / 2)], p95: times[Math.floor(times.length * 0.95)],
          max: times[times.length - 1], rowsInDom: rows, scrolledPx: vp.scrollTop};
}"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variables", type=int, default=100_000)
    parser.add_argument("--synthetic", action="store_true")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as scratch:
        if args.synthetic:
            logdir = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "demo_logs")
        else:
            logdir = scratch
            write_checkpoints(os.path.join(logdir, "big"), args.variables)
        port = _free_port()
        tensorboard = os.path.join(os.path.dirname(sys.executable), "tensorboard")
        server = subprocess.Popen([tensorboard, "--logdir", logdir, "--host", "127.0.0.1", "--port", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}/"
            base_id, target_id = _wait_for(base + "data/plugin/ckptdiff/runs")[:2]
            # --synthetic: the Diff view on the overview's first pair (its answer is replaced)
            params = {"p.ckptdiff.view": "diff"} if args.synthetic else {
                "p.ckptdiff.base": "checkpoint:" + base_id, "p.ckptdiff.target": "checkpoint:" + target_id,
                "p.ckptdiff.mode": "name"}
            url = base + "#ckptdiff" + "".join(f"&{urllib.parse.quote(k, safe='')}={urllib.parse.quote(v, safe='')}"
                                               for k, v in params.items())
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                context.add_init_script(WATCH)
                page = context.new_page()
                if args.synthetic:
                    body = json.dumps(synthetic_report(args.variables))
                    page.route(lambda u: "/data/plugin/ckptdiff/diff?" in u,
                               lambda r: r.fulfill(status=200, content_type="application/json", body=body))
                page.goto(url)
                ui = page.frame_locator("iframe[src*='plugin_entry.html']")
                ui.locator("#panel-diff[aria-busy=false] .vt-row.item").first.wait_for(timeout=600_000)
                frame = next(f for f in page.frames if "plugin_entry.html" in f.url)
                frame.wait_for_function("window.__marks && window.__marks.painted")
                marks = frame.evaluate("""() => {
                  const t0 = performance.now();
                  JSON.parse(window.__diffText);
                  return {...window.__marks, parse: performance.now() - t0,
                          rows: document.querySelector('.shown-count').textContent};
                }""")
                scroll = frame.evaluate(SCROLL_JS, 240)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)

    first_rows = marks["painted"] - marks["received"]
    answer = marks["received"] - marks["request"]
    print(f"variables: {args.variables:,} ({'synthetic /diff' if args.synthetic else 'real /diff'}); table: {marks['rows']}")
    print(f"/diff answer (request to body received): {answer:8.0f} ms")
    print(f"  of which JSON.parse ~{marks['parse']:.0f} ms, filter+tree+first rows in the DOM "
          f"{marks['built'] - marks['received']:.0f} ms, browser layout/paint {marks['painted'] - marks['built']:.0f} ms")
    print(f"first rows painted after the response:   {first_rows:8.0f} ms   goal < {GOAL_FIRST_ROWS_MS:.0f} ms "
          f"-> {first_rows / GOAL_FIRST_ROWS_MS:.2f} of the goal")
    print(f"scroll frame time over 240 frames: median {scroll['median']:.1f} ms, p95 {scroll['p95']:.1f} ms, "
          f"max {scroll['max']:.1f} ms (budget {FRAME_BUDGET_MS:.1f} ms -> p95 {scroll['p95'] / FRAME_BUDGET_MS:.2f} "
          f"of the budget); rows in the DOM: {scroll['rowsInDom']}")


if __name__ == "__main__":
    main()
