"""What git's own FSMonitor is worth to the plugin's dirty check on a large checkout: ``git status
--porcelain --untracked-files=no`` as the plugin runs it (``GIT_OPTIONAL_LOCKS=0``: it never writes the
index), and as a user's own ``git status`` runs it (index written), without and with ``core.fsmonitor``
set to git's Watchman hook (``fsmonitor-watchman.sample``, hook version 2). git 2.39's built-in daemon
(``core.fsmonitor=true``) exists on macOS and Windows only; the script says so and measures the hook.

Sides alternated in every order in turn; median (p10-p90) in ms; nothing is budgeted (the plugin's own
change notification is measured by ``bench_start_run.py``). Needs ``watchman`` and ``perl`` on PATH.

    .venv/bin/python benchmarks/bench_fsmonitor.py [--files 50000] [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from checkouts import make_repo, sh
from spread import Load, order, spread

STATUS = ["status", "--porcelain", "--untracked-files=no"]


def timed(repo: Path, config: list[str], quiet: bool) -> float:
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"} if quiet else dict(os.environ)
    t = time.perf_counter()
    subprocess.run(["git", *config, *STATUS], cwd=repo, env=env, capture_output=True, check=True)
    return (time.perf_counter() - t) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"# Python {platform.python_version()}, {git_version}, {os.cpu_count()} CPUs")
    load = Load()
    print(load.start_line())
    builtin = subprocess.run(["git", "fsmonitor--daemon", "status"], capture_output=True, text=True)
    if "not supported" in builtin.stderr:
        print(f"# git's built-in FSMonitor daemon: {builtin.stderr.strip()}")
    if not (shutil.which("watchman") and shutil.which("perl")):
        print("# watchman or perl not on PATH: the hook cannot be measured")
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-fsmonitor-") as tmp:
        repo = Path(tmp) / "large"
        make_repo(repo, args.files, "print('train')\n")
        hook = repo / ".git" / "hooks" / "fsmonitor-watchman"
        shutil.copy(repo / ".git" / "hooks" / "fsmonitor-watchman.sample", hook)
        hook.chmod(0o755)
        fsmonitor = ["-c", f"core.fsmonitor={hook}", "-c", "core.fsmonitorHookVersion=2"]
        sh(repo, *fsmonitor, "status", "--porcelain")  # starts watchman on the checkout, writes its token
        time.sleep(2.1)
        sides = {
            "plugin's status, no fsmonitor": ([], True),
            "plugin's status, watchman hook": (fsmonitor, True),
            "user's status, watchman hook": (fsmonitor, False),
        }
        times: dict[str, list[float]] = {k: [] for k in sides}
        for i in range(args.runs):
            for side in order(list(sides), i):
                config, quiet = sides[side]
                times[side].append(timed(repo, config, quiet))
        load.sample()
        subprocess.run(["watchman", "watch-del", str(repo)], capture_output=True)
    print(f"\ngit status -uno on {args.files} files, {args.runs} runs per side, ms median (p10-p90):")
    for side, xs in times.items():
        print(f"  {side:32} {spread(xs):>20}")
    print(
        "('plugin's' runs with GIT_OPTIONAL_LOCKS=0 as the plugin does: it never writes the index, so the\n"
        " fsmonitor token in the index is never advanced by it; a user's own git status writes it)"
    )
    for line in load.end_lines():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
