"""The examples run for real, as a user runs them: the training script in a git checkout, and the
demo that `make demo` runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, git
from fixtures.services import need
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


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """What `make demo` runs, once per module: its output folder (``demo-output`` in a fresh folder) and run."""
    out = tmp_path_factory.mktemp("checkout") / "demo-output"
    (out / "stale").mkdir(parents=True)  # the demo starts fresh every time
    p = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--out", str(out)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    return out, p


def test_demo_shows_the_tags_that_landed(demo):
    out, p = demo
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


def quick_tour() -> list[tuple[str, list[str]]]:
    """The README quick tour's commands (``$ `` lines of its console blocks), each with the output shown under it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    tour = readme.split("\n## Quick tour", 1)[1].split("\n## ", 1)[0]
    commands: list[tuple[str, list[str]]] = []
    for block in re.findall(r"^```console\n(.*?)^```", tour, re.M | re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                commands.append((line[2:], []))
            elif commands and line.strip():
                commands[-1][1].append(line)
    return commands


# Shown lines that differ on every machine: ids, run names (with their ids), times, paths, shortened or elided text.
_VARIES = re.compile(r"[0-9a-f]{32}|\d{4}-\d\d-\d\dT\d\d:\d\d|sqlite:|/work/|…|\.\.\.")


def test_the_readme_quick_tour_runs_as_written(demo, tmp_path):
    """Typed in the repository's root after `make demo` (here: the demo's folder beside a `.venv` that is this
    test's environment), every command of the tour succeeds and prints what the README shows."""
    out, _ = demo
    commands = quick_tour()
    assert commands[0][0].split("#")[0].strip() == "make demo", "the tour starts with make demo"
    venv = Path(sys.prefix)
    need((venv / "bin" / "activate").is_file(), f"the tests do not run in a virtual environment ({venv})")
    root = out.parent
    if not (root / ".venv").exists():
        (root / ".venv").symlink_to(venv)
    script = "".join(f"echo '::: {i}'\n{cmd}\necho \"::: rc $?\"\n" for i, (cmd, _) in enumerate(commands) if i)
    env = clean_env(HOME=str(tmp_path))
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("VIRTUAL_ENV", None)
    # mlflow-lineage is on PATH only once the tour activates the environment
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if Path(p) != venv / "bin")
    p = subprocess.run(["bash", "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=900)
    assert "Traceback" not in p.stdout + p.stderr, p.stderr[-3000:]
    parts = re.findall(r"^::: (\d+)\n(.*?)^::: rc (\d+)$", p.stdout, re.M | re.S)
    said = {int(i): (text, int(rc)) for i, text, rc in parts}
    assert sorted(said) == list(range(1, len(commands))), p.stdout[-3000:] + p.stderr[-3000:]
    for i, (cmd, shown) in enumerate(commands[1:], 1):
        text, rc = said[i]
        assert rc == 0, f"{cmd}\nexit {rc}\n{text}{p.stderr[-2000:]}"
        printed = {line.strip() for line in text.splitlines()}
        for line in shown:
            if not _VARIES.search(line):
                assert line.strip() in printed, f"{cmd}: the README shows {line.strip()!r}; it printed:\n{text}"
