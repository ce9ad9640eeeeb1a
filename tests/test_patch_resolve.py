"""The resolver shows a run's kept uncommitted changes on its commit node, `check --require exact`
passes only for a clean run or one whose changes are kept and intact, `dirty` findings say whether the
changes were kept, and MLflow's own `mlflow.source.git.diff` on a LoggedModel counts as kept."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner
from conftest import git
from mlflow import MlflowClient

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.cli import main
from mlflow_lineage_plugin.resolve import resolve

pytestmark = pytest.mark.usefixtures("git_available")


def start_run() -> str:
    with mlflow.start_run() as run:
        pass
    return run.info.run_id


def check(*targets: str) -> tuple[int, dict]:
    r = CliRunner().invoke(main, ["check", *targets, "--require", "exact", "--format", "json"], catch_exceptions=False)
    return r.exit_code, json.loads(r.output)


def test_commit_node_shows_the_kept_changes_and_exact_holds(repos, provider_for, sqlite_uri):
    repo = repos.make("p", files={"train.py": "print(1)\n"})
    provider_for(repo / "train.py")
    clean = start_run()
    (repo / "train.py").write_text("print(2)\n")
    kept = start_run()
    lineage = resolve(kept)
    (commit,) = lineage.of_kind("git_commit")
    (changes,) = commit.attrs["changes"]
    tags = mlflow.get_run(kept).data.tags
    assert changes["state"] == "captured" and changes["files"] == 1 and changes["intact"] is True
    assert changes["sha256"] == tags[T.GIT_DIFF_SHA256] and changes["run_id"] == kept
    assert "changes kept: 1 files" in lineage.render("text")
    dirty = [f for f in lineage.findings if f.code == "dirty"]
    assert dirty and "its uncommitted changes were kept (1 file, lineage/uncommitted.patch)" in dirty[0].message
    code, out = check(clean, kept)
    assert code == 0, out


def test_exact_fails_for_changes_not_kept_or_tampered(repos, provider_for, sqlite_uri, monkeypatch):
    repo = repos.make("p", files={"train.py": "print(1)\n"})
    provider_for(repo / "train.py")
    (repo / "train.py").write_text("print(2)\n")
    monkeypatch.setenv("MLFLOW_LINEAGE_DIFF", "false")
    off = start_run()
    monkeypatch.delenv("MLFLOW_LINEAGE_DIFF")
    tampered = start_run()
    artifact = Path(mlflow.get_run(tampered).info.artifact_uri.removeprefix("file://")) / T.DIFF_ARTIFACT_PATH
    artifact.write_bytes(b"something else\n")
    code, out = check(off, tampered)
    assert code == 1
    by_target = {r["target"]: r for r in out["results"]}
    off_msgs = [f["message"] for f in by_target[off]["findings"]]
    assert any("not kept (lineage_git_diff=off)" in m for m in off_msgs)
    assert any("does not match its recorded sha256" in f["message"] for f in by_target[tampered]["findings"])
    clean_req = CliRunner().invoke(main, ["check", off, "--require", "clean"], catch_exceptions=False)
    assert clean_req.exit_code == 1 and "were not kept" in clean_req.output


def test_exact_needs_a_commit(sqlite_uri):
    with mlflow.start_run() as run:  # no repository: the provider records no commit
        pass
    code, out = check(run.info.run_id)
    assert code == 1 and out["results"][0]["findings"][0]["requirement"] == "commit"


def test_mlflow_own_git_diff_counts_as_kept(repos, sqlite_uri, monkeypatch):
    repo = repos.make("p", files={"train.py": "print(1)\n"})
    commit = git(repo, "rev-parse", "HEAD")
    (repo / "train.py").write_text("print(2)\n")
    diff = subprocess.run(["git", "diff"], cwd=repo, capture_output=True, text=True, check=True).stdout
    monkeypatch.setenv("MLFLOW_LINEAGE_DISABLE", "true")
    model = mlflow.initialize_logged_model(
        name="genai", tags={T.MLFLOW_GIT_COMMIT: commit, T.MLFLOW_GIT_DIRTY: "true", T.MLFLOW_GIT_DIFF: diff}
    )
    monkeypatch.delenv("MLFLOW_LINEAGE_DISABLE")
    lineage = resolve(f"models:/{model.model_id}")
    (changes,) = lineage.of_kind("git_commit")[0].attrs["changes"]
    assert changes["state"] == "captured" and changes["kept_in"] == T.MLFLOW_GIT_DIFF and changes["files"] == 1
    assert not lineage.findings_for({"exact"})
    assert MlflowClient().get_logged_model(model.model_id).tags[T.MLFLOW_GIT_DIFF] == diff
