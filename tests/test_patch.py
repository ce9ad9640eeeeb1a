"""A dirty run keeps its uncommitted changes: the artifact ``lineage/uncommitted.patch`` is byte-identical to
`git diff HEAD --binary`, its tags say what became of it on the run, its LoggedModel and every new model
version, secrets stay out, and a store that cannot take the upload costs one warning, never the run.

Real git repositories, real SQLite stores and a real `mlflow server`; runs start in this process with the
provider given the entry file (as MLflow would find it for a script in the repository)."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
from pathlib import Path

import mlflow
import pytest
from conftest import git
from mlflow import MlflowClient

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin import uncommitted
from mlflow_lineage_plugin.git import process
from mlflow_lineage_plugin.warn_once import WarnOnce

pytestmark = pytest.mark.usefixtures("git_available")

SECRET = "sk-live-7Hq2-DO-NOT-KEEP"
DIFF_TAGS = {T.GIT_DIFF, T.GIT_DIFF_SHA256, T.GIT_DIFF_BYTES, T.GIT_DIFF_FILES}


def git_diff(repo: Path) -> bytes:
    return subprocess.run(
        ["git", "diff", "HEAD", "--binary"], cwd=repo, env=process.git_env(), check=True, capture_output=True
    ).stdout


@pytest.fixture
def project(repos):
    return repos.make(
        "widgets",
        files={
            "src/train.py": "print('train')\n",
            "README.md": "widgets\n",
            ".env": "TOKEN=none\n",
            "config/secrets.yaml": "key: none\n",
        },
        remote="https://github.com/acme/widgets.git",
    )


@pytest.fixture
def warned(monkeypatch, caplog):
    monkeypatch.setattr(uncommitted, "_warnings", WarnOnce(uncommitted._logger))
    caplog.set_level(logging.DEBUG, logger="mlflow_lineage_plugin")

    def messages(level: int = logging.WARNING) -> list[str]:
        return [
            r.getMessage() for r in caplog.records if r.name.startswith("mlflow_lineage_plugin") and r.levelno >= level
        ]

    return messages


def start_run(**kw) -> str:
    with mlflow.start_run(**kw) as run:
        pass
    return run.info.run_id


def stored_patch(run_id: str, tmp_path: Path) -> bytes:
    dst = tmp_path / f"dl-{run_id}"
    dst.mkdir()
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=T.DIFF_ARTIFACT_PATH, dst_path=str(dst))
    return Path(path).read_bytes()


def has_artifact(run_id: str) -> bool:
    return any(f.path == T.DIFF_ARTIFACT_DIR for f in MlflowClient().list_artifacts(run_id))


def test_dirty_run_keeps_the_patch_byte_identical_with_its_tags(project, provider_for, sqlite_uri, tmp_path):
    provider_for(project / "src/train.py")
    (project / "src/train.py").write_text("print('train v2')\n")
    (project / "README.md").write_text("widgets, staged\n")
    git(project, "add", "README.md")
    expected = git_diff(project)
    run_id = start_run()
    assert stored_patch(run_id, tmp_path) == expected
    tags = mlflow.get_run(run_id).data.tags
    assert tags[T.GIT_DIFF] == "captured"
    assert tags[T.GIT_DIFF_SHA256] == hashlib.sha256(expected).hexdigest()
    assert tags[T.GIT_DIFF_BYTES] == str(len(expected)) and tags[T.GIT_DIFF_FILES] == "2"
    assert T.GIT_DIFF_EXCLUDED not in tags


def test_clean_run_gets_no_diff_tags_and_no_artifact(project, provider_for, sqlite_uri):
    provider_for(project / "src/train.py")
    run_id = start_run()
    tags = mlflow.get_run(run_id).data.tags
    assert tags[T.MLFLOW_GIT_DIRTY] == "false"
    assert not DIFF_TAGS & set(tags) and not has_artifact(run_id)


def test_logged_model_and_model_version_carry_the_diff_tags(project, provider_for, sqlite_uri):
    provider_for(project / "src/train.py")
    (project / "src/train.py").write_text("print('train v3')\n")
    with mlflow.start_run() as run:
        model = mlflow.initialize_logged_model(name="m")
    run_tags = mlflow.get_run(run.info.run_id).data.tags
    model_tags = MlflowClient().get_logged_model(model.model_id).tags
    assert {k: model_tags[k] for k in DIFF_TAGS} == {k: run_tags[k] for k in DIFF_TAGS}
    client = MlflowClient()
    client.create_registered_model("widgets")
    mv = client.create_model_version("widgets", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    vtags = client.get_model_version("widgets", mv.version).tags
    assert {k: vtags[k] for k in DIFF_TAGS} == {k: run_tags[k] for k in DIFF_TAGS}
    assert T.source_from_version_tags(vtags).git.diff == T.diff_from_tags(run_tags)


def test_secrets_never_reach_the_artifact_tags_or_logs(project, provider_for, sqlite_uri, tmp_path, warned):
    provider_for(project / "src/train.py")
    (project / ".env").write_text(f"TOKEN={SECRET}\n")
    (project / "config/secrets.yaml").write_text(f"key: {SECRET}\n")
    (project / "src/train.py").write_text("print('uses the token')\n")
    run_id = start_run()
    patch = stored_patch(run_id, tmp_path)
    tags = mlflow.get_run(run_id).data.tags
    assert b"src/train.py" in patch and SECRET.encode() not in patch and b".env" not in patch
    assert tags[T.GIT_DIFF_EXCLUDED] == "2" and tags[T.GIT_DIFF_FILES] == "1"
    assert not any(SECRET in v or SECRET in k for k, v in tags.items())
    assert not any(SECRET in line for line in warned(logging.DEBUG))
    # only the secret files changed: nothing is kept, the tag says why
    git(project, "checkout", "--", "src/train.py")
    only = start_run()
    tags = mlflow.get_run(only).data.tags
    assert tags[T.GIT_DIFF] == "excluded_only" and tags[T.GIT_DIFF_EXCLUDED] == "2"
    assert not has_artifact(only) and not any(SECRET in v for v in tags.values())


def test_extra_excludes_and_untracked_opt_in(project, provider_for, sqlite_uri, tmp_path, monkeypatch):
    provider_for(project / "src/train.py")
    (project / "src/train.py").write_text("print('v4')\n")
    (project / "README.md").write_text("private notes\n")
    (project / "notes.txt").write_text("untracked\n")
    monkeypatch.setenv("MLFLOW_LINEAGE_DIFF_EXCLUDE", "README.md")
    run_id = start_run()
    patch = stored_patch(run_id, tmp_path)
    assert b"README.md" not in patch and b"notes.txt" not in patch
    monkeypatch.setenv("MLFLOW_LINEAGE_DIFF_UNTRACKED", "true")
    with_new = start_run()
    assert b"+untracked" in stored_patch(with_new, tmp_path)


def test_off_and_too_large_keep_nothing(project, provider_for, sqlite_uri, monkeypatch, warned):
    provider_for(project / "src/train.py")
    (project / "src/train.py").write_text("x = 1\n" * 1000)
    size = len(git_diff(project))
    monkeypatch.setenv("MLFLOW_LINEAGE_DIFF", "false")
    off = start_run()
    assert mlflow.get_run(off).data.tags[T.GIT_DIFF] == "off" and not has_artifact(off)
    monkeypatch.setenv("MLFLOW_LINEAGE_DIFF", "true")
    monkeypatch.setenv("MLFLOW_LINEAGE_DIFF_MAX_BYTES", "1000")
    big = start_run()
    tags = mlflow.get_run(big).data.tags
    assert tags[T.GIT_DIFF] == "too_large" and tags[T.GIT_DIFF_BYTES] == str(size)
    assert tags[T.GIT_DIFF_FILES] == "1"  # docs/tags.md: stored or not
    assert T.GIT_DIFF_SHA256 not in tags and not has_artifact(big)
    assert [m for m in warned() if "not kept" in m and "1000" in m]


@pytest.mark.parametrize("where", ["a file, not a directory", "a server that is down"])
def test_an_artifact_store_that_refuses_costs_one_warning_and_failed(
    project, provider_for, sqlite_uri, tmp_path, monkeypatch, warned, where
):
    provider_for(project / "src/train.py")
    (project / "src/train.py").write_text("print('v5')\n")
    monkeypatch.setenv("MLFLOW_LINEAGE_DIFF_TIMEOUT", "3")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be\n")
    location = str(blocker / "artifacts") if where.startswith("a file") else "http://127.0.0.1:1/artifacts"
    exp = mlflow.create_experiment("refused", artifact_location=location)
    run_id = start_run(experiment_id=exp)
    run = mlflow.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags[T.GIT_DIFF] == "failed" and T.GIT_DIFF_SHA256 not in run.data.tags
    assert run.data.tags[T.MLFLOW_GIT_COMMIT] and run.data.tags[T.GIT_DIFF_FILES] == "1"
    said = [m for m in warned() if "uncommitted changes were not stored" in m]
    assert len(said) == 1 and run_id in said[0]


def test_tags_overridden_by_the_caller_get_no_upload(project, provider_for, sqlite_uri):
    provider_for(project / "src/train.py")
    (project / "src/train.py").write_text("print('v6')\n")
    run_id = start_run(tags={T.GIT_DIFF_SHA256: "0" * 64})
    assert not has_artifact(run_id)


def test_databricks_git_folder_records_changes_as_unavailable():
    dirty = T.GitRef(commit="a" * 40, dirty=True, repo_url="https://github.com/acme/widgets")
    assert uncommitted.prepare(dirty, None, databricks=True) == {T.GIT_DIFF: "unavailable"}
    assert uncommitted.prepare(dirty, None, databricks=False) == {}
    assert uncommitted.prepare(T.GitRef(commit="a" * 40, dirty=False), None, databricks=True) == {}


def test_mlflow_server_with_proxied_artifacts_and_a_local_artifact_root(
    project, provider_for, tmp_path, mlflow_server_factory, monkeypatch
):
    server = mlflow_server_factory()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    mlflow.set_tracking_uri(server.url)
    provider_for(project / "src/train.py")
    (project / "src/train.py").write_text("print('served')\n")
    expected = git_diff(project)
    proxied = start_run()
    assert mlflow.get_run(proxied).info.artifact_uri.startswith("mlflow-artifacts:")
    assert stored_patch(proxied, tmp_path) == expected
    local_root = tmp_path / "local-root"
    exp = mlflow.create_experiment("local root", artifact_location=str(local_root))
    local = start_run(experiment_id=exp)
    assert (local_root / local / "artifacts" / T.DIFF_ARTIFACT_PATH).read_bytes() == expected
    assert mlflow.get_run(local).data.tags[T.GIT_DIFF_SHA256] == hashlib.sha256(expected).hexdigest()
    mlflow.set_tracking_uri(None)
    os.environ.pop("MLFLOW_TRACKING_URI", None)


def test_one_pass_capture_matches_git_and_still_leaves_secrets_out(repos):
    """The capture's single git pass reads file names from the patch headers; unusual names (quoted by
    git) and renamed secrets fall back to the two-pass capture, with the same result."""
    from mlflow_lineage_plugin.git.patch import DiffState, _patch_paths, capture_patch

    repo = repos.make(
        "names",
        files={
            "plain.py": "1\n",
            "with space b/x.py": "1\n",
            "naïve.py": "1\n",
            "old.py": "x = 1\n" * 20,
            "cfg/api.key": "k1\n",
        },
    )
    commit = git(repo, "rev-parse", "HEAD")
    for name in ("plain.py", "with space b/x.py"):
        (repo / name).write_text("2\n")
    git(repo, "mv", "old.py", "new.py")
    patch = git_diff(repo)
    assert sorted(_patch_paths(patch)) == ["new.py", "old.py", "plain.py", "with space b/x.py"]
    got = capture_patch(str(repo), commit)
    assert got.state is DiffState.CAPTURED and got.patch == patch and got.files == 3
    (repo / "naïve.py").write_text("2\n")
    assert _patch_paths(git_diff(repo)) is None  # quoted: the two-pass capture decides
    assert capture_patch(str(repo), commit).patch == git_diff(repo)
    git(repo, "mv", "cfg/api.key", "cfg/renamed.txt")
    got = capture_patch(str(repo), commit)
    assert got.excluded == 2 and b"cfg/" not in got.patch and b"k1" not in got.patch  # the rename is left out too
