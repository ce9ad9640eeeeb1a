"""Databricks: the notebook/job context as MLflow reads it (fake runtime context object, real
``mlflow.utils.databricks_utils``), and the workspace look-ups through the real ``databricks-sdk``
against a local stand-in of the REST API."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from typing import Optional

import pytest
from fixtures.databricks_server import (
    DEFAULT_TOKEN,
    DEFAULT_WORKSPACE_ID,
    DatabricksStandIn,
    isolate_databricks_env,
    write_databrickscfg,
)
from fixtures.sqlite_store import sqlite_store

from mlflow_lineage_plugin import databricks
from mlflow_lineage_plugin.databricks import sdk
from mlflow_lineage_plugin.databricks.git_folder import git_ref_from_workspace
from mlflow_lineage_plugin.databricks.notebook import DatabricksContext, current_context, workspace_from_context
from mlflow_lineage_plugin.databricks.profile_workspace import workspace_for_profile
from mlflow_lineage_plugin.databricks.profiles import norm_host, profile_host, profiles_for_host
from mlflow_lineage_plugin.tags import Notebook

pytest_plugins = ("fixtures.databricks_server",)  # the databricks_server / databricks_runtime fixtures

COMMIT = "605a2a975fd0ee6c054bfd31fffe35c64cbc73b0"
COMMIT2 = "5cbc78636fa9b8a598b08e48d111a6941324f13d"
REPO_NB = "/Repos/someone@example.com/proj/notebooks/train"
T = 30.0  # bound for calls expected to succeed: generous, as the first one imports databricks-sdk (seconds here)


@pytest.fixture(autouse=True)
def _fresh_caches():
    databricks.clear_caches()
    yield
    databricks.clear_caches()


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "home"
    isolate_databricks_env(monkeypatch, path)
    return path


def warnings_of(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("mlflow_lineage_plugin")
    ]


# --- the notebook / job context ------------------------------------------------------------------


def test_notebook_in_git_folder_maps_repos_info_to_git_ref(databricks_runtime):
    databricks_runtime.set(
        notebookPath=REPO_NB,
        notebookId="502783634811541",
        workspaceUrl="adb-1234.5.azuredatabricks.net",
        workspaceId="1234",
        apiUrl="https://westeurope.azuredatabricks.net",
        apiToken="dapi-notebook-secret",
        mlflowGitRepoUrl="https://someone:ghp_leaky@github.com/acme/proj.git",
        mlflowGitRepoProvider="gitHub",
        mlflowGitRepoCommit=COMMIT,
        mlflowGitRepoReference="feature/x",
        mlflowGitRepoReferenceType="branch",
        mlflowGitRelativePath="notebooks/train",
        mlflowGitRepoStatus="unknown",
    )
    ctx = current_context()
    assert ctx is not None
    assert ctx.notebook == Notebook(path=REPO_NB, id="502783634811541", revision_id=None)
    assert ctx.workspace_url == "https://adb-1234.5.azuredatabricks.net"
    assert ctx.workspace_id == "1234"
    assert ctx.job_id is None
    git = ctx.git
    assert git.commit == COMMIT
    assert git.branch == "feature/x"
    assert git.repo_url == "https://github.com/acme/proj"
    assert git.path == "notebooks/train"
    assert git.dirty is None  # "unknown" stays unknown
    # Databricks gives notebook paths without extension: the link is the folder at that commit.
    assert git.source_url == f"https://github.com/acme/proj/blob/{COMMIT}/notebooks"
    assert "ghp_leaky" not in repr(ctx) and "dapi-notebook-secret" not in repr(ctx)
    assert ctx.api_token == "dapi-notebook-secret"

    ws = workspace_from_context(ctx)
    assert ws is not None
    assert ws.uri == "https://adb-1234.5.azuredatabricks.net/?o=1234"
    assert ws.host == "https://adb-1234.5.azuredatabricks.net"
    assert ws.workspace_id == "1234"


def test_tag_checkout_has_no_branch_and_scp_remote_becomes_https(databricks_runtime):
    databricks_runtime.set(
        notebookPath=REPO_NB,
        workspaceUrl="dbc-1.cloud.databricks.com",
        mlflowGitRepoUrl="git@gitlab.com:acme/proj.git",
        mlflowGitRepoCommit=COMMIT,
        mlflowGitRepoReference="v1.2",
        mlflowGitRepoReferenceType="tag",
        mlflowGitRelativePath="src/job.py",
    )
    git = current_context().git
    assert git.branch is None
    assert git.repo_url == "https://gitlab.com/acme/proj"
    assert git.source_url == f"https://gitlab.com/acme/proj/-/blob/{COMMIT}/src/job.py"


def test_notebook_outside_git_folder_has_workspace_but_no_git(databricks_runtime):
    databricks_runtime.set(
        notebookPath="/Users/someone@example.com/scratch",
        notebookId="77",
        workspaceUrl=None,  # older runtimes: MLflow falls back to the browser host
        browserHostName="dbc-abc.cloud.databricks.com",
        workspaceId="987",
    )
    ctx = current_context()
    assert ctx is not None
    assert ctx.git.is_empty()
    assert ctx.notebook.path == "/Users/someone@example.com/scratch"
    assert workspace_from_context(ctx).uri == "https://dbc-abc.cloud.databricks.com/?o=987"


def test_job_run_context(databricks_runtime):
    databricks_runtime.set(
        isInNotebook=False,
        isInJob=True,
        jobId="718537778382911",
        idInJob="23143121",
        notebookPath="/Repos/someone@example.com/edw/Multi Statement Transactions",
        workspaceUrl="dbc-2.cloud.databricks.com",
        workspaceId="55",
        mlflowGitRepoUrl="https://github.com/acme/edw.git",
        mlflowGitRepoCommit=COMMIT2,
        mlflowGitRepoReference="main",
        mlflowGitRepoReferenceType="branch",
        mlflowGitRelativePath="Multi Statement Transactions",
    )
    ctx = current_context()
    assert (ctx.job_id, ctx.job_run_id) == ("718537778382911", "23143121")
    assert ctx.git.commit == COMMIT2 and ctx.git.branch == "main"
    assert ctx.git.path == "Multi Statement Transactions"
    assert ctx.git.source_url == f"https://github.com/acme/edw/commit/{COMMIT2}"
    assert workspace_from_context(ctx).uri == "https://dbc-2.cloud.databricks.com/?o=55"


def test_outside_databricks_is_none(monkeypatch):
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    monkeypatch.delenv("DATABRICKS_ENV_VERSION", raising=False)
    assert current_context() is None
    assert workspace_from_context(None) is None


def test_runtime_without_notebook_or_job_is_none(databricks_runtime):
    databricks_runtime.set(isInNotebook=False, isInJob=False)
    assert current_context() is None


def test_broken_runtime_context_never_raises(databricks_runtime, monkeypatch):
    import sys

    def boom():
        raise RuntimeError("driver gone")

    monkeypatch.setattr(sys.modules["dbruntime.databricks_repl_context"], "get_context", boom)
    assert current_context() is None


# --- the Git folder from the workspace API (real databricks-sdk, stand-in server) ----------------


def ctx_for(server: DatabricksStandIn, path: str, token: str = DEFAULT_TOKEN) -> DatabricksContext:
    return DatabricksContext(
        workspace_url="https://adb-1.azuredatabricks.net",
        workspace_id="1",
        notebook=Notebook(path=path),
        api_url=server.url,
        api_token=token,
    )


def test_sdk_finds_git_folder_and_rereads_head_each_run(home, databricks_server, caplog):
    s = databricks_server
    repo_id = s.add_git_folder(
        "/Repos/someone@example.com/proj", url="git@github.com:acme/proj.git", head_commit_id=COMMIT, branch="main"
    )
    s.add_notebook(REPO_NB)
    caplog.set_level(logging.DEBUG)

    git = git_ref_from_workspace(ctx_for(s, REPO_NB), timeout=T)
    assert git is not None
    assert (git.commit, git.branch, git.repo_url, git.path) == (
        COMMIT,
        "main",
        "https://github.com/acme/proj",
        "notebooks/train",
    )
    assert git.source_url == f"https://github.com/acme/proj/blob/{COMMIT}/notebooks"
    assert s.count("/api/2.0/workspace/get-status") == 2  # notebooks/, then the Git folder
    assert s.count(f"/api/2.0/repos/{repo_id}") == 1
    assert all(r.authorized for r in s.requests if r.path.startswith("/api/"))
    assert "mlflow-lineage-plugin/" in s.requests[-1].user_agent

    # A pull between two runs: the next run sees the new HEAD, for one request.
    s.repos[repo_id]["head_commit_id"] = COMMIT2
    s.reset_requests()
    assert git_ref_from_workspace(ctx_for(s, REPO_NB), timeout=T).commit == COMMIT2
    assert [r.path for r in s.requests] == [f"/api/2.0/repos/{repo_id}"]
    assert DEFAULT_TOKEN not in caplog.text
    assert warnings_of(caplog) == []


def test_sdk_finds_git_folder_marked_in_directory_info(home, databricks_server):
    s = databricks_server
    s.add_git_folder(
        "/Workspace/Users/someone@example.com/proj",
        url="https://dev.azure.com/org/prj/_git/proj",
        head_commit_id=COMMIT,
        branch=None,
        provider="azureDevOpsServices",
        style="directory",
    )
    path = "/Workspace/Users/someone@example.com/proj/pipelines/deep/score"
    s.add_notebook(path)
    git = git_ref_from_workspace(ctx_for(s, path), timeout=T)
    assert git.commit == COMMIT
    assert git.branch is None  # detached checkout
    assert git.path == "pipelines/deep/score"
    assert git.source_url == f"https://dev.azure.com/org/prj/_git/proj?path=/pipelines/deep&version=GC{COMMIT}"


def test_sdk_notebook_not_in_a_git_folder(home, databricks_server, caplog):
    s = databricks_server
    s.add_notebook("/Users/someone@example.com/scratch/nb")
    assert git_ref_from_workspace(ctx_for(s, "/Users/someone@example.com/scratch/nb"), timeout=T) is None
    assert s.count("/api/2.0/repos") == 0
    assert warnings_of(caplog) == []  # the normal case for a notebook outside Repos: nothing to warn about
    walked = s.count("/api/2.0/workspace/get-status")
    assert walked == 2  # scratch, someone@example.com (the workspace root is never asked)
    git_ref_from_workspace(ctx_for(s, "/Users/someone@example.com/scratch/nb"), timeout=T)
    assert s.count("/api/2.0/workspace/get-status") == walked  # remembered


def test_sdk_missing_notebook_path_is_none(home, databricks_server, caplog):
    assert git_ref_from_workspace(ctx_for(databricks_server, "/Users/gone/nb"), timeout=T) is None
    assert databricks_server.count("/api/2.0/workspace/get-status") == 1


def test_sdk_repo_deleted_since_found_warns_once_and_walks_again(home, databricks_server, caplog, monkeypatch):
    monkeypatch.setattr(sdk, "FAILURE_TTL", 0.0)  # no failure memory: see the walk happen again
    s = databricks_server
    repo_id = s.add_git_folder(
        "/Repos/someone@example.com/proj", url="https://github.com/acme/proj", head_commit_id=COMMIT
    )
    s.add_notebook(REPO_NB)
    assert git_ref_from_workspace(ctx_for(s, REPO_NB), timeout=T).commit == COMMIT
    del s.repos[repo_id]
    assert git_ref_from_workspace(ctx_for(s, REPO_NB), timeout=T) is None
    warnings = warnings_of(caplog)
    assert len(warnings) == 1 and "does not exist" in warnings[0] and REPO_NB in warnings[0]
    s.reset_requests()
    git_ref_from_workspace(ctx_for(s, REPO_NB), timeout=T)
    assert s.count("/api/2.0/workspace/get-status") == 2  # the stale location was forgotten


def test_sdk_bad_token_warns_once_without_the_token(home, databricks_server, caplog):
    s = databricks_server
    s.add_git_folder("/Repos/someone@example.com/proj", url="https://github.com/acme/proj", head_commit_id=COMMIT)
    s.add_notebook(REPO_NB)
    caplog.set_level(logging.DEBUG)
    bad = "dapi-wrong-token-123456"
    assert git_ref_from_workspace(ctx_for(s, REPO_NB, token=bad), timeout=T) is None
    asked = s.count("/api/")
    assert git_ref_from_workspace(ctx_for(s, REPO_NB, token=bad), timeout=T) is None  # the next run
    assert s.count("/api/") == asked  # the failure is remembered for a while: no request, no new warning
    warnings = warnings_of(caplog)
    assert len(warnings) == 1
    assert "Unauthenticated" in warnings[0] or "401" in warnings[0]
    assert bad not in caplog.text
    assert not any(r.authorized for r in s.requests if r.path.startswith("/api/"))


def test_sdk_slow_workspace_returns_within_the_bound(home, caplog):
    sdk.load_sdk()  # the bound is on the workspace's answer, not the one-time import
    with DatabricksStandIn(latency=30) as s:
        s.add_git_folder("/Repos/someone@example.com/proj", url="https://github.com/acme/proj", head_commit_id=COMMIT)
        s.add_notebook(REPO_NB)
        start = time.monotonic()
        assert git_ref_from_workspace(ctx_for(s, REPO_NB), timeout=1.0) is None
        elapsed = time.monotonic() - start
        assert elapsed < 1.6, elapsed
        start = time.monotonic()
        assert git_ref_from_workspace(ctx_for(s, REPO_NB), timeout=1.0) is None  # the next run
        assert time.monotonic() - start < 0.1  # does not wait again
        warnings = warnings_of(caplog)
        assert len(warnings) == 1 and "no answer within 1.0s" in warnings[0]


FRESH_PROCESS = """
import json, sys, time
from mlflow_lineage_plugin.databricks.git_folder import git_ref_from_workspace
from mlflow_lineage_plugin.databricks.notebook import DatabricksContext
from mlflow_lineage_plugin.databricks.profile_workspace import workspace_for_profile
from mlflow_lineage_plugin.tags import Notebook
assert "databricks.sdk" not in sys.modules
start = time.monotonic()
git = git_ref_from_workspace(DatabricksContext(notebook=Notebook(path=sys.argv[2]), api_url=sys.argv[1],
                                               api_token=sys.argv[3]), timeout=1.0)
first = time.monotonic() - start
ws = workspace_for_profile("dev", timeout=1.0)
print(json.dumps({"commit": git and git.commit, "uri": ws and ws.uri, "first_seconds": first}))
"""


def test_first_lookups_of_a_fresh_process_are_not_cut_short_by_the_sdk_import(home, databricks_server):
    """A job's first run: importing databricks-sdk takes seconds here, which must not eat the
    one-second budget of the workspace's answer."""
    s = databricks_server
    s.add_git_folder("/Repos/someone@example.com/proj", url="https://github.com/acme/proj", head_commit_id=COMMIT)
    s.add_notebook(REPO_NB)
    write_databrickscfg(home, {"dev": {"host": s.url, "token": DEFAULT_TOKEN}})
    out = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, s.url, REPO_NB, DEFAULT_TOKEN],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["commit"] == COMMIT, out.stderr[-2000:]
    assert got["uri"] == f"{s.url}/?o={DEFAULT_WORKSPACE_ID}", out.stderr[-2000:]
    assert "no answer within" not in out.stderr


def test_no_notebook_path_asks_nothing(home, databricks_server):
    ctx = DatabricksContext(workspace_url="https://x", api_url=databricks_server.url, api_token=DEFAULT_TOKEN)
    assert git_ref_from_workspace(ctx, timeout=T) is None
    assert git_ref_from_workspace(None) is None
    assert databricks_server.requests == []


def test_job_context_without_git_falls_back_to_the_workspace(databricks_runtime, databricks_server):
    s = databricks_server
    s.add_git_folder("/Repos/someone@example.com/proj", url="https://github.com/acme/proj", head_commit_id=COMMIT)
    s.add_notebook(REPO_NB)
    databricks_runtime.set(
        isInNotebook=False,
        isInJob=True,
        jobId="1",
        idInJob="2",
        notebookPath=REPO_NB,
        workspaceUrl="dbc-3.cloud.databricks.com",
        workspaceId="3",
        apiUrl=s.url,
        apiToken=DEFAULT_TOKEN,
    )
    ctx = current_context()
    assert ctx.git.is_empty()
    git = git_ref_from_workspace(ctx, timeout=T)
    assert (git.commit, git.path) == (COMMIT, "notebooks/train")


# --- the workspace of a `databricks://profile` tracking URI ----------------------------------------


def test_profile_workspace_from_databrickscfg(home, databricks_server, caplog):
    s = databricks_server
    write_databrickscfg(home, {"dev": {"host": s.url, "token": DEFAULT_TOKEN}})
    caplog.set_level(logging.DEBUG)
    ws = workspace_for_profile("dev", timeout=T)
    assert ws is not None
    assert ws.uri == f"http://127.0.0.1:{s.port}/?o={DEFAULT_WORKSPACE_ID}"
    assert ws.workspace_id == str(DEFAULT_WORKSPACE_ID)
    assert ws.host == s.url
    assert s.count("/api/2.0/preview/scim/v2/Me") == 1
    assert workspace_for_profile("dev", timeout=T) == ws
    assert s.count("/api/2.0/preview/scim/v2/Me") == 1  # remembered for the process
    assert DEFAULT_TOKEN not in caplog.text and DEFAULT_TOKEN not in repr(ws)


def test_default_profile_for_bare_databricks_uri(home, databricks_server, monkeypatch):
    from mlflow_lineage_plugin.tracking_workspace import workspace_for_tracking_uri

    monkeypatch.setenv("MLFLOW_LINEAGE_DATABRICKS_TIMEOUT", str(T))  # the caller passes no timeout
    s = databricks_server
    write_databrickscfg(home, {"DEFAULT": {"host": s.url, "token": DEFAULT_TOKEN}})
    ws = workspace_for_tracking_uri("databricks")
    assert ws is not None and ws.uri == f"{s.url}/?o={DEFAULT_WORKSPACE_ID}"


def test_workspace_id_from_host_metadata_needs_no_scim_call(home):
    with DatabricksStandIn(well_known={"workspace_id": "777"}) as s:
        write_databrickscfg(home, {"dev": {"host": s.url, "token": DEFAULT_TOKEN}})
        ws = workspace_for_profile("dev", timeout=T)
        assert ws.uri == f"{s.url}/?o=777"
        assert s.count("/api/2.0/preview/scim/v2/Me") == 0


def test_profile_bad_token_is_none_warns_once_and_is_not_retried_at_once(home, databricks_server, caplog):
    s = databricks_server
    bad = "dapi-not-the-right-one-987"
    write_databrickscfg(home, {"dev": {"host": s.url, "token": bad}})
    caplog.set_level(logging.DEBUG)
    assert workspace_for_profile("dev", timeout=T) is None
    assert workspace_for_profile("dev", timeout=T) is None
    warnings = warnings_of(caplog)
    assert len(warnings) == 1 and "dev" in warnings[0]
    assert s.count("/api/2.0/preview/scim/v2/Me") == 1
    assert bad not in caplog.text


def test_profile_without_token_or_unknown_profile_is_none(home, databricks_server, caplog):
    write_databrickscfg(home, {"dev": {"host": databricks_server.url}})
    caplog.set_level(logging.DEBUG)
    assert workspace_for_profile("dev", timeout=T) is None
    assert workspace_for_profile("nope", timeout=T) is None
    assert len(warnings_of(caplog)) == 2


def test_profile_unreachable_host_returns_within_the_bound(home):
    sdk.load_sdk()  # the bound is on the workspace's answer, not the one-time import
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    write_databrickscfg(home, {"dev": {"host": f"http://127.0.0.1:{port}", "token": DEFAULT_TOKEN}})
    start = time.monotonic()
    assert workspace_for_profile("dev", timeout=1.0) is None
    assert time.monotonic() - start < 1.6


def test_profile_slow_workspace_returns_within_the_bound(home):
    sdk.load_sdk()  # the bound is on the workspace's answer, not the one-time import
    with DatabricksStandIn(latency=30) as s:
        write_databrickscfg(home, {"dev": {"host": s.url, "token": DEFAULT_TOKEN}})
        start = time.monotonic()
        assert workspace_for_profile("dev", timeout=1.0) is None
        assert time.monotonic() - start < 1.6


# --- the seam is the one MLflow itself reads ----------------------------------------------------


def test_run_started_in_a_repo_notebook_gets_standard_git_tags(databricks_runtime, tmp_path):
    import mlflow

    databricks_runtime.set(
        notebookPath=REPO_NB,
        notebookId="502783634811541",
        workspaceUrl="adb-1234.5.azuredatabricks.net",
        workspaceId="1234",
        mlflowGitRepoUrl="https://github.com/acme/proj.git",
        mlflowGitRepoProvider="gitHub",
        mlflowGitRepoCommit=COMMIT,
        mlflowGitRepoReference="main",
        mlflowGitRepoReferenceType="branch",
        mlflowGitRelativePath="notebooks/train",
    )
    mlflow.set_tracking_uri(sqlite_store(tmp_path / "mlflow.db"))  # on "Databricks" the default is `databricks`
    try:
        with mlflow.start_run() as run:
            pass
        tags = mlflow.get_run(run.info.run_id).data.tags
    finally:
        mlflow.set_tracking_uri(None)
    # MLflow's own providers read the same seam: their tags prove it is the one they use.
    assert tags["mlflow.databricks.gitRepoCommit"] == COMMIT
    assert tags["mlflow.databricks.notebookPath"] == REPO_NB
    # The plugin maps it onto the standard keys MLflow leaves empty on Databricks.
    assert tags["mlflow.source.git.commit"] == COMMIT
    assert tags["mlflow.source.git.branch"] == "main"
    assert tags["mlflow.source.git.repoURL"] == "https://github.com/acme/proj"
    assert tags["lineage_git_path"] == "notebooks/train"
    assert "mlflow.databricks.notebookRevisionID" not in tags  # set by the Databricks backend only


# --- Unity Catalog's run_workspace_id: one reading for the resolver and backfill ----------------------

UC_VERSION = r"/api/2\.1/unity-catalog/models/main\.ml\.m/versions/(\d+)"


def serve_uc_versions(s: DatabricksStandIn, run_workspaces: dict[str, Optional[int]]) -> None:
    """UC's own model-version API on the stand-in: ``run_workspace_id`` per version (None: UC records none)."""
    import re

    from fixtures.databricks_server import Response

    def get(server, req):
        if not req.authorized:
            return Response(401, {"error_code": "UNAUTHENTICATED", "message": "Invalid access token."})
        version = re.fullmatch(UC_VERSION, req.path).group(1)
        if version not in run_workspaces:
            return Response(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Model version not found."})
        body = {"model_name": "main.ml.m", "version": int(version), "run_id": "a" * 32, "status": "READY"}
        if run_workspaces[version] is not None:
            body["run_workspace_id"] = run_workspaces[version]
        return Response(200, body)

    s.add_route("GET", UC_VERSION, get)


def test_uc_run_workspace_id_reads_with_the_registrys_credentials_one_client_for_all(home, databricks_server):
    from mlflow_lineage_plugin.databricks.unity_catalog import RunWorkspace, registry_workspace_id, run_workspace_id

    s = databricks_server
    serve_uc_versions(s, {"1": 555, "2": None})
    write_databrickscfg(home, {"uc": {"host": s.url, "token": DEFAULT_TOKEN}})
    uri = "databricks-uc://uc"
    assert run_workspace_id(uri, "main.ml.m", "1", T) == RunWorkspace("555")
    assert run_workspace_id(uri, "main.ml.m", "2", T) == RunWorkspace()  # UC records none: nothing to say
    gone = run_workspace_id(uri, "main.ml.m", "9", T)
    assert gone.workspace_id is None and gone.problem == "Model version not found."
    assert registry_workspace_id(uri, T) == str(DEFAULT_WORKSPACE_ID)
    asked = [r for r in s.requests if "unity-catalog" in r.path]
    assert len(asked) == 3 and all(r.authorized and "mlflow-lineage-plugin" in r.user_agent for r in asked)
    # one client for every version: MLflow's own answer for the registry's credentials builds one more
    assert s.count("/.well-known/databricks-config") <= 2
    s.reset_requests()
    assert run_workspace_id("uc:http://127.0.0.1:1", "main.ml.m", "1", T) == RunWorkspace()  # open-source UC
    assert registry_workspace_id("uc:http://127.0.0.1:1", T) is None and s.requests == []


def test_uc_run_workspace_id_takes_mlflows_legacy_credentials_too(home, databricks_server, monkeypatch):
    """With MLflow's databricks-sdk auth off, MLflow's registry store sends the host and token of its
    legacy providers (here the environment): the one reading uses the same."""
    from mlflow_lineage_plugin.databricks.unity_catalog import RunWorkspace, run_workspace_id

    s = databricks_server
    serve_uc_versions(s, {"1": 777})
    monkeypatch.setenv("MLFLOW_ENABLE_DB_SDK", "false")
    monkeypatch.setenv("DATABRICKS_HOST", s.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", DEFAULT_TOKEN)
    assert run_workspace_id("databricks-uc", "main.ml.m", "1", T) == RunWorkspace("777")
    assert [r.authorized for r in s.requests if "unity-catalog" in r.path] == [True]


def test_uc_run_workspace_id_says_why_not_without_the_token_and_within_the_bound(home, databricks_server):
    from mlflow_lineage_plugin.databricks.unity_catalog import run_workspace_id

    bad = "dapi-wrong-token-123456"
    serve_uc_versions(databricks_server, {"1": 555})
    write_databrickscfg(home, {"uc": {"host": databricks_server.url, "token": bad}})
    refused = run_workspace_id("databricks-uc://uc", "main.ml.m", "1", T)
    assert refused.workspace_id is None and refused.problem.startswith("credentials refused"), refused
    assert bad not in refused.problem
    sdk.load_sdk()  # the bound is on UC's answer, not the one-time import
    with DatabricksStandIn(latency=30) as slow:
        serve_uc_versions(slow, {"1": 555})
        write_databrickscfg(home, {"slow": {"host": slow.url, "token": DEFAULT_TOKEN}})
        start = time.monotonic()
        late = run_workspace_id("databricks-uc://slow", "main.ml.m", "1", 1.0)
        assert time.monotonic() - start < 1.6
    assert late.workspace_id is None and late.problem == "no answer within 1 s"


# --- ~/.databrickscfg, read as databricks-sdk reads it ----------------------------------------------


def _sdk_host(profile):
    """The host databricks-sdk itself settles on for ``profile`` (None when it cannot configure one)."""
    from databricks.sdk.core import Config

    try:
        return norm_host(Config(profile=profile, **sdk.sdk_kwargs(5)).host)
    except ValueError:
        return None


@pytest.mark.parametrize(
    "profile, env, settings, expected",
    [
        ("prod", {}, None, "b"),
        (None, {}, None, "a"),  # the [DEFAULT] section is the default profile
        ("DEFAULT", {}, None, "a"),
        ("nohost", {}, None, None),  # a named profile does not inherit [DEFAULT]'s host
        (None, {"DATABRICKS_CONFIG_PROFILE": "prod"}, None, "b"),
        (None, {}, "prod", "b"),  # [__settings__] default_profile
        (None, {"DATABRICKS_HOST": "b", "DATABRICKS_TOKEN": DEFAULT_TOKEN}, None, "b"),  # the environment first
    ],
)
def test_profile_host_agrees_with_databricks_sdk(
    home, databricks_server, monkeypatch, profile, env, settings, expected
):
    hosts = {"a": databricks_server.url, "b": databricks_server.url.replace("127.0.0.1", "localhost")}
    profiles = {
        "DEFAULT": {"host": hosts["a"], "token": DEFAULT_TOKEN},
        "prod": {"host": hosts["b"], "token": DEFAULT_TOKEN},
        "nohost": {"token": DEFAULT_TOKEN},
    }
    if settings:
        profiles["__settings__"] = {"default_profile": settings}
    write_databrickscfg(home, profiles)
    for name, value in env.items():
        monkeypatch.setenv(name, hosts.get(value, value))
    want = norm_host(hosts[expected]) if expected else None
    assert profile_host(profile) == want
    assert _sdk_host(profile) == want


def test_profiles_for_host_use_each_profiles_own_keys(home):
    write_databrickscfg(
        home,
        {
            "DEFAULT": {"host": "https://adb-1.azuredatabricks.net", "token": "x"},
            "nohost": {"token": "x"},
            "ws7": {"host": "adb-7.azuredatabricks.net/", "token": "x", "workspace_id": "7"},
            "any7": {"host": "https://ADB-7.azuredatabricks.net", "token": "x"},
            "__settings__": {"default_profile": "ws7"},
        },
    )
    assert profiles_for_host("https://adb-1.azuredatabricks.net") == ["DEFAULT"]
    assert profiles_for_host("https://adb-7.azuredatabricks.net", "7") == ["ws7", "any7"]
    assert profiles_for_host("https://adb-7.azuredatabricks.net", "8") == ["any7"]
    assert profiles_for_host("https://nowhere.example.com") == []
    (home / ".databrickscfg").write_text("[broken\nhost = x\n")
    assert profiles_for_host("https://x") == [] and profile_host(None) is None


def test_the_resolvers_home_workspace_follows_the_sdks_default_profile(home, monkeypatch):
    """``databricks`` as tracking URI is the workspace databricks-sdk would pick: the profile named by
    DATABRICKS_CONFIG_PROFILE, not [DEFAULT]."""
    from mlflow_lineage_plugin.resolve.endpoints import Clients

    write_databrickscfg(
        home,
        {
            "DEFAULT": {"host": "https://adb-1.azuredatabricks.net", "token": "x"},
            "prod": {"host": "https://adb-7.azuredatabricks.net", "token": "x"},
        },
    )
    monkeypatch.setenv("DATABRICKS_CONFIG_PROFILE", "prod")
    assert Clients(tracking_uri="databricks").home_workspace == "https://adb-7.azuredatabricks.net/"
    monkeypatch.setenv("DATABRICKS_HOST", "adb-9.azuredatabricks.net")
    assert Clients(tracking_uri="databricks").home_workspace == "https://adb-9.azuredatabricks.net/"
