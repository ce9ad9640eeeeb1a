"""Workspace URI → client: the explicit mapping (environment and file), ``~/.databrickscfg`` profiles
for Databricks hosts (exercised through MLflow's own Databricks REST store and databricks-sdk against
the Databricks stand-in), and the Unity Catalog fallback that reads ``run_workspace_id``."""

from __future__ import annotations

import json

import pytest
from fixtures.databricks_server import (
    DEFAULT_TOKEN,
    DEFAULT_WORKSPACE_ID,
    DatabricksStandIn,
    Response,
    isolate_databricks_env,
    write_databrickscfg,
)
from fixtures.sqlite_store import sqlite_store

from mlflow_lineage_plugin.config import MappingError, load_mapping_file, parse_mapping_env
from mlflow_lineage_plugin.resolve import graph as G
from mlflow_lineage_plugin.resolve import resolve
from mlflow_lineage_plugin.resolve.endpoints import Clients
from mlflow_lineage_plugin.workspace import canonical
from mlflow_lineage_plugin.workspace_routes import resolve_endpoint


def test_mapping_env_splits_where_the_tracking_uri_starts():
    m = parse_mapping_env(
        "https://adb-1.azuredatabricks.net/?o=42=databricks://prod ; http://ws-b:5000=http://10.0.0.7:5000;"
        "sqlite:////old/box.db=sqlite:////mnt/copy.db;https://x.cloud.databricks.com/=databricks"
    )
    assert m == {
        "https://adb-1.azuredatabricks.net/?o=42": "databricks://prod",
        "http://ws-b:5000": "http://10.0.0.7:5000",
        "sqlite:////old/box.db": "sqlite:////mnt/copy.db",
        "https://x.cloud.databricks.com": "databricks",
    }
    assert parse_mapping_env("") == {} and parse_mapping_env(None) == {}


@pytest.mark.parametrize("bad", ["nothing", "=http://x", "http://a:1=", "a=b"])
def test_mapping_env_rejects_entries_without_a_target(bad):
    with pytest.raises(MappingError) as err:
        parse_mapping_env(bad)
    assert "is not 'workspace_uri=tracking_uri'" in str(err.value)


def test_mapping_error_never_echoes_credentials():
    with pytest.raises(MappingError) as err:
        parse_mapping_env("https://user:hunter2@host/ws")
    assert "hunter2" not in str(err.value)


def test_mapping_file_toml_and_json(tmp_path):
    import importlib.util

    toml = tmp_path / "lineage.toml"
    toml.write_text('[workspaces]\n"https://adb-1.azuredatabricks.net/?o=42" = "databricks://prod"\n')
    if importlib.util.find_spec("tomllib") or importlib.util.find_spec("tomli"):
        assert load_mapping_file(str(toml)) == {"https://adb-1.azuredatabricks.net/?o=42": "databricks://prod"}
    else:  # Python < 3.11 without tomli: TOML is refused in one line that names the way out
        with pytest.raises(MappingError, match=r"TOML needs Python 3\.11\+ or 'tomli'; use JSON"):
            load_mapping_file(str(toml))
    js = tmp_path / "lineage.json"
    js.write_text(json.dumps({"HTTP://WS-B:5000/": "http://10.0.0.7:5000"}))
    assert load_mapping_file(str(js)) == {"http://ws-b:5000": "http://10.0.0.7:5000"}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"workspaces": {"a": 1}}))
    with pytest.raises(MappingError):
        load_mapping_file(str(bad))


def test_canonical_spelling():
    assert canonical("HTTP://Host:5000/") == "http://host:5000"
    assert canonical("https://adb-1.azuredatabricks.net/?o=42") == "https://adb-1.azuredatabricks.net/?o=42"
    assert canonical("sqlite:////a/b.db") == "sqlite:////a/b.db"


def test_default_rules(tmp_path, monkeypatch):
    isolate_databricks_env(monkeypatch, tmp_path / "home")
    db = tmp_path / "here.db"
    db.write_bytes(b"")
    assert resolve_endpoint("http://127.0.0.1:5000").tracking_uri == "http://127.0.0.1:5000"
    assert resolve_endpoint(f"sqlite:///{db}").via == "local"
    gone = resolve_endpoint("sqlite:////nowhere/else.db")
    assert gone.tracking_uri is None and "is not on this machine" in gone.reason
    sql = resolve_endpoint("postgresql://db.internal:5432/mlflow")
    assert sql.tracking_uri is None and "MLFLOW_LINEAGE_WORKSPACES" in sql.reason
    dbx = resolve_endpoint("https://adb-9.azuredatabricks.net/?o=9")
    assert dbx.tracking_uri is None
    assert dbx.reason.startswith("no profile for that host")


def test_databricks_host_maps_to_the_profile_with_that_host(tmp_path, monkeypatch):
    home = tmp_path / "home"
    isolate_databricks_env(monkeypatch, home)
    write_databrickscfg(
        home,
        {
            "DEFAULT": {"host": "https://adb-1.azuredatabricks.net", "token": "x"},
            "other": {"host": "https://adb-2.azuredatabricks.net/", "token": "x"},
            "prod": {"host": "adb-7.azuredatabricks.net", "token": "x"},
            "prod-ws": {"host": "https://adb-7.azuredatabricks.net", "token": "x", "workspace_id": "77"},
        },
    )
    assert resolve_endpoint("https://adb-2.azuredatabricks.net/?o=2").tracking_uri == "databricks://other"
    assert resolve_endpoint("https://adb-7.azuredatabricks.net/?o=77").tracking_uri == "databricks://prod-ws"
    assert resolve_endpoint("https://ADB-7.azuredatabricks.net/?o=8").tracking_uri == "databricks://prod"


@pytest.fixture
def standin(tmp_path, monkeypatch):
    isolate_databricks_env(monkeypatch, tmp_path / "home")
    with DatabricksStandIn() as server:
        yield server


def _serve_mlflow_run(server: DatabricksStandIn, run, experiment) -> None:
    """The two MLflow REST endpoints a workspace answers for one run, from a real run's protobuf."""
    from mlflow.utils.proto_json_utils import message_to_json

    def run_get(s, req):
        if not req.authorized:
            return Response(401, {"error_code": "UNAUTHENTICATED", "message": "Invalid access token."})
        if req.query.get("run_id") != run.info.run_id:
            return Response(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Run not found"})
        return Response(200, {"run": json.loads(message_to_json(run.to_proto()))})

    def exp_get(s, req):
        return Response(200, {"experiment": json.loads(message_to_json(experiment.to_proto()))})

    server.add_route("GET", r"/api/2\.0/mlflow/runs/get", run_get)
    server.add_route("GET", r"/api/2\.0/mlflow/experiments/get", exp_get)


def test_version_in_a_databricks_workspace_is_read_through_its_profile(standin, tmp_path, monkeypatch, request):
    """A run made in workspace W (the stand-in) and registered in a local registry: the resolver finds
    the ``~/.databrickscfg`` profile for W's host and reads the run through MLflow's Databricks store."""
    import mlflow
    from mlflow import MlflowClient

    ws_uri = f"{standin.url}/?o={DEFAULT_WORKSPACE_ID}"
    uri = sqlite_store(tmp_path / "registry.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_LINEAGE_WORKSPACE_URI", ws_uri)
    mlflow.set_tracking_uri(uri)
    request.addfinalizer(lambda: mlflow.set_tracking_uri(None))
    try:
        with mlflow.start_run() as run:
            mlflow.set_tags({"mlflow.source.git.commit": "c" * 40, "mlflow.source.git.dirty": "false"})
        c = MlflowClient(uri, uri)
        c.create_registered_model("w")
        c.create_model_version("w", f"runs:/{run.info.run_id}/model", run.info.run_id)
    finally:
        monkeypatch.delenv("MLFLOW_LINEAGE_WORKSPACE_URI")
    assert c.get_model_version("w", "1").tags["lineage_workspace_uri"] == ws_uri

    # no profile yet: a finding in the words a user needs
    g = resolve("models:/w/1")
    [f] = [f for f in g.findings if f.code == "workspace_unreachable"]
    assert f.message.startswith(
        f"run {run.info.run_id[:8]}… is in workspace {ws_uri}, which this client "
        "cannot reach: no profile for that host in "
    )
    assert g.of_kind(G.GIT_COMMIT)[0].attrs["commit"] == "c" * 40, "the version's copy still answers"

    # a profile for that host: the run is read from the workspace, with that profile's token
    write_databrickscfg(tmp_path / "home", {"ws": {"host": standin.url, "token": DEFAULT_TOKEN}})
    _serve_mlflow_run(standin, c.get_run(run.info.run_id), c.get_experiment(run.info.experiment_id))
    standin.reset_requests()
    g = resolve("models:/w/1", timeout=5)
    assert [f.code for f in g.findings if f.severity == G.ERROR] == [], g.to_text()
    node = g.of_kind(G.RUN)[0]
    assert node.workspace_uri == ws_uri and "not read" not in node.label
    assert (
        node.url == f"{standin.url}/?o={DEFAULT_WORKSPACE_ID}#mlflow/experiments/"
        f"{run.info.experiment_id}/runs/{run.info.run_id}"
    )
    gets = [r for r in standin.requests if r.path == "/api/2.0/mlflow/runs/get"]
    assert gets and all(r.authorized for r in gets)


def test_unity_catalog_fallback_reads_run_workspace_id(standin, tmp_path, monkeypatch):
    """UC versions made without the plugin: UC's own ``run_workspace_id`` says where the run lives."""
    from mlflow.entities.model_registry import ModelVersion

    from mlflow_lineage_plugin.resolve.versions import VersionWork
    from mlflow_lineage_plugin.resolve.walk import Walker
    from mlflow_lineage_plugin.tags import SourceRun

    write_databrickscfg(tmp_path / "home", {"uc": {"host": standin.url, "token": DEFAULT_TOKEN}})
    run_ids = {"1": "a" * 32, "2": "b" * 32, "3": "c" * 32}
    ws_of = {"1": DEFAULT_WORKSPACE_ID, "2": 555, "3": 777}

    def mv_get(s, req):
        version = req.path.rsplit("/", 1)[1]
        return Response(
            200,
            {
                "model_name": "main.ml.fraud",
                "version": int(version),
                "run_id": run_ids[version],
                "run_workspace_id": ws_of[version],
                "source": "dbfs:/x",
                "status": "READY",
            },
        )

    standin.add_route("GET", r"/api/2\.1/unity-catalog/models/main\.ml\.fraud/versions/\d+", mv_get)
    clients = Clients(
        tracking_uri="databricks://uc",
        registry_uri="databricks-uc://uc",
        timeout=5,
        mapping={"https://adb-555.azuredatabricks.net/?o=555": "databricks://uc"},
    )
    assert clients.is_unity_catalog()
    g = G.Lineage("t")
    w = Walker(clients, g)
    works = [
        VersionWork(
            ModelVersion("main.ml.fraud", v, 0, run_id=run_ids[v]),
            f"mv{v}",
            SourceRun(),
            run_ids[v],
            None,
            clients.endpoint(None),
        )
        for v in ("1", "2", "3")
    ]
    try:
        w._uc_fallback(works)
    finally:
        w.close()
    same, mapped, unknown = works
    assert "lives in this workspace" in same.uc_note and same.endpoint.tracking_uri == "databricks://uc"
    assert mapped.endpoint.tracking_uri == "databricks://uc" and "workspace id 555" in mapped.uc_note
    assert unknown.endpoint.tracking_uri is None
    # what was searched, so the user sees which profile lacks its workspace_id (issue 24 item 3)
    assert unknown.endpoint.reason == (
        "no profile or MLFLOW_LINEAGE_WORKSPACES entry names workspace id 777; searched this client's workspace "
        f"(id {DEFAULT_WORKSPACE_ID}); MLFLOW_LINEAGE_WORKSPACES (1 entry, ids 555); the profiles of "
        f"~/.databrickscfg ({tmp_path / 'home' / '.databrickscfg'}): uc (no workspace_id)"
    )
    calls = [r for r in standin.requests if "unity-catalog" in r.path]
    assert len(calls) == 3 and all(r.authorized for r in calls)
    assert all("mlflow-lineage-plugin" in r.user_agent for r in calls)
    # one client for the three versions, and the registry's own id asked once (MLflow's own answer for
    # the registry's credentials builds one more client: the second probe)
    assert standin.count("/.well-known/databricks-config") <= 2
    assert standin.count("/api/2.0/preview/scim/v2/Me") == 1


def test_a_server_that_answers_500_is_an_error_not_an_unreachable_workspace(monkeypatch):
    """A workspace that answers is up: a 5xx says 'could not be read', not 'cannot reach'."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from mlflow import MlflowClient

    from mlflow_lineage_plugin.errors import SERVER_ERROR, describe_error, is_unreachable

    class Fails(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.send_response(500)
            self.end_headers()

        do_GET = do_POST  # noqa: N815

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Fails)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    try:
        with pytest.raises(Exception) as info:
            MlflowClient(tracking_uri=f"http://127.0.0.1:{server.server_port}").search_runs(["0"])
    finally:
        server.shutdown()
    assert describe_error(info.value) == f"{SERVER_ERROR} (HTTP 500)"
    assert not is_unreachable(info.value)


def test_one_look_up_names_the_workspace_of_a_uc_workspace_id(tmp_path, monkeypatch):
    """``workspace_routes.endpoint_for_workspace_id``, the one answer to UC's ``run_workspace_id``: this
    client's workspace, then the mapping, then a profile recording the id; else what was searched."""
    from mlflow_lineage_plugin.workspace_routes import Endpoint, endpoint_for_workspace_id

    home_dir = tmp_path / "home"
    isolate_databricks_env(monkeypatch, home_dir)
    home = Endpoint("https://adb-1.azuredatabricks.net/?o=1", "databricks", "home")
    mapping = {"https://adb-555.azuredatabricks.net/?o=555": "databricks://mapped", "http://ws-b:5000": "http://b"}

    missing = endpoint_for_workspace_id("777", mapping, home=home)
    assert missing.tracking_uri is None and missing.workspace_uri == "?o=777"
    assert missing.reason == (
        "no profile or MLFLOW_LINEAGE_WORKSPACES entry names workspace id 777; searched this client's workspace "
        "(id 1); MLFLOW_LINEAGE_WORKSPACES (2 entries, ids 555); the profiles of ~/.databrickscfg "
        f"({home_dir / '.databrickscfg'}), which does not exist: none"
    )

    write_databrickscfg(
        home_dir,
        {
            "plain": {"host": "https://adb-9.azuredatabricks.net", "token": "t"},
            "hostless": {"workspace_id": "777", "token": "t"},
            "ws777": {"host": "https://ADB-7.azuredatabricks.net/", "token": "t", "workspace_id": " 777 "},
        },
    )
    assert endpoint_for_workspace_id("1", mapping, home=home) == home
    assert endpoint_for_workspace_id("2", {}, home=home, home_id="2").via == "home"  # UC said this is its id
    assert endpoint_for_workspace_id("555", mapping, home=home) == Endpoint(
        "https://adb-555.azuredatabricks.net/?o=555", "databricks://mapped", "mapping"
    )
    assert endpoint_for_workspace_id(777, mapping) == Endpoint(
        "https://adb-7.azuredatabricks.net/?o=777", "databricks://ws777", "profile"
    )
    monkeypatch.setenv("DATABRICKS_HOST", "https://adb-8.azuredatabricks.net")  # the SDK takes it over the file
    assert endpoint_for_workspace_id("777", {}).workspace_uri == "https://adb-8.azuredatabricks.net/?o=777"
    monkeypatch.delenv("DATABRICKS_HOST")

    elsewhere = tmp_path / "other.cfg"
    (home_dir / ".databrickscfg").rename(elsewhere)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(elsewhere))
    none = endpoint_for_workspace_id("4", {})
    assert none.reason == (
        "no profile or MLFLOW_LINEAGE_WORKSPACES entry names workspace id 4; searched MLFLOW_LINEAGE_WORKSPACES "
        f"(0 entries); the profiles of {elsewhere} (DATABRICKS_CONFIG_FILE): plain (no workspace_id), "
        "hostless (workspace_id 777), ws777 (workspace_id 777)"
    )
    write_databrickscfg(tmp_path, {f"p{i}": {"host": f"https://h{i}.cloud.databricks.com"} for i in range(13)})
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / ".databrickscfg"))
    many = endpoint_for_workspace_id("4", {"http://a": "http://b"})
    assert "(1 entry, none with ?o=<id>)" in many.reason
    assert many.reason.endswith("p9 (no workspace_id) and 3 more")


def test_a_profile_recording_the_id_without_a_host_reaches_nothing(tmp_path, monkeypatch):
    from mlflow_lineage_plugin.workspace_routes import endpoint_for_workspace_id

    isolate_databricks_env(monkeypatch, tmp_path)
    write_databrickscfg(tmp_path, {"hostless": {"workspace_id": "777", "token": "t"}})
    ep = endpoint_for_workspace_id("777", {})
    assert ep.tracking_uri is None and ep.reason.endswith(": hostless (workspace_id 777, no host)")
