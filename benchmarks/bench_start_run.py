"""Latency the lineage provider adds to ``mlflow.start_run`` on a local SQLite store.

In one run, on (a) a small repository and (b) one with 50,000 tracked files, both generated in a temp
dir and committed a few seconds before measuring (as every real checkout was), and (c) a fresh
``git clone`` of (a), racily clean as right after any clone:

- first run: the first run the plugin sees in a fresh process, plugin on vs. switched off
  (``MLFLOW_LINEAGE_DISABLE``), pairs of processes alternated so load drifts hit both sides alike.
  Each process first makes one run with the plugin off, so MLflow's own one-time set-up (store
  connection, GitPython import of its git provider) is charged to neither side;
- repeated runs: in one process, iterations of ``start_run`` with the plugin off, on, and the floor for
  a fresh commit and dirty flag on the same checkout (``git rev-parse HEAD`` plus ``git status
  --porcelain --untracked-files=no``, without optional locks as the plugin runs it), each iteration in
  the next of their six orders.

Each measured process runs ``train.py`` committed in the generated repository, so the provider finds
that repository exactly as it would for a user's script; it counts every process started inside
``start_run`` (``subprocess.Popen`` wrapped) and keeps every run's tags, which are checked on both sides.
Prints median (p10-p90) per side in ms, ratios and the load, and exits 1 when a budget is missed or a
tag is wrong: repeated runs add <= 5 ms on (a), start no process there and spend <= 1 ms in the
provider (its stat fast path), add <= 1.2x the floor on (b) with at most one process per run; a first
run adds <= 150 ms on (b). Row (c) is reported, not budgeted.

    .venv/bin/python benchmarks/bench_start_run.py [--files 50000] [--runs 25] [--first 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from checkouts import GIT, make_db, make_repo, sh
from spread import Load, median, spread

SMALL_BUDGET_MS = 5.0
LARGE_FLOOR_RATIO = 1.2
LARGE_FIRST_BUDGET_MS = 150.0
SMALL_PROVIDER_BUDGET_MS = 1.0
LARGE_MAX_STARTS = 1

# The script a user would run: committed in each generated repository, started once per measured process.
TRAIN_PY = r"""
import json, os, subprocess, sys, time

mode, db, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.environ.pop("MLFLOW_LINEAGE_DISABLE", None)
if mode == "off":
    os.environ["MLFLOW_LINEAGE_DISABLE"] = "true"

# Every process this interpreter starts (the plugin's git, MLflow's, anyone's) goes through Popen.
started = []


class CountingPopen(subprocess.Popen):
    def __init__(self, args, *a, **kw):
        started.append(args)
        super().__init__(args, *a, **kw)


subprocess.Popen = CountingPopen

import mlflow

mlflow.set_tracking_uri(f"sqlite:///{db}")
mlflow.set_experiment("bench")
here = os.path.dirname(os.path.abspath(__file__))

from mlflow.tracking.context.registry import _run_context_provider_registry

provider_ms = []
for provider in _run_context_provider_registry:
    if type(provider).__name__ == "LineageRunContext":
        def timed(fn=provider.tags):
            t = time.perf_counter()
            try:
                return fn()
            finally:
                provider_ms.append((time.perf_counter() - t) * 1000)
        provider.tags = timed

KEPT = ("lineage_", "mlflow.source.git.")


def one_run(plugin_on):
    if plugin_on:
        os.environ.pop("MLFLOW_LINEAGE_DISABLE", None)
    else:
        os.environ["MLFLOW_LINEAGE_DISABLE"] = "true"
    n = len(started)
    t = time.perf_counter()
    run = mlflow.start_run()
    took = (time.perf_counter() - t) * 1000
    procs = len(started) - n
    tags = {k: v for k, v in run.data.tags.items() if k.startswith(KEPT)}
    mlflow.end_run()
    return took, tags, procs


# The same command the plugin runs, without optional locks: a floor that rewrote the index would
# repair a racily clean checkout behind the plugin's back.
FLOOR_ENV = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}


def floor():
    t = time.perf_counter()
    subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, check=True, env=FLOOR_ENV)
    subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True,
                   check=True, env=FLOOR_ENV)
    return (time.perf_counter() - t) * 1000


one_run(False)  # MLflow's own one-time set-up (store, GitPython, ...) is not the provider's cost
first, first_tags, first_procs = one_run(mode == "on")
out = {"first": first, "first_tags": first_tags, "first_procs": first_procs,
       "provider_first": provider_ms[0] if provider_ms else None, "first_floor": floor(),
       "off": [], "on": [], "floor": [], "procs_on": [], "procs_off": [], "tags_on": [], "tags_off": []}
del provider_ms[:]
index = os.path.join(here, ".git", "index")
before = os.stat(index).st_ino
sys.path.insert(0, os.environ["BENCH_DIR"])
from spread import order

for i in range(runs):
    for side in order(("floor", "on", "off"), i):  # every order in turn: none always follows the floor's git
        if side == "floor":
            out["floor"].append(floor())
        else:
            took, tags, procs = one_run(side == "on")
            out[side].append(took)
            out["procs_" + side].append(procs)
            out["tags_" + side].append(tags)
out["index_rewritten"] = os.stat(index).st_ino != before
out["provider"] = provider_ms
print("BENCH " + json.dumps(out))
"""


def compile_plugin() -> None:
    """Byte-compile the plugin as ``pip install`` does, so no side pays for compiling source."""
    import compileall

    import mlflow_lineage_plugin

    compileall.compile_dir(os.path.dirname(mlflow_lineage_plugin.__file__), quiet=1)


def measure(repo: Path, db_template: Path, mode: str, runs: int, n: int) -> dict:
    db = db_template.with_name(f"{repo.name}-{mode}-{n}.db")
    shutil.copy(db_template, db)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_LINEAGE_")}
    env.pop("MLFLOW_TRACKING_URI", None)
    env["BENCH_DIR"] = str(Path(__file__).resolve().parent)
    proc = subprocess.run(
        [sys.executable, str(repo / "train.py"), mode, str(db), str(runs)],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH ")), None)
    if proc.returncode != 0 or line is None:
        sys.exit(f"measured process failed ({repo.name}, {mode}):\n{proc.stderr[-3000:]}")
    return json.loads(line[len("BENCH ") :])


def racy_clone(source: Path, path: Path) -> str:
    """``git clone`` of ``source``: its files are written in the same second as its index (racily
    clean), as right after any clone or generated checkout. Cloned again if a second boundary fell
    between the two, so the row always measures that state."""
    for _ in range(5):
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run([*GIT, "clone", "-q", "--no-hardlinks", str(source), str(path)], check=True, capture_output=True)
        index_sec = int((path / ".git" / "index").stat().st_mtime)
        if any(int(f.stat().st_mtime) >= index_sec for f in path.rglob("*.py") if ".git" not in f.parts):
            return sh(path, "rev-parse", "HEAD")
    sys.exit("could not produce a racily clean clone in 5 attempts")


def check_tags(name: str, commit: str, tags: dict, plugin_on: bool) -> list[str]:
    problems = []
    if plugin_on:
        want = {"mlflow.source.git.commit": commit, "lineage_git_path": "train.py", "mlflow.source.git.dirty": "false"}
        for k, v in want.items():
            if tags.get(k) != v:
                problems.append(f"{name}: plugin on, tag {k}={tags.get(k)!r}, expected {v!r}")
    elif any(k.startswith("lineage_") for k in tags):
        problems.append(f"{name}: plugin off, but lineage_ tags were written")
    return problems


def check_all(name: str, commit: str, r: dict) -> list[str]:
    """Every repeated run's tags, on both sides: one wrong answer is a failure, not a footnote."""
    problems = []
    for side in ("on", "off"):
        for tags in r["tags_" + side]:
            problems += check_tags(name, commit, tags, side == "on")
    return sorted(set(problems))


def repeated_row(name: str, nfiles: int, rep: dict) -> dict:
    added = [on - off for on, off in zip(rep["on"], rep["off"])]  # paired: drift cancels
    # each iteration's own floor: under CPU contention git's time swings several-fold within seconds
    ratio = [(on - off) / fl for on, off, fl in zip(rep["on"], rep["off"], rep["floor"])]
    return {
        "repo": name, "files": nfiles, "rep_off": rep["off"], "rep_on": rep["on"], "floor": rep["floor"],
        "rep_added": added, "rep_ratio": ratio, "provider_rep": rep["provider"],
        "procs_on": rep["procs_on"], "procs_off": rep["procs_off"],
    }  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=50_000, help="tracked files in the large repository")
    ap.add_argument("--small-files", type=int, default=20)
    ap.add_argument("--runs", type=int, default=25, help="repeated runs per configuration")
    ap.add_argument("--first", type=int, default=5, help="fresh processes per configuration (first run)")
    args = ap.parse_args()

    load = Load()
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"# Python {platform.python_version()}, {git_version}, {os.cpu_count()} CPUs")
    print(load.start_line())
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-start-run-") as tmp_s:
        tmp = Path(tmp_s)
        t = time.monotonic()
        repos = {"small": (tmp / "small", args.small_files), "large": (tmp / "large", args.files)}
        commits = {name: make_repo(path, n, TRAIN_PY) for name, (path, n) in repos.items()}
        db = make_db(tmp)
        compile_plugin()
        time.sleep(2.1)  # an index written seconds ago, as in any checkout
        print(f"# generated repositories ({args.small_files} and {args.files} files) in {time.monotonic() - t:.0f}s")

        rows, firsts = [], {}
        for name, (path, nfiles) in repos.items():
            first_on, first_off, provider_first, first_floor, first_procs, rep = [], [], [], [], [], None
            for i in range(args.first):
                for mode in ("off", "on") if i % 2 == 0 else ("on", "off"):
                    r = measure(path, db, mode, args.runs if (i == 0 and mode == "on") else 0, i)
                    (first_on if mode == "on" else first_off).append(r["first"])
                    first_floor.append(r["first_floor"])
                    if mode == "on":
                        first_procs.append(r["first_procs"])
                        if r["provider_first"] is not None:
                            provider_first.append(r["provider_first"])
                    failures += check_tags(name, commits[name], r["first_tags"], mode == "on")
                    if r["on"]:
                        rep = r
            load.sample()
            failures += check_all(name, commits[name], rep)
            if rep["index_rewritten"]:
                print(f"# note: {name}: the index was rewritten during the repeated runs")
            row = repeated_row(name, nfiles, rep)
            firsts[name] = {
                "first_off": first_off, "first_on": first_on, "provider_first": provider_first,
                "first_added": [on - off for on, off in zip(first_on, first_off)], "first_floor": first_floor,
                "first_procs": first_procs,
            }  # fmt: skip
            rows.append(row)
            print(f"# {name}: first runs on  {' '.join(f'{x:.0f}' for x in first_on)} ms")
            print(f"# {name}: first runs off {' '.join(f'{x:.0f}' for x in first_off)} ms")
            print(f"# {name}: provider tags() in first runs {' '.join(f'{x:.0f}' for x in provider_first)} ms")

        # A checkout cloned this very second: no clean status can be remembered for it yet, and every file
        # is racily clean until someone rewrites the index. Measured, not budgeted (issue 17, item 4).
        clone = tmp / "clone"
        clone_commit = racy_clone(repos["small"][0], clone)
        r = measure(clone, db, "on", args.runs, 0)
        load.sample()
        failures += check_tags("clone", clone_commit, r["first_tags"], True)
        failures += check_all("clone", clone_commit, r)
        rows.append(repeated_row("clone", args.small_files, r))

    print()
    print("First run in a fresh process, medians in ms (p10-p90):")
    print(f"{'repo':6} {'files':>6} | {'off':>17} {'on':>17} {'added':>17} | {'floor':>17} {'git starts':>10}")
    for name, f in firsts.items():
        nfiles = next(r["files"] for r in rows if r["repo"] == name)
        print(
            f"{name:6} {nfiles:>6} | {spread(f['first_off']):>17} {spread(f['first_on']):>17} "
            f"{spread(f['first_added']):>17} | {spread(f['first_floor']):>17} {median(f['first_procs']):>10.0f}"
        )
    print()
    print("Repeated runs in one process, medians in ms (p10-p90):")
    print(
        f"{'repo':6} {'files':>6} | {'off':>17} {'on':>17} {'added':>17} | {'floor':>17} "
        f"{'added/floor':>18} | {'starts/run on':>13} {'off':>4}"
    )
    for r in rows:
        print(
            f"{r['repo']:6} {r['files']:>6} | {spread(r['rep_off']):>17} {spread(r['rep_on']):>17} "
            f"{spread(r['rep_added']):>17} | {spread(r['floor']):>17} {spread(r['rep_ratio'], digits=2):>18} | "
            f"{sum(r['procs_on']) / len(r['procs_on']):>13.2f} {sum(r['procs_off']) / len(r['procs_off']):>4.2f}"
        )
    print(
        f"('added' is on - off paired per iteration, 'added/floor' each iteration's added / floor; first run: "
        f"{args.first} fresh processes per side, alternated; repeated: {args.runs} iterations of floor, on and "
        f"off, each iteration in the next of their 6 orders; 'starts' counts every process started inside "
        f"start_run; 'clone' is a fresh `git clone` of the small checkout, racily clean)"
    )
    for r in rows:
        extra = f"first run {median(firsts[r['repo']]['provider_first']):.1f} ms, " if r["repo"] in firsts else ""
        print(
            f"{r['repo']}: time spent inside the provider's tags(): {extra}"
            f"repeated {spread(r['provider_rep'], digits=2)} ms"
        )

    small, large, clone_row = rows
    lf = firsts["large"]
    budgets = [
        (
            f"small, repeated: added {median(small['rep_added']):.2f} ms <= {SMALL_BUDGET_MS} ms",
            median(small["rep_added"]) <= SMALL_BUDGET_MS,
        ),
        # The fast path itself: a small, settled checkout is proven clean from the index, without git.
        (
            f"small, repeated: the plugin started {sum(small['procs_on']) - sum(small['procs_off'])} processes "
            f"in {len(small['procs_on'])} runs (budget 0)",
            sum(small["procs_on"]) - sum(small["procs_off"]) == 0,
        ),
        (
            f"small, repeated: provider tags() {median(small['provider_rep']):.2f} ms <= {SMALL_PROVIDER_BUDGET_MS} ms",
            median(small["provider_rep"]) <= SMALL_PROVIDER_BUDGET_MS,
        ),
        (
            f"large, repeated: added {median(large['rep_ratio']):.2f}x the floor <= {LARGE_FLOOR_RATIO}x",
            median(large["rep_ratio"]) <= LARGE_FLOOR_RATIO,
        ),
        # Commit, branch and tracked-ness come from .git files: one git status per run, never more.
        (
            f"large, repeated: at most {max(large['procs_on']) - max(large['procs_off'])} process started per run "
            f"(budget {LARGE_MAX_STARTS})",
            max(large["procs_on"]) - max(large["procs_off"]) <= LARGE_MAX_STARTS,
        ),
        (
            f"large, first run: added {median(lf['first_added']):.1f} ms <= {LARGE_FIRST_BUDGET_MS} ms "
            f"({median(lf['first_added']) / median(lf['first_floor']):.2f}x the floor measured in those processes)",
            median(lf["first_added"]) <= LARGE_FIRST_BUDGET_MS,
        ),
    ]
    print()
    for text, ok in budgets:
        print(f"{'ok  ' if ok else 'MISS'} {text}")
    print(
        f"info clone, repeated: added {median(clone_row['rep_added']):.2f} ms, "
        f"{sum(clone_row['procs_on']) / len(clone_row['procs_on']):.2f} processes per run "
        f"(measured, no budget: 0 once a racily clean checkout regains the fast path)"
    )
    for line in load.end_lines():
        print(line)
    for f in failures:
        print(f"FAIL {f}")
    return 0 if all(ok for _, ok in budgets) and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
