"""The run-context provider end to end: real git repositories, a real SQLite store, runs started with
``mlflow.start_run`` and read back the way a user would, through ``MlflowClient``.

Most run in this process, with MLflow's own provider registry holding a provider given the script's path
as its entry file; a fresh interpreter only where process start-up is the point (how ``__main__`` is
found, MLflow's own per-process git provider, loading the entry point while ``import mlflow`` runs)."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import mlflow.pyfunc
import pytest
from conftest import GIT_ENV, git
from fixtures import models
from mlflow import MlflowClient

from mlflow_lineage_plugin import context
from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.warn_once import WarnOnce

SECRET = "ghp_S3cretT0ken"
REMOTE = f"https://ci-bot:{SECRET}@github.com/acme/widgets.git"
WEB = "https://github.com/acme/widgets"

TRAIN = textwrap.dedent(
    """
    import json, os
    import mlflow

    user_tags = json.loads(os.environ.get("TEST_USER_TAGS") or "null")
    with mlflow.start_run(tags=user_tags) as run:
        mlflow.log_param("alpha", 0.5)
    print("RUN_ID=" + run.info.run_id)
    """
)

OURS = (*T.PLUGIN_KEYS, T.MLFLOW_GIT_DIRTY)


def run_py(args: list[str], cwd: Path, uri: str, env: dict | None = None) -> tuple[list[str], str]:
    """Run a Python process as a user would; returns the run ids it printed and its stderr."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_LINEAGE_")}
    e.pop("MLFLOW_REGISTRY_URI", None)
    e.update({"MLFLOW_TRACKING_URI": uri, **GIT_ENV, **(env or {})})
    p = subprocess.run([sys.executable, *args], cwd=cwd, env=e, capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr[-4000:]
    return re.findall(r"^RUN_ID=(\w+)$", p.stdout, re.M), p.stderr


def tags_of(uri: str, run_id: str) -> dict[str, str]:
    return MlflowClient(uri).get_run(run_id).data.tags


def lineage_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "mlflow-lineage:" in line]


@pytest.fixture
def widgets(repos):
    return repos.make("widgets", files={"src/train.py": TRAIN, "README.md": "widgets\n"}, remote=REMOTE)


@pytest.fixture
def warned(monkeypatch, caplog):
    """The plugin's warnings in this test, each problem said once per process as a user sees it."""
    monkeypatch.setattr(context, "_warnings", WarnOnce(context._logger))
    caplog.set_level(logging.WARNING, logger="mlflow_lineage_plugin")

    def messages() -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if r.name.startswith("mlflow_lineage_plugin") and r.levelno >= logging.WARNING
        ]

    return messages


def start(tags: dict | None = None) -> dict[str, str]:
    with mlflow.start_run(tags=tags) as run:
        mlflow.log_param("alpha", 0.5)
    return MlflowClient().get_run(run.info.run_id).data.tags


def test_script_records_commit_branch_remote_path_link_and_workspace(widgets, sqlite_uri, provider_for, warned):
    provider_for(widgets / "src" / "train.py")
    tags = start()
    head = git(widgets, "rev-parse", "HEAD")

    assert tags[T.MLFLOW_GIT_COMMIT] == head
    assert tags[T.MLFLOW_GIT_BRANCH] == "main"
    assert tags[T.MLFLOW_GIT_REPO_URL] == WEB  # MLflow's own provider would write ".../widgets.git"
    assert tags[T.MLFLOW_GIT_REPO_URL_LEGACY] == WEB
    assert tags[T.MLFLOW_GIT_DIRTY] == "false"
    assert tags[T.GIT_PATH] == "src/train.py"
    assert tags[T.SOURCE_URL] == f"{WEB}/blob/{head}/src/train.py"
    assert tags[T.WORKSPACE_URI] == sqlite_uri
    assert tags[T.SCHEMA] == T.SCHEMA_VERSION
    assert not any(SECRET in v or "ci-bot" in v for v in tags.values())
    assert warned() == []


def test_a_script_started_as_its_own_process(widgets, sqlite_uri):
    """The entry file found from ``__main__`` of a real process, with nothing injected."""
    (run_id,), err = run_py(["src/train.py"], widgets, sqlite_uri)
    tags = tags_of(sqlite_uri, run_id)
    assert tags[T.MLFLOW_GIT_COMMIT] == git(widgets, "rev-parse", "HEAD")
    assert tags[T.GIT_PATH] == "src/train.py"
    assert lineage_warnings(err) == []


def test_dirty_counts_tracked_files_only(widgets, sqlite_uri, provider_for):
    provider_for(widgets / "src" / "train.py")
    (widgets / "notes.txt").write_text("untracked\n")
    clean = start()
    (widgets / "README.md").write_text("edited\n")
    dirty = start()
    assert clean[T.MLFLOW_GIT_DIRTY] == "false"
    assert dirty[T.MLFLOW_GIT_DIRTY] == "true"


def test_repository_of_the_entry_file_not_of_the_working_directory(
    repos, widgets, sqlite_uri, provider_for, monkeypatch
):
    other = repos.make("other", files={"x.txt": "x\n"}, remote="https://github.com/acme/other.git")
    monkeypatch.chdir(other)
    provider_for(widgets / "src" / "train.py")
    tags = start()
    assert tags[T.MLFLOW_GIT_COMMIT] == git(widgets, "rev-parse", "HEAD")
    assert tags[T.MLFLOW_GIT_REPO_URL] == WEB
    assert tags[T.GIT_PATH] == "src/train.py"


def test_python_dash_m_module_entry(repos, sqlite_uri):
    """How ``python -m`` sets ``__main__`` is process start-up itself: a fresh interpreter."""
    repo = repos.make(
        "pkgrepo", files={"pkg/__init__.py": "", "pkg/train.py": TRAIN}, remote="git@gitlab.com:team/pkgrepo.git"
    )
    (run_id,), _ = run_py(["-m", "pkg.train"], repo, sqlite_uri)
    tags = tags_of(sqlite_uri, run_id)
    head = git(repo, "rev-parse", "HEAD")
    assert tags[T.MLFLOW_GIT_COMMIT] == head
    assert tags[T.GIT_PATH] == "pkg/train.py"
    assert tags[T.MLFLOW_GIT_REPO_URL] == "https://gitlab.com/team/pkgrepo"
    assert tags[T.SOURCE_URL] == f"https://gitlab.com/team/pkgrepo/-/blob/{head}/pkg/train.py"


def test_relative_sqlite_store_is_recorded_as_an_absolute_uri(widgets, sqlite_uri, provider_for, monkeypatch):
    monkeypatch.chdir(widgets)
    mlflow.set_tracking_uri("sqlite:///mlflow.db")
    provider_for(widgets / "src" / "train.py")
    expected = f"sqlite:///{widgets / 'mlflow.db'}"
    assert start()[T.WORKSPACE_URI] == expected


def test_commit_between_two_runs_in_one_process_records_two_commits(repos, widgets, sqlite_uri, provider_for):
    """MLflow's own git provider caches the first answer for the life of the process."""
    provider_for(widgets / "src" / "train.py")
    first_head = git(widgets, "rev-parse", "HEAD")
    first = start()
    second_head = repos.commit(widgets, "src/model.py", "VERSION = 2\n", "second")
    second = start()
    assert first_head != second_head
    assert first[T.MLFLOW_GIT_COMMIT] == first_head
    assert second[T.MLFLOW_GIT_COMMIT] == second_head
    assert second[T.SOURCE_URL] == f"{WEB}/blob/{second_head}/src/train.py"


def test_environment_overrides_for_builds_without_git(tmp_path, sqlite_uri, provider_for, monkeypatch, warned):
    build = tmp_path / "build"
    (build / "jobs").mkdir(parents=True)
    (build / "jobs" / "train.py").write_text(TRAIN)
    sha = "0123456789abcdef0123456789abcdef01234567"
    env = {
        "MLFLOW_LINEAGE_GIT_COMMIT": sha.upper(),
        "MLFLOW_LINEAGE_GIT_BRANCH": "refs/heads/release/1.2",
        "MLFLOW_LINEAGE_GIT_REPO_URL": f"https://x-access-token:{SECRET}@github.com/acme/widgets.git",
        "MLFLOW_LINEAGE_GIT_PATH": "./jobs/train.py",
        "MLFLOW_LINEAGE_GIT_DIRTY": "false",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    provider_for(build / "jobs" / "train.py")
    tags = start()
    assert tags[T.MLFLOW_GIT_COMMIT] == sha
    assert tags[T.MLFLOW_GIT_BRANCH] == "release/1.2"
    assert tags[T.MLFLOW_GIT_REPO_URL] == WEB
    assert tags[T.MLFLOW_GIT_REPO_URL_LEGACY] == WEB
    assert tags[T.GIT_PATH] == "jobs/train.py"
    assert tags[T.MLFLOW_GIT_DIRTY] == "false"
    assert tags[T.SOURCE_URL] == f"{WEB}/blob/{sha}/jobs/train.py"
    assert not any(SECRET in v for v in tags.values())
    assert warned() == []


def test_override_of_one_field_keeps_the_rest_of_the_checkout(widgets, sqlite_uri, provider_for, monkeypatch):
    monkeypatch.setenv("MLFLOW_LINEAGE_GIT_BRANCH", "release")
    provider_for(widgets / "src" / "train.py")
    tags = start()
    assert tags[T.MLFLOW_GIT_BRANCH] == "release"
    assert tags[T.MLFLOW_GIT_COMMIT] == git(widgets, "rev-parse", "HEAD")
    assert tags[T.GIT_PATH] == "src/train.py"


def test_workspace_uri_override_loses_credentials_keeps_workspace_id(widgets, sqlite_uri, provider_for, monkeypatch):
    monkeypatch.setenv("MLFLOW_LINEAGE_WORKSPACE_URI", f"https://token:{SECRET}@adb-123.7.azuredatabricks.net/?o=123")
    provider_for(widgets / "src" / "train.py")
    assert start()[T.WORKSPACE_URI] == "https://adb-123.7.azuredatabricks.net/?o=123"


def test_workspace_uri_override_that_is_no_uri_is_ignored_with_one_warning(
    widgets, sqlite_uri, provider_for, monkeypatch, warned
):
    monkeypatch.setenv("MLFLOW_LINEAGE_WORKSPACE_URI", f"Bearer {SECRET}")
    provider_for(widgets / "src" / "train.py")
    tags = start()
    assert tags[T.WORKSPACE_URI] == sqlite_uri  # derived from the tracking URI, as if unset
    assert warned() == [
        "mlflow-lineage: MLFLOW_LINEAGE_WORKSPACE_URI is not a URI (expected scheme://host..., "
        "e.g. https://mlflow.example.com); it is ignored"
    ]
    assert SECRET not in repr(tags)


def test_off_switch_writes_none_of_our_tags(widgets, sqlite_uri):
    """A process of its own: MLflow's own git provider reads the process's ``sys.argv[0]``."""
    (run_id,), err = run_py(["src/train.py"], widgets, sqlite_uri, env={"MLFLOW_LINEAGE_DISABLE": "true"})
    tags = tags_of(sqlite_uri, run_id)
    assert not set(OURS) & set(tags), sorted(tags)
    # MLflow's own provider still runs: the switch turns off the plugin, not MLflow.
    assert tags[T.MLFLOW_GIT_REPO_URL] == WEB + ".git"
    assert lineage_warnings(err) == []


def test_explicit_user_tags_win(widgets, sqlite_uri, provider_for):
    provider_for(widgets / "src" / "train.py")
    mine = {T.MLFLOW_GIT_COMMIT: "user-commit", T.GIT_PATH: "user/path.py", T.WORKSPACE_URI: "mine"}
    tags = start(mine)
    assert {k: tags[k] for k in mine} == mine
    assert tags[T.MLFLOW_GIT_BRANCH] == "main"  # the keys the user did not pass are still ours


def test_malformed_settings_one_warning_run_still_starts(
    widgets, sqlite_uri, provider_for, monkeypatch, warned, caplog
):
    monkeypatch.setenv("MLFLOW_LINEAGE_GIT_DIRTY", "banana")
    monkeypatch.setenv("MLFLOW_LINEAGE_GIT_COMMIT", f"not-a-sha-{SECRET}")
    provider_for(widgets / "src" / "train.py")
    tags = start()
    start()
    warnings = warned()
    assert len(warnings) == 1, warnings
    assert "MLFLOW_LINEAGE_GIT_COMMIT" in warnings[0] and "MLFLOW_LINEAGE_GIT_DIRTY" in warnings[0]
    assert SECRET not in caplog.text
    assert tags[T.MLFLOW_GIT_COMMIT] == git(widgets, "rev-parse", "HEAD")  # the checkout's, not the junk
    assert tags[T.MLFLOW_GIT_DIRTY] == "false"
    assert "Encountered unexpected error" not in caplog.text


def test_failing_fact_source_one_warning_keeps_the_rest(widgets, sqlite_uri, monkeypatch, warned, caplog):
    """A bug or crash in one fact source: the run starts, the workspace is still recorded."""
    from mlflow_lineage_plugin import entry

    def broken():
        raise PermissionError("/secret/path denied")

    monkeypatch.setattr(entry, "entry_path", broken)
    runs = [start(), start()]
    warnings = warned()
    assert len(warnings) == 1, warnings  # two runs, same problem: said once
    assert "git reference" in warnings[0] and "PermissionError" in warnings[0]
    assert "/secret/path" not in caplog.text
    for tags in runs:
        assert tags[T.WORKSPACE_URI] == sqlite_uri
        assert T.GIT_PATH not in tags and T.MLFLOW_GIT_DIRTY not in tags


class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input):
        return model_input


def test_logged_models_carry_the_same_tags(widgets, sqlite_uri, provider_for):
    from fixtures.services import need

    need(int(mlflow.__version__.split(".")[0]) >= 3, "LoggedModels exist from MLflow 3 on")
    from mlflow import sklearn as mlflow_sklearn
    from sklearn.linear_model import LinearRegression

    provider_for(widgets / "src" / "train.py")
    head = git(widgets, "rev-parse", "HEAD")
    model = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
    with mlflow.start_run():
        sk = mlflow_sklearn.log_model(model, name="sk", **models.SKLEARN)
        pf = mlflow.pyfunc.log_model(name="pf", python_model=Echo(), **models.PYFUNC)
    loose = mlflow_sklearn.log_model(model, name="no_run", **models.SKLEARN)
    client = MlflowClient()
    for model_id in (sk.model_id, pf.model_id, loose.model_id):
        mtags = client.get_logged_model(model_id).tags
        assert mtags[T.MLFLOW_GIT_COMMIT] == head, model_id
        assert mtags[T.MLFLOW_GIT_REPO_URL] == WEB
        assert mtags[T.GIT_PATH] == "src/train.py"
        assert mtags[T.SOURCE_URL] == f"{WEB}/blob/{head}/src/train.py"
        assert mtags[T.WORKSPACE_URI] == sqlite_uri
        assert mtags[T.SCHEMA] == T.SCHEMA_VERSION


# --- in-process: the provider object as MLflow holds it -----------------------------------------


def test_provider_is_registered_with_mlflow():
    from mlflow.tracking.context.abstract_context import RunContextProvider
    from mlflow.tracking.context.registry import _run_context_provider_registry

    ours = [p for p in _run_context_provider_registry if isinstance(p, context.LineageRunContext)]
    assert len(ours) == 1 and isinstance(ours[0], RunContextProvider)


LOAD_CHECK = """
import warnings
warnings.simplefilter("always")
{first}
from mlflow.tracking.context.abstract_context import RunContextProvider
from mlflow.tracking.context.registry import _run_context_provider_registry as registry
from mlflow_lineage_plugin.context import LineageRunContext
ours = [p for p in registry if isinstance(p, LineageRunContext)]
print("LOADED", len(ours), issubclass(LineageRunContext, RunContextProvider))
"""


@pytest.mark.parametrize(
    "first",
    [
        "import mlflow",
        "from mlflow_lineage_plugin.context import LineageRunContext",
        "import mlflow_lineage_plugin.context",
    ],
)
def test_provider_loads_whichever_is_imported_first(first):
    """MLflow loads the entry point while ``import mlflow`` runs; importing the plugin first starts that
    import from inside ours (MLflow's base class), which must not leave MLflow a half-built module."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    p = subprocess.run(
        [sys.executable, "-c", LOAD_CHECK.format(first=first)], env=env, capture_output=True, text=True, timeout=180
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert "LOADED 1 True" in p.stdout, p.stdout + p.stderr
    assert "Failure attempting to register context provider" not in p.stderr, p.stderr


def test_in_context_follows_the_off_switch_at_call_time(monkeypatch):
    provider = context.LineageRunContext()
    monkeypatch.setenv("MLFLOW_LINEAGE_DISABLE", "true")
    assert provider.in_context() is False
    monkeypatch.setenv("MLFLOW_LINEAGE_DISABLE", "false")
    assert provider.in_context() is True


def test_repeated_problem_warns_once_per_process(monkeypatch, caplog, sqlite_uri):
    monkeypatch.setenv("MLFLOW_LINEAGE_GIT_DIRTY", "sometimes")
    monkeypatch.setattr(context, "_warnings", WarnOnce(context._logger))
    provider = context.LineageRunContext()
    with caplog.at_level(logging.DEBUG, logger="mlflow_lineage_plugin"):
        first = provider.tags()
        second = provider.tags()
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "mlflow_lineage_plugin"]
    assert len(warned) == 1 and "MLFLOW_LINEAGE_GIT_DIRTY" in warned[0].getMessage()
    assert first[T.WORKSPACE_URI] == second[T.WORKSPACE_URI] == sqlite_uri


def test_local_client_logging_to_a_databricks_profile_records_that_workspace(tmp_path, monkeypatch):
    """``databricks://<profile>``: host and workspace id come from the profile, through the real SDK."""
    from fixtures.databricks_server import (
        DEFAULT_TOKEN,
        DEFAULT_WORKSPACE_ID,
        DatabricksStandIn,
        isolate_databricks_env,
        write_databrickscfg,
    )

    from mlflow_lineage_plugin import databricks

    isolate_databricks_env(monkeypatch, tmp_path / "home")
    monkeypatch.setenv("MLFLOW_LINEAGE_DATABRICKS_TIMEOUT", "60")  # first use imports databricks-sdk
    databricks.clear_caches()
    with DatabricksStandIn() as server:
        write_databrickscfg(tmp_path / "home", {"stand": {"host": server.url, "token": DEFAULT_TOKEN}})
        mlflow.set_tracking_uri("databricks://stand")
        try:
            tags = context.LineageRunContext().tags()
        finally:
            mlflow.set_tracking_uri(None)
        url = server.url
    assert tags[T.WORKSPACE_URI] == f"{url}/?o={DEFAULT_WORKSPACE_ID}"
    assert DEFAULT_TOKEN not in json.dumps(tags)
