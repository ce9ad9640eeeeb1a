"""Shared real parts: git repositories made with `git`, SQLite tracking stores, and fixtures over the
`mlflow server` processes and throw-away databases of ``fixtures.mlflow_server`` and ``fixtures.services``.

In CI (``CI=true``) a missing service fails the test; elsewhere it skips with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.mlflow_server import MlflowServer, start_mlflow_server
from fixtures.services import mariadb_database, need, postgres_database
from fixtures.sqlite_store import sqlite_store

ROOT = Path(__file__).resolve().parent.parent


# --- git ---------------------------------------------------------------------------------------

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd, *args: str, check: bool = True) -> str:
    env = {**os.environ, **GIT_ENV, "HOME": str(cwd)}
    out = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always", *args],
        cwd=cwd,
        env=env,
        check=check,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


class RepoFactory:
    """Makes real repositories: ``make(name, files={path: text}, remote=url)`` → path."""

    def __init__(self, base: Path):
        self.base = base

    def make(
        self, name: str = "repo", files: dict | None = None, remote: str | None = None, branch: str = "main"
    ) -> Path:
        path = self.base / name
        path.mkdir(parents=True)
        git(path, "init", "-q", "-b", branch)
        for rel, text in (files or {"train.py": "print('hi')\n"}).items():
            f = path / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(text)
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", "initial")
        if remote:
            git(path, "remote", "add", "origin", remote)
        return path

    def commit(self, path: Path, rel: str, text: str, message: str = "change") -> str:
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", message)
        return git(path, "rev-parse", "HEAD")


@pytest.fixture
def repos(tmp_path) -> RepoFactory:
    return RepoFactory(tmp_path / "repos")


# --- MLflow stores -------------------------------------------------------------------------------


@pytest.fixture
def sqlite_uri(tmp_path, monkeypatch) -> str:
    """A fresh SQLite tracking + registry store, active for the test."""
    import mlflow

    uri = sqlite_store(tmp_path / "mlflow.db")
    monkeypatch.chdir(tmp_path)  # the default artifact root is ./mlruns of the working directory
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    mlflow.set_tracking_uri(uri)
    yield uri
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None) if hasattr(mlflow, "set_tracking_uri") else None


@pytest.fixture
def provider_for(monkeypatch):
    """Runs in this process as if started from ``entry_file``: MLflow's own provider registry holds a
    provider given that entry file (``collect(entry_file=...)``), for this test only."""
    from mlflow.tracking.context.registry import _run_context_provider_registry as registry

    from mlflow_lineage_plugin import context

    def install(entry_file: Path) -> None:
        swapped = [
            context.LineageRunContext(str(entry_file)) if isinstance(p, context.LineageRunContext) else p
            for p in registry._registry
        ]
        monkeypatch.setattr(registry, "_registry", swapped)

    return install


def run_builder(repo: Path, servers: list[MlflowServer], env: dict | None = None) -> dict:
    """Run ``repo/build.py SERVER_URL... OUT`` as a user's training process would (the plugin active, no
    tracking URI from this test's environment) and return the JSON it wrote; when it fails, stop the
    servers and fail with its output."""
    import json

    out = repo.parent / "out.json"
    clean = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    p = subprocess.run(
        [sys.executable, str(repo / "build.py"), *(s.url for s in servers), str(out)],
        cwd=repo,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if p.returncode != 0:
        for s in servers:
            s.stop()
        pytest.fail(f"builder failed:\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}")
    return json.loads(out.read_text())


@pytest.fixture
def mlflow_server_factory(tmp_path):
    servers: list[MlflowServer] = []

    def make(name: str = "server", **kw) -> MlflowServer:
        s = start_mlflow_server(tmp_path / name, **kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()


# --- MariaDB and PostgreSQL ----------------------------------------------------------------------


@pytest.fixture
def mariadb_uri():
    with mariadb_database() as uri:
        yield uri


@pytest.fixture
def postgres_uri():
    with postgres_database() as uri:
        yield uri


@pytest.fixture
def git_available() -> None:
    need(shutil.which("git") is not None, "git is not on PATH")


def _drop_lineage_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow_lineage_plugin.config import ENV_PREFIX

    for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)


@pytest.fixture(autouse=True, scope="session")
def _no_lineage_settings_from_the_shell():
    """The shell's ``MLFLOW_LINEAGE_*`` are gone before the first fixture: a store a module builds once (its
    fixture runs before any test's own) is built as a test would build it, not refused by a shell's
    ``MLFLOW_LINEAGE_REQUIRE`` nor left bare by its ``MLFLOW_LINEAGE_DISABLE``."""
    with pytest.MonkeyPatch.context() as mp:
        _drop_lineage_settings(mp)
        yield


@pytest.fixture(autouse=True)
def _no_lineage_settings(monkeypatch):
    """Every test starts without the plugin's settings (``MLFLOW_LINEAGE_*``): a test sets the ones it is
    about, and none leaks into the next."""
    _drop_lineage_settings(monkeypatch)


_MLFLOW_ENV = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_EXPERIMENT_NAME",
    "DATABRICKS_RUNTIME_VERSION",
    "DATABRICKS_HOST",
    "DATABRICKS_TOKEN",
    "DATABRICKS_CONFIG_PROFILE",
)


@pytest.fixture(autouse=True, scope="module")
def _mlflow_state_per_module():
    """Each test module starts with the MLflow URIs it found: ``mlflow.set_registry_uri`` writes
    ``MLFLOW_REGISTRY_URI`` straight into ``os.environ``, which monkeypatch cannot undo, and a
    leftover ``databricks-uc`` would send later modules' subprocesses to Unity Catalog."""
    import mlflow.tracking._model_registry.utils as reg
    import mlflow.tracking._tracking_service.utils as trk
    import mlflow.tracking.fluent as fluent

    env = {k: os.environ.get(k) for k in _MLFLOW_ENV}
    uris = (trk._tracking_uri, reg._registry_uri)
    yield
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    trk._tracking_uri, reg._registry_uri = uris
    fluent._active_experiment_id = None


# MLflow's defaults when no tracking URI reaches it: a test that leaves one of these in the checkout let
# MLflow fall back to the working directory (the repository root) instead of the test's own store.
MLFLOW_DEFAULT_FILES = ("mlflow.db", "mlruns", "mlartifacts")
_STRAY_AT_START = pytest.StashKey[set]()


def _stray_default_store() -> set[str]:
    return {name for name in MLFLOW_DEFAULT_FILES if (ROOT / name).exists()}


@pytest.fixture(autouse=True)
def _no_mlflow_default_store_in_the_checkout():
    """Names the test that left MLflow's default store, where it can: in one process. Under xdist another
    worker's test may be the one that wrote it, so there the session's end judges instead (below)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    before = _stray_default_store()
    yield
    stray = sorted(_stray_default_store() - before)
    assert not stray, f"the test left {stray} in {ROOT}: MLflow used its default store in the working directory"


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_STRAY_AT_START] = _stray_default_store()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller judges the whole run
        return
    stray = sorted(_stray_default_store() - session.config.stash.get(_STRAY_AT_START, set()))
    if stray:
        sys.stderr.write(
            f"\nFAILED: the test run left {stray} in {ROOT}: a test let MLflow use its default store in the "
            "working directory (run the files one at a time without -n to see which)\n"
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow modules (fresh virtual environments) first: split over workers (``make test`` runs
    pytest-xdist, a file per work unit, in this order), the longest file must start at once, not be
    left for last."""
    items.sort(key=lambda item: 0 if item.get_closest_marker("slow") else 1)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A browser test skipped for want of a browser is reported at its module, not at its own line, so
    ``-ra`` folds them into one line at the end ("SKIPPED [10] tests/test_ui.py: chromium is not
    installed (...)") instead of one line per test."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and item.get_closest_marker("browser") and isinstance(report.longrepr, tuple):
        report.longrepr = (str(item.path), None, report.longrepr[2])
