"""The registry wrapper with real `mlflow server` processes: client-side over REST, server-side
(plugin installed in the server) on MariaDB and PostgreSQL with clients that do not have the
plugin, three servers as two workspaces and a shared registry, and faults.

All servers of the module start once, concurrently, to keep the file's wall time down.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import socket
import threading
import time

import pytest
import requests
from fixtures import models
from fixtures.mlflow_server import start_mlflow_server
from fixtures.services import mariadb_database, postgres_database

from mlflow_lineage_plugin import tags as T

COMMIT = "89abcdef0123456789abcdef0123456789abcdef"
GIT = {
    T.MLFLOW_GIT_COMMIT: COMMIT,
    T.MLFLOW_GIT_BRANCH: "main",
    T.MLFLOW_GIT_REPO_URL: "https://github.com/acme/models",
    T.MLFLOW_GIT_DIRTY: "false",
}
PUBLIC_URL = "https://mlflow.maria.example.com"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)


# --- module-scoped databases and servers -----------------------------------------------------------


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """ws1: a tracking server without the plugin; doomed: one to stop; maria, pg: servers WITH the
    plugin on MariaDB / PostgreSQL (pg also runs strict mode). ws1 and pg double as the two
    workspaces of the cross-workspace test, maria as their shared registry."""
    base = tmp_path_factory.mktemp("servers")
    with contextlib.ExitStack() as stack:
        maria_uri = stack.enter_context(mariadb_database("lineage_reg"))
        pg_uri = stack.enter_context(postgres_database("lineage_reg"))
        specs = {
            "ws1": {"plugin": False},
            "doomed": {"plugin": False},
            "maria": {"backend": maria_uri, "env": {"MLFLOW_LINEAGE_WORKSPACE_URI": PUBLIC_URL}},
            "pg": {"backend": pg_uri, "env": {"MLFLOW_LINEAGE_REQUIRE": "commit"}},
            "wsp": {"env": {"MLFLOW_ENABLE_WORKSPACES": "true"}},
        }
        for kw in specs.values():  # no background job runners: they only add load here
            kw["env"] = {**kw.get("env", {}), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        with cf.ThreadPoolExecutor(len(specs)) as pool:
            futures = {k: pool.submit(start_mlflow_server, base / k, timeout=240, **kw) for k, kw in specs.items()}
            started = {k: f.result() for k, f in futures.items()}
        for s in started.values():
            stack.callback(s.stop)
        yield started


def api(
    url: str, path: str, method: str = "POST", headers: dict | None = None, api_version: str = "2.0", **body
) -> dict:
    """A client without the plugin: plain REST calls."""
    full = f"{url}/api/{api_version}/mlflow/{path}"
    r = (
        requests.get(full, params=body, headers=headers, timeout=30)
        if method == "GET"
        else requests.post(full, json=body, headers=headers, timeout=30)
    )
    if r.status_code not in (200, 201):
        raise RuntimeError(f"{r.status_code} {r.text}")
    return r.json()


def plain_run(url: str, tags: dict) -> tuple[str, str]:
    run = api(url, "runs/create", experiment_id="0")["run"]["info"]
    for k, v in tags.items():
        api(url, "runs/set-tag", run_id=run["run_id"], key=k, value=v)
    return run["run_id"], run["experiment_id"]


def plain_version(url: str, name: str, **kw) -> dict:
    with contextlib.suppress(RuntimeError):
        api(url, "registered-models/create", name=name)
    mv = api(url, "model-versions/create", name=name, **kw)["model_version"]
    got = api(url, "model-versions/get", "GET", name=name, version=mv["version"])["model_version"]
    got["tag_dict"] = {t["key"]: t["value"] for t in got.get("tags", [])}
    return got


def runs_get_count(server) -> int:
    return sum(1 for line in server.log.read_text(errors="replace").splitlines() if "/mlflow/runs/get" in line)


def _client(tracking: str, registry: str | None = None):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking, registry_uri=registry or tracking)


def _tagged_run(client, tags=GIT):
    run = client.create_run("0")
    for k, v in tags.items():
        client.set_tag(run.info.run_id, k, v)
    return run


# --- client-side over REST --------------------------------------------------------------------------


def test_client_side_over_rest_names_the_server_and_links_the_run(servers):
    ws1 = servers["ws1"]
    client = _client(ws1.url)
    run = _tagged_run(client)
    client.create_registered_model("rest_client")
    before = runs_get_count(ws1)
    mv = client.create_model_version("rest_client", "s3://b/m", run.info.run_id, tags={"team": "t"})
    assert runs_get_count(ws1) - before == 1  # exactly one extra read of the source run
    got = client.get_model_version("rest_client", mv.version)
    rid = run.info.run_id
    url = f"{ws1.url}/#/experiments/0/runs/{rid}"
    assert got.tags[T.WORKSPACE_URI] == ws1.url
    assert got.tags[T.RUN_URL] == url
    # Same server: the UI's own "Source Run" link (run name, opens in place) beats a run_link.
    assert got.run_link in (None, "")
    assert got.tags[T.GIT_COMMIT] == COMMIT and got.tags["team"] == "t"


def test_a_tag_set_during_the_active_run_reaches_the_version(servers, monkeypatch):
    """The active run object holds the tags of the run's start; the commit a user sets later (a
    build without .git, the commit from CI) is what the version must carry. One read buys that."""
    import mlflow

    ws1 = servers["ws1"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", ws1.url)
    mlflow.set_tracking_uri(ws1.url)
    client = _client(ws1.url)
    client.create_registered_model("active_run")
    with mlflow.start_run(tags={**GIT, T.SCHEMA: T.SCHEMA_VERSION, T.WORKSPACE_URI: ws1.url}) as run:
        mlflow.set_tag(T.MLFLOW_GIT_COMMIT, "f" * 40)
        before = runs_get_count(ws1)
        mv = client.create_model_version("active_run", "s3://b/m", run.info.run_id)
        assert runs_get_count(ws1) - before == 1
    mlflow.set_tracking_uri(None)
    assert client.get_model_version("active_run", mv.version).tags[T.GIT_COMMIT] == "f" * 40


def test_log_model_over_rest_records_the_logged_model(servers, monkeypatch):
    import mlflow
    import mlflow.sklearn
    from sklearn.linear_model import LinearRegression

    ws1 = servers["ws1"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", ws1.url)
    mlflow.set_tracking_uri(ws1.url)
    try:
        with mlflow.start_run(tags=GIT) as run:
            info = mlflow.sklearn.log_model(
                LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]),
                name="model",
                registered_model_name="rest_logged",
                **models.SKLEARN,
            )
    finally:
        mlflow.set_tracking_uri(None)
    mv = _client(ws1.url).get_model_version("rest_logged", info.registered_model_version)
    assert mv.tags[T.MODEL_ID] == info.model_id
    assert mv.tags[T.RUN_ID] == run.info.run_id
    assert mv.tags[T.WORKSPACE_URI] == ws1.url
    assert mv.tags[T.GIT_COMMIT] == COMMIT
    assert mv.tags[T.RUN_URL] == f"{ws1.url}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
    assert not mv.run_link  # same server as the run: the UI's own Source Run link is the better one


# --- server-side: clients without the plugin ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["maria", "pg"])
def test_server_enriches_versions_from_plain_clients(servers, kind):
    server = servers[kind]
    rid, exp = plain_run(server.url, GIT)
    mv = plain_version(server.url, f"plain_{kind}", source="s3://bucket/model", run_id=rid)
    workspace = PUBLIC_URL if kind == "maria" else server.url
    assert mv["tag_dict"][T.WORKSPACE_URI] == workspace
    assert mv["tag_dict"][T.RUN_ID] == rid
    assert mv["tag_dict"][T.GIT_COMMIT] == COMMIT
    assert mv["tag_dict"][T.RUN_URL] == f"{workspace}/#/experiments/{exp}/runs/{rid}"
    assert not mv.get("run_link")  # the run is on this server: no run_link needed


@pytest.mark.parametrize("kind", ["maria", "pg"])
def test_server_follows_a_logged_model_to_its_run(servers, kind):
    server = servers[kind]
    rid, _ = plain_run(server.url, GIT)
    model = api(server.url, "logged-models", experiment_id="0", name="lm", source_run_id=rid)["model"]["info"]
    mid = model["model_id"]
    mv = plain_version(server.url, f"plain_lm_{kind}", source=f"models:/{mid}", model_id=mid)
    assert mv["tag_dict"][T.MODEL_ID] == mid
    assert mv["tag_dict"][T.RUN_ID] == rid
    assert mv["tag_dict"][T.GIT_COMMIT] == COMMIT


def test_server_strict_mode_refuses_plain_clients_with_a_clear_error(servers):
    pg = servers["pg"]
    rid, _ = plain_run(pg.url, {})
    with contextlib.suppress(RuntimeError):
        api(pg.url, "registered-models/create", name="strict_pg")
    r = requests.post(
        f"{pg.url}/api/2.0/mlflow/model-versions/create",
        json={"name": "strict_pg", "source": "s3://b/m", "run_id": rid},
        timeout=30,
    )
    assert r.status_code == 400
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "records no git commit" in r.json()["message"]
    found = api(pg.url, "model-versions/search", "GET", filter="name = 'strict_pg'")
    assert found.get("model_versions", []) == []


def test_server_does_not_redo_what_a_plugin_client_sent(servers):
    maria = servers["maria"]
    client = _client(maria.url)
    run = _tagged_run(client)
    client.create_registered_model("both_sides")
    before = runs_get_count(maria)
    mv = client.create_model_version("both_sides", "s3://b/m", run.info.run_id)
    assert runs_get_count(maria) - before == 1  # the client's read; the server adds none
    # The client named the server by the URI it used, not the server's configured public URL.
    assert client.get_model_version("both_sides", mv.version).tags[T.WORKSPACE_URI] == maria.url


def test_server_with_mlflow_workspaces_reads_the_run_in_the_requests_workspace(servers):
    """MLflow OSS workspaces: the run is read inside the request's workspace (the read runs in a
    worker thread, which must carry the request's context), and the workspace is named."""
    wsp = servers["wsp"]
    h = {"X-MLFLOW-WORKSPACE": "team-a"}
    api(wsp.url, "workspaces", api_version="3.0", name="team-a")
    exp = api(wsp.url, "experiments/create", headers=h, name="wexp")["experiment_id"]
    run = api(wsp.url, "runs/create", headers=h, experiment_id=exp)["run"]["info"]["run_id"]
    for k, v in GIT.items():
        api(wsp.url, "runs/set-tag", headers=h, run_id=run, key=k, value=v)
    api(wsp.url, "registered-models/create", headers=h, name="wmodel")
    mv = api(wsp.url, "model-versions/create", headers=h, name="wmodel", source="s3://b/m", run_id=run)
    got = api(wsp.url, "model-versions/get", "GET", headers=h, name="wmodel", version=mv["model_version"]["version"])[
        "model_version"
    ]
    tags = {t["key"]: t["value"] for t in got["tags"]}
    assert tags[T.GIT_COMMIT] == COMMIT
    assert tags[T.WORKSPACE_URI] == f"{wsp.url}?workspace=team-a"
    assert tags[T.RUN_URL] == f"{wsp.url}/#/experiments/{exp}/runs/{run}?workspace=team-a"


# --- cross-workspace ------------------------------------------------------------------------------------


def test_shared_registry_names_each_versions_own_workspace(servers):
    shared = servers["maria"]
    for ws in ("ws1", "pg"):
        home = servers[ws]
        client = _client(home.url, shared.url)
        run = _tagged_run(client)
        if ws == "ws1":
            client.create_registered_model("shared")
        mv = client.create_model_version("shared", "s3://b/m", run.info.run_id)
        got = client.get_model_version("shared", mv.version)
        rid = run.info.run_id
        assert got.tags[T.WORKSPACE_URI] == home.url
        assert got.tags[T.RUN_URL] == f"{home.url}/#/experiments/0/runs/{rid}"
        assert got.run_link == got.tags[T.RUN_URL]
        assert got.tags[T.GIT_COMMIT] == COMMIT


def _lineage_warnings(server, model: str) -> list[str]:
    return [
        line
        for line in server.log.read_text(errors="replace").splitlines()
        if f"mlflow-lineage: new version of model '{model}'" in line
    ]


def test_plain_client_into_a_shared_registry_does_not_get_the_registrys_workspace(servers):
    """Tracking on ws1, registry on the plugin server maria, client without the plugin: maria cannot
    find the run, so it must not name itself as the run's workspace. It takes the workspace from the
    request's run_link when there is one, else records only the run id; one warning says which."""
    home, shared = servers["ws1"], servers["maria"]
    rid, exp = plain_run(home.url, GIT)
    bare = plain_version(shared.url, "shared_plain", source=f"runs:/{rid}/model", run_id=rid)["tag_dict"]
    assert bare[T.RUN_ID] == rid
    assert T.WORKSPACE_URI not in bare and T.RUN_URL not in bare and T.GIT_COMMIT not in bare
    link = f"{home.url}/#/experiments/{exp}/runs/{rid}"
    linked = plain_version(shared.url, "shared_plain", source=f"runs:/{rid}/model", run_id=rid, run_link=link)
    tags = linked["tag_dict"]
    assert (tags[T.WORKSPACE_URI], tags[T.EXPERIMENT_ID], tags[T.RUN_URL]) == (home.url, exp, link)
    assert linked["run_link"] == link
    warned = _lineage_warnings(shared, "shared_plain")
    assert len(warned) == 2, warned
    assert f"run {rid} could not be read" in warned[0]
    assert "not on this server and the request names no workspace (no run_link), so only its id" in warned[0]
    assert f"its workspace {home.url} is taken from the request's run_link" in warned[1]


# --- faults ---------------------------------------------------------------------------------------------


def test_deleted_run_on_a_server(servers, caplog):
    ws1 = servers["ws1"]
    client = _client(ws1.url)
    run = _tagged_run(client)
    client.delete_run(run.info.run_id)
    client.create_registered_model("deleted_run")
    with caplog.at_level(logging.WARNING, logger="mlflow_lineage_plugin"):
        mv = client.create_model_version("deleted_run", "s3://b/m", run.info.run_id)
    assert client.get_model_version("deleted_run", mv.version).tags[T.GIT_COMMIT] == COMMIT
    assert [r.getMessage() for r in caplog.records if r.name.startswith("mlflow_lineage")] == [
        f"mlflow-lineage: new version of model 'deleted_run' registered with partial lineage: "
        f"source run {run.info.run_id} is deleted"
    ]


def test_tracking_server_stopped_mid_way(servers, caplog, monkeypatch):
    doomed, registry = servers["doomed"], servers["ws1"]
    monkeypatch.setenv("MLFLOW_LINEAGE_REGISTRY_TIMEOUT", "3")
    client = _client(doomed.url, registry.url)
    run = _tagged_run(client)
    client.create_registered_model("doomed")
    doomed.stop()
    t0 = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="mlflow_lineage_plugin"):
        mv = client.create_model_version("doomed", "s3://b/m", run.info.run_id)
    assert time.monotonic() - t0 < 10
    got = _client(registry.url).get_model_version("doomed", mv.version)
    assert got.tags[T.RUN_ID] == run.info.run_id
    assert got.tags[T.WORKSPACE_URI] == doomed.url
    assert T.GIT_COMMIT not in got.tags
    msgs = [r.getMessage() for r in caplog.records if r.name.startswith("mlflow_lineage")]
    assert len(msgs) == 1 and f"run {run.info.run_id} could not be read" in msgs[0]


def test_tracking_server_that_hangs_costs_at_most_the_timeout(servers, caplog, monkeypatch):
    """A listener that accepts and never answers: the read gives up after the registry timeout."""
    registry = servers["ws1"]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    hung = f"http://127.0.0.1:{sock.getsockname()[1]}"
    accepted = []
    stop = threading.Event()

    def accept():
        sock.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(sock.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    monkeypatch.setenv("MLFLOW_LINEAGE_REGISTRY_TIMEOUT", "1.5")
    try:
        client = _client(hung, registry.url)
        client._get_registry_client().store  # noqa: B018 - build outside the timing
        _client(registry.url).create_registered_model("hung")
        t0 = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="mlflow_lineage_plugin"):
            mv = client.create_model_version("hung", "s3://b/m", "a" * 32)
        elapsed = time.monotonic() - t0
    finally:
        stop.set()
        for c in accepted:
            c.close()
        sock.close()
    assert 1.4 < elapsed < 5
    got = _client(registry.url).get_model_version("hung", mv.version)
    assert got.tags[T.WORKSPACE_URI] == hung and got.tags[T.RUN_ID] == "a" * 32
    msgs = [r.getMessage() for r in caplog.records if r.name.startswith("mlflow_lineage")]
    assert len(msgs) == 1 and "not read within 1.5s" in msgs[0]


def _concurrently(create, threads: int = 8, total: int = 200) -> list:
    per = total // threads
    with cf.ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(lambda i=i: [create(i, j) for j in range(per)]) for i in range(threads)]
        return [x for f in futures for x in f.result()]


def test_200_versions_from_8_threads_client_side(servers):
    pg = servers["pg"]
    client = _client(pg.url)
    runs = [_tagged_run(client, {**GIT, T.MLFLOW_GIT_COMMIT: f"{i:040x}"}) for i in range(8)]
    client.create_registered_model("threads_client")

    created = _concurrently(
        lambda i, j: (
            i,
            client.create_model_version(
                "threads_client", "s3://b/m", runs[i].info.run_id, tags={"thread": str(i), "n": str(j)}
            ).version,
        )
    )
    assert len({v for _, v in created}) == 200
    versions = client.search_model_versions("name = 'threads_client'", max_results=1000)
    assert len(versions) == 200
    for mv in versions:
        i = int(mv.tags["thread"])
        assert mv.tags[T.RUN_ID] == runs[i].info.run_id
        assert mv.tags[T.GIT_COMMIT] == f"{i:040x}"
        assert mv.tags[T.WORKSPACE_URI] == pg.url


def test_200_versions_from_8_threads_server_side(servers):
    maria = servers["maria"]
    runs = [plain_run(maria.url, {**GIT, T.MLFLOW_GIT_COMMIT: f"{i + 100:040x}"}) for i in range(8)]
    # One registered model per thread: MLflow's own SQL store gives up ("Giving up after 3
    # attempts") when many writers race for the next version number of ONE model on MariaDB.
    for i in range(8):
        api(maria.url, "registered-models/create", name=f"threads_server_{i}")

    def create(i, j):
        mv = api(
            maria.url,
            "model-versions/create",
            name=f"threads_server_{i}",
            source="s3://b/m",
            run_id=runs[i][0],
            tags=[{"key": "thread", "value": str(i)}],
        )["model_version"]
        return mv["name"], mv["version"]

    assert len(set(_concurrently(create))) == 200
    found = api(maria.url, "model-versions/search", "GET", filter="name LIKE 'threads_server_%'", max_results=1000)
    versions = found["model_versions"]
    assert len(versions) == 200
    for mv in versions:
        tags = {t["key"]: t["value"] for t in mv["tags"]}
        i = int(tags["thread"])
        assert tags[T.RUN_ID] == runs[i][0]
        assert tags[T.GIT_COMMIT] == f"{i + 100:040x}"
        assert tags[T.WORKSPACE_URI] == PUBLIC_URL
