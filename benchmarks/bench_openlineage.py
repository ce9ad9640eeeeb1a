"""Datasets and OpenLineage at scale: a registered model with 1,000 versions (runs over 50 experiments),
once without datasets and once with 2 logged datasets per run, each on its own local ``mlflow server``.

Three sides, alternated within every repeat: resolving the model without datasets (the baseline),
resolving it with datasets, and building + sending the OpenLineage events of every run to an HTTP
receiver on 127.0.0.1 (the client's http transport). MLflow requests are counted in the servers'
access logs, POSTs by the receiver. Prints median and p10/p90 time per side, ratios against the
baseline, requests per version, and the load average at the start and the end.

Budgets (exit 1 when one is missed): resolving with datasets <= 0.07 requests per version; events:
<= 0.1 MLflow reads per version plus exactly one POST per event.

    .venv/bin/python benchmarks/bench_openlineage.py [--versions 1000] [--experiments 50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_resolve import MODEL, Server, build_store, free_port  # noqa: E402

MAX_RESOLVE_REQUESTS_PER_VERSION = 0.07
MAX_EVENT_READS_PER_VERSION = 0.1


def add_datasets(db_uri: str, per_run: int) -> None:
    """Two ``mlflow.log_input`` datasets per run, as MLflow's SQL store records them: a CSV by path
    (context training) and a Delta table (context eval), each with a schema."""
    from mlflow.store.tracking.dbmodels.models import SqlDataset, SqlInput, SqlInputTag, SqlRun
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore

    store = TrackingStore(db_uri, "file:///tmp/unused")
    schema = json.dumps(
        {
            "mlflow_colspec": [
                {"type": "double", "name": "tenure", "required": True},
                {"type": "long", "name": "churned", "required": True},
            ]
        }
    )
    kinds = [
        ("local", lambda i: {"uri": f"/data/churn/train-{i}.csv"}, "training"),
        ("delta_table", lambda i: {"delta_table_name": "main.sales.churn", "delta_table_version": i}, "eval"),
    ]
    with store.ManagedSessionMaker() as session:
        runs = session.query(SqlRun.run_uuid, SqlRun.experiment_id).all()
        for i, (rid, exp) in enumerate(runs):
            for k in range(per_run):
                stype, source, context = kinds[k % len(kinds)]
                duid, iuid = uuid.uuid4().hex, uuid.uuid4().hex
                session.add(
                    SqlDataset(
                        dataset_uuid=duid,
                        experiment_id=exp,
                        name=f"churn-{stype}-{i}",
                        digest=f"{i:08x}",
                        dataset_source_type=stype,
                        dataset_source=json.dumps(source(i)),
                        dataset_schema=schema,
                    )
                )
                session.add(
                    SqlInput(
                        input_uuid=iuid,
                        source_type="DATASET",
                        source_id=duid,
                        destination_type="RUN",
                        destination_id=rid,
                    )
                )
                session.add(SqlInputTag(input_uuid=iuid, name="mlflow.data.context", value=context))
    store.engine.dispose()


class Receiver:
    def __init__(self) -> None:
        self.posts = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.posts += 1
                self.send_response(201)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def resolve_side(url: str) -> tuple[int, int]:
    from mlflow_lineage_plugin.resolve import resolve

    g = resolve(f"models:/{MODEL}", tracking_uri=url, registry_uri=url, timeout=120)
    return len(g.of_kind("git_commit")), 0


def events_side(url: str) -> tuple[int, int]:
    from mlflow_lineage_plugin import openlineage
    from mlflow_lineage_plugin.resolve.endpoints import Clients

    events, problems = openlineage.events_for([f"models:/{MODEL}"], Clients(url, url, 120))
    if problems:
        raise SystemExit(f"runs not read: {problems[:3]}")
    openlineage.emit(events)
    return len(events), sum(len(e.inputs) for e in events)


def pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[q - 1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--versions", type=int, default=1000)
    ap.add_argument("--experiments", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    load_start = os.getloadavg()

    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    receiver = Receiver()
    os.environ["OPENLINEAGE_URL"] = receiver.url
    os.environ.pop("OPENLINEAGE_CONFIG", None)
    with tempfile.TemporaryDirectory(dir=shm) as tmp:
        servers = {}
        for name, datasets in (("plain", 0), ("datasets", 2)):
            base = Path(tmp) / name
            base.mkdir()
            db_uri = f"sqlite:///{base / 'mlflow.db'}"
            port = free_port()
            build_store(db_uri, base / "artifacts", f"http://127.0.0.1:{port}", args.versions, args.experiments)
            if datasets:
                add_datasets(db_uri, datasets)
            servers[name] = Server(base, db_uri, port)
        sides = [
            ("resolve, no datasets (baseline)", "plain", resolve_side),
            ("resolve, 2 datasets per run", "datasets", resolve_side),
            ("OpenLineage events + send", "datasets", events_side),
        ]
        samples = {label: {"time": [], "reqs": [], "posts": [], "out": None} for label, _, _ in sides}
        try:
            for _, server, fn in sides:  # warm-up, unmeasured
                fn(servers[server].url)
            for _ in range(args.repeat):
                for label, server, fn in sides:
                    s = servers[server]
                    before, posts = s.requests(), receiver.posts
                    t0 = time.perf_counter()
                    out = fn(s.url)
                    samples[label]["time"].append(time.perf_counter() - t0)
                    time.sleep(0.5)  # let the access log catch up
                    samples[label]["reqs"].append(s.requests() - before)
                    samples[label]["posts"].append(receiver.posts - posts)
                    samples[label]["out"] = out
        finally:
            for s in servers.values():
                s.stop()
            receiver.server.shutdown()
    load_end = os.getloadavg()

    base_time = statistics.median(samples[sides[0][0]]["time"])
    print(
        f"load average at start {load_start[0]:.2f}, at end {load_end[0]:.2f}; {args.versions} versions, "
        f"{args.repeat} repeats per side, sides alternated"
    )
    print(
        f"{'side':<34} {'median s':>9} {'p10':>7} {'p90':>7} {'x base':>7} {'MLflow req':>11} {'req/ver':>8} "
        f"{'POSTs':>6}"
    )
    over = []
    for label, _, _ in sides:
        s = samples[label]
        med, reqs = statistics.median(s["time"]), int(statistics.median(s["reqs"]))
        per = reqs / args.versions
        posts = int(statistics.median(s["posts"]))
        print(
            f"{label:<34} {med:>9.2f} {pct(s['time'], 1):>7.2f} {pct(s['time'], 9):>7.2f} "
            f"{med / base_time:>7.2f} {reqs:>11} {per:>8.3f} {posts:>6}"
        )
    with_ds = samples[sides[1][0]]
    if with_ds["out"][0] != args.versions:
        over.append(f"resolve found {with_ds['out'][0]} commits, expected {args.versions}")
    if statistics.median(with_ds["reqs"]) / args.versions > MAX_RESOLVE_REQUESTS_PER_VERSION:
        over.append(f"resolve with datasets: over {MAX_RESOLVE_REQUESTS_PER_VERSION} requests per version")
    ev = samples[sides[2][0]]
    n_events, n_inputs = ev["out"]
    # Every run has ended: its START and its COMPLETE, each with the run's 2 datasets.
    if n_events != 2 * args.versions or n_inputs != 4 * args.versions:
        over.append(f"{n_events} events with {n_inputs} inputs, expected {2 * args.versions} and {4 * args.versions}")
    if statistics.median(ev["reqs"]) / args.versions > MAX_EVENT_READS_PER_VERSION:
        over.append(f"events: over {MAX_EVENT_READS_PER_VERSION} MLflow reads per version")
    if any(p != n_events for p in ev["posts"]):
        over.append(f"events: POSTs per repeat {ev['posts']}, expected {n_events} each")
    print(
        f"budgets: resolve with datasets <= {MAX_RESOLVE_REQUESTS_PER_VERSION} req/version; events <= "
        f"{MAX_EVENT_READS_PER_VERSION} MLflow reads/version + 1 POST per event"
    )
    for line in over:
        print("OVER BUDGET:", line)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
