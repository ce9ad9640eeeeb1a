"""What keeping a dirty run's uncommitted changes costs, and what ``mlflow-lineage checkout`` costs (issue 11).

Three comparisons, each alternating its sides within one loop so load drifts hit both alike:

- dirty: on a 50,000-file checkout with 10 changed files, the plugin's capture (``uncommitted.prepare``:
  the exclude check and the patch) plus its upload to a local artifact store (``uncommitted._upload``)
  against the floor, ``git diff HEAD --binary`` plus writing its output to a local artifact directory.
  Budget: median of per-iteration ratios <= 1.3.
- clean: the provider's ``tags()`` on a clean checkout with the capture step against the same call with
  the capture step replaced by nothing. Budget: median of paired differences <= 0.2 ms, and no process
  started by the capture step.
- checkout: ``checkout("models:/bench/1", DIR, repo=CLONE)`` against ``git worktree add`` + ``git apply
  --index`` of the same patch on the same 50,000-file clone. Budget: ratio of medians <= 1.5.

    .venv/bin/python benchmarks/bench_patch.py [--files 50000] [--iterations 15] [--checkouts 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DIRTY_RATIO = 1.3
CLEAN_BUDGET_MS = 0.2
CHECKOUT_RATIO = 1.5
GIT = ["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.com", "-c", "init.defaultBranch=main"]


def sh(cwd: Path, *args: str, stdout=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    return subprocess.run([*GIT, *args], cwd=cwd, check=True, stdout=stdout, stderr=subprocess.PIPE)


def make_repo(path: Path, files: int) -> Path:
    path.mkdir(parents=True)
    sh(path, "init", "-q")
    for i in range(files):
        d = path / f"pkg{i % 100:02d}"
        d.mkdir(exist_ok=True)
        (d / f"mod{i}.py").write_text(f"VALUE = {i}\n" * 5)
    (path / "train.py").write_text("print('train')\n")
    sh(path, "add", "-A")
    sh(path, "commit", "-q", "-m", "initial")
    return path


def dirty(path: Path, n: int = 10) -> None:
    for i in range(n):
        f = path / f"pkg{i % 100:02d}" / f"mod{i}.py"
        f.write_text(f.read_text() + f"CHANGED = {i}\n")


def stats(values: list[float]) -> str:
    q = statistics.quantiles(values, n=10, method="inclusive") if len(values) > 1 else values * 9
    return f"median {statistics.median(values):9.3f}  p10 {q[0]:9.3f}  p90 {q[-1]:9.3f}"


def bench_dirty(repo: Path, commit: str, iterations: int, tmp: Path) -> float:
    from mlflow_lineage_plugin import tags as T
    from mlflow_lineage_plugin import uncommitted

    ref = T.GitRef(commit=commit, dirty=True)
    floor_ms, capture_ms, ratios = [], [], []
    for i in range(iterations):
        out = tmp / f"floor-{i}"
        out.mkdir()
        art = tmp / f"art-{i}"
        sides = ["floor", "capture"] if i % 2 == 0 else ["capture", "floor"]
        took = {}
        for side in sides:
            t = time.perf_counter()
            if side == "floor":
                patch = subprocess.run(
                    ["git", "diff", "HEAD", "--binary"], cwd=repo, check=True, capture_output=True
                ).stdout
                (out / "uncommitted.patch").write_bytes(patch)
            else:
                tags = uncommitted.prepare(ref, str(repo / "train.py"))
                pending = uncommitted.take()
                assert tags[T.GIT_DIFF] == "captured" and pending is not None, tags
                problem = uncommitted._upload(pending.patch, str(art), None, 30.0)
                assert problem is None, problem
            took[side] = (time.perf_counter() - t) * 1000
        floor_ms.append(took["floor"])
        capture_ms.append(took["capture"])
        ratios.append(took["capture"] / took["floor"])
    print(f"dirty   floor  (ms) {stats(floor_ms)}")
    print(f"dirty   plugin (ms) {stats(capture_ms)}")
    ratio = statistics.median(ratios)
    print(f"dirty   ratio plugin/floor: median {ratio:.2f} (budget <= {DIRTY_RATIO})")
    return ratio


def bench_clean(repo: Path, iterations: int) -> tuple[float, int]:
    from mlflow_lineage_plugin import context, uncommitted
    from mlflow_lineage_plugin.git import process

    provider = context._Provider(str(repo / "train.py"))
    real = uncommitted.prepare
    spawned = []
    real_spawn = process.spawn

    def counting_prepare(*a, **kw):
        def spawn(*sa, **skw):
            spawned.append(sa)
            return real_spawn(*sa, **skw)

        process.spawn = spawn
        try:
            return real(*a, **kw)
        finally:
            process.spawn = real_spawn

    with_ms, without_ms, diffs = [], [], []
    provider.tags()  # warm the git caches
    for i in range(iterations):
        took = {}
        for side in ["with", "without"] if i % 2 == 0 else ["without", "with"]:
            uncommitted.prepare = counting_prepare if side == "with" else (lambda *a, **kw: {})
            t = time.perf_counter()
            tags = provider.tags()
            took[side] = (time.perf_counter() - t) * 1000
            assert tags.get("mlflow.source.git.dirty") == "false", tags
        uncommitted.prepare = real
        with_ms.append(took["with"])
        without_ms.append(took["without"])
        diffs.append(took["with"] - took["without"])
    print(f"clean   tags() without capture step (ms) {stats(without_ms)}")
    print(f"clean   tags() with capture step    (ms) {stats(with_ms)}")
    added = statistics.median(diffs)
    print(
        f"clean   added: median {added:.4f} ms (budget <= {CLEAN_BUDGET_MS}); processes started by the capture "
        f"step: {len(spawned)}"
    )
    return added, len(spawned)


def bench_checkout(repo: Path, commit: str, runs: int, tmp: Path) -> float:
    import mlflow
    from mlflow import MlflowClient

    from mlflow_lineage_plugin import context
    from mlflow_lineage_plugin.checkout import checkout

    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow.db'}")
    os.chdir(tmp)
    from mlflow.tracking.context.registry import _run_context_provider_registry as registry

    registry._registry = [
        context.LineageRunContext(str(repo / "train.py")) if isinstance(p, context.LineageRunContext) else p
        for p in registry._registry
    ]
    with mlflow.start_run() as run:
        pass
    assert mlflow.get_run(run.info.run_id).data.tags.get("lineage_git_diff") == "captured"
    client = MlflowClient()
    client.create_registered_model("bench")
    client.create_model_version("bench", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    patch = tmp / "same.patch"
    patch.write_bytes(
        subprocess.run(["git", "diff", "HEAD", "--binary"], cwd=repo, check=True, capture_output=True).stdout
    )
    floor_ms, ours_ms = [], []
    for i in range(runs):
        for side in ["floor", "checkout"] if i % 2 == 0 else ["checkout", "floor"]:
            target = tmp / f"co-{side}-{i}"
            t = time.perf_counter()
            if side == "floor":
                sh(repo, "worktree", "add", "-q", "--detach", str(target), commit)
                sh(target, "apply", "--index", str(patch))
                floor_ms.append((time.perf_counter() - t) * 1000)
                sh(repo, "worktree", "remove", "--force", str(target))
            else:
                restored = checkout("models:/bench/1", str(target), repo=str(repo))
                ours_ms.append((time.perf_counter() - t) * 1000)
                assert restored.exact, restored.reason
                shutil.rmtree(target)
    print(f"checkout worktree add + git apply (ms) {stats(floor_ms)}")
    print(f"checkout mlflow-lineage checkout  (ms) {stats(ours_ms)}")
    ratio = statistics.median(ours_ms) / statistics.median(floor_ms)
    print(f"checkout ratio: {ratio:.2f} (budget <= {CHECKOUT_RATIO})")
    return ratio


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=50000)
    ap.add_argument("--iterations", type=int, default=15)
    ap.add_argument("--checkouts", type=int, default=5)
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="bench-patch-") as raw:
        tmp = Path(raw)
        small = make_repo(tmp / "small", 20)
        added, spawned = bench_clean(small, max(args.iterations * 20, 200))
        repo = make_repo(tmp / "large", args.files)
        commit = sh(repo, "rev-parse", "HEAD", stdout=subprocess.PIPE).stdout.decode().strip()
        dirty(repo)
        sh(repo, "status", "-s")  # a settled index, as after the user's own git use
        dirty_ratio = bench_dirty(repo, commit, args.iterations, tmp)
        checkout_ratio = bench_checkout(repo, commit, args.checkouts, tmp)
    print(f"load average at end: {os.getloadavg()}")
    missed = []
    if dirty_ratio > DIRTY_RATIO:
        missed.append(f"dirty capture {dirty_ratio:.2f}x > {DIRTY_RATIO}x")
    if added > CLEAN_BUDGET_MS or spawned:
        missed.append(f"clean: {added:.4f} ms > {CLEAN_BUDGET_MS} ms or {spawned} processes")
    if checkout_ratio > CHECKOUT_RATIO:
        missed.append(f"checkout {checkout_ratio:.2f}x > {CHECKOUT_RATIO}x")
    print("budgets missed: " + "; ".join(missed) if missed else "all budgets met")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
