"""A locked ``tags`` table under `mlflow server` with the plugin, on PostgreSQL and MariaDB.

The server-side read of a new version's source run waits on the lock. The wrapper gives up on it
at ``MLFLOW_LINEAGE_REGISTRY_TIMEOUT``, but only a limit the database itself enforces gives the
pooled connection back: without one, every registration during the lock leaves one connection
behind, and after 15 (MLflow's default pool, 5 + 10 overflow) every other request of the server
waits for the pool and fails. The lock here is held only while the test needs it (seconds).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib

import pytest
import requests
from fixtures.mlflow_server import start_mlflow_server
from fixtures.services import mariadb_database, postgres_database

from mlflow_lineage_plugin import tags as T

COMMIT = "0123456789abcdef0123456789abcdef01234567"
REGISTRATIONS = 20  # more than MLflow's default pool of 5 + 10 overflow connections


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    base = tmp_path_factory.mktemp("locks")
    with contextlib.ExitStack() as stack:
        uris = {
            "pg": stack.enter_context(postgres_database("lineage_lock")),
            "maria": stack.enter_context(mariadb_database("lineage_lock")),
        }
        env = {"MLFLOW_LINEAGE_REGISTRY_TIMEOUT": "0.5"}
        with cf.ThreadPoolExecutor(2) as pool:
            futures = {
                k: pool.submit(start_mlflow_server, base / k, backend=uri, env=env, timeout=240)
                for k, uri in uris.items()
            }
            started = {k: f.result() for k, f in futures.items()}
        for s in started.values():
            stack.callback(s.stop)
        yield started


def api(url: str, path: str, method: str = "POST", **body) -> requests.Response:
    """A client without the plugin. 60 s is past the server's own 30 s wait for a pooled connection,
    so a server whose pool ran dry answers its error instead of the client giving up first."""
    full = f"{url}/api/2.0/mlflow/{path}"
    if method == "GET":
        return requests.get(full, params=body, timeout=60)
    return requests.post(full, json=body, timeout=60)


def ok(response: requests.Response) -> dict:
    assert response.status_code == 200, f"{response.status_code} {response.text[:300]}"
    return response.json()


@contextlib.contextmanager
def locked_tags_table(kind: str, backend_uri: str):
    """Hold the strongest lock on the run tags table from another connection, as a migration or a
    long maintenance job would."""
    database = backend_uri.rsplit("/", 1)[1]
    if kind == "pg":
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=5432, user="root", dbname=database)
        try:
            with conn.cursor() as c:
                c.execute("LOCK TABLE tags IN ACCESS EXCLUSIVE MODE")
            yield
        finally:
            conn.rollback()
            conn.close()
    else:
        import pymysql

        conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database=database)
        try:
            with conn.cursor() as c:
                c.execute("LOCK TABLES tags WRITE")
            yield
        finally:
            with contextlib.suppress(Exception), conn.cursor() as c:
                c.execute("UNLOCK TABLES")
            conn.close()


@pytest.mark.parametrize("kind", ["pg", "maria"])
def test_a_locked_tags_table_does_not_exhaust_the_servers_connection_pool(servers, kind):
    server = servers[kind]
    run = ok(api(server.url, "runs/create", experiment_id="0"))["run"]["info"]["run_id"]
    ok(api(server.url, "runs/set-tag", run_id=run, key=T.MLFLOW_GIT_COMMIT, value=COMMIT))
    model = f"locked_{kind}"
    ok(api(server.url, "registered-models/create", name=model))

    versions = []
    with locked_tags_table(kind, server.backend):
        for _ in range(REGISTRATIONS):
            created = ok(api(server.url, "model-versions/create", name=model, source="s3://b/m", run_id=run))
            versions.append(created["model_version"]["version"])
        # Still under the lock: the server's other requests are served.
        ok(api(server.url, "runs/log-metric", run_id=run, key="loss", value=0.5, timestamp=0, step=0))
        ok(api(server.url, "experiments/search", max_results=10))

    assert len(set(versions)) == REGISTRATIONS
    for version in versions:
        got = ok(api(server.url, "model-versions/get", "GET", name=model, version=version))["model_version"]
        tags = {t["key"]: t["value"] for t in got.get("tags", [])}
        assert tags[T.RUN_ID] == run and tags[T.WORKSPACE_URI] == server.url
        assert T.GIT_COMMIT not in tags  # the run's tags were locked away
    warned = [
        line
        for line in server.log.read_text(errors="replace").splitlines()
        if f"mlflow-lineage: new version of model '{model}' registered with partial lineage" in line
    ]
    assert len(warned) == REGISTRATIONS
    assert all(f"run {run}" in line for line in warned)

    # The lock is gone: the next version reads the run as usual.
    after = ok(api(server.url, "model-versions/create", name=model, source="s3://b/m", run_id=run))
    got = ok(api(server.url, "model-versions/get", "GET", name=model, version=after["model_version"]["version"]))[
        "model_version"
    ]
    assert {t["key"]: t["value"] for t in got["tags"]}[T.GIT_COMMIT] == COMMIT
