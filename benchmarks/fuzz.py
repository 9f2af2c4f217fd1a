"""Fuzz every checkpoint reader for minutes, from real files, and print inputs tried, bad
outcomes and the line coverage reached in formats/*.

    .venv/bin/python benchmarks/fuzz.py [--minutes 5] [--engine auto|atheris|random] [--out DIR]

Seeds are real checkpoints written by TF/Keras now (tests/makers/hostile_inputs.py: bundles
object- and name-based and sliced, the ``checkpoint`` state file, a .meta MetaGraphDef, a
SavedModel, .weights.h5, legacy .h5, .keras, .safetensors). Engines:
  atheris  coverage-guided libFuzzer, one child process per kind with -timeout and
           -rss_limit_mb; its grown corpus is then replayed under coverage.py;
  random   the harness's own mutations (bit flips, truncations, splices, length-field
           overwrites, re-checksummed .index entries, hostile safetensors headers and zip
           sizes) read in a bounded worker process, with coverage.py in the worker.
``auto`` is atheris when it imports, else random. Bad inputs are written to --out.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import os
import pickle
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

from makers import fuzz_worker, hostile_inputs  # noqa: E402

ATHERIS_KINDS = ("index", "data_shard", "state_file", "meta_graph", "saved_model",
                 "weights_h5", "legacy_h5", "keras_zip", "safetensors")


def _coverage_or_say_why() -> bool:
    if fuzz_worker.coverage_available():
        return True
    print("coverage.py is not installed (pip install coverage): line coverage is not measured", flush=True)
    return False


def _print_coverage(covered) -> None:
    if not covered:
        print("\nline coverage of formats/*: not measured")
        return
    total_statements = total_executed = 0
    print("\nline coverage of formats/* (coverage.py):")
    for path, (statements, executed) in sorted(covered.items()):
        total_statements += len(statements)
        total_executed += len(executed)
        share = 100.0 * len(executed) / len(statements) if statements else 100.0
        print(f"  {path:60s} {len(executed):5d}/{len(statements):5d}  {share:5.1f}%")
    if total_statements:
        print(f"  {'total':60s} {total_executed:5d}/{total_statements:5d}  "
              f"{100.0 * total_executed / total_statements:5.1f}%")


def _last_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[-1][:200]


def _save_bad(out, seed, data, outcome, counter):
    os.makedirs(out, exist_ok=True)
    name = f"{seed.kind}-{seed.name}-{outcome.status}-{counter}"
    with open(os.path.join(out, name + ".bin"), "wb") as f:
        f.write(data)
    with open(os.path.join(out, name + ".txt"), "w") as f:
        f.write(f"{seed.kind} {seed.name} target={seed.target}\n{outcome.status}\n{outcome.detail}\n")


def _summary(tried, outcomes, bad_kinds, seconds):
    print(f"\ninputs tried: {tried} in {seconds:.0f} s ({tried / max(seconds, 1e-9):.0f}/s)")
    for kind in sorted(outcomes):
        counts = outcomes[kind]
        print(f"  {kind:14s} " + "  ".join(f"{status} {n}" for status, n in sorted(counts.items())))
    bad = sum(bad_kinds.values())
    print(f"bad outcomes (escaped exception, hang, crash, memory blow-up, leak): {bad}")
    for key, n in sorted(bad_kinds.items()):
        print(f"  {n:5d}  {key}")


def run_random(seeds, seconds, out, seed_value):
    rng = random.Random(seed_value)
    by_kind = collections.defaultdict(list)
    for s in seeds:
        by_kind[s.kind].append(s)
    kinds = sorted(by_kind)
    outcomes = collections.defaultdict(collections.Counter)
    bad_kinds = collections.Counter()
    tried = 0
    start = time.monotonic()
    with fuzz_worker.Worker(coverage=_coverage_or_say_why()) as worker:
        while time.monotonic() - start < seconds:
            seed = rng.choice(by_kind[kinds[tried % len(kinds)]])
            donor = rng.choice(seeds)
            ops = [(rng.randrange(len(hostile_inputs.OPS)), rng.getrandbits(32), rng.getrandbits(16), rng.randrange(256))
                   for _ in range(rng.randint(1, 4))]
            outcome, data = fuzz_worker.run_mutated(worker, seed, ops, donor.files[donor.target])
            tried += 1
            outcomes[seed.kind][outcome.status] += 1
            if outcome.bad:
                line = _last_line(outcome.detail)[:120]
                bad_kinds[f"{seed.kind}: {outcome.status}: {line}"] += 1
                _save_bad(out, seed, data, outcome, tried)
        covered = worker.coverage_now()
    _summary(tried, outcomes, bad_kinds, time.monotonic() - start)
    _print_coverage(covered)
    return sum(bad_kinds.values())


# ---------------------------------------------------------------- atheris


def _atheris_child(kind, seeds_file, corpus, artifacts, seconds):
    """libFuzzer over one kind: each input replaces the target file of a seed of that kind."""
    import atheris

    with open(seeds_file, "rb") as f:
        seeds = [s for s in pickle.load(f) if s.kind == kind]
    # Coverage feedback from our readers and the HDF5 parser they drive, not from numpy,
    # protobuf or TensorBoard: instrumenting those only slowed every input down.
    with atheris.instrument_imports(include=["tensorboard_plugin_ckptdiff", "pyfive"]):
        from tensorboard_plugin_ckptdiff import formats  # noqa: F401
        from tensorboard_plugin_ckptdiff.architectures import meta_graph  # noqa: F401
        from tensorboard_plugin_ckptdiff.formats._bundle import object_graph, proto, slices, state_file, table  # noqa: F401
        from tensorboard_plugin_ckptdiff.formats import hdf5, tf_bundle  # noqa: F401
        for name in formats._MODULES:
            formats.reader_for_format(name)
        hdf5._pyfive()  # imported on first use otherwise, after instrumentation ends
    base = tempfile.mkdtemp(prefix="ckptdiff-atheris-")
    roots = []
    for i, seed in enumerate(seeds):
        root = os.path.join(base, str(i))
        for rel, content in seed.files.items():
            os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
            with open(os.path.join(root, rel), "wb") as f:
                f.write(content)
        roots.append(root)

    found = collections.Counter()

    def one_input(data: bytes):
        i = (data[0] if data else 0) % len(seeds)
        seed, root = seeds[i], roots[i]
        if kind == "index":
            data = hostile_inputs.fix_table_crcs(data)
        with open(os.path.join(root, seed.target), "wb") as f:
            f.write(data)
        fuzz_worker.pick_index_decoder({**seed.files, seed.target: data})
        outcome = fuzz_worker._check(root, seed.open, seed.check)
        if outcome.bad:
            # Kept and counted here, not raised: an exception ends libFuzzer's run through
            # atheris's crash path, which puts SIGALRM back to its default while libFuzzer's
            # timer still runs, so a slow exit died of SIGALRM with nothing saved and no
            # count printed. Fuzzing goes on, and the target runs its whole share.
            # The same bug is met again and again once found: a few examples of each are enough.
            what = (outcome.status, _last_line(outcome.detail).replace(root, "<input>"))
            found[what] += 1
            if found[what] <= 3:
                _save_bad(artifacts, seed, data, outcome, f"{os.getpid()}-{sum(found.values())}")

    atheris.Setup([sys.argv[0], corpus, f"-max_total_time={int(seconds)}", "-timeout=10", "-rss_limit_mb=2048",
                   "-malloc_limit_mb=1024", "-print_final_stats=1", f"-artifact_prefix={artifacts}/{kind}-",
                   "-max_len=131072"], one_input)
    atheris.Fuzz()


def _executed(stderr: str) -> int:
    """Inputs libFuzzer ran: its final count, else the last progress line (a process that
    died early prints no final stats)."""
    final = re.findall(r"stat::number_of_executed_units: (\d+)", stderr)
    if final:
        return int(final[-1])
    progress = re.findall(r"^#(\d+)\s", stderr, re.M)
    return int(progress[-1]) if progress else 0


def _exit_text(code: int) -> str:
    import signal

    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return {70: "libFuzzer timeout: an input ran over 10 s", 71: "libFuzzer: out of memory"}.get(code, f"exit {code}")


def _fuzz_piece(kind, seeds_file, corpus, out, share):
    """One kind for ``share`` seconds: (inputs, early stops).

    A child that stops early (libFuzzer's own timeout on a hang, a crash) is counted and
    replaced, resuming from the grown corpus, until the share is spent."""
    n, start, exits = 0, time.monotonic(), []
    while share - (time.monotonic() - start) > 5:
        left = share - (time.monotonic() - start)
        proc = subprocess.run([sys.executable, __file__, "--atheris-child", kind, seeds_file, corpus, out,
                               str(left)], capture_output=True, text=True, timeout=left + 300)
        n += _executed(proc.stderr)
        if proc.returncode != 0:
            exits.append(_exit_text(proc.returncode))
            tail = [line for line in proc.stderr.splitlines() if line.strip()][-25:]
            print(f"  {kind}: the fuzzing process stopped early ({exits[-1]}):\n    " + "\n    ".join(tail), flush=True)
    return n, exits


def schedule(kinds, seconds, jobs):
    """[[(kind, seconds), ...] per job]: every kind the same share of core time, every job
    busy for all ``seconds``.

    McNaughton's wrap-around rule: the kinds laid end to end, cut into ``jobs`` lengths of
    ``seconds``. A kind cut at a boundary runs its two pieces on two jobs, at the end of one
    and the start of the next, so they never overlap in time (each share is at most
    ``seconds``). With 9 kinds on 2 cores, rounds of two would leave one core idle for the
    whole last round (a ninth of the time lost)."""
    share = seconds * jobs / len(kinds)
    if share > seconds:  # fewer kinds than jobs: one job per kind, the rest idle
        return [[(kind, seconds)] for kind in kinds]
    plan, job, used = [[] for _ in range(jobs)], 0, 0.0
    for kind in kinds:
        left = share
        while left > 1e-6:
            piece = min(left, seconds - used)
            plan[job].append((kind, piece))
            left -= piece
            used += piece
            if seconds - used <= 1e-6 and job < jobs - 1:
                job, used = job + 1, 0.0
    return plan


def run_atheris(seeds, seconds, out, jobs):
    work = tempfile.mkdtemp(prefix="ckptdiff-fuzz-")
    seeds_file = os.path.join(work, "seeds.pkl")
    with open(seeds_file, "wb") as f:
        pickle.dump(seeds, f)
    os.makedirs(out, exist_ok=True)
    kinds = [k for k in ATHERIS_KINDS if any(s.kind == k for s in seeds)]
    plan = schedule(kinds, seconds, jobs)
    corpora = {}
    for kind in kinds:
        corpus = os.path.join(work, kind)
        os.makedirs(corpus)
        for i, seed in enumerate(s for s in seeds if s.kind == kind):
            # An input is the whole target file; its first byte also picks which seed it replaces.
            with open(os.path.join(corpus, f"seed{i}"), "wb") as f:
                f.write(seed.files[seed.target])
        corpora[kind] = corpus
    before = set(os.listdir(out))  # findings of earlier runs in the same --out are not this run's
    start = time.monotonic()
    print(f"{len(kinds)} kinds on {jobs} cores, {seconds * jobs / len(kinds):.0f} core-seconds each", flush=True)
    inputs, stops, spent = collections.Counter(), collections.defaultdict(list), collections.Counter()

    def one_job(pieces):
        for kind, share in pieces:
            piece_start = time.monotonic()
            n, exits = _fuzz_piece(kind, seeds_file, corpora[kind], out, share)
            inputs[kind] += n
            stops[kind] += exits
            spent[kind] += time.monotonic() - piece_start

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for done in [pool.submit(one_job, pieces) for pieces in plan]:
            done.result()
    results = []
    for kind in kinds:
        found = len([name for name in set(os.listdir(out)) - before if name.startswith(f"{kind}-")]) // 2  # .bin + .txt
        bad = found + len(stops[kind])
        status = "clean" if not bad else f"{found} bad input(s) saved" + (
            f", stopped: {', '.join(stops[kind])}" if stops[kind] else "")
        print(f"  {kind:12s} {inputs[kind]:9d} inputs in {spent[kind]:5.0f} s  "
              f"corpus {len(os.listdir(corpora[kind])):5d}  {status}", flush=True)
        results.append((inputs[kind], bad))
    tried = sum(n for n, _ in results)
    failures = sum(bad for _, bad in results)
    seconds_spent = time.monotonic() - start
    print(f"\ninputs tried (libFuzzer executions): {tried} in {seconds_spent:.0f} s "
          f"({tried / max(seconds_spent, 1e-9):.0f}/s); bad inputs and early stops: {failures}")
    # Replay the grown corpora in the bounded worker, under coverage.py.
    outcomes = collections.defaultdict(collections.Counter)
    with fuzz_worker.Worker(coverage=_coverage_or_say_why()) as worker:
        for kind, corpus in corpora.items():
            kind_seeds = [s for s in seeds if s.kind == kind]
            for name in sorted(os.listdir(corpus)):
                with open(os.path.join(corpus, name), "rb") as f:
                    data = f.read()
                seed = kind_seeds[(data[0] if data else 0) % len(kind_seeds)]
                if name.startswith("seed"):
                    seed = kind_seeds[int(name[4:])]
                elif kind == "index":
                    data = hostile_inputs.fix_table_crcs(data)
                files = dict(seed.files)
                files[seed.target] = data
                outcome = worker.run(files, seed.open, seed.check)
                outcomes[kind][outcome.status] += 1
                if outcome.bad:
                    failures += 1
        covered = worker.coverage_now()
    print("corpus replay outcomes:")
    for kind in sorted(outcomes):
        print(f"  {kind:14s} " + "  ".join(f"{s} {n}" for s, n in sorted(outcomes[kind].items())))
    _print_coverage(covered)
    shutil.rmtree(work, ignore_errors=True)
    return failures


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--atheris-child":
        kind, seeds_file, corpus, artifacts, seconds = sys.argv[2:7]
        _atheris_child(kind, seeds_file, corpus, artifacts, float(seconds))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--engine", choices=("auto", "atheris", "random"), default="auto")
    parser.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "ckptdiff-fuzz-findings"))
    parser.add_argument("--seed", type=int, default=0, help="random engine's RNG seed")
    parser.add_argument("--kinds", default="", help="comma-separated kinds to fuzz (default: all)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="atheris: kinds fuzzed at the same time, one process each (default: one per core)")
    args = parser.parse_args()
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401

            engine = "atheris"
        except ImportError:
            engine = "random"
    seed_dir = tempfile.mkdtemp(prefix="ckptdiff-fuzz-seeds-")
    seeds = hostile_inputs.write_seeds(seed_dir)
    if args.kinds:
        seeds = [s for s in seeds if s.kind in args.kinds.split(",")]
    print(f"engine {engine}; {len(seeds)} real seeds: " + ", ".join(sorted({s.kind for s in seeds})), flush=True)
    seconds = args.minutes * 60
    try:
        bad = run_atheris(seeds, seconds, args.out, max(1, args.jobs)) if engine == "atheris" else \
            run_random(seeds, seconds, args.out, args.seed)
    except fuzz_worker.HarnessError as e:
        print(f"fuzz harness: {e}", file=sys.stderr)
        return 2
    shutil.rmtree(seed_dir, ignore_errors=True)
    print(f"bad inputs saved under {args.out}" if bad else "no bad input found")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
