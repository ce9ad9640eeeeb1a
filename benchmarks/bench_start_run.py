"""Latency the lineage provider adds to ``mlflow.start_run`` on a local SQLite store.

In one run, on (a) a small repository and (b) one with 50,000 tracked files, both generated in a temp
dir and committed a few seconds before measuring (as every real checkout was), and (c) a fresh
``git clone`` of (a), racily clean as right after any clone:

- first run: the first run the plugin sees in a fresh process, plugin on vs. switched off
  (``MLFLOW_LINEAGE_DISABLE``), pairs of processes alternated so load drifts hit both sides alike.
  Each process first makes one run with the plugin off, so MLflow's own one-time set-up (store
  connection, GitPython import of its git provider) is charged to neither side;
- repeated runs: in one process, after a second run, the wait for the background set-up of the
  change-notification watches that run starts (``git/watch.py``), and a third run (the full check the
  watches then vouch for), as a sweep's later runs find them; iterations of ``start_run`` with the
  plugin off, on, and the floor for a fresh commit and dirty flag on the same checkout (``git
  rev-parse HEAD`` plus ``git status --porcelain --untracked-files=no``, without optional locks as the
  plugin runs it), each iteration in the next of their six orders;
- edited runs (b): in the same process, one tracked file rewritten before every side, so every run
  follows an edit; each run with the plugin on must record ``dirty=true`` and the sha256 of the patch
  git prints for that very content;
- watch memory (b): in a fresh process, the Python heap (``tracemalloc``) and resident memory the watches
  of the 50,000-file checkout hold once set, their set-up time, and the kernel's inotify watches
  (``/proc/self/fdinfo``, about 1 KiB of kernel memory each on 64-bit).

Each measured process runs ``train.py`` committed in the generated repository, so the provider finds
that repository exactly as it would for a user's script; it counts every process started inside
``start_run`` (``subprocess.Popen`` wrapped) and keeps every run's tags, which are checked on both sides.
Prints median (p10-p90) per side in ms, ratios and the load, and exits 1 when a budget is missed or a
tag is wrong: repeated runs add <= 5 ms on (a), start no process there and spend <= 1 ms in the
provider (its stat fast path); repeated runs on (b) with nothing changed add <= 0.25x the floor and start
no process; an edited run on (b) adds <= 1.2x the
floor and is seen every time; the watches hold <= 20 MB; a first run adds <= 150 ms on (b). Row (c) is
reported, not budgeted.

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
LARGE_REPEAT_RATIO = 0.25  # nothing changed: change notification answers, no git
LARGE_EDIT_RATIO = 1.2  # one file edited: git is asked about that path alone
WATCH_MEMORY_MB = 20.0
LARGE_FIRST_BUDGET_MS = 150.0
SMALL_PROVIDER_BUDGET_MS = 1.0

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
if mode == "on" and runs:
    # The second run starts the watches' set-up in the background; a sweep's later runs find them set.
    from mlflow_lineage_plugin.git import find_repo, watch

    one_run(True)
    t = time.perf_counter()
    while not watch.status(find_repo(here))[0] and time.perf_counter() - t < 120:
        time.sleep(0.01)
    out["setup_wait"] = time.perf_counter() - t
    out["watch"] = watch.status(find_repo(here))[1]
    one_run(True)  # the first run with the watches set asks git once more: its answer is what they vouch for
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
out["provider"] = list(provider_ms)  # the edited runs below are not repeats of an unchanged checkout

# One tracked file edited before every side: each run must see the edit (dirty, and the patch of exactly
# this content), and costs what change notification leaves to git (the touched path only).
edits = int(sys.argv[4]) if len(sys.argv) > 4 else 0
if edits:
    import hashlib
    from mlflow_lineage_plugin.git.patch import _DIFF

    edited = os.path.join(here, "pkg0000", "m000.py")
    original = open(edited).read()
    commit = out["first_tags"].get("mlflow.source.git.commit")
    for key in ("edit_off", "edit_on", "edit_floor", "edit_procs_on", "edit_procs_off", "edit_wrong"):
        out[key] = []
    n = 0
    for i in range(edits):
        for side in order(("floor", "on", "off"), i):
            n += 1
            with open(edited, "w") as f:
                f.write(f"x = {n}\n")
            if side == "floor":
                out["edit_floor"].append(floor())
                continue
            took, tags, procs = one_run(side == "on")
            out["edit_" + side].append(took)
            out["edit_procs_" + side].append(procs)
            if side == "on":
                want = subprocess.run(["git", *_DIFF, commit], cwd=here, capture_output=True, env=FLOOR_ENV).stdout
                if tags.get("mlflow.source.git.dirty") != "true" or tags.get("lineage_git_diff_sha256") != (
                    hashlib.sha256(want).hexdigest()
                ):
                    out["edit_wrong"].append(n)
    with open(edited, "w") as f:
        f.write(original)
print("BENCH " + json.dumps(out))
"""


MEMORY_PY = r"""
import json, os, sys, time, tracemalloc

from mlflow_lineage_plugin.git import find_repo, read_git_ref, watch


def rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


entry = sys.argv[1]
read_git_ref(entry)  # the first run in the checkout: counted, nothing set
if sys.argv[2] == "heap":
    tracemalloc.start()  # its own bookkeeping inflates resident memory: measured in another process
before = rss()
read_git_ref(entry)  # the second starts the set-up in the background
repo = find_repo(entry)
t = time.monotonic()
while not watch.status(repo)[0] and time.monotonic() - t < 120:
    time.sleep(0.005)
setup = time.monotonic() - t
read_git_ref(entry)
held, peak = tracemalloc.get_traced_memory()
active, reason, _ = watch.status(repo)
fd = watch._watches[repo].fd
kernel = sum(1 for line in open(f"/proc/self/fdinfo/{fd}") if line.startswith("inotify wd:")) if fd >= 0 else 0
print("MEM " + json.dumps({"active": active, "reason": reason, "setup_s": setup, "held": held, "peak": peak,
                           "rss": rss() - before, "watches": kernel}))
"""


def watch_memory(entry: Path) -> dict:
    """Resident memory from a process without ``tracemalloc``, the Python heap from one with it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_LINEAGE_")}
    found = {}
    for what in ("rss", "heap"):
        cmd = [sys.executable, "-c", MEMORY_PY, str(entry), what]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("MEM ")), None)
        if proc.returncode != 0 or line is None:
            sys.exit(f"watch memory measurement failed:\n{proc.stderr[-3000:]}")
        found[what] = json.loads(line[len("MEM ") :])
    return {**found["rss"], "held": found["heap"]["held"], "peak": found["heap"]["peak"]}


def compile_plugin() -> None:
    """Byte-compile the plugin as ``pip install`` does, so no side pays for compiling source."""
    import compileall

    import mlflow_lineage_plugin

    compileall.compile_dir(os.path.dirname(mlflow_lineage_plugin.__file__), quiet=1)


def measure(repo: Path, db_template: Path, mode: str, runs: int, n: int, edits: int = 0) -> dict:
    db = db_template.with_name(f"{repo.name}-{mode}-{n}.db")
    shutil.copy(db_template, db)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_LINEAGE_")}
    env.pop("MLFLOW_TRACKING_URI", None)
    env["BENCH_DIR"] = str(Path(__file__).resolve().parent)
    proc = subprocess.run(
        [sys.executable, str(repo / "train.py"), mode, str(db), str(runs), str(edits)],
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
        "repo": name,
        "files": nfiles,
        "rep_off": rep["off"],
        "rep_on": rep["on"],
        "floor": rep["floor"],
        "rep_added": added,
        "rep_ratio": ratio,
        "provider_rep": rep["provider"],
        "procs_on": rep["procs_on"],
        "procs_off": rep["procs_off"],
    }


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
                    first_on_rep = i == 0 and mode == "on"
                    edits = args.runs if first_on_rep and name == "large" else 0
                    r = measure(path, db, mode, args.runs if first_on_rep else 0, i, edits)
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
            print(f"# {name}: watches set {rep['setup_wait'] * 1000:.0f} ms after the second run; {rep['watch']}")
            if name == "large":
                edited = rep
                failures += [f"large, edited: run after edit {n} did not record the edit" for n in rep["edit_wrong"]]
            if rep["index_rewritten"]:
                print(f"# note: {name}: the index was rewritten during the repeated runs")
            row = repeated_row(name, nfiles, rep)
            firsts[name] = {
                "first_off": first_off,
                "first_on": first_on,
                "provider_first": provider_first,
                "first_added": [on - off for on, off in zip(first_on, first_off)],
                "first_floor": first_floor,
                "first_procs": first_procs,
            }
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
        memory = watch_memory(repos["large"][0] / "train.py")
        load.sample()

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
    e_added = [on - off for on, off in zip(edited["edit_on"], edited["edit_off"])]
    e_ratio = [a / fl for a, fl in zip(e_added, edited["edit_floor"])]
    e_starts = [on - off for on, off in zip(edited["edit_procs_on"], edited["edit_procs_off"])]
    print(
        f"{'edited':6} {args.files:>6} | {spread(edited['edit_off']):>17} {spread(edited['edit_on']):>17} "
        f"{spread(e_added):>17} | {spread(edited['edit_floor']):>17} {spread(e_ratio, digits=2):>18} | "
        f"{sum(edited['edit_procs_on']) / len(e_starts):>13.2f} {sum(edited['edit_procs_off']) / len(e_starts):>4.2f}"
    )
    print("('edited': the large checkout with one tracked file rewritten before every side, in the same process)")
    for r in rows:
        extra = f"first run {median(firsts[r['repo']]['provider_first']):.1f} ms, " if r["repo"] in firsts else ""
        print(
            f"{r['repo']}: time spent inside the provider's tags(): {extra}"
            f"repeated {spread(r['provider_rep'], digits=2)} ms"
        )

    print(
        f"large: watch set-up {memory['setup_s'] * 1000:.0f} ms in the background; held: Python heap "
        f"{memory['held'] / 2**20:.1f} MB (peak {memory['peak'] / 2**20:.1f} MB while parsing the index), resident "
        f"+{memory['rss'] / 2**20:.1f} MB, {memory['watches']} inotify watches (~{memory['watches'] / 1024:.1f} MB "
        f"of kernel memory); {memory['reason']}"
    )

    small, large, clone_row = rows
    lf = firsts["large"]
    starts = [on - off for on, off in zip(large["procs_on"], large["procs_off"])]
    watch_mb = max(memory["held"], memory["rss"]) / 2**20 + memory["watches"] / 1024
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
            f"large, repeated, nothing changed: added {median(large['rep_ratio']):.2f}x the floor "
            f"<= {LARGE_REPEAT_RATIO}x",
            median(large["rep_ratio"]) <= LARGE_REPEAT_RATIO,
        ),
        # Change notification answers once its watches are set: no git at all.
        (
            f"large, repeated, nothing changed: {sum(starts)} processes started in {len(starts)} runs (budget 0)",
            not any(starts),
        ),
        (
            f"large, one file edited before each run: added {median(e_ratio):.2f}x the floor <= {LARGE_EDIT_RATIO}x, "
            f"the edit seen in {len(e_starts) - len(edited['edit_wrong'])} of {len(e_starts)} runs",
            median(e_ratio) <= LARGE_EDIT_RATIO and not edited["edit_wrong"],
        ),
        (
            f"large, watch memory {watch_mb:.1f} MB (Python heap or resident growth, whichever is larger, plus "
            f"kernel) <= {WATCH_MEMORY_MB} MB",
            memory["active"] and watch_mb <= WATCH_MEMORY_MB,
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
