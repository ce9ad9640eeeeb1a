"""Resolving a whole registered model: 1,000 versions whose runs are spread over 50 experiments, on a
local ``mlflow server``. Counts the HTTP requests the server answered (its access log) and the time,
for the resolver and for a naive walk (``get_model_version``, ``get_run``, ``get_experiment`` per
version) in the same run; reports medians.

Budget: at most 0.2 requests per version and at least 5x faster than the naive walk; exits 1 when
over budget.

    .venv/bin/python benchmarks/bench_resolve.py [--versions 1000] [--experiments 50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

MAX_REQUESTS_PER_VERSION = 0.2
MIN_SPEEDUP = 5.0
MODEL = "bench-model"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_store(db_uri: str, artifacts: Path, server_url: str, n_versions: int, n_experiments: int) -> None:
    """Write the data straight into the server's database before it starts, in one transaction per
    store, through MLflow's own SQLAlchemy models: thousands of REST calls would take longer than the
    benchmark itself. Tags are exactly what the plugin writes on runs and versions (``tags.py``)."""
    import uuid

    from mlflow.store.model_registry.dbmodels.models import SqlModelVersion, SqlModelVersionTag
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
    from mlflow.store.tracking.dbmodels.models import SqlRun, SqlTag
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore

    from mlflow_lineage_plugin import tags as T

    tracking = TrackingStore(db_uri, artifacts.as_uri())
    registry = RegistryStore(db_uri)
    exps = [tracking.create_experiment(f"bench-{i:02d}") for i in range(n_experiments)]
    registry.create_registered_model(MODEL)
    repo = "https://github.com/acme/bench"
    now = int(time.time() * 1000)
    versions = []
    with tracking.ManagedSessionMaker() as session:
        for i in range(n_versions):
            rid, exp = uuid.uuid4().hex, exps[i % n_experiments]
            git = T.GitRef(commit=f"{i:040x}", branch="main", repo_url=repo, dirty=False, path="train.py")
            run_tags = T.run_tags(git, T.Workspace(uri=server_url))
            run_tags.update({T.MLFLOW_SOURCE_NAME: "train.py", T.MLFLOW_SOURCE_TYPE: "LOCAL",
                             T.MLFLOW_USER: "bench", T.MLFLOW_RUN_NAME: f"run-{i}"})
            session.add(SqlRun(run_uuid=rid, name=f"run-{i}", experiment_id=int(exp), user_id="bench",
                               status="FINISHED", start_time=now, end_time=now, lifecycle_stage="active",
                               artifact_uri=f"{artifacts.as_uri()}/{exp}/{rid}/artifacts", source_type="LOCAL",
                               source_name="train.py", source_version="", entry_point_name=""))
            session.add_all(SqlTag(run_uuid=rid, key=k, value=v) for k, v in run_tags.items())
            src = T.SourceRun(run_id=rid, experiment_id=exp, workspace_uri=server_url, git=git)
            versions.append((i + 1, rid, T.version_tags(src)))
    with registry.ManagedSessionMaker() as session:
        for number, rid, vtags in versions:
            session.add(SqlModelVersion(name=MODEL, version=number, creation_time=now, last_updated_time=now,
                                        source=f"runs:/{rid}/model", run_id=rid, status="READY",
                                        current_stage="None", user_id="bench"))
            session.add_all(SqlModelVersionTag(name=MODEL, version=number, key=k, value=v) for k, v in vtags.items())
    tracking.engine.dispose()
    registry.engine.dispose()


class Server:
    def __init__(self, base: Path, db_uri: str, port: int):
        self.url = f"http://127.0.0.1:{port}"
        self.log = base / "server.log"
        cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
               "--backend-store-uri", db_uri, "--artifacts-destination", str(base / "artifacts"), "--workers", "1"]
        env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "w"), stderr=subprocess.STDOUT, env=env, cwd=base)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"mlflow server exited:\n{self.log.read_text()[-2000:]}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.3)
        self.stop()
        raise SystemExit("mlflow server did not start in 300 s")

    def requests(self) -> int:
        text = self.log.read_text(errors="replace")
        return sum(text.count(f'"{m} ') for m in ("GET", "POST", "PATCH", "DELETE"))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def naive_walk(url: str) -> int:
    """What a script without the resolver does: three look-ups per version, one after the other."""
    from mlflow import MlflowClient

    c = MlflowClient(tracking_uri=url, registry_uri=url)
    found = 0
    for listed in c.search_model_versions(f"name = '{MODEL}'", max_results=10000):
        mv = c.get_model_version(MODEL, listed.version)
        run = c.get_run(mv.run_id)
        c.get_experiment(run.info.experiment_id)
        found += bool(run.data.tags.get("mlflow.source.git.commit"))
    return found


def resolver_walk(url: str) -> int:
    from mlflow_lineage_plugin.resolve import resolve

    g = resolve(f"models:/{MODEL}", tracking_uri=url, registry_uri=url, timeout=120)
    errors = [f for f in g.findings if f.severity == "error"]
    if errors:
        raise SystemExit(f"resolver reported errors: {errors[:3]}")
    return len(g.of_kind("git_commit"))


def measure(server: Server, fn, repeat: int) -> tuple[float, int, int]:
    times, reqs, result = [], [], 0
    for _ in range(repeat):
        before = server.requests()
        t0 = time.perf_counter()
        result = fn(server.url)
        times.append(time.perf_counter() - t0)
        time.sleep(0.5)  # let the access log catch up
        reqs.append(server.requests() - before)
    return statistics.median(times), int(statistics.median(reqs)), result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--versions", type=int, default=1000)
    ap.add_argument("--experiments", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    # tmpfs when there is one: the benchmark is about requests and the walk, not about fsync
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(dir=shm) as tmp:
        base = Path(tmp)
        db_uri = f"sqlite:///{base / 'mlflow.db'}"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        t0 = time.perf_counter()
        build_store(db_uri, base / "artifacts", url, args.versions, args.experiments)
        print(f"built {args.versions} versions over {args.experiments} experiments in {time.perf_counter() - t0:.1f} s")
        server = Server(base, db_uri, port)
        try:
            # warm both paths once (imports, server caches), unmeasured
            resolver_walk(url)
            r_time, r_reqs, r_found = measure(server, resolver_walk, args.repeat)
            n_time, n_reqs, n_found = measure(server, naive_walk, args.repeat)
        finally:
            server.stop()

    if r_found != args.versions or n_found != args.versions:
        print(f"wrong answer: resolver found {r_found} commits, naive {n_found}, expected {args.versions}")
        return 1
    per_version = r_reqs / args.versions
    speedup = n_time / r_time
    print(f"{'walk':<10} {'median s':>9} {'requests':>9} {'req/version':>12}")
    print(f"{'naive':<10} {n_time:>9.2f} {n_reqs:>9} {n_reqs / args.versions:>12.3f}")
    print(f"{'resolver':<10} {r_time:>9.2f} {r_reqs:>9} {per_version:>12.3f}")
    print(f"speed-up {speedup:.1f}x (budget >= {MIN_SPEEDUP:g}x); "
          f"{per_version:.3f} requests per version (budget <= {MAX_REQUESTS_PER_VERSION:g}); "
          f"medians of {args.repeat}")
    over = per_version > MAX_REQUESTS_PER_VERSION or speedup < MIN_SPEEDUP
    if over:
        print("OVER BUDGET")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
