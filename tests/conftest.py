"""Shared real parts: git repositories made with `git`, SQLite tracking stores, `mlflow server`
processes on 127.0.0.1, and throw-away databases on the machine's MariaDB and PostgreSQL.

In CI (``CI=true``) a missing service fails the test; elsewhere it skips with the reason.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ROOT = Path(__file__).resolve().parent.parent


def need(condition: bool, reason: str) -> None:
    """Skip locally, fail in CI: CI must never call a skipped dependency 'passed'."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def need_module(name: str, reason: str):
    """The module, imported; when it cannot be, skip locally and fail in CI, like a missing service
    (``pytest.importorskip`` would skip in CI too)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        need(False, f"cannot import {name} ({exc}): {reason}")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.chdir(tmp_path)  # the default artifact root is ./mlruns of the working directory
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    mlflow.set_tracking_uri(uri)
    yield uri
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None) if hasattr(mlflow, "set_tracking_uri") else None


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


class MlflowServer:
    def __init__(self, url: str, proc: subprocess.Popen, log: Path, backend: str):
        self.url = url
        self.proc = proc
        self.log = log
        self.backend = backend

    def stop(self) -> None:
        """Stop the server and every process it started: MLflow 2.x serves through gunicorn workers that
        outlive a terminated ``mlflow server``, so the server runs in a session (process group) of its own."""
        if self.proc.poll() is None:
            _signal_group(self.proc, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc, signal.SIGKILL)
                self.proc.wait(timeout=5)
        _signal_group(self.proc, signal.SIGKILL)  # whatever of the group is left

    def request_count(self) -> int:
        """Requests the server has answered so far, read from its access log."""
        return sum(
            1
            for line in self.log.read_text(errors="replace").splitlines()
            if '"GET ' in line or '"POST ' in line or '"PATCH ' in line or '"DELETE ' in line
        )


def start_mlflow_server(
    tmp: Path,
    backend: str | None = None,
    env: dict | None = None,
    plugin: bool = True,
    timeout: float = 90,
    workers: int = 1,
    port: int | None = None,
) -> MlflowServer:
    """Start `mlflow server` on 127.0.0.1. ``plugin=False`` hides the plugin's entry points from
    the server by disabling it (``MLFLOW_LINEAGE_DISABLE``), standing in for a server without it."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = port or free_port()  # a given port: the same server started again
    backend = backend or f"sqlite:///{tmp / 'server.db'}"
    log = tmp / f"server-{port}.log"
    senv = {**os.environ, **(env or {})}
    # The server's job executor spawns a dozen huey processes that these tests never use.
    senv.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    senv.pop("MLFLOW_TRACKING_URI", None)
    senv.pop("MLFLOW_REGISTRY_URI", None)
    if not plugin:
        senv["MLFLOW_LINEAGE_DISABLE"] = "true"
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        backend,
        "--artifacts-destination",
        str(tmp / "artifacts"),
        "--workers",
        str(workers),
    ]
    fh = open(log, "w")
    proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=senv, cwd=tmp, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited early:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/health", timeout=1).status_code == 200:
                return MlflowServer(url, proc, log, backend)
        time.sleep(0.3)
    _signal_group(proc, signal.SIGKILL)
    raise RuntimeError(f"mlflow server did not start in {timeout}s:\n{log.read_text()[-3000:]}")


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


def start_mlflow_servers(base: Path, names: tuple[str, ...] = ("a", "b"), timeout: float = 300) -> list[MlflowServer]:
    """Several ``mlflow server`` processes started at once (each start-up is mostly waiting on its own
    interpreter's imports); when one fails, those that started are stopped and its error is raised."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        starting = [pool.submit(start_mlflow_server, base / name, timeout=timeout) for name in names]
    started = [f.result() for f in starting if f.exception() is None]
    if len(started) < len(names):
        for server in started:
            server.stop()
        raise next(f.exception() for f in starting if f.exception() is not None)
    return started


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


@contextlib.contextmanager
def mariadb_database(prefix: str = "lineage"):
    """A throw-away database on the machine's MariaDB, as a SQLAlchemy URI; any scope can use it."""
    need(port_open("127.0.0.1", 3306), "MariaDB is not listening on 127.0.0.1:3306")
    pymysql = need_module("pymysql", "the MariaDB tests connect through PyMySQL (test extra)")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database="test")
    with conn.cursor() as c:
        c.execute(f"CREATE DATABASE {name}")
    try:
        yield f"mysql+pymysql://root:@127.0.0.1:3306/{name}"
    finally:
        with conn.cursor() as c:
            c.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.close()


@contextlib.contextmanager
def postgres_database(prefix: str = "lineage"):
    """A throw-away database on the machine's PostgreSQL, as a SQLAlchemy URI; any scope can use it."""
    need(port_open("127.0.0.1", 5432), "PostgreSQL is not listening on 127.0.0.1:5432")
    psycopg2 = need_module("psycopg2", "the PostgreSQL tests connect through psycopg2 (test extra)")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="root", dbname="test")
    conn.autocommit = True
    with conn.cursor() as c:
        c.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql+psycopg2://root@127.0.0.1:5432/{name}"
    finally:
        with conn.cursor() as c:
            c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.close()


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
