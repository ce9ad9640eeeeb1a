"""Notebooks: a real Jupyter kernel (ipykernel driven by nbclient) inside a real git repository, where
MLflow itself records no git reference at all; and a Databricks notebook through the runtime seam and
the workspace stand-in (tests/fixtures/databricks_server.py), driven through the real databricks-sdk."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import mlflow
import nbformat
import pytest
from conftest import GIT_ENV, git
from fixtures.databricks_server import DEFAULT_TOKEN, DEFAULT_WORKSPACE_ID
from fixtures.sqlite_store import sqlite_store
from mlflow import MlflowClient
from nbclient import NotebookClient

from mlflow_lineage_plugin import context
from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.warn_once import WarnOnce

pytest_plugins = ("fixtures.databricks_server",)

REMOTE = "git@github.com:acme/widgets.git"
WEB = "https://github.com/acme/widgets"

RUN_CELL = "with mlflow.start_run() as run:\n    mlflow.log_metric('m', 1.0)\nprint('RUN_ID=' + run.info.run_id)"
COMMIT_CELL = (
    "import pathlib, subprocess\n"
    "pathlib.Path('../model.py').write_text('VERSION = 2\\n')\n"
    "subprocess.run(['git', 'add', '-A'], check=True)\n"
    "subprocess.run(['git', 'commit', '-q', '-m', 'second'], check=True)"
)


def notebook(*cells: str) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import mlflow")] + [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(nb)


def execute(nb_file: Path) -> list[str]:
    """Run every cell in a fresh kernel whose working directory is the notebook's folder (as Jupyter
    starts it); return the run ids the cells printed."""
    nb = nbformat.read(nb_file, as_version=4)
    NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(nb_file.parent)}}
    ).execute()
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.get("name") == "stdout")
    return re.findall(r"^RUN_ID=(\w+)$", text, re.M)


@pytest.fixture
def kernel_env(monkeypatch, sqlite_uri):
    """What the kernel inherits: the tracking store, a git identity, no plugin settings (conftest clears
    them), no notebook hints."""
    for name in ("JPY_SESSION_NAME", "__vsc_ipynb_file__"):
        monkeypatch.delenv(name, raising=False)
    for k, v in GIT_ENV.items():
        monkeypatch.setenv(k, v)
    return sqlite_uri


def test_jupyter_notebook_records_its_own_file_and_a_fresh_commit_per_run(repos, kernel_env, monkeypatch):
    repo = repos.make(
        "widgets",
        files={"notebooks/explore.ipynb": notebook(RUN_CELL, COMMIT_CELL, RUN_CELL), "model.py": "VERSION = 1\n"},
        remote=REMOTE,
    )
    nb_file = repo / "notebooks" / "explore.ipynb"
    first_head = git(repo, "rev-parse", "HEAD")
    # jupyter_server hands the kernel its notebook's path this way; ipykernel exposes it as __session__.
    monkeypatch.setenv("JPY_SESSION_NAME", str(nb_file))

    first, second = execute(nb_file)

    second_head = git(repo, "rev-parse", "HEAD")
    assert first_head != second_head
    client = MlflowClient(kernel_env)
    t1, t2 = client.get_run(first).data.tags, client.get_run(second).data.tags
    assert t1[T.MLFLOW_GIT_COMMIT] == first_head
    assert t2[T.MLFLOW_GIT_COMMIT] == second_head  # same kernel, new commit: not a cached answer
    for tags, head in ((t1, first_head), (t2, second_head)):
        assert tags[T.GIT_PATH] == "notebooks/explore.ipynb"
        assert tags[T.MLFLOW_GIT_BRANCH] == "main"
        assert tags[T.MLFLOW_GIT_REPO_URL] == WEB
        assert tags[T.MLFLOW_GIT_DIRTY] == "false"
        assert tags[T.SOURCE_URL] == f"{WEB}/blob/{head}/notebooks/explore.ipynb"
        assert tags[T.WORKSPACE_URI] == kernel_env
        # The UI's "Source" names the notebook, not ipykernel_launcher.py.
        assert tags[T.MLFLOW_SOURCE_NAME] == str(nb_file)
        assert tags[T.MLFLOW_SOURCE_TYPE] == "NOTEBOOK"


def test_jupyter_notebook_without_hints_records_the_kernel_folder(repos, kernel_env):
    vsc = "__vsc_ipynb_file__ = str(pathlib.Path.cwd() / 'explore.ipynb')"
    repo = repos.make(
        "widgets",
        files={"notebooks/explore.ipynb": notebook(RUN_CELL, "import pathlib\n" + vsc, RUN_CELL)},
        remote=REMOTE,
    )
    head = git(repo, "rev-parse", "HEAD")

    plain, vscode = execute(repo / "notebooks" / "explore.ipynb")

    client = MlflowClient(kernel_env)
    t1, t2 = client.get_run(plain).data.tags, client.get_run(vscode).data.tags
    assert t1[T.MLFLOW_GIT_COMMIT] == head  # MLflow alone records no commit in a notebook
    assert t1[T.GIT_PATH] == "notebooks"
    assert t1[T.MLFLOW_GIT_REPO_URL] == WEB
    assert t1[T.MLFLOW_SOURCE_NAME].endswith("ipykernel_launcher.py")  # no notebook file known: MLflow's
    assert t2[T.GIT_PATH] == "notebooks/explore.ipynb"  # VS Code names the file in the namespace
    assert t2[T.MLFLOW_GIT_COMMIT] == head


# --- Databricks ------------------------------------------------------------------------------------

SHA = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
HOST = "adb-1234567890123456.7.azuredatabricks.net"


@pytest.fixture
def provider(monkeypatch, tmp_path):
    """The provider of a Databricks notebook, whose driver folder is no local checkout: the code
    reference can only come from the workspace (the test process's own folder may be a checkout)."""
    monkeypatch.setattr(context, "_warnings", WarnOnce(context._logger))
    from mlflow_lineage_plugin import databricks

    databricks.clear_caches()
    return context.LineageRunContext(entry_file=str(tmp_path))


def test_databricks_repo_notebook_maps_context_onto_standard_git_tags(databricks_runtime, provider, tmp_path):
    databricks_runtime.set(
        notebookPath="/Repos/me@example.com/widgets/notebooks/train",
        notebookId="42",
        workspaceUrl=HOST,
        workspaceId="1234567890123456",
        mlflowGitRepoUrl="https://github.com/acme/widgets.git",
        mlflowGitRepoProvider="gitHub",
        mlflowGitRepoCommit=SHA,
        mlflowGitRelativePath="notebooks/train",
        mlflowGitRepoReference="main",
        mlflowGitRepoReferenceType="branch",
    )
    mlflow.set_tracking_uri("databricks")
    tags = provider.tags()
    assert tags[T.MLFLOW_GIT_COMMIT] == SHA
    assert tags[T.MLFLOW_GIT_BRANCH] == "main"
    assert tags[T.MLFLOW_GIT_REPO_URL] == WEB
    assert tags[T.GIT_PATH] == "notebooks/train"
    assert tags[T.SOURCE_URL].startswith(f"{WEB}/") and SHA in tags[T.SOURCE_URL]
    assert tags[T.WORKSPACE_URI] == f"https://{HOST}/?o=1234567890123456"
    assert not any(k.startswith("mlflow.databricks.") for k in tags)  # MLflow's own stay untouched

    # A real run from the same notebook, logging to a store of its own: the git reference lands, and
    # the workspace is where the run lives, not the notebook's workspace.
    uri = sqlite_store(tmp_path / "mlflow.db")
    mlflow.set_tracking_uri(uri)
    experiment_id = MlflowClient(uri).create_experiment("notebook")  # not the notebook's own experiment
    with mlflow.start_run(experiment_id=experiment_id) as run:
        pass
    landed = MlflowClient(uri).get_run(run.info.run_id).data.tags
    assert landed[T.MLFLOW_GIT_COMMIT] == SHA
    assert landed[T.GIT_PATH] == "notebooks/train"
    assert landed[T.WORKSPACE_URI] == uri
    assert landed.get(T.MLFLOW_DATABRICKS_GIT_REPO_COMMIT) == SHA  # MLflow's own provider, kept
    mlflow.set_tracking_uri(None)


def test_databricks_job_without_git_context_asks_the_workspace(
    databricks_runtime, databricks_server, provider, monkeypatch
):
    databricks_server.add_git_folder(
        "/Repos/ci/widgets", url="https://github.com/acme/widgets.git", head_commit_id=SHA, branch="release"
    )
    databricks_server.add_notebook("/Repos/ci/widgets/jobs/nightly")
    databricks_runtime.set(
        isInNotebook=False,
        isInJob=True,
        jobId="7",
        idInJob="99",
        notebookPath="/Repos/ci/widgets/jobs/nightly",
        apiUrl=databricks_server.url,
        apiToken=DEFAULT_TOKEN,
        workspaceUrl=HOST,
        workspaceId=str(DEFAULT_WORKSPACE_ID),
    )
    # The first call imports databricks-sdk (seconds on a loaded machine): the bound is not under test here.
    monkeypatch.setenv("MLFLOW_LINEAGE_DATABRICKS_TIMEOUT", "60")
    mlflow.set_tracking_uri("databricks")
    try:
        tags = provider.tags()
    finally:
        mlflow.set_tracking_uri(None)
    assert tags[T.MLFLOW_GIT_COMMIT] == SHA
    assert tags[T.MLFLOW_GIT_BRANCH] == "release"
    assert tags[T.MLFLOW_GIT_REPO_URL] == WEB
    assert tags[T.GIT_PATH] == "jobs/nightly"
    assert tags[T.WORKSPACE_URI] == f"https://{HOST}/?o={DEFAULT_WORKSPACE_ID}"
    assert databricks_server.count("/api/2.0/repos/") >= 1


def test_databricks_workspace_unreachable_one_warning_rest_recorded(databricks_runtime, provider, caplog):
    from fixtures.services import free_port

    databricks_runtime.set(
        notebookPath="/Repos/ci/widgets/jobs/nightly",
        apiUrl=f"http://127.0.0.1:{free_port()}",
        apiToken=DEFAULT_TOKEN,
        workspaceUrl=HOST,
        workspaceId="55",
    )
    mlflow.set_tracking_uri("databricks")
    try:
        with caplog.at_level(logging.WARNING, logger="mlflow_lineage_plugin"):
            tags = provider.tags()
    finally:
        mlflow.set_tracking_uri(None)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("mlflow_lineage")]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert DEFAULT_TOKEN not in caplog.text
    assert tags[T.WORKSPACE_URI] == f"https://{HOST}/?o=55"


def test_slow_databricks_workspace_cannot_stall_the_run(databricks_runtime, provider, monkeypatch, caplog):
    import time

    from fixtures.databricks_server import DatabricksStandIn

    monkeypatch.setenv("MLFLOW_LINEAGE_DATABRICKS_TIMEOUT", "1")
    with DatabricksStandIn(latency=30.0) as slow:
        slow.add_git_folder("/Repos/ci/widgets", url="https://github.com/acme/widgets.git", head_commit_id=SHA)
        slow.add_notebook("/Repos/ci/widgets/jobs/nightly")
        databricks_runtime.set(
            notebookPath="/Repos/ci/widgets/jobs/nightly",
            apiUrl=slow.url,
            apiToken=DEFAULT_TOKEN,
            workspaceUrl=HOST,
            workspaceId="55",
        )
        mlflow.set_tracking_uri("databricks")
        started = time.monotonic()
        try:
            with caplog.at_level(logging.WARNING, logger="mlflow_lineage_plugin"):
                tags = provider.tags()
        finally:
            mlflow.set_tracking_uri(None)
        elapsed = time.monotonic() - started
    assert elapsed < 4.0, elapsed  # 1 s limit, against a workspace answering after 30 s
    assert tags[T.WORKSPACE_URI] == f"https://{HOST}/?o=55"
    assert T.MLFLOW_GIT_COMMIT not in tags
    # Ours only: databricks-sdk logs its own warnings from the abandoned call (reported, not ours to mute).
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("mlflow_lineage")]) == 1
