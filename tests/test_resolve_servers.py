"""The resolver against real ``mlflow server`` processes: two servers stand in for two workspaces and
server A's registry is the shared registry. Lineage is built by a training process that runs from a
real git repository with the plugin active; a version from B resolves through B, then B goes away
and the version's own copy of the git reference still answers. Also: MLflow 3 LoggedModel chains,
request counts (batching), and bounded time against a server that accepts but never answers."""

from __future__ import annotations

import socket
import textwrap
import threading
import time

import pytest
from conftest import RepoFactory, git, run_builder
from fixtures.mlflow_server import start_mlflow_servers

from mlflow_lineage_plugin.resolve import ResolveError, resolve
from mlflow_lineage_plugin.resolve import graph as G

BUILDER = textwrap.dedent(
    """
    import json, sys
    import mlflow
    from mlflow import MlflowClient

    a, b, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
    out = {"shared": {}, "batch": []}
    MlflowClient(tracking_uri=a, registry_uri=a).create_registered_model("shared")
    for label, ws in (("a", a), ("b", b)):
        mlflow.set_tracking_uri(ws)
        mlflow.set_experiment("train")
        with mlflow.start_run() as run:
            mlflow.log_text("flavors: {}\\n", "model/MLmodel")
        c = MlflowClient(tracking_uri=ws, registry_uri=a)
        mv = c.create_model_version("shared", f"runs:/{run.info.run_id}/model", run.info.run_id)
        out["shared"][label] = {"run_id": run.info.run_id, "version": mv.version}

    # MLflow 3 LoggedModels on A: one inside a run, one outside any run
    mlflow.set_tracking_uri(a)
    mlflow.set_registry_uri(a)
    c = MlflowClient(tracking_uri=a, registry_uri=a)
    c.create_registered_model("agent")
    with mlflow.start_run() as run:
        inside = mlflow.create_external_model(name="agent")
    outside = mlflow.create_external_model(name="agent-offline")
    for key, lm in (("inside", inside), ("outside", outside)):
        mv = c.create_model_version("agent", f"models:/{lm.model_id}", run_id=lm.source_run_id,
                                    model_id=lm.model_id)
        out[key] = {"model_id": lm.model_id, "run_id": lm.source_run_id, "version": mv.version}

    # 12 LoggedModel versions in one experiment: fetched by one scan, not 12 gets
    c.create_registered_model("lm-batch")
    mlflow.set_experiment("lm-batch")
    out["lm_batch"] = []
    for i in range(12):
        with mlflow.start_run() as run:
            lm = mlflow.create_external_model(name=f"m{i}")
        c.create_model_version("lm-batch", f"models:/{lm.model_id}", run_id=run.info.run_id, model_id=lm.model_id)
        out["lm_batch"].append(lm.model_id)

    # 30 versions over 3 experiments, for request counting
    c.create_registered_model("batch")
    for i in range(30):
        exp = mlflow.set_experiment(f"batch-{i % 3}")
        with mlflow.start_run() as run:
            pass
        mv = c.create_model_version("batch", f"runs:/{run.info.run_id}/model", run.info.run_id)
        out["batch"].append(run.info.run_id)
    with open(out_path, "w") as f:
        json.dump(out, f)
    """
)


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    base = tmp_path_factory.mktemp("servers")
    a, b = start_mlflow_servers(base)
    repo = RepoFactory(base).make("agent", files={"build.py": BUILDER}, remote="https://github.com/acme/agent.git")
    commit = git(repo, "rev-parse", "HEAD")
    made = run_builder(repo, [a, b])
    yield {"a": a, "b": b, "commit": commit, **made}
    a.stop()
    b.stop()


@pytest.fixture
def on_a(servers, monkeypatch):
    import mlflow

    mlflow.set_tracking_uri(None)  # the environment decides, as for a user's shell
    monkeypatch.setenv("MLFLOW_TRACKING_URI", servers["a"].url)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.delenv("MLFLOW_LINEAGE_WORKSPACES", raising=False)
    return servers


def test_version_from_a_resolves_on_a(on_a):
    s = on_a
    g = resolve(f"models:/shared/{s['shared']['a']['version']}")
    run = g.of_kind(G.RUN)[0]
    assert run.attrs["run_id"] == s["shared"]["a"]["run_id"]
    assert run.workspace_uri == s["a"].url
    assert run.url.startswith(s["a"].url + "/#/experiments/")
    assert g.of_kind(G.GIT_COMMIT)[0].attrs["commit"] == s["commit"]
    assert g.ok, g.to_text()


def test_version_from_b_is_followed_into_workspace_b(on_a):
    s = on_a
    g = resolve(f"models:/shared/{s['shared']['b']['version']}")
    mv = g.of_kind(G.MODEL_VERSION)[0]
    assert mv.attrs["run_id"] == s["shared"]["b"]["run_id"]
    run = g.of_kind(G.RUN)[0]
    assert run.workspace_uri == s["b"].url, "the run lives in B; the client was pointed at A"
    assert "not read" not in run.label
    exp = g.of_kind(G.EXPERIMENT)[0]
    assert exp.attrs["name"] == "train" and exp.workspace_uri == s["b"].url
    assert g.of_kind(G.GIT_COMMIT)[0].attrs["commit"] == s["commit"]
    assert [f for f in g.findings if f.severity == G.ERROR] == []
    # --mlmodel: the registry's copy is the run's own (runs:/ in B), read from B
    g2 = resolve(f"models:/shared/{s['shared']['b']['version']}", fetch_mlmodel=True)
    mm = g2.of_kind(G.MLFLOW_MODEL)[0]
    assert mm.attrs["run_copy"] == f"runs:/{s['shared']['b']['run_id']}/model"
    assert mm.attrs["same_location"] is True and mm.attrs["flavors"] == []
    assert [f for f in g2.findings if f.severity == G.ERROR] == [], g2.to_text()


def test_logged_model_chains_on_a_server(on_a):
    s = on_a
    g = resolve(f"models:/agent/{s['inside']['version']}")
    lm = g.of_kind(G.LOGGED_MODEL)[0]
    run = g.of_kind(G.RUN)[0]
    assert lm.attrs["model_id"] == s["inside"]["model_id"] and run.attrs["run_id"] == s["inside"]["run_id"]
    assert any(e.source == lm.id and e.target == run.id for e in g.edges)
    g2 = resolve(f"models:/agent/{s['outside']['version']}")
    assert not g2.of_kind(G.RUN) and "no_run" in {f.code for f in g2.findings}
    assert g2.of_kind(G.EXPERIMENT)
    # the LoggedModel got the git reference from the run context, without a run
    assert g2.of_kind(G.GIT_COMMIT)[0].attrs["commit"] == s["commit"]


def test_whole_model_is_resolved_in_a_few_requests(on_a):
    s = on_a
    before = s["a"].request_count()
    g = resolve("models:/batch")
    used = s["a"].request_count() - before
    assert len(g.of_kind(G.MODEL_VERSION)) == 30
    assert {n.attrs["run_id"] for n in g.of_kind(G.RUN)} == set(s["batch"])
    assert len(g.of_kind(G.EXPERIMENT)) == 3
    # registered model + version search + one batched run search + 3 experiments; naive would be 90
    assert used <= 8, f"{used} requests for 30 versions"


def test_logged_model_versions_are_scanned_not_fetched_one_by_one(on_a):
    s = on_a
    before = s["a"].request_count()
    g = resolve("models:/lm-batch")
    used = s["a"].request_count() - before
    assert {n.attrs["model_id"] for n in g.of_kind(G.LOGGED_MODEL)} == set(s["lm_batch"])
    assert len(g.of_kind(G.RUN)) == 12 and all("not read" not in n.label for n in g.of_kind(G.RUN))
    # registered model + versions + one LoggedModel scan + one run search + one experiment; naive: 36+
    assert used <= 8, f"{used} requests for 12 LoggedModel versions"


def _silent_server():
    """Accepts connections and reads, never answers: the worst kind of unresponsive server."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    conns, stop = [], threading.Event()

    def loop():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = srv.accept()
                conns.append(c)
            except OSError:
                continue

    t = threading.Thread(target=loop, daemon=True)
    t.start()

    def close():
        stop.set()
        t.join(2)
        for c in conns:
            c.close()
        srv.close()

    return f"http://127.0.0.1:{srv.getsockname()[1]}", close


def test_hung_workspace_is_bounded_and_the_version_copy_still_answers(on_a, monkeypatch):
    s = on_a
    silent, close = _silent_server()
    try:
        monkeypatch.setenv("MLFLOW_LINEAGE_WORKSPACES", f"{s['b'].url}={silent}")
        t0 = time.monotonic()
        g = resolve(f"models:/shared/{s['shared']['b']['version']}", timeout=2)
        took = time.monotonic() - t0
    finally:
        close()
    assert took < 15, f"took {took:.1f}s with a 2 s timeout"
    [f] = [f for f in g.findings if f.code == "workspace_unreachable"]
    assert f"is in workspace {s['b'].url}, which this client cannot reach: no answer within 2 s" in f.message
    assert g.of_kind(G.GIT_COMMIT)[0].attrs["commit"] == s["commit"], "the version's own copy answers"


def test_hung_registry_is_a_one_line_error_in_bounded_time(on_a):
    silent, close = _silent_server()
    try:
        t0 = time.monotonic()
        with pytest.raises(ResolveError) as err:
            resolve("models:/shared/1", tracking_uri=silent, registry_uri=silent, timeout=2)
        took = time.monotonic() - t0
    finally:
        close()
    assert took < 15
    assert "no answer within 2 s" in str(err.value) and "\n" not in str(err.value)


def test_stopped_workspace_is_a_finding(on_a):
    """Last in this module: it stops server B."""
    s = on_a
    s["b"].stop()
    g = resolve(f"models:/shared/{s['shared']['b']['version']}")
    [f] = [f for f in g.findings if f.code == "workspace_unreachable"]
    rid = s["shared"]["b"]["run_id"]
    assert f.message == (
        f"run {rid[:8]}… is in workspace {s['b'].url}, which this client cannot reach: connection refused"
    )
    assert f.requirement == G.REQ_REACHABLE and not g.ok
    assert g.of_kind(G.GIT_COMMIT)[0].attrs["commit"] == s["commit"]
    assert g.of_kind(G.GIT_COMMIT)[0].attrs["from"] == "version tags"
    # the version from A is unaffected
    assert resolve(f"models:/shared/{s['shared']['a']['version']}").ok
