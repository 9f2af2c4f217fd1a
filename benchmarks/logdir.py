"""Plugin backend speed on a big logdir, and the first verdict a person sees.

- 200 runs x 5 checkpoints (copies of one small real TF checkpoint, each run with a real event
  file holding its model's architecture): the first complete /runs, the overview complete
  after it (every checkpoint read and verified, every verdict computed), a fresh 50 x 50 page
  of the cross-run matrix, warm /runs; two 10,000-variable checkpoints for /diff.
- demo_logs/ in a real `tensorboard` already warm (its overview computed once): the time from
  opening the tab (the plugin's frame starting) to the first verdict painted, in Chromium.
  The page is watched from outside (an init script, a MutationObserver): the shipped code
  has no hooks for it.

    .venv/bin/python benchmarks/logdir.py [--runs 200] [--per-run 5] [--variables 10000] [--no-browser]
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "tests"))

from makers import logdirs, servers  # noqa: E402

API = "/data/plugin/ckptdiff/"
GOALS = {"first complete /runs": 3.0, "overview complete after it": 3.0, "50 x 50 matrix": 2.0,
         "warm /runs": 0.100, "warm /diff (10k vars)": 0.200, "warm metadata, new /diff": 0.200,
         "first verdict painted (tab opened)": 1.0}
MATRIX = 50
POLL = 0.1  # seconds between two questions to /overview or /matrix


def write_logdir(root, runs, per_run, variables):
    import tensorflow as tf

    from tensorboard_plugin_ckptdiff import summary

    seed = os.path.join(root, "_seed")
    module = tf.Module()
    module.w = tf.Variable(tf.zeros((4, 3)))
    module.b = tf.Variable(tf.zeros((3,)))
    prefix = tf.train.Checkpoint(model=module).write(os.path.join(seed, "ckpt-1"))
    events = os.path.join(seed, "events")
    writer = tf.summary.create_file_writer(events)
    with writer.as_default():
        summary.model_spec(module, step=0)  # each run's architecture: what its checkpoints restore into
        tf.summary.scalar("loss", 1.0, step=0)
    writer.close()
    event = next(os.path.join(events, n) for n in os.listdir(events))
    logdir = os.path.join(root, "logdir")
    for r in range(runs):
        run = os.path.join(logdir, f"exp{r:03d}")
        os.makedirs(run)
        shutil.copy(event, run)
        for k in range(1, per_run + 1):
            logdirs.copy_bundle(prefix, os.path.join(run, f"ckpt-{k}"))
    big = os.path.join(logdir, "big")
    for step, scale in ((1, 1.0), (2, 2.0)):
        many = tf.Module()
        many.layers = [tf.Variable(tf.fill((i % 7 + 1, 3), scale)) for i in range(variables)]
        tf.train.Checkpoint(model=many).write(os.path.join(big, f"ckpt-{step}"))
    return logdir


def timed(call):
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def until(ask, done, every=0.01):
    while True:
        body = ask()
        if done(body):
            return body
        time.sleep(every)


def backend(args, figures):
    from werkzeug.test import Client

    root = tempfile.mkdtemp(prefix="ckptdiff-bench-")
    try:
        logdir = write_logdir(root, args.runs, args.per_run, args.variables)
        expected = args.runs * args.per_run + 2
        get = lambda route, **q: json.loads(client.get(API + route, query_string=q).get_data())  # noqa: E731

        start = time.perf_counter()
        client = Client(logdirs.tensorboard_app("--logdir", logdir))
        until(lambda: get("runs"), lambda b: sum(len(run["checkpoints"]) for run in b["runs"]) >= expected)
        listed = time.perf_counter()
        figures["first complete /runs"] = listed - start
        # asked ten times a second (the tab asks once a second while it fills in)
        overview = until(lambda: get("overview", limit=1), lambda b: b["status"] == "done", POLL)
        figures["overview complete after it"] = time.perf_counter() - listed
        assert overview["total"] == args.runs + 1, overview["total"]  # every run, and big/
        figures["warm /runs"] = min(timed(lambda: client.get(API + "runs").get_data())[0] for _ in range(20))

        # A page of the matrix nobody asked for yet: 50 models x 50 other runs' checkpoints.
        page = dict(row_offset=MATRIX, row_limit=MATRIX, col_offset=2 * MATRIX, col_limit=MATRIX)
        seconds, matrix = timed(lambda: until(lambda: get("matrix", **page), lambda b: b["status"] == "done", POLL))
        cells = sum(len(row) for row in matrix["cells"])
        assert cells == MATRIX * MATRIX, cells
        figures["50 x 50 matrix"] = seconds

        query = {"base": "checkpoint:big/ckpt-1", "target": "checkpoint:big/ckpt-2"}
        cold, response = timed(lambda: client.get(API + "diff", query_string=query))
        if response.status_code == 200:
            figures["cold /diff (10k vars)"] = cold
            figures["warm /diff (10k vars)"] = min(
                timed(lambda: client.get(API + "diff", query_string=query).get_data())[0] for _ in range(5))
            # The same two checkpoints, already read, under other modes: the diff itself runs
            # again (only the checkpoints' metadata is warm), so this is the honest "warm diff".
            recomputed = []
            for mode in ("name", "object_path", "keras_order", "auto"):
                for kinds in ("weight", "weight,optimizer", "weight,optimizer,metadata"):
                    q = dict(query, mode=mode, kinds=kinds)
                    recomputed.append(timed(lambda: client.get(API + "diff", query_string=q).get_data())[0])
            figures["warm metadata, new /diff"] = sorted(recomputed)[len(recomputed) // 2]
        else:
            print(f"/diff answered {response.status_code}: {response.get_data()[:200]!r}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


# Watches the plugin's frame from outside: when it started, and when a row of the overview
# first shows a verdict (not "pending"), two frames later (painted).
WATCH = """
if (location.pathname.endsWith('plugin_entry.html')) {
  window.__firstVerdict = null;
  new MutationObserver((_, observer) => {
    if (document.querySelector('.ov-row:not([data-outcome=pending]) .ov-badge')) {
      observer.disconnect();
      requestAnimationFrame(() => requestAnimationFrame(() => { window.__firstVerdict = performance.now(); }));
    }
  }).observe(document, {childList: true, subtree: true, attributes: true});
}
"""


def first_verdict(figures, repeats=5):
    from playwright.sync_api import sync_playwright

    from makers import browser as chromium

    process, base = chromium.start_tensorboard(os.path.join(ROOT, "demo_logs"))
    try:
        chromium.settled_runs(base)
        servers.wait_until(lambda: servers.get_json(base + API[1:] + "overview")[1]["status"] == "done", "the overview")
        times, loads = [], []
        with sync_playwright() as p:
            browser = chromium.launch(p)
            for _ in range(repeats):
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                context.add_init_script(WATCH)
                page = context.new_page()
                started = time.perf_counter()
                page.goto(base + "#ckptdiff")
                page.frame_locator(chromium.FRAME).locator(".ov-row:not([data-outcome=pending])").first.wait_for(timeout=60000)
                frame = next(f for f in page.frames if "plugin_entry.html" in f.url)
                painted = frame.wait_for_function("window.__firstVerdict").json_value()
                times.append(painted / 1000.0)  # from the plugin frame's own start
                loads.append(time.perf_counter() - started)
                context.close()
            browser.close()
        figures["first verdict painted (tab opened)"] = statistics.median(times)
        figures["first verdict, whole page load"] = statistics.median(loads)
    finally:
        servers.stop(process)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--per-run", type=int, default=5)
    parser.add_argument("--variables", type=int, default=10_000)
    parser.add_argument("--no-browser", action="store_true", help="skip the first-verdict measure in Chromium")
    args = parser.parse_args()
    figures = {}
    backend(args, figures)
    if not args.no_browser:
        first_verdict(figures)
    print(f"logdir: {args.runs} runs x {args.per_run} checkpoints + 2 x {args.variables} variables; "
          f"matrix page {MATRIX} x {MATRIX}; first verdict on demo_logs/ (median of 5 opens)")
    for name, seconds in figures.items():
        goal = GOALS.get(name)
        ratio = f"  {seconds / goal:.2f} of the goal ({goal * 1000:.0f} ms)" if goal else ""
        print(f"{name:36s} {seconds * 1000:9.1f} ms{ratio}")


if __name__ == "__main__":
    main()
