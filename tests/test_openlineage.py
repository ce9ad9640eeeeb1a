"""OpenLineage events for real runs: a training script in a real git repository logs three datasets
(a pandas frame built in code, a CSV file by path, a Delta-table stand-in source) and registers a
model; a second run, recorded as living in a Databricks workspace, fails. Every event is checked
against the OpenLineage spec with the client's own classes plus our checks of its required fields;
a real HTTP receiver on 127.0.0.1 and the client's file transport must receive exactly those events.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner
from conftest import RepoFactory, git
from fixtures.sqlite_store import sqlite_store

from mlflow_lineage_plugin import openlineage as O
from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.cli import main

pytest.importorskip("openlineage.client", reason="the [openlineage] extra is not installed")

DATABRICKS_WS = "https://adb-42.azuredatabricks.net/?o=42"

TRAIN = textwrap.dedent(
    """
    import json, sys
    import mlflow
    import pandas as pd
    from mlflow.data.delta_dataset_source import DeltaDatasetSource
    from sklearn.linear_model import LogisticRegression

    uri, out_path, csv_path, databricks_ws = sys.argv[1:5]
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("churn")
    df = pd.DataFrame({"tenure": [1.0, 9.0, 3.0, 7.0], "churned": [1, 0, 1, 0]})
    df.to_csv(csv_path, index=False)
    frame = mlflow.data.from_pandas(df, name="churn-frame")
    csv = mlflow.data.from_pandas(df, source=csv_path, name="churn-csv")
    delta = mlflow.data.from_pandas(df, name="churn-delta", source=DeltaDatasetSource(
        delta_table_name="main.sales.churn", delta_table_version=7, delta_table_id="tbl-1"))
    with mlflow.start_run(run_name="fit") as run:
        mlflow.log_input(frame, context="training")
        mlflow.log_input(csv, context="training")
        mlflow.log_input(delta, context="eval")
        model = LogisticRegression().fit(df[["tenure"]], df["churned"])
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name="churn",
                                        pip_requirements=["scikit-learn"], serialization_format="cloudpickle")
    with mlflow.start_run(run_name="broken", tags={"lineage_workspace_uri": databricks_ws}) as bad:
        mlflow.log_input(delta, context="eval")
    mlflow.MlflowClient().set_terminated(bad.info.run_id, "FAILED")
    mlflow.MlflowClient().create_registered_model("broken")
    mlflow.MlflowClient().create_model_version("broken", f"runs:/{bad.info.run_id}/model", bad.info.run_id)
    json.dump({"run_id": run.info.run_id, "failed_run_id": bad.info.run_id,
               "version": str(info.registered_model_version)}, open(out_path, "w"))
    """
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("ol")
    uri = sqlite_store(base / "mlflow.db")
    repo = RepoFactory(base).make("churn", files={"train.py": TRAIN}, remote="git@github.com:acme/churn.git")
    out = base / "out.json"
    csv = base / "data" / "train.csv"
    csv.parent.mkdir()
    proc = subprocess.run(
        [sys.executable, "train.py", uri, str(out), str(csv), DATABRICKS_WS],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    facts = json.loads(out.read_text())
    return {
        "uri": uri,
        "base": base,
        "repo": repo,
        "commit": git(repo, "rev-parse", "HEAD"),
        "csv": str(csv),
        "ws": f"sqlite:///{base / 'mlflow.db'}",
        **facts,
    }


@pytest.fixture
def env(world, monkeypatch, tmp_path):
    """The user's shell: the store, how the Databricks workspace is reached here, no OpenLineage set-up."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", world["uri"])
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.setenv("MLFLOW_LINEAGE_WORKSPACES", f"{DATABRICKS_WS}={world['uri']}")
    for k in list(os.environ):
        if k.startswith("OPENLINEAGE"):
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)  # no ./openlineage.yml
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.openlineage/openlineage.yml
    return world


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


# --- validation: the client's own classes, and the spec's required fields -------------------------------


def _facet_classes() -> dict[str, type]:
    """Every facet class the client ships (and ours), by the ``_schemaURL`` it writes."""
    import importlib
    import pkgutil

    import openlineage.client.generated as gen
    from openlineage.client.generated.base import BaseFacet

    for mod in pkgutil.iter_modules(gen.__path__):
        importlib.import_module(f"{gen.__name__}.{mod.name}")
    from mlflow_lineage_plugin.openlineage import facets

    classes = [facets.MlflowRunFacet, facets.MlflowDatasetFacet]
    todo = list(BaseFacet.__subclasses__())
    while todo:
        cls = todo.pop()
        classes.append(cls)
        todo.extend(cls.__subclasses__())
    # attrs replaces a decorated class with a new one; the bare original lingers among the subclasses
    return {cls._get_schema(): cls for cls in classes if "__attrs_attrs__" in cls.__dict__}


def _rebuild_facets(facets: dict, where: str) -> None:
    import attr

    by_url = _facet_classes()
    for key, facet in (facets or {}).items():
        assert isinstance(facet.get("_producer"), str) and facet["_producer"], f"{where}.{key}: no _producer"
        url = facet.get("_schemaURL")
        assert isinstance(url, str) and "#/$defs/" in url, f"{where}.{key}: _schemaURL {url!r}"
        cls = by_url.get(url)
        assert cls is not None, f"{where}.{key}: no facet class of the client writes {url}"
        names = {a.name for a in attr.fields(cls)}
        fields = {k: v for k, v in facet.items() if not k.startswith("_")}
        assert set(fields) <= names, f"{where}.{key}: unknown fields {set(fields) - names}"
        required = {a.name for a in attr.fields(cls) if a.default is attr.NOTHING}
        assert required <= set(fields), f"{where}.{key}: missing required {required - set(fields)}"
        cls(**fields)  # the client's validators (timestamps, URLs) run again on what was sent


def validate_event(ev: dict) -> None:
    """The spec's required fields of a RunEvent, then every facet through the client's class for it."""
    from openlineage.client import event_v2

    assert set(ev) >= {"eventTime", "producer", "schemaURL", "run", "job"}, sorted(ev)
    assert ev["schemaURL"].endswith("#/$defs/RunEvent"), ev["schemaURL"]
    assert ev["eventType"] in {s.value for s in event_v2.RunState}
    uuid.UUID(ev["run"]["runId"])
    assert ev["job"]["namespace"] and ev["job"]["name"]
    event_v2.RunEvent(
        eventType=event_v2.RunState(ev["eventType"]),
        eventTime=ev["eventTime"],
        run=event_v2.Run(runId=ev["run"]["runId"]),
        job=event_v2.Job(namespace=ev["job"]["namespace"], name=ev["job"]["name"]),
        producer=ev["producer"],
    )
    _rebuild_facets(ev["run"].get("facets"), "run")
    _rebuild_facets(ev["job"].get("facets"), "job")
    for side in ("inputs", "outputs"):
        for d in ev.get(side) or []:
            assert isinstance(d["namespace"], str) and d["namespace"], d
            assert isinstance(d["name"], str) and d["name"], d
            _rebuild_facets(d.get("facets"), f"{side}.{d['name']}")
            _rebuild_facets(d.get("inputFacets" if side == "inputs" else "outputFacets"), f"{side}.{d['name']}")
    _check_custom_facets(ev)


def _check_custom_facets(ev: dict) -> None:
    """Our own facets against the JSON schema the package ships for them."""
    import jsonschema

    schema = json.loads(O.FACETS_SCHEMA_FILE.read_text())
    found = 0
    for facet in [
        *(ev["run"].get("facets") or {}).values(),
        *[f for d in ev.get("inputs") or [] for f in (d.get("inputFacets") or {}).values()],
    ]:
        url = facet["_schemaURL"]
        if url.startswith(O.FACETS_SCHEMA_URL):
            name = url.rsplit("/", 1)[1]
            jsonschema.validate(facet, {**schema, "$ref": f"#/$defs/{name}"})
            found += 1
    assert found, "no custom facet in the event"


# --- the events -----------------------------------------------------------------------------------------


def dry_run(*targets: str) -> list[dict]:
    res = cli("openlineage", *targets, "--dry-run")
    assert res.exit_code == 0, res.output
    return [json.loads(line) for line in res.stdout.splitlines()]


def by_mlflow_run(events: list[dict]) -> dict[str, list[dict]]:
    runs: dict[str, list[dict]] = {}
    for e in events:
        runs.setdefault(e["run"]["facets"][O.RUN_FACET]["runId"], []).append(e)
    return runs


def iso(ms: int) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds")


def test_dry_run_prints_each_runs_start_and_end_with_job_code_datasets_and_model(env):
    from mlflow import MlflowClient

    w = env
    events = dry_run("models:/churn", w["failed_run_id"])
    assert len(events) == 4
    for ev in events:
        validate_event(ev)
    runs = by_mlflow_run(events)
    (ok_start, ok), (bad_start, bad) = runs[w["run_id"]], runs[w["failed_run_id"]]

    # The spec's run cycle: START at the run's start, then the terminal event at its end, one run id.
    assert [ok_start["eventType"], ok["eventType"]] == ["START", "COMPLETE"]
    assert [bad_start["eventType"], bad["eventType"]] == ["START", "FAIL"]
    for start, end, run_id in ((ok_start, ok, w["run_id"]), (bad_start, bad, w["failed_run_id"])):
        info = MlflowClient(w["uri"]).get_run(run_id).info
        assert (start["eventTime"], end["eventTime"]) == (iso(info.start_time), iso(info.end_time))
        assert start["run"]["runId"] == end["run"]["runId"] == str(uuid.uuid5(O.RUN_ID_NAMESPACE, run_id))
        assert {**start, "eventType": end["eventType"], "eventTime": end["eventTime"]} == end
        # No schedule was recorded: nominalTime is left out, the actual times are the events' times.
        assert "nominalTime" not in start["run"]["facets"] and "nominalTime" not in end["run"]["facets"]

    assert ok["job"] == {**ok["job"], "namespace": w["ws"], "name": "churn:train.py"}
    scl = ok["job"]["facets"]["sourceCodeLocation"]
    assert scl["type"] == "git" and scl["version"] == w["commit"] and scl["branch"] == "main"
    assert scl["repoUrl"] == "https://github.com/acme/churn" and scl["path"] == "train.py"
    assert scl["url"] == f"https://github.com/acme/churn/blob/{w['commit']}/train.py"
    mine = ok["run"]["facets"][O.RUN_FACET]
    assert mine["experimentName"] == "churn" and mine["runName"] == "fit" and mine["gitDirty"] is False
    assert mine["registeredModelVersions"] == [{"name": "churn", "version": w["version"]}]

    inputs = {(d["namespace"], d["name"]): d for d in ok["inputs"]}
    # A Delta table known by name only, outside Databricks: the unknown-metastore namespace, not the store's URI.
    delta_key = ("metastore://unknown", "main.sales.churn")
    assert set(inputs) == {(w["ws"], "churn-frame"), ("file", w["csv"]), delta_key}
    delta = inputs[delta_key]
    assert delta["facets"]["version"]["datasetVersion"] == "7"
    assert delta["inputFacets"][O.DATASET_INPUT_FACET]["context"] == "eval"
    assert [f["name"] for f in inputs[("file", w["csv"])]["facets"]["schema"]["fields"]] == ["tenure", "churned"]
    (out,) = ok["outputs"]
    assert (out["namespace"], out["name"]) == (w["ws"], f"churn/{w['version']}")
    assert out["facets"]["datasetType"]["datasetType"] == "MODEL"
    assert out["facets"]["version"]["datasetVersion"] == w["version"]

    # The failed run lives in a Databricks workspace: its job and its Delta table are named there.
    assert bad["job"]["namespace"] == DATABRICKS_WS
    assert [(o["namespace"], o["name"]) for o in bad["outputs"]] == [(w["ws"], "broken/1")]
    assert [(d["namespace"], d["name"]) for d in bad["inputs"]] == [
        ("databricks://adb-42.azuredatabricks.net", "main.sales.churn")
    ]


def test_events_are_the_same_every_time(env):
    """Re-emitting is idempotent: the same run gives the same run id and the same event."""
    first, second = dry_run("models:/churn/1"), dry_run(f"runs:/{env['run_id']}/model")
    assert first == second
    events, problems = O.events_for([f"models:/churn/{env['version']}"], tracking_uri=env["uri"])  # Python API
    assert problems == [] and [O.to_dict(e) for e in events] == first


# --- transports -----------------------------------------------------------------------------------------


class Receiver:
    """A real HTTP server on 127.0.0.1 that keeps every POSTed body, as a lineage backend would."""

    def __init__(self) -> None:
        bodies, paths = self.bodies, self.paths = [], []
        arrived = self.arrived = threading.Condition()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                with arrived:
                    bodies.append(json.loads(self.rfile.read(n)))
                    paths.append(self.path)
                    arrived.notify_all()
                self.send_response(201)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, arrived: Callable[[list[dict]], bool], limit: float = 600) -> list[dict]:
        """The bodies once ``arrived(bodies)`` holds: waits on the events themselves; ``limit`` only ends a
        test whose events never come."""
        with self.arrived:
            self.arrived.wait_for(lambda: arrived(self.bodies), timeout=limit)
            return list(self.bodies)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _without_client_tags(ev: dict) -> dict:
    """The client adds one run facet of its own (its version, as a tag); everything else is ours."""
    ev = json.loads(json.dumps(ev))
    tags = ev["run"]["facets"].pop("tags")
    assert [t["key"] for t in tags["tags"]] == ["openlineage_client_version"]
    return ev


def test_http_transport_delivers_exactly_the_events_and_again_on_re_emission(env, receiver, monkeypatch):
    expected = dry_run("models:/churn", env["failed_run_id"])
    monkeypatch.setenv("OPENLINEAGE_URL", receiver.url)
    for _ in range(2):
        res = cli("openlineage", "models:/churn", env["failed_run_id"])
        assert res.exit_code == 0, res.output
        assert "sent 4 OpenLineage events (http transport)" in res.stderr
    assert receiver.paths == ["/api/v1/lineage"] * 8
    got = [_without_client_tags(b) for b in receiver.bodies]
    assert got == expected + expected
    for body in receiver.bodies:
        validate_event(body)


def test_file_transport_from_openlineage_yml(env, tmp_path):
    expected = dry_run(env["run_id"])
    log = tmp_path / "events.jsonl"
    (tmp_path / "openlineage.yml").write_text(f"transport:\n  type: file\n  log_file_path: {log}\n  append: true\n")
    res = cli("openlineage", env["run_id"])  # the working directory's openlineage.yml, as the client reads it
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [_without_client_tags(e) for e in lines] == expected


def test_unconfigured_is_one_line_and_sends_nothing(env):
    res = cli("openlineage", env["run_id"])
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and "OPENLINEAGE_URL" in res.stderr and "--dry-run" in res.stderr
    assert res.stdout == ""


def test_dead_endpoint_is_one_line(env, monkeypatch):
    from fixtures.services import free_port

    monkeypatch.setenv("OPENLINEAGE_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "http")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__URL", os.environ["OPENLINEAGE_URL"])
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__RETRY", '{"total": 0}')
    res = cli("openlineage", env["run_id"])
    assert res.exit_code == 2, res.output
    assert res.stderr.count("\n") == 1 and "http transport" in res.stderr and "0 of 2 events sent" in res.stderr
    assert "Traceback" not in res.output


def test_unknown_run_is_the_resolvers_one_line_error(env):
    res = cli("openlineage", "0123456789abcdef0123456789abcdef", "--dry-run")
    assert res.exit_code == 2 and res.stderr.startswith("mlflow-lineage: error: run 0123456789abcdef")


def test_a_run_that_cannot_be_read_is_named_and_exits_1(env, monkeypatch):
    """Without the mapping, the failed run's Databricks workspace cannot be reached from here."""
    monkeypatch.delenv("MLFLOW_LINEAGE_WORKSPACES")
    res = cli("openlineage", "models:/broken", "models:/churn/1", "--dry-run")
    assert res.exit_code == 1
    assert [json.loads(line)["run"]["facets"][O.RUN_FACET]["runId"] for line in res.stdout.splitlines()] == [
        env["run_id"]
    ] * 2
    (line,) = res.stderr.splitlines()
    assert line.startswith(f"mlflow-lineage: run {env['failed_run_id']}: no event: ") and "no profile" in line


def test_without_the_extra_the_command_says_how_to_install_it(env):
    """A fresh interpreter where ``openlineage`` cannot be imported, as without the extra."""
    code = (
        "import sys; sys.modules['openlineage'] = None; "
        "from mlflow_lineage_plugin.cli import main; main(['openlineage', '--dry-run', 'runs:/x/m'])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == f"mlflow-lineage: error: {O.INSTALL_HINT}\n"
    assert proc.stdout == ""


def test_nothing_else_in_the_plugin_imports_openlineage():
    import re

    pkg = Path(O.__file__).parent.parent
    assert pkg.name == "mlflow_lineage_plugin"
    imports = re.compile(r"^\s*(from openlineage[.\s]|import openlineage\b)", re.M)
    importers = sorted(str(p.relative_to(pkg)) for p in pkg.rglob("*.py") if imports.search(p.read_text()))
    assert importers == ["openlineage/extra.py"]


def test_a_dirty_runs_kept_changes_are_in_the_run_facet():
    commit = "c" * 40
    tags = {
        T.MLFLOW_GIT_COMMIT: commit,
        T.MLFLOW_GIT_REPO_URL: "https://github.com/acme/churn",
        T.MLFLOW_GIT_DIRTY: "true",
        T.GIT_PATH: "train.py",
        T.GIT_DIFF: T.GIT_DIFF_CAPTURED,
        T.GIT_DIFF_SHA256: "ab" * 32,
        T.GIT_DIFF_BYTES: "1200",
        T.GIT_DIFF_FILES: "3",
    }
    facts = O.RunFacts(
        run_id="r" * 32,
        experiment_id="1",
        experiment_name="churn",
        status="FINISHED",
        start_time=1_700_000_000_000,
        end_time=1_700_000_060_000,
        workspace_uri="http://127.0.0.1:5000",
        tags=tags,
    )
    ev = O.to_dict(O.run_event(facts))
    validate_event(ev)
    mine = ev["run"]["facets"][O.RUN_FACET]
    assert mine["gitDirty"] is True
    assert (mine["uncommittedChanges"], mine["uncommittedChangesSha256"], mine["uncommittedChangesFiles"]) == (
        "captured",
        "ab" * 32,
        3,
    )
    clean_tags = {k: v for k, v in tags.items() if k not in T.DIFF_KEYS} | {T.MLFLOW_GIT_DIRTY: "false"}
    clean = O.to_dict(O.run_event(O.RunFacts(**{**facts.__dict__, "tags": clean_tags})))
    assert "uncommittedChanges" not in clean["run"]["facets"][O.RUN_FACET]


def facts(**over) -> O.RunFacts:
    base = {
        "run_id": "r" * 32,
        "experiment_id": "1",
        "experiment_name": "churn",
        "status": "FINISHED",
        "start_time": 1_700_000_000_000,
        "end_time": 1_700_000_060_000,
        "workspace_uri": "http://127.0.0.1:5000",
    }
    return O.RunFacts(**{**base, **over})


@pytest.mark.parametrize(
    "status, expected",
    [
        ("FINISHED", ["START", "COMPLETE"]),
        ("FAILED", ["START", "FAIL"]),
        ("KILLED", ["START", "ABORT"]),
        ("RUNNING", ["START"]),
    ],
)
def test_a_runs_events_are_its_start_then_its_end(status, expected):
    events = [O.to_dict(e) for e in O.run_events(facts(status=status, end_time=None if status == "RUNNING" else 2))]
    for ev in events:
        validate_event(ev)
    assert [e["eventType"] for e in events] == expected
    assert events[0]["eventTime"] == "2023-11-14T22:13:20.000+00:00"  # the run's start time
    assert len({e["run"]["runId"] for e in events}) == 1


@pytest.mark.parametrize(
    "tag, nominal",
    [
        ("2026-03-01T06:00:00Z", "2026-03-01T06:00:00.000+00:00"),
        ("2026-03-01T07:00:00+01:00", "2026-03-01T07:00:00.000+01:00"),
        ("1772344800000", "2026-03-01T06:00:00.000+00:00"),
        ("2026-03-01T06:00:00", None),  # no offset: which 06:00 is unknown
        ("tomorrow", None),
        (None, None),
    ],
)
def test_nominal_time_is_the_scheduled_time_only(tag, nominal):
    """nominalTime is when the run was scheduled for; the actual start and end are the events' eventTime."""
    tags = {T.SCHEDULED_TIME: tag} if tag else {}
    for ev in map(O.to_dict, O.run_events(facts(tags=tags))):
        validate_event(ev)
        got = ev["run"]["facets"].get("nominalTime")
        assert (got and got["nominalStartTime"]) == nominal
        assert got is None or "nominalEndTime" not in got


def test_custom_facets_schema_url_names_a_definition_in_the_shipped_schema(env):
    """``_schemaURL`` is the shipped schema file, served raw at the release's tag under the project's declared
    home, and its ``#/$defs/...`` fragment names a definition in that file."""
    from urllib.parse import urlsplit

    from fixtures.services import need_module

    tomllib = need_module("tomllib", "reads pyproject.toml (Python 3.11+)")
    root = Path(__file__).resolve().parent.parent
    urls = tomllib.loads((root / "pyproject.toml").read_text())["project"]["urls"]
    assert urls["Homepage"] == urls["Source"] == O.HOME
    assert f"{O.HOME}/tree/v{O.__version__}" == O.PRODUCER

    owner_repo = urlsplit(O.HOME).path.strip("/")
    fetched = {}
    events = dry_run("models:/churn", env["failed_run_id"])
    facets = [f for ev in events for f in ev["run"]["facets"].values()]
    facets += [f for ev in events for d in ev["inputs"] for f in (d.get("inputFacets") or {}).values()]
    for facet in facets:
        url, _, fragment = facet["_schemaURL"].partition("#")
        if not url.startswith(f"https://raw.githubusercontent.com/{owner_repo}/"):
            continue  # the spec's own facets, at openlineage.io
        ref, path = urlsplit(url).path.removeprefix(f"/{owner_repo}/").split("/", 1)
        assert ref == f"v{O.__version__}"
        schema = fetched.setdefault(path, json.loads((root / path).read_text()))
        assert schema["$id"] == url
        assert fragment.startswith("/$defs/")
        node = schema
        for part in fragment.strip("/").split("/"):
            assert part in node, f"{facet['_schemaURL']}: no {part!r} in {path}"
            node = node[part]
        assert "allOf" in node or "properties" in node
    assert set(fetched) == {"mlflow_lineage_plugin/openlineage_facets.json"}
    assert (root / "mlflow_lineage_plugin/openlineage_facets.json").samefile(O.FACETS_SCHEMA_FILE)
