"""What ``mlflow-lineage diff``'s code section costs against git doing the same work by hand (issue 25).

Two versions of a generated checkout (50,000 files by default): 200 files changed across four commits between
them, and version 2's run made from a dirty tree with 50 more files changed (its patch kept). Both versions are
resolved once (the walk is not what is measured); then, alternating the order of the sides every iteration:

- floor: ``git diff --stat c1 c2`` + ``git diff c1 c2`` + for the dirty side ``git read-tree`` of its commit
  into a temporary index and ``git apply --cached`` of its patch (the least git needs to know the same);
- diff: the code section of ``diff`` (both exact trees on private indexes, the stat, the commits between,
  ``--patch``) rendered as text to /dev/null.

Budget: ratio of medians <= 1.5; peak memory of the process <= 300 MB.

    .venv/bin/python benchmarks/bench_diff.py [--files 50000] [--iterations 9]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from checkouts import make_repo, sh
from spread import Load, median, order, spread

RATIO = 1.5
PEAK_MB = 300
CHANGED, DIRTY = 200, 50


def edit(repo: Path, first: int, n: int, tag: str) -> None:
    for i in range(first, first + n):
        f = repo / f"pkg{i // 100:04d}" / f"m{i % 100:03d}.py"
        f.write_text(f.read_text() + f"{tag} = {i}\n")


def build(tmp: Path, files: int) -> tuple[Path, str, str, bytes]:
    """The checkout, two versions registered from it, and what the floor needs (the commits, the patch)."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.tracking.context.registry import _run_context_provider_registry as registry

    from mlflow_lineage_plugin import context

    repo = tmp / "repo"
    c1 = make_repo(repo, files, "print('train')\n")
    registry._registry = [
        context.LineageRunContext(str(repo / "train.py")) if isinstance(p, context.LineageRunContext) else p
        for p in registry._registry
    ]
    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow.db'}")
    os.chdir(tmp)
    client = MlflowClient()
    client.create_registered_model("bench")

    def version() -> str:
        with mlflow.start_run() as run:
            mlflow.log_text("flavors: {python_function: {python_version: 3.11.7}}\n", "model/MLmodel")
            mlflow.log_text("numpy\n", "model/requirements.txt")
        client.create_model_version("bench", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
        return run.info.run_id

    version()
    for k in range(4):
        edit(repo, k * CHANGED // 4, CHANGED // 4, f"STEP{k}")
        sh(repo, "commit", "-q", "-am", f"step {k}")
    c2 = sh(repo, "rev-parse", "HEAD")
    edit(repo, files // 2, DIRTY, "DIRTY")
    run_id = version()
    assert mlflow.get_run(run_id).data.tags.get("lineage_git_diff") == "captured"
    patch = subprocess.run(["git", "diff", "HEAD", "--binary"], cwd=repo, check=True, capture_output=True).stdout
    return repo, c1, c2, patch


def floor(repo: Path, c1: str, c2: str, patch: bytes, tmp: Path) -> None:
    out = subprocess.DEVNULL
    subprocess.run(["git", "diff", "--stat", c1, c2], cwd=repo, check=True, stdout=out)
    subprocess.run(["git", "diff", c1, c2], cwd=repo, check=True, stdout=out)
    env = {**os.environ, "GIT_INDEX_FILE": str(tmp / "floor-index")}
    subprocess.run(["git", "read-tree", c2], cwd=repo, env=env, check=True)
    subprocess.run(["git", "apply", "--cached", "-"], cwd=repo, env=env, input=patch, check=True)
    os.remove(tmp / "floor-index")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=50000)
    ap.add_argument("--iterations", type=int, default=9)
    args = ap.parse_args()
    load = Load()
    print(load.start_line())
    from mlflow_lineage_plugin.resolve.diff import Diff
    from mlflow_lineage_plugin.resolve.diff import load as load_side
    from mlflow_lineage_plugin.resolve.diff.render import text
    from mlflow_lineage_plugin.resolve.diff.trees import code_section
    from mlflow_lineage_plugin.resolve.endpoints import Clients
    from mlflow_lineage_plugin.resolve.target import parse_target

    with tempfile.TemporaryDirectory(prefix="bench-diff-") as raw:
        tmp = Path(raw)
        t = time.perf_counter()
        repo, c1, c2, patch = build(tmp, args.files)
        print(
            f"# built {args.files} files, {CHANGED} changed over 4 commits, {DIRTY} in the kept patch "
            f"({time.perf_counter() - t:.0f} s)"
        )
        clients = Clients(None, None, None)
        a, b = (load_side(parse_target(f"models:/bench/{v}"), clients) for v in (1, 2))
        times: dict[str, list[float]] = {"floor": [], "diff": []}
        for i in range(args.iterations):
            for side in order(["floor", "diff"], i):
                t = time.perf_counter()
                if side == "floor":
                    floor(repo, c1, c2, patch, tmp)
                else:
                    code = code_section(a, b, repo=str(repo), patch=True)
                    with open(os.devnull, "w") as null:
                        null.write(text(Diff(a.side, b.side, (code,))))
                    assert code.known == "exact" and len(code.files) == CHANGED + DIRTY, (code.known, len(code.files))
                times[side].append(time.perf_counter() - t)
            load.sample()
        ratio = median(times["diff"]) / median(times["floor"])
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"floor  git diff --stat + git diff + read-tree/apply --cached (ms) {spread(times['floor'], 1000)}")
        print(f"diff   code section + --patch, text to /dev/null          (ms) {spread(times['diff'], 1000)}")
        print(f"ratio of medians {ratio:.2f} (budget <= {RATIO})")
        print(f"peak memory of this process {own:.0f} MB, MLflow imported (budget <= {PEAK_MB})")
        for line in load.end_lines():
            print(line)
    return 0 if ratio <= RATIO and own <= PEAK_MB else 1


if __name__ == "__main__":
    sys.exit(main())
