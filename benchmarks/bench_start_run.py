"""Latency the lineage provider adds to ``mlflow.start_run`` on a local SQLite store.

In one run, on (a) a small repository and (b) one with 50,000 tracked files, both generated in a temp
dir and committed a few seconds before measuring (as every real checkout was):

- first run: the first run the plugin sees in a fresh process, plugin on vs. switched off
  (``MLFLOW_LINEAGE_DISABLE``), pairs of processes alternated so load drifts hit both sides alike.
  Each process first makes one run with the plugin off, so MLflow's own one-time set-up (store
  connection, GitPython import of its git provider) is charged to neither side;
- repeated runs: in one process, ``start_run`` with the plugin off and on, alternated, and in the same
  loop the floor for a fresh commit and dirty flag on the same checkout: ``git rev-parse HEAD`` plus
  ``git status --porcelain --untracked-files=no``.

Each measured process runs ``train.py`` committed in the generated repository, so the provider finds
that repository exactly as it would for a user's script. Prints medians in ms and ratios, and exits 1
when a budget is missed: repeated runs add <= 5 ms on (a) and <= 1.2x the floor on (b); a first run
adds <= 150 ms on (b).

    .venv/bin/python benchmarks/bench_start_run.py [--files 50000] [--runs 25] [--first 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SMALL_BUDGET_MS = 5.0
LARGE_FLOOR_RATIO = 1.2
LARGE_FIRST_BUDGET_MS = 150.0

GIT = ["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.com", "-c", "init.defaultBranch=main"]

# The script a user would run: committed in each generated repository, started once per measured process.
TRAIN_PY = r'''
import json, os, subprocess, sys, time

mode, db, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.environ.pop("MLFLOW_LINEAGE_DISABLE", None)
if mode == "off":
    os.environ["MLFLOW_LINEAGE_DISABLE"] = "true"

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


def one_run(plugin_on):
    if plugin_on:
        os.environ.pop("MLFLOW_LINEAGE_DISABLE", None)
    else:
        os.environ["MLFLOW_LINEAGE_DISABLE"] = "true"
    t = time.perf_counter()
    run = mlflow.start_run()
    took = (time.perf_counter() - t) * 1000
    tags = dict(run.data.tags)
    mlflow.end_run()
    return took, tags


def floor():
    t = time.perf_counter()
    subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, check=True)
    subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True,
                   check=True)
    return (time.perf_counter() - t) * 1000


one_run(False)  # MLflow's own one-time set-up (store, GitPython, ...) is not the provider's cost
first, first_tags = one_run(mode == "on")
out = {"first": first, "first_tags": first_tags, "off": [], "on": [], "floor": [], "tags": None,
       "provider_first": provider_ms[0] if provider_ms else None, "first_floor": floor()}
del provider_ms[:]
index = os.path.join(here, ".git", "index")
before = os.stat(index).st_ino
for _ in range(runs):
    out["off"].append(one_run(False)[0])
    took, tags = one_run(True)
    out["on"].append(took)
    out["tags"] = tags
    out["floor"].append(floor())
out["index_rewritten"] = os.stat(index).st_ino != before
out["provider"] = provider_ms
print("BENCH " + json.dumps(out))
'''


def sh(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def make_repo(path: Path, files: int) -> str:
    """A committed checkout with ``files`` tracked files in directories of 100, plus train.py."""
    path.mkdir(parents=True)
    (path / "train.py").write_text(TRAIN_PY)
    for i in range(files - 1):
        d = path / f"pkg{i // 100:04d}"
        if i % 100 == 0:
            d.mkdir()
        (d / f"m{i % 100:03d}.py").write_text(f"x = {i}\n")
    sh(path, "init", "-q")
    time.sleep(1.1)  # files older than the index, as in any checkout not written this very second
    sh(path, "add", "-A")
    sh(path, "commit", "-q", "-m", "generated")
    sh(path, "remote", "add", "origin", "https://github.com/example/bench.git")
    return sh(path, "rev-parse", "HEAD")


def compile_plugin() -> None:
    """Byte-compile the plugin as ``pip install`` does, so no side pays for compiling source."""
    import compileall

    import mlflow_lineage_plugin

    compileall.compile_dir(os.path.dirname(mlflow_lineage_plugin.__file__), quiet=1)


def make_db(tmp: Path) -> Path:
    """One SQLite store with the schema applied; each measured process gets a copy."""
    db = tmp / "template.db"
    code = (
        "import mlflow, sys; mlflow.set_tracking_uri(f'sqlite:///{sys.argv[1]}'); "
        "mlflow.set_experiment('bench')"
    )
    subprocess.run([sys.executable, "-c", code, str(db)], check=True, capture_output=True,
                   env={**os.environ, "MLFLOW_LINEAGE_DISABLE": "true"})
    return db


def measure(repo: Path, db_template: Path, mode: str, runs: int, n: int) -> dict:
    db = db_template.with_name(f"{repo.name}-{mode}-{n}.db")
    shutil.copy(db_template, db)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_LINEAGE_")}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run([sys.executable, str(repo / "train.py"), mode, str(db), str(runs)], cwd=repo,
                          env=env, capture_output=True, text=True)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH ")), None)
    if proc.returncode != 0 or line is None:
        sys.exit(f"measured process failed ({repo.name}, {mode}):\n{proc.stderr[-3000:]}")
    return json.loads(line[len("BENCH "):])


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=50_000, help="tracked files in the large repository")
    ap.add_argument("--small-files", type=int, default=20)
    ap.add_argument("--runs", type=int, default=25, help="repeated runs per configuration")
    ap.add_argument("--first", type=int, default=5, help="fresh processes per configuration (first run)")
    args = ap.parse_args()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"# {platform.python_version()}, {git_version}, {os.cpu_count()} CPUs, load {load:.2f}")
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-start-run-") as tmp_s:
        tmp = Path(tmp_s)
        t = time.monotonic()
        repos = {"small": (tmp / "small", args.small_files), "large": (tmp / "large", args.files)}
        commits = {name: make_repo(path, n) for name, (path, n) in repos.items()}
        db = make_db(tmp)
        compile_plugin()
        time.sleep(2.1)  # an index written seconds ago, as in any checkout
        print(f"# generated repositories ({args.small_files} and {args.files} files) in {time.monotonic() - t:.0f}s")

        rows = []
        for name, (path, nfiles) in repos.items():
            first_on, first_off, provider_first, first_floor, rep = [], [], [], [], None
            for i in range(args.first):
                for mode in ("off", "on") if i % 2 == 0 else ("on", "off"):
                    r = measure(path, db, mode, args.runs if (i == 0 and mode == "on") else 0, i)
                    (first_on if mode == "on" else first_off).append(r["first"])
                    first_floor.append(r["first_floor"])
                    if mode == "on" and r["provider_first"] is not None:
                        provider_first.append(r["provider_first"])
                    failures += check_tags(name, commits[name], r["first_tags"], mode == "on")
                    if r["off"]:
                        rep = r
            failures += check_tags(name, commits[name], rep["tags"], True)
            if rep["index_rewritten"]:
                print(f"# note: {name}: the index was rewritten during the repeated runs")
            row = {
                "repo": name, "files": nfiles,
                "first_off": med(first_off), "first_on": med(first_on),
                "rep_off": med(rep["off"]), "rep_on": med(rep["on"]), "floor": med(rep["floor"]),
                "provider_first": med(provider_first), "provider_rep": med(rep["provider"]),
            }  # fmt: skip
            row["first_added"] = med([on - off for on, off in zip(first_on, first_off)])
            row["rep_added"] = med([on - off for on, off in zip(rep["on"], rep["off"])])  # paired: drift cancels
            # each iteration's own floor: under CPU contention git's time swings several-fold within seconds
            row["rep_ratio"] = med([(on - off) / fl for on, off, fl in zip(rep["on"], rep["off"], rep["floor"])])
            row["first_floor"] = med(first_floor)
            rows.append(row)
            print(f"# {name}: first runs on  {' '.join(f'{x:.0f}' for x in first_on)} ms")
            print(f"# {name}: first runs off {' '.join(f'{x:.0f}' for x in first_off)} ms")
            print(f"# {name}: provider tags() in first runs {' '.join(f'{x:.0f}' for x in provider_first)} ms")

    print()
    print(f"{'repo':6} {'files':>6} | {'first: off':>10} {'on':>7} {'added':>7} | "
          f"{'repeated: off':>13} {'on':>7} {'added':>7} | {'floor':>7} {'added/floor':>11}")
    for r in rows:
        print(f"{r['repo']:6} {r['files']:>6} | {r['first_off']:>10.1f} {r['first_on']:>7.1f} "
              f"{r['first_added']:>7.1f} | "
              f"{r['rep_off']:>13.1f} {r['rep_on']:>7.1f} {r['rep_added']:>7.1f} | {r['floor']:>7.1f} "
              f"{r['rep_ratio']:>10.2f}x")
    print(f"(medians in ms; 'added' is the median of paired differences on - off, 'added/floor' the median of "
          f"each iteration's added / floor; first run: {args.first} fresh processes per configuration; repeated: "
          f"{args.runs} runs per configuration, alternated)")
    for r in rows:
        print(f"{r['repo']}: time spent inside the provider's tags(): first run {r['provider_first']:.1f} ms, "
              f"repeated {r['provider_rep']:.2f} ms")

    small, large = rows
    budgets = [
        (f"small, repeated: added {small['rep_added']:.1f} ms <= {SMALL_BUDGET_MS} ms",
         small["rep_added"] <= SMALL_BUDGET_MS),
        (f"large, repeated: added {large['rep_ratio']:.2f}x the floor <= {LARGE_FLOOR_RATIO}x",
         large["rep_ratio"] <= LARGE_FLOOR_RATIO),
        (f"large, first run: added {large['first_added']:.1f} ms <= {LARGE_FIRST_BUDGET_MS} ms "
         f"({large['first_added'] / large['first_floor']:.2f}x the floor measured in those processes)",
         large["first_added"] <= LARGE_FIRST_BUDGET_MS),
    ]
    print()
    for text, ok in budgets:
        print(f"{'ok  ' if ok else 'MISS'} {text}")
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# load average at the end: {load_end:.2f} (figures above this machine's CPU count are noisy)")
    for f in failures:
        print(f"FAIL {f}")
    return 0 if all(ok for _, ok in budgets) and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
