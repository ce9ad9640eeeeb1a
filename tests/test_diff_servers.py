"""`diff` across workspaces: two `mlflow server` processes, server A's registry shared. Version 1's run lives
on A (clean), version 2's on B (a commit later, dirty, its patch kept on B). The diff follows each version into
its own workspace, compares the exact trees, and costs no more requests than the two resolves plus the model's
two small files per side and one patch download for the dirty side."""

from __future__ import annotations

import re
import textwrap

import pytest
from conftest import GIT_ENV, RepoFactory, git, run_builder
from fixtures.mlflow_server import start_mlflow_servers

from mlflow_lineage_plugin.resolve import diff, resolve

BUILDER = textwrap.dedent(
    """
    import json, subprocess, sys
    import mlflow
    from mlflow import MlflowClient

    a, b, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
    MlflowClient(tracking_uri=a, registry_uri=a).create_registered_model("shared")
    out = {}

    def train(label, ws, lr, reqs):
        mlflow.set_tracking_uri(ws)
        mlflow.set_experiment("train")
        with mlflow.start_run() as run:
            mlflow.log_param("lr", lr)
            mlflow.log_metric("auc", 0.8 if label == "a" else 0.9)
            mlflow.log_text("flavors:\\n  python_function:\\n    python_version: 3.11.7\\nmlflow_version: 3.17.2\\n",
                            "model/MLmodel")
            mlflow.log_text(reqs, "model/requirements.txt")
        mv = MlflowClient(tracking_uri=ws, registry_uri=a).create_model_version(
            "shared", f"runs:/{run.info.run_id}/model", run.info.run_id)
        out[label] = {"run_id": run.info.run_id, "version": mv.version}

    train("a", a, "0.1", "numpy==1.26.0\\n")
    open("model.py", "w").write("depth = 4\\n")
    subprocess.run(["git", "commit", "-q", "-am", "deeper"], check=True)
    open("model.py", "a").write("# tuned by hand\\n")
    train("b", b, "0.2", "numpy==2.0.0\\n")
    json.dump(out, open(out_path, "w"))
    """
)


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    base = tmp_path_factory.mktemp("diff-servers")
    a, b = start_mlflow_servers(base)
    repo = RepoFactory(base).make(
        "project", files={"build.py": BUILDER, "model.py": "depth = 3\n"}, remote="https://github.com/acme/fraud.git"
    )
    made = run_builder(repo, [a, b], {**GIT_ENV, "HOME": str(repo)})
    yield {"a": a, "b": b, "repo": repo, "versions": made}
    a.stop()
    b.stop()


@pytest.fixture
def on_a(servers, monkeypatch):
    import mlflow

    mlflow.set_tracking_uri(None)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", servers["a"].url)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.delenv("MLFLOW_LINEAGE_WORKSPACES", raising=False)
    return servers


def downloads(server) -> list[str]:
    """The artifact files the server has sent so far (proxied artifact GETs)."""
    lines = server.log.read_text(errors="replace").splitlines()
    found = (re.search(r'"GET /api/2\.0/mlflow-artifacts/artifacts/(\S+)', line) for line in lines)
    return [m.group(1) for m in found if m]


def test_versions_in_two_workspaces_compared_in_bounded_requests(on_a):
    s = on_a
    made = s["versions"]
    v1, v2 = f"models:/shared/{made['a']['version']}", f"models:/shared/{made['b']['version']}"
    before = (s["a"].request_count(), s["b"].request_count())
    resolve(v1), resolve(v2)
    walks = (s["a"].request_count() - before[0], s["b"].request_count() - before[1])
    got_a, got_b = len(downloads(s["a"])), len(downloads(s["b"]))
    before = (s["a"].request_count(), s["b"].request_count())
    logged = [len(x.log.read_text(errors="replace").splitlines()) for x in (s["a"], s["b"])]

    d = diff(v1, v2, repo=str(s["repo"]))

    assert d.a.run_id == made["a"]["run_id"] and d.a.workspace == s["a"].url
    assert d.b.run_id == made["b"]["run_id"] and d.b.workspace == s["b"].url
    assert d.code.known == "exact" and [c.subject for c in d.code.a_to_b] == ["deeper"]
    assert [f.path for f in d.code.files] == ["model.py"] and d.code.b.patch_files == ("model.py",)
    assert {(c.name, c.a, c.b) for c in d.section("params").changes} >= {("lr", "0.1", "0.2")}
    assert [(c.name, c.a, c.b) for c in d.section("env").changes] == [("numpy", "==1.26.0", "==2.0.0")]
    lineage = {c.name: (c.a, c.b) for c in d.section("lineage").changes}
    assert lineage["workspace"] == (s["a"].url, s["b"].url) and d.section("lineage").changes[0].name == "workspace"

    new_a, new_b = downloads(s["a"])[got_a:], downloads(s["b"])[got_b:]
    assert sorted(p.rsplit("/", 1)[-1] for p in new_a) == ["MLmodel", "requirements.txt"]
    assert sorted(p.rsplit("/", 1)[-1] for p in new_b) == ["MLmodel", "requirements.txt", "uncommitted.patch"]
    used = (s["a"].request_count() - before[0], s["b"].request_count() - before[1])
    seen = [x.log.read_text(errors="replace").splitlines()[n:] for x, n in zip((s["a"], s["b"]), logged)]
    # the two walks (the patch is read once, by the walk's check), then per model file a listing and the file
    # (the run's artifact location is known: no run look-up per download), and one server-info probe
    assert sum(used) <= sum(walks) + 4 * 2 + 1, (used, walks, seen)
    assert git(s["repo"], "status", "--porcelain") == "M model.py"
