"""The examples run for real, as a user runs them: the training script in a git checkout, and the
demo that `make demo` runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

from conftest import ROOT, git
from mlflow import MlflowClient

from mlflow_lineage_plugin import tags as T


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_LINEAGE_")}
    env.pop("MLFLOW_REGISTRY_URI", None)
    env.update(extra)
    return env


def test_train_example_in_a_checkout(repos, tmp_path):
    repo = repos.make(
        "project",
        files={"pipelines/train.py": (ROOT / "examples" / "train.py").read_text()},
        remote="git@gitlab.com:team/project.git",
    )
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    p = subprocess.run(
        [sys.executable, "pipelines/train.py", "--register-as", "iris", "--C", "0.5"],
        cwd=repo,
        env=clean_env(MLFLOW_TRACKING_URI=uri),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    found = dict(re.findall(r"^(\w+)=(\S+)$", p.stdout, re.M))

    client = MlflowClient(uri)
    run = client.get_run(found["run_id"])
    head = git(repo, "rev-parse", "HEAD")
    assert run.data.params == {"C": "0.5"}
    assert run.data.metrics["train_accuracy"] > 0.9
    assert run.data.tags[T.MLFLOW_GIT_COMMIT] == head
    assert run.data.tags[T.GIT_PATH] == "pipelines/train.py"
    assert run.data.tags[T.SOURCE_URL] == f"https://gitlab.com/team/project/-/blob/{head}/pipelines/train.py"
    assert run.data.tags[T.WORKSPACE_URI] == uri
    assert found["model_version"] == "iris/1"
    assert client.get_model_version("iris", "1").run_id == found["run_id"]


def test_demo_shows_the_tags_that_landed(tmp_path):
    out = tmp_path / "demo-output"
    (out / "stale").mkdir(parents=True)  # the demo starts fresh every time
    p = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--out", str(out)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert not (out / "stale").exists()

    head = git(out / "project", "rev-parse", "HEAD")
    run_id = re.search(r"^Run (\w+) tags:$", p.stdout, re.M).group(1)
    landed = MlflowClient(f"sqlite:///{out / 'mlflow.db'}").get_run(run_id).data.tags
    assert landed[T.MLFLOW_GIT_COMMIT] == head
    assert landed[T.MLFLOW_GIT_DIRTY] == "false"
    for key in (T.MLFLOW_GIT_COMMIT, T.MLFLOW_GIT_BRANCH, T.GIT_PATH, T.SOURCE_URL, T.WORKSPACE_URI):
        assert re.search(rf"^  {re.escape(key)} +{re.escape(landed[key])}$", p.stdout, re.M), key
    # The resolver answers the question from the version: the commit that made it, nothing missing.
    resolved = p.stdout.split("$ mlflow-lineage show", 1)[1]
    assert f"commit {head[:12]}" in resolved
    assert "no findings: lineage is complete" in resolved
    assert len(p.stdout.splitlines()) <= 50  # short enough to read at a glance
    assert "Traceback" not in p.stderr
    shutil.rmtree(out)
