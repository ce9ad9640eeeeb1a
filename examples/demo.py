"""What `make demo` runs: the plugin end to end on a fresh machine, with nothing to configure.

It makes a git repository under ``demo-output/`` (fresh each time), commits ``examples/train.py`` into
it, runs that script as a user would (``python train.py``) against a SQLite tracking store in the same
folder, and shows what landed: the run's tags, the registered model version's tags, and the lineage
resolved back from the version.

    python examples/demo.py [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from mlflow_lineage_plugin import tags as T

ROOT = Path(__file__).resolve().parent.parent
MODEL_NAME = "lineage-demo-model"
# A remote so the run gets a browser link; nothing is pushed, the demo never touches the network.
DEMO_REMOTE = "https://github.com/example/lineage-demo.git"

RUN_KEYS = (
    T.MLFLOW_GIT_COMMIT,
    T.MLFLOW_GIT_BRANCH,
    T.MLFLOW_GIT_REPO_URL,
    T.MLFLOW_GIT_DIRTY,
    T.GIT_PATH,
    T.SOURCE_URL,
    T.WORKSPACE_URI,
    T.SCHEMA,
)

# Fixed author and dates: the demo's commit is the same every time (the README's quick tour names it),
# as long as examples/train.py does not change.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Lineage Demo",
    "GIT_AUTHOR_EMAIL": "demo@example.com",
    "GIT_COMMITTER_NAME": "Lineage Demo",
    "GIT_COMMITTER_EMAIL": "demo@example.com",
    "GIT_AUTHOR_DATE": "2026-01-05T09:00:00+00:00",
    "GIT_COMMITTER_DATE": "2026-01-05T09:00:00+00:00",
}


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def make_project(out: Path) -> Path:
    shutil.rmtree(out, ignore_errors=True)
    project = out / "project"
    project.mkdir(parents=True)
    git(project, "init", "-q")
    git(project, "symbolic-ref", "HEAD", "refs/heads/main")  # whatever init.defaultBranch says
    shutil.copy(ROOT / "examples" / "train.py", project / "train.py")
    (project / ".gitignore").write_text("mlruns/\nmlartifacts/\n")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "Train a tiny iris model")
    git(project, "remote", "add", "origin", DEMO_REMOTE)
    return project


def run_training(project: Path, tracking_uri: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_LINEAGE_")}
    env.update(MLFLOW_TRACKING_URI=tracking_uri)
    env.pop("MLFLOW_REGISTRY_URI", None)
    proc = subprocess.run(
        [sys.executable, "train.py", "--register-as", MODEL_NAME], cwd=project, env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        sys.exit(f"train.py failed:\n{proc.stderr[-3000:]}")
    return dict(re.findall(r"^(\w+)=(\S+)$", proc.stdout, re.M))


def show(title: str, rows: dict[str, str]) -> None:
    print(f"\n{title}")
    if not rows:
        print("  (none)")
    width = max((len(k) for k in rows), default=0)
    for key, value in rows.items():
        print(f"  {key:<{width}}  {value}")


def show_run(client, run_id: str) -> None:
    tags = client.get_run(run_id).data.tags
    show(f"Run {run_id} tags:", {k: tags[k] for k in RUN_KEYS if k in tags})


# --- hook: the registered model version (registry wrapper, issue 3) -------------------------------
def show_model_version(client, name: str, version: str) -> None:
    mv = client.get_model_version(name, version)
    show(f"Model version {name}/{version} tags:", {k: v for k, v in sorted(mv.tags.items()) if k.startswith(T.PREFIX)})


# --- hook: the lineage resolved from the version (resolver, issue 4) ------------------------------
def show_resolved_lineage(tracking_uri: str, name: str, version: str) -> None:
    """The question the plugin exists to answer: which code made this model version?"""
    from mlflow_lineage_plugin.resolve import resolve

    target = f"models:/{name}/{version}"
    print(f"\n$ mlflow-lineage show {target}")
    print(resolve(target, tracking_uri=tracking_uri).to_text())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "demo-output", help="folder to (re)create")
    args = parser.parse_args(argv)
    out = args.out.resolve()

    project = make_project(out)
    tracking_uri = f"sqlite:///{out / 'mlflow.db'}"
    head = git(project, "rev-parse", "HEAD")
    print(f"git repository  {project}  (commit {head[:7]}, branch main)")
    print(f"tracking store  {tracking_uri}")
    print("running         python train.py --register-as", MODEL_NAME)
    found = run_training(project, tracking_uri)

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    show_run(client, found["run_id"])
    if "model_version" in found:
        name, version = found["model_version"].split("/")
        show_model_version(client, name, version)
        show_resolved_lineage(tracking_uri, name, version)


if __name__ == "__main__":
    main()
