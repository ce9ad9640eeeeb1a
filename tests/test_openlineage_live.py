"""Live, opt-in: with ``MLFLOW_LINEAGE_OPENLINEAGE=true`` and OpenLineage configured, every new model
version sends its run's event, from the registry wrapper, in the background. Each case is a real
script in a fresh interpreter that registers versions and exits at once (the event must still
arrive), against a real HTTP receiver on 127.0.0.1; and ``mlflow server`` with the plugin, for
versions created by clients that have neither the plugin's flag nor OpenLineage.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from conftest import RepoFactory, git
from fixtures.services import free_port
from fixtures.sqlite_store import sqlite_store
from mlflow import MlflowClient
from test_openlineage import Receiver, _without_client_tags, iso, validate_event

from mlflow_lineage_plugin import openlineage as O

pytest.importorskip("openlineage.client", reason="the [openlineage] extra is not installed")

REGISTER = textwrap.dedent(
    """
    import json, sys
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient

    uri, out_path, csv_path = sys.argv[1:4]
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("live")
    c = MlflowClient()
    if not c.search_registered_models(filter_string="name = 'live'"):
        c.create_registered_model("live")
    df = pd.DataFrame({"a": [1.0, 2.0]})
    df.to_csv(csv_path, index=False)
    with mlflow.start_run() as run:
        mlflow.log_input(mlflow.data.from_pandas(df, source=csv_path, name="live-csv"), context="training")
        during = c.create_model_version("live", f"runs:/{run.info.run_id}/model", run.info.run_id)
    after = c.create_model_version("live", f"runs:/{run.info.run_id}/model", run.info.run_id)
    json.dump({"run_id": run.info.run_id, "versions": [during.version, after.version]}, open(out_path, "w"))
    """
)


@pytest.fixture
def project(tmp_path):
    repo = RepoFactory(tmp_path).make("live", files={"register.py": REGISTER}, remote="https://github.com/acme/live")
    return {"repo": repo, "commit": git(repo, "rev-parse", "HEAD"), "base": tmp_path}


# The script's exit waits for its queued events up to this budget: far beyond what a loaded machine needs, so
# the tests wait on the events themselves (the exit returns as soon as they are handled), not on a clock.
EXIT_FLUSH = {"MLFLOW_LINEAGE_REGISTRY_TIMEOUT": "600"}


def register(project, uri: str, env: dict) -> tuple[dict, str]:
    base = project["base"]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENLINEAGE", "MLFLOW_LINEAGE_"))}
    proc = subprocess.run(
        [sys.executable, "register.py", uri, str(base / "out.json"), str(base / "train.csv")],
        cwd=project["repo"],
        env={**clean, "HOME": str(base), **EXIT_FLUSH, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return json.loads((base / "out.json").read_text()), proc.stderr


def ol_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "OpenLineage" in line or "openlineage" in line.lower()]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_each_new_version_sends_its_runs_event_before_the_script_exits(project, receiver, tmp_path):
    uri = sqlite_store(tmp_path / "mlflow.db")
    out, stderr = register(project, uri, {"MLFLOW_LINEAGE_OPENLINEAGE": "true", "OPENLINEAGE_URL": receiver.url})
    assert ol_warnings(stderr) == []
    during, after = by_version(receiver.bodies)
    for ev in receiver.bodies:
        validate_event(ev)
        assert ev["run"]["runId"] == str(uuid.uuid5(O.RUN_ID_NAMESPACE, out["run_id"]))
        assert ev["job"]["namespace"] == uri and ev["job"]["name"] == "live:register.py"
        assert ev["job"]["facets"]["sourceCodeLocation"]["version"] == project["commit"]
        assert [(d["namespace"], d["name"]) for d in ev["inputs"]] == [("file", str(tmp_path / "train.csv"))]
    # The worker reads the run when it sends: the first version may find it still going (its START only) or
    # ended; the second finds it ended: START at the run's start, COMPLETE at its end.
    assert [e["eventType"] for e in during] in (["START"], ["START", "COMPLETE"])
    assert [e["eventType"] for e in after] == ["START", "COMPLETE"]
    info = MlflowClient(uri).get_run(out["run_id"]).info
    assert [e["eventTime"] for e in after] == [iso(info.start_time), iso(info.end_time)]
    outputs = [o for ev in receiver.bodies for o in ev["outputs"]]
    assert {o["namespace"] for o in outputs} == {uri}
    assert all(o["facets"]["datasetType"]["datasetType"] == "MODEL" for o in outputs)


def by_version(bodies: list[dict]) -> list[list[dict]]:
    """The events sent for each new version, in the order the versions were made (each names its version)."""
    groups: dict[str, list[dict]] = {}
    for ev in bodies:
        (out,) = ev["outputs"]
        groups.setdefault(out["name"], []).append(ev)
    return [groups[name] for name in sorted(groups)]


def test_the_live_event_is_the_commands_event(project, receiver, tmp_path):
    """The same run sent live and by `mlflow-lineage openlineage` is one OpenLineage run, same job, same data."""
    uri = sqlite_store(tmp_path / "mlflow.db")
    out, _ = register(project, uri, {"MLFLOW_LINEAGE_OPENLINEAGE": "true", "OPENLINEAGE_URL": receiver.url})
    command = str(Path(sys.executable).with_name("mlflow-lineage"))
    proc = subprocess.run(
        [command, "openlineage", "--dry-run", "--tracking-uri", uri, "models:/live/2"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    cmd = [json.loads(line) for line in proc.stdout.splitlines()]
    live = [_without_client_tags(ev) for ev in by_version(receiver.bodies)[1]]
    assert [e["eventType"] for e in cmd] == ["START", "COMPLETE"] and cmd == live


@pytest.mark.parametrize(
    "switches",
    [{}, {"MLFLOW_LINEAGE_OPENLINEAGE": "true", "MLFLOW_LINEAGE_DISABLE": "true"}],
    ids=["flag not set", "plugin disabled"],
)
def test_switched_off_sends_nothing(project, receiver, tmp_path, switches):
    out, stderr = register(project, sqlite_store(tmp_path / "mlflow.db"), {"OPENLINEAGE_URL": receiver.url, **switches})
    assert out["versions"] == [1, 2] and receiver.bodies == [] and ol_warnings(stderr) == []


def test_dead_endpoint_costs_one_warning_and_no_registration(project, tmp_path):
    uri = sqlite_store(tmp_path / "mlflow.db")
    dead = f"http://127.0.0.1:{free_port()}"
    out, stderr = register(project, uri, {"MLFLOW_LINEAGE_OPENLINEAGE": "true", "OPENLINEAGE_URL": dead})
    assert out["versions"] == [1, 2]  # both registrations succeeded
    warnings = ol_warnings(stderr)
    assert len(warnings) == 1, stderr[-3000:]
    # Said when the transport gives up; the second version skips sending for a while, silently.
    assert "OpenLineage event for version 1 of model 'live' not sent (http transport)" in warnings[0], warnings
    assert "Traceback" not in stderr


def test_on_but_not_configured_is_one_warning(project, tmp_path):
    out, stderr = register(project, sqlite_store(tmp_path / "mlflow.db"), {"MLFLOW_LINEAGE_OPENLINEAGE": "true"})
    assert out["versions"] == [1, 2]
    warnings = ol_warnings(stderr)
    assert len(warnings) == 1 and "no transport configured" in warnings[0], stderr[-3000:]


def test_server_side_sends_for_clients_without_the_flag(project, receiver, mlflow_server_factory):
    server = mlflow_server_factory("ol", env={"MLFLOW_LINEAGE_OPENLINEAGE": "true", "OPENLINEAGE_URL": receiver.url})
    out, stderr = register(project, server.url, {})
    assert ol_warnings(stderr) == []
    # The server sends in the background, after answering, in order: the second version's COMPLETE comes last.
    bodies = receiver.wait_for(
        lambda got: any(e["eventType"] == "COMPLETE" and e["outputs"][0]["name"] == "live/2" for e in got)
    )
    assert [[e["eventType"] for e in evs][-1] for evs in by_version(bodies)][1] == "COMPLETE"
    for ev in bodies:
        validate_event(ev)
        assert ev["run"]["facets"][O.RUN_FACET]["runId"] == out["run_id"]
        assert ev["job"]["namespace"] == server.url
        assert {o["namespace"] for o in ev["outputs"]} == {server.url}
    assert sorted({o["name"] for ev in bodies for o in ev["outputs"]}) == ["live/1", "live/2"]
