"""Resolving a whole registered model: 1,000 versions whose runs are spread over 50 experiments, on a
local ``mlflow server``. Counts the HTTP requests the server answered (its access log) and the time,
for the resolver and for a naive walk (``get_model_version``, ``get_run``, ``get_experiment`` per
version) in the same run: both warmed up once, unmeasured, then alternated repeat by repeat. Every
walk must find all the versions' commits. Prints median (p10-p90) per walk, the speed-up of medians
and of each repeat's pair, and the load at start and end.

Budget: at most 0.2 requests per version (the resolver's batched look-ups: lose them and it is one
request or more per version) and at least 5x faster than the naive walk; exits 1 when over budget or
when a walk finds the wrong number of commits.

    .venv/bin/python benchmarks/bench_resolve.py [--versions 1000] [--experiments 50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from spread import Load, median, order, spread

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.mlflow_server import MlflowServer, start_mlflow_server  # noqa: E402
from fixtures.services import free_port  # noqa: E402

MAX_REQUESTS_PER_VERSION = 0.2
MIN_SPEEDUP = 5.0
MODEL = "bench-model"


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
            run_tags.update(
                {
                    T.MLFLOW_SOURCE_NAME: "train.py",
                    T.MLFLOW_SOURCE_TYPE: "LOCAL",
                    T.MLFLOW_USER: "bench",
                    T.MLFLOW_RUN_NAME: f"run-{i}",
                }
            )
            session.add(
                SqlRun(
                    run_uuid=rid,
                    name=f"run-{i}",
                    experiment_id=int(exp),
                    user_id="bench",
                    status="FINISHED",
                    start_time=now,
                    end_time=now,
                    lifecycle_stage="active",
                    artifact_uri=f"{artifacts.as_uri()}/{exp}/{rid}/artifacts",
                    source_type="LOCAL",
                    source_name="train.py",
                    source_version="",
                    entry_point_name="",
                )
            )
            session.add_all(SqlTag(run_uuid=rid, key=k, value=v) for k, v in run_tags.items())
            src = T.SourceRun(run_id=rid, experiment_id=exp, workspace_uri=server_url, git=git)
            versions.append((i + 1, rid, T.version_tags(src)))
    with registry.ManagedSessionMaker() as session:
        for number, rid, vtags in versions:
            session.add(
                SqlModelVersion(
                    name=MODEL,
                    version=number,
                    creation_time=now,
                    last_updated_time=now,
                    source=f"runs:/{rid}/model",
                    run_id=rid,
                    status="READY",
                    current_stage="None",
                    user_id="bench",
                )
            )
            session.add_all(SqlModelVersionTag(name=MODEL, version=number, key=k, value=v) for k, v in vtags.items())
    tracking.engine.dispose()
    registry.engine.dispose()


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


def measure(server: MlflowServer, walks: dict, repeat: int, load: Load) -> tuple[dict, dict, dict]:
    """Each walk once per repeat, their order alternating; seconds, requests and answer of every call."""
    times: dict[str, list[float]] = {k: [] for k in walks}
    reqs: dict[str, list[int]] = {k: [] for k in walks}
    found: dict[str, list[int]] = {k: [] for k in walks}
    for i in range(repeat):
        for name in order(list(walks), i):
            time.sleep(0.5)  # the previous walk's requests are all in the access log
            before = server.request_count()
            t0 = time.perf_counter()
            found[name].append(walks[name](server.url))
            times[name].append(time.perf_counter() - t0)
            time.sleep(0.5)  # let the access log catch up
            reqs[name].append(server.request_count() - before)
            load.sample()
    return times, reqs, found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--versions", type=int, default=1000)
    ap.add_argument("--experiments", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    load = Load()
    print(load.start_line())

    walks = {"naive": naive_walk, "resolver": resolver_walk}
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
        try:  # the port chosen before the store is built: the tags name the server's URL
            server = start_mlflow_server(base, backend=db_uri, port=port, timeout=300)
        except RuntimeError as exc:
            raise SystemExit(str(exc)) from None
        try:
            for walk in walks.values():  # warm both paths once (imports, server caches), unmeasured
                walk(url)
            times, reqs, found = measure(server, walks, args.repeat, load)
        finally:
            server.stop()

    wrong = {k: v for k, v in found.items() if any(n != args.versions for n in v)}
    r_reqs = median(reqs["resolver"])
    per_version = r_reqs / args.versions
    speedup = median(times["naive"]) / median(times["resolver"])
    paired = [n / r for n, r in zip(times["naive"], times["resolver"])]
    print(f"{'walk':<10} {'seconds: median (p10-p90)':>26} {'requests':>9} {'req/version':>12}")
    for name in walks:
        print(
            f"{name:<10} {spread(times[name], digits=2):>26} {median(reqs[name]):>9.0f} "
            f"{median(reqs[name]) / args.versions:>12.3f}"
        )
    print(
        f"speed-up {speedup:.1f}x of medians, {spread(paired)} per repeat (budget >= {MIN_SPEEDUP:g}x); "
        f"{per_version:.3f} requests per version (budget <= {MAX_REQUESTS_PER_VERSION:g}); "
        f"{args.repeat} repeats, alternated"
    )
    for line in load.end_lines():
        print(line)
    over = per_version > MAX_REQUESTS_PER_VERSION or speedup < MIN_SPEEDUP
    if over:
        print("OVER BUDGET")
    for name, counts in wrong.items():
        print(f"FAIL wrong answer: the {name} walk found {counts} commits, expected {args.versions} every time")
    return 1 if over or wrong else 0


if __name__ == "__main__":
    sys.exit(main())
