"""The generated git checkouts and the SQLite store template that the run-enrichment benchmarks
(``bench_start_run.py``, ``bench_tracking_store.py``) measure on, each with its own training script.

Imported by the ``bench_*.py`` scripts next to it (a script's own directory is on ``sys.path``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

GIT = ["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.com", "-c", "init.defaultBranch=main"]


def sh(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def make_repo(path: Path, files: int, train_py: str) -> str:
    """A committed checkout with ``files`` tracked files in directories of 100, plus train.py."""
    path.mkdir(parents=True)
    (path / "train.py").write_text(train_py)
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


def make_db(tmp: Path) -> Path:
    """One SQLite store with the schema applied; each measured process gets a copy."""
    db = tmp / "template.db"
    code = "import mlflow, sys; mlflow.set_tracking_uri(f'sqlite:///{sys.argv[1]}'); mlflow.set_experiment('bench')"
    subprocess.run(
        [sys.executable, "-c", code, str(db)],
        check=True,
        capture_output=True,
        env={**os.environ, "MLFLOW_LINEAGE_DISABLE": "true"},
    )
    return db
