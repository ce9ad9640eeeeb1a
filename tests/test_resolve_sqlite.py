"""The resolver on lineage the plugin built for real, in a SQLite store: training scripts run from a
real git repository in subprocesses (MLflow 3 ``log_model(registered_model_name=)``), a version made
while the plugin was disabled, a script outside any repository, a dirty tree, a deleted run, a
LoggedModel outside any run, and a notebook run as Databricks records it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import RepoFactory, git
from fixtures.sqlite_store import sqlite_store

from mlflow_lineage_plugin.resolve import ResolveError, find, resolve
from mlflow_lineage_plugin.resolve import graph as G

BUILDER = textwrap.dedent(
    """
    import json, os, sys
    import mlflow
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    uri, mode, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("train")
    out = {}
    # Stated requirements (inferring them starts one more interpreter per model) and cloudpickle (the
    # default, skops, takes seconds to import): the lineage under test is the same either way.
    LEAN = {"pip_requirements": ["scikit-learn"], "serialization_format": "cloudpickle"}

    def fit():
        return LogisticRegression().fit([[0.0], [1.0]], [0, 1])

    def logged(key, name, **kw):
        with mlflow.start_run() as run:
            info = mlflow.sklearn.log_model(fit(), name="model", registered_model_name=name, **LEAN, **kw)
        out[key] = {"run_id": run.info.run_id, "model_id": info.model_id,
                    "version": str(info.registered_model_version)}
        return run

    if mode == "main":
        logged("clean", "fraud")
        here = os.path.dirname(os.path.abspath(__file__))
        with open(os.path.join(here, "features.py"), "a") as f:
            f.write("# uncommitted edit\\n")
        logged("dirty", "fraud")
        run = logged("deleted", "fraud")
        MlflowClient().delete_run(run.info.run_id)
        info = mlflow.sklearn.log_model(fit(), name="orphan", registered_model_name="orphan", **LEAN)
        out["orphan"] = {"model_id": info.model_id, "version": str(info.registered_model_version)}
        c = MlflowClient()
        exp = mlflow.get_experiment_by_name("train").experiment_id
        nb = "/Users/someone@example.com/explore"
        run = c.create_run(exp, tags={"mlflow.source.type": "NOTEBOOK", "mlflow.source.name": nb,
                                      "mlflow.databricks.notebookPath": nb, "mlflow.databricks.notebookID": "4711"})
        c.set_terminated(run.info.run_id)
        c.create_registered_model("nb")
        mv = c.create_model_version("nb", f"runs:/{run.info.run_id}/model", run.info.run_id)
        out["notebook"] = {"run_id": run.info.run_id, "version": mv.version}
        c.set_registered_model_alias("fraud", "champion", out["clean"]["version"])
    else:
        logged(mode, mode)
    with open(out_path, "w") as f:
        json.dump(out, f)
    """
)


def _spawn(script: Path, uri: str, mode: str, out: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(script), uri, mode, str(out)],
        cwd=script.parent,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Three training processes, concurrently: the plugin in a repo, the plugin disabled in the same
    repo (a version 'created before the plugin'), and the plugin with a script outside any repo."""
    base = tmp_path_factory.mktemp("world")
    uri = sqlite_store(base / "mlflow.db")
    repo = RepoFactory(base).make(
        "fraud", files={"train.py": BUILDER, "features.py": "X = 1\n"}, remote="git@github.com:acme/fraud.git"
    )
    commit = git(repo, "rev-parse", "HEAD")
    loose = base / "scratch"
    loose.mkdir()
    shutil.copy(repo / "train.py", loose / "train.py")
    # SQLite and concurrent schema creation do not mix: create the schema first (here: no extra interpreter).
    import mlflow

    mlflow.MlflowClient(uri).search_experiments()
    env_off = {"MLFLOW_LINEAGE_DISABLE": "true"}
    procs = {
        "main": _spawn(repo / "train.py", uri, "main", base / "main.json", {}),
        "legacy": _spawn(repo / "train.py", uri, "legacy", base / "legacy.json", env_off),
        "nogit": _spawn(loose / "train.py", uri, "nogit", base / "nogit.json", {}),
    }
    out = {}
    for mode, p in procs.items():
        log, _ = p.communicate(timeout=400)
        assert p.returncode == 0, f"{mode} builder failed:\n{log[-3000:]}"
        out.update(json.loads((base / f"{mode}.json").read_text()))
    return {"uri": uri, "repo": repo, "commit": commit, "base": base, **out}


@pytest.fixture
def use(world, monkeypatch):
    import mlflow

    mlflow.set_tracking_uri(None)  # the environment decides, as for a user's shell
    monkeypatch.setenv("MLFLOW_TRACKING_URI", world["uri"])
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    return world


def codes(lineage) -> set[str]:
    return {f.code for f in lineage.findings}


def test_version_walks_to_the_commit_through_the_logged_model(use):
    g = resolve("models:/fraud/" + use["clean"]["version"])
    kinds = {n.kind for n in g.nodes.values()}
    assert {
        G.REGISTERED_MODEL,
        G.MODEL_VERSION,
        G.LOGGED_MODEL,
        G.RUN,
        G.EXPERIMENT,
        G.ENTRY_SCRIPT,
        G.GIT_COMMIT,
        G.REPOSITORY,
        G.MLFLOW_MODEL,
        G.WORKSPACE,
    } <= kinds
    commit = g.of_kind(G.GIT_COMMIT)[0]
    assert commit.attrs["commit"] == use["commit"]
    assert commit.attrs["branch"] == "main"
    assert commit.attrs["dirty"] is False
    assert commit.url == f"https://github.com/acme/fraud/commit/{use['commit']}"
    assert g.of_kind(G.REPOSITORY)[0].label == "repository https://github.com/acme/fraud"
    assert g.of_kind(G.ENTRY_SCRIPT)[0].attrs["path"] == "train.py"
    lm = g.of_kind(G.LOGGED_MODEL)[0]
    assert lm.attrs["model_id"] == use["clean"]["model_id"]
    run = g.of_kind(G.RUN)[0]
    assert run.attrs["run_id"] == use["clean"]["run_id"]
    assert run.workspace_uri == use["uri"]
    # the chain is version -> LoggedModel -> run -> entry script -> commit -> repository
    rel = {(g.nodes[e.source].kind, g.nodes[e.target].kind) for e in g.edges}
    assert {
        (G.MODEL_VERSION, G.LOGGED_MODEL),
        (G.LOGGED_MODEL, G.RUN),
        (G.RUN, G.ENTRY_SCRIPT),
        (G.ENTRY_SCRIPT, G.GIT_COMMIT),
        (G.GIT_COMMIT, G.REPOSITORY),
        (G.RUN, G.EXPERIMENT),
    } <= rel
    assert g.findings == [] and g.ok


def test_alias_stage_and_whole_model_targets(use):
    assert resolve("models:/fraud@champion").of_kind(G.RUN)[0].attrs["run_id"] == use["clean"]["run_id"]
    latest = resolve("models:/fraud/latest").of_kind(G.MODEL_VERSION)
    assert [n.attrs["version"] for n in latest] == [use["deleted"]["version"]]
    whole = resolve("models:/fraud")
    assert sorted(n.attrs["version"] for n in whole.of_kind(G.MODEL_VERSION)) == ["1", "2", "3"]
    assert whole.of_kind(G.REGISTERED_MODEL)[0].attrs["aliases"] == {"champion": use["clean"]["version"]}


def test_dirty_tree_breaks_clean(use):
    g = resolve("models:/fraud/" + use["dirty"]["version"])
    dirty = [f for f in g.findings if f.code == "dirty"]
    assert len(dirty) == 1 and dirty[0].requirement == G.REQ_CLEAN
    assert "uncommitted changes" in dirty[0].message
    assert g.findings_for({G.REQ_COMMIT, G.REQ_REACHABLE}) == []


@pytest.mark.parametrize("target", ["version", "logged model", "run"])
def test_deleted_run_is_a_finding_and_lineage_still_read(use, target):
    """Whatever names the model (its version, its LoggedModel, its run), a run in the trash is said."""
    d = use["deleted"]
    g = resolve(
        {"version": f"models:/fraud/{d['version']}", "logged model": f"models:/{d['model_id']}", "run": d["run_id"]}[
            target
        ]
    )
    f = [f for f in g.findings if f.code == "run_deleted"]
    assert f and d["run_id"] in f[0].message and "deleted" in f[0].message
    assert g.of_kind(G.GIT_COMMIT), "a deleted run's record is still readable"
    assert not g.ok


def test_logged_model_outside_any_run(use):
    g = resolve("models:/orphan/" + use["orphan"]["version"])
    assert not g.of_kind(G.RUN)
    lm = g.of_kind(G.LOGGED_MODEL)[0]
    exp = g.of_kind(G.EXPERIMENT)[0]
    assert any(e.source == lm.id and e.target == exp.id for e in g.edges)
    assert "no_run" in codes(g)
    commit = g.of_kind(G.GIT_COMMIT)[0]
    assert commit.attrs["commit"] == use["commit"] and commit.attrs["from"] == "LoggedModel tags"
    assert any(e.source == lm.id and e.target in (commit.id, g.of_kind(G.ENTRY_SCRIPT)[0].id) for e in g.edges)
    direct = resolve("models:/" + use["orphan"]["model_id"])
    assert direct.of_kind(G.MODEL_VERSION)[0].attrs["name"] == "orphan"
    assert direct.of_kind(G.EXPERIMENT)


def test_notebook_without_git_says_so(use):
    g = resolve(f"models:/nb/{use['notebook']['version']}")
    nb = g.of_kind(G.NOTEBOOK)[0]
    assert nb.attrs["path"] == "/Users/someone@example.com/explore"
    msg = [f.message for f in g.findings if f.code == "no_git_reference"]
    assert msg == [
        f"version {use['notebook']['version']} of 'nb' has no git reference: "
        "the run was started from an uncommitted notebook (not in a Git folder)"
    ]


def test_script_outside_git(use):
    g = resolve("models:/nogit/1")
    [f] = [f for f in g.findings if f.code == "no_git_reference"]
    assert "train.py was not in a git repository" in f.message
    assert f.requirement == G.REQ_COMMIT


def test_version_created_before_the_plugin(use):
    mv_tags = __import__("mlflow").MlflowClient(use["uri"]).get_model_version("legacy", "1").tags
    assert not any(k.startswith("lineage_") for k in mv_tags), "the plugin was disabled for this version"
    g = resolve("models:/legacy/1")
    # MLflow's own git context still tagged the run: the resolver finds the commit through it
    commit = g.of_kind(G.GIT_COMMIT)[0]
    assert commit.attrs["commit"] == use["commit"]
    assert commit.attrs["repo_url"] == "https://github.com/acme/fraud"
    assert "no_workspace_recorded" in codes(g)
    assert "dirty_unknown" in codes(g), "MLflow alone does not record whether the tree was clean"
    assert "no_git_reference" not in codes(g)


def test_run_targets(use):
    rid = use["clean"]["run_id"]
    for target in (rid, f"runs:/{rid}/model"):
        g = resolve(target)
        assert g.root_ids()[0] == f"run:{rid}"
        assert g.of_kind(G.GIT_COMMIT)[0].attrs["commit"] == use["commit"]
        assert [n.attrs["version"] for n in g.of_kind(G.MODEL_VERSION)] == [use["clean"]["version"]]
        assert g.of_kind(G.LOGGED_MODEL)[0].attrs["model_id"] == use["clean"]["model_id"]


def test_mlmodel_flavors_and_a_missing_run_copy(use, tmp_path):
    g = resolve("models:/fraud/" + use["clean"]["version"], fetch_mlmodel=True)
    mm = g.of_kind(G.MLFLOW_MODEL)[0]
    assert {"sklearn", "python_function"} <= set(mm.attrs["flavors"])
    natives = g.of_kind(G.NATIVE_ARTIFACT)
    assert natives and natives[0].attrs["flavor"] == "sklearn"
    assert mm.attrs["same_location"] is True  # the OSS registry serves the LoggedModel's own files
    # Remove the model's files, as an artifact clean-up would: the resolver must say the copy is gone.
    import mlflow

    lm = mlflow.MlflowClient(use["uri"]).get_logged_model(use["dirty"]["model_id"])
    path = Path(lm.artifact_location.replace("file://", ""))
    if not path.is_absolute():
        path = use["repo"] / path
    assert (path / "MLmodel").is_file(), lm.artifact_location
    shutil.move(str(path), str(tmp_path / "moved"))
    try:
        g2 = resolve("models:/fraud/" + use["dirty"]["version"], fetch_mlmodel=True)
    finally:
        shutil.move(str(tmp_path / "moved"), str(path))
    gone = [f for f in g2.findings if f.code == "run_copy_gone"]
    assert gone and "is gone" in gone[0].message and gone[0].severity == G.ERROR
    assert g2.of_kind(G.GIT_COMMIT), "the rest of the lineage is still there"


def test_find_by_commit_branch_repo_and_notebook(use):
    short = use["commit"][:8]
    r = find(commit=short)
    versions = {(v.name, v.version) for v in r.versions}
    # the LoggedModel logged outside any run got the git reference from the run context too
    assert {("fraud", "1"), ("fraud", "2"), ("fraud", "3"), ("legacy", "1"), ("orphan", "1")} <= versions
    assert ("nogit", "1") not in versions and ("nb", "1") not in versions
    runs = {x.run_id for x in r.runs}
    assert {use["clean"]["run_id"], use["dirty"]["run_id"], use["deleted"]["run_id"], use["legacy"]["run_id"]} <= runs
    # the legacy version is found only through its run (MLflow's own tag), the others by their tags too
    by = {(v.name, v.version): v.matched_by for v in r.versions}
    assert by[("legacy", "1")] == "run" and by[("fraud", "1")] == "version tags"
    for spelling in (
        "git@github.com:acme/fraud.git",
        "https://github.com/acme/fraud",
        "ssh://git@github.com/acme/fraud.git",
        "https://github.com/ACME/fraud/",
    ):
        got = find(repo_url=spelling)
        assert {use["clean"]["run_id"], use["legacy"]["run_id"]} <= {x.run_id for x in got.runs}, spelling
    assert not find(repo_url="git@github.com:acme/fraud-other.git")
    assert not find(repo_url="https://gitlab.com/acme/fraud")
    assert {x.run_id for x in find(branch="main", commit=use["commit"]).runs} >= {use["clean"]["run_id"]}
    assert not find(branch="does-not-exist")
    nb = find(notebook="/Users/someone@example.com/explore")
    assert [x.run_id for x in nb.runs] == [use["notebook"]["run_id"]]
    assert [(v.name, v.version) for v in nb.versions] == [("nb", "1")]
    assert not find(commit="0000000")


def test_unknown_targets_raise_clear_errors(use):
    for target, says in [
        ("models:/nope/1", "no registered model named 'nope'"),
        ("models:/fraud/99", "registered model 'fraud' has no version 99"),
        ("models:/fraud@nope", "registered model 'fraud' has no alias 'nope'"),
        ("models:/fraud/Production", "registered model 'fraud' has no version in stage Production"),
        ("models:/nope", "no registered model named 'nope'"),
        ("f" * 32, "not found"),
        ("models:/m-" + "0" * 32, "not found"),
    ]:
        with pytest.raises(ResolveError) as err:
            resolve(target)
        assert says in str(err.value), (target, str(err.value))


def test_renderers_on_real_lineage(use):
    g = resolve("models:/fraud")
    text = g.to_text()
    assert "registered model fraud" in text and use["commit"][:12] in text
    assert "findings (" in text and "uncommitted changes" in text
    data = json.loads(g.to_json())
    assert {n["kind"] for n in data["nodes"]} >= {"model_version", "run", "git_commit"}
    assert all(set(e) == {"source", "target", "relation"} for e in data["edges"])
    assert g.to_mermaid().startswith("flowchart LR")
    assert g.to_dot().startswith("digraph lineage {") and g.to_dot().rstrip().endswith("}")
    html = g._repr_html_()
    assert "<script" not in html and "http-equiv" not in html and "<link" not in html
    assert use["commit"][:12] in html


def test_find_by_a_sha256_commit_whole_or_abbreviated(tmp_path, monkeypatch):
    """A SHA-256 repository names commits with 64 hex characters, and the plugin records them as given."""
    from mlflow import MlflowClient

    uri = sqlite_store(tmp_path / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    c = MlflowClient(uri, uri)
    rid = c.create_run(c.create_experiment("sha256"), tags={"mlflow.source.git.commit": sha256}).info.run_id
    for query in (sha256, sha256.upper(), sha256[:12]):
        assert [r.run_id for r in find(commit=query).runs] == [rid], query
    with pytest.raises(ResolveError, match="is not a commit SHA \\(4 to 64 hex characters\\)"):
        find(commit=sha256 + "0")


def test_one_commit_hash_rule_for_the_whole_package():
    import mlflow_lineage_plugin

    package = Path(mlflow_lineage_plugin.__file__).parent
    twins = [
        f"{p.relative_to(package)}:{n}"
        for p in sorted(package.rglob("*.py"))
        if p.name != "commit_hash.py"
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\{(4,|40\b|64\b)", line) and "0-9a-f" in line.lower()
    ]
    assert twins == []
