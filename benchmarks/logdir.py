"""Plugin backend speed on a big logdir: first complete /runs, warm /runs, warm /diff.

200 runs x 5 checkpoints (copies of one small real TF checkpoint, plus a real event file per
run), and two 10,000-variable checkpoints for the diff. Prints each figure against its goal.

    .venv/bin/python benchmarks/logdir.py [--runs 200] [--per-run 5] [--variables 10000]
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from makers import logdirs  # noqa: E402

API = "/data/plugin/ckptdiff/"
GOALS = {"first complete /runs": 3.0, "warm /runs": 0.100, "warm /diff (10k vars)": 0.200,
         "warm metadata, new /diff": 0.200}


def write_logdir(root, runs, per_run, variables):
    import tensorflow as tf

    seed = os.path.join(root, "_seed")
    module = tf.Module()
    module.w = tf.Variable(tf.zeros((4, 3)))
    module.b = tf.Variable(tf.zeros((3,)))
    prefix = tf.train.Checkpoint(model=module).write(os.path.join(seed, "ckpt-1"))
    logdirs.write_events(os.path.join(seed, "events"))
    event = next(os.path.join(seed, "events", n) for n in os.listdir(os.path.join(seed, "events")))
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--per-run", type=int, default=5)
    parser.add_argument("--variables", type=int, default=10_000)
    args = parser.parse_args()
    from werkzeug.test import Client

    root = tempfile.mkdtemp(prefix="ckptdiff-bench-")
    try:
        logdir = write_logdir(root, args.runs, args.per_run, args.variables)
        expected = args.runs * args.per_run + 2
        figures = {}

        def complete_runs():
            while True:
                body = json.loads(client.get(API + "runs").get_data())
                if sum(len(run["checkpoints"]) for run in body["runs"]) >= expected:
                    return body
                time.sleep(0.01)

        start = time.perf_counter()
        client = Client(logdirs.tensorboard_app("--logdir", logdir))
        complete_runs()
        figures["first complete /runs"] = time.perf_counter() - start
        figures["warm /runs"] = min(timed(lambda: client.get(API + "runs").get_data())[0] for _ in range(20))

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
        print(f"logdir: {args.runs} runs x {args.per_run} checkpoints + 2 x {args.variables} variables")
        for name, seconds in figures.items():
            goal = GOALS.get(name)
            ratio = f"  {seconds / goal:.2f} of the goal ({goal * 1000:.0f} ms)" if goal else ""
            print(f"{name:26s} {seconds * 1000:9.1f} ms{ratio}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
