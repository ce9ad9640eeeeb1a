"""`mlflow-lineage checkout` rebuilds a target's source in a new directory: the recorded commit plus the
run's kept patch, verified. The round trip: for a dozen dirty states, the rebuilt tree's tracked files hash
identically (one git tree id: contents, modes, submodule pointers) to the dirty working tree at run start.

Real git repositories, SQLite stores and `mlflow server` (proxied artifacts, PostgreSQL backend)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner
from conftest import git
from fixtures.services import need, port_open
from mlflow import MlflowClient
from test_git_patch import PROJECT_FILES

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.checkout import CheckoutError, checkout
from mlflow_lineage_plugin.cli import main

pytestmark = pytest.mark.usefixtures("git_available")


def make_project(repos) -> Path:
    lib = repos.make("lib", files={"lib.py": "v1\n"})
    repo = repos.make("project", files={**PROJECT_FILES, ".gitignore": "*.log\n"})
    git(repo, "submodule", "add", "-q", str(lib), "vendor/lib")
    git(repo, "commit", "-q", "-m", "add submodule")
    return repo


def edit(r):
    (r / "train.py").write_text("print('train v2')\n" * 20)  # noqa: E704


def delete(r):
    (r / "gone.txt").unlink()  # noqa: E704


def rename(r):
    git(r, "mv", "lib/old_name.py", "lib/new_name.py")  # noqa: E704


def mode(r):
    os.chmod(r / "run.sh", 0o755)  # noqa: E704


def binary(r):
    (r / "model.bin").write_bytes(bytes(range(255, -1, -1)) * 4)  # noqa: E704


def new_staged(r):
    (r / "added.py").write_text("new\n")
    git(r, "add", "added.py")  # noqa: E702, E704


def removed_staged(r):
    git(r, "rm", "-q", "lib/util.py")  # noqa: E704


def notebook(r):
    (r / "nb/analysis.ipynb").write_text('{"cells": [{"cell_type": "code", "source": "1"}]}\n')  # noqa: E704


def staged_and_unstaged(r):
    (r / "staged.py").write_text("a = 2\n")
    git(r, "add", "staged.py")
    (r / "staged.py").write_text("a = 3\n")


def submodule_pointer(r):
    sub = r / "vendor/lib"
    (sub / "lib.py").write_text("v2\n")
    git(sub, "commit", "-q", "-am", "v2")


def untracked(r):
    (r / "notes.md").write_text("untracked, opted in\n")
    (r / "debug.log").write_text("ignored, never captured\n")
    edit(r)


def everything(r):
    for change in (edit, delete, rename, mode, binary, staged_and_unstaged, notebook, new_staged, submodule_pointer):
        change(r)


STATES = [
    edit,
    delete,
    rename,
    mode,
    binary,
    staged_and_unstaged,
    notebook,
    submodule_pointer,
    new_staged,
    removed_staged,
    untracked,
    everything,
]


def tree_id(repo: Path, with_untracked: bool = False) -> str:
    """The git tree of what the working tree holds (tracked files; with ``with_untracked`` also the
    untracked files .gitignore lets through), through a copy of the index: the repository is left as is."""
    gitdir = Path(
        subprocess.run(
            ["git", "rev-parse", "--absolute-git-dir"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    index = repo.parent / f"index-{uuid.uuid4().hex}"
    shutil.copy2(gitdir / "index", index)  # its mtime too: git tells racily clean entries by it
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    subprocess.run(["git", "add", "-A" if with_untracked else "-u"], cwd=repo, env=env, check=True)
    out = subprocess.run(["git", "write-tree"], cwd=repo, env=env, capture_output=True, text=True, check=True)
    index.unlink()
    return out.stdout.strip()


def start_run(**kw) -> str:
    with mlflow.start_run(**kw) as run:
        pass
    return run.info.run_id


@pytest.mark.parametrize("state", STATES, ids=[s.__name__ for s in STATES])
def test_round_trip_rebuilds_the_dirty_tree_exactly(state, repos, provider_for, sqlite_uri, tmp_path, monkeypatch):
    repo = make_project(repos)
    provider_for(repo / "train.py")
    state(repo)
    opted_in = state is untracked
    if opted_in:
        monkeypatch.setenv("MLFLOW_LINEAGE_DIFF_UNTRACKED", "true")
    expected = tree_id(repo, with_untracked=opted_in)
    run_id = start_run()
    assert mlflow.get_run(run_id).data.tags[T.GIT_DIFF] == "captured"
    restored = checkout(run_id, str(tmp_path / "rebuilt"), repo=str(repo))
    assert restored.exact, restored.reason
    assert tree_id(tmp_path / "rebuilt") == expected
    assert restored.commit == git(repo, "rev-parse", "HEAD") and restored.files
    assert not (tmp_path / "rebuilt" / "debug.log").exists()


def test_round_trip_without_the_patch_is_not_the_dirty_tree(repos, provider_for, sqlite_uri, tmp_path):
    """The comparison can fail: the commit alone differs from the dirty tree."""
    repo = make_project(repos)
    provider_for(repo / "train.py")
    everything(repo)
    run_id = start_run()
    clean = tmp_path / "clean"
    git(repos.base, "clone", "-q", str(repo), str(clean))
    assert tree_id(clean) != tree_id(repo)
    assert tree_id(clean) == git(repo, "rev-parse", "HEAD^{tree}")
    assert checkout(run_id, str(tmp_path / "rebuilt"), repo=str(repo)).exact


def cli(*args: str):
    return CliRunner().invoke(main, ["checkout", *args], catch_exceptions=False)


def test_cli_model_version_from_the_recorded_repository(repos, provider_for, sqlite_uri, tmp_path):
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    repo = repos.make("project", files={"train.py": "print(1)\n"}, remote=str(origin))
    git(repo, "push", "-q", "origin", "main")
    provider_for(repo / "train.py")
    (repo / "train.py").write_text("print(2)\n")
    with mlflow.start_run() as run:
        pass
    client = MlflowClient()
    client.create_registered_model("fraud")
    client.create_model_version("fraud", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    result = cli("models:/fraud/1", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "exact" in result.output and "train.py" in result.output and "not exact" not in result.output
    assert (tmp_path / "out" / "train.py").read_text() == "print(2)\n"
    recorded = mlflow.get_run(run.info.run_id).data.tags[T.MLFLOW_GIT_REPO_URL]
    assert git(tmp_path / "out", "remote", "get-url", "origin") == recorded == str(origin).removesuffix(".git")
    assert (repo / "train.py").read_text() == "print(2)\n" and git(repo, "status", "--porcelain") == "M train.py"


def test_cli_clean_run_is_exact_and_bad_input_exits_2(repos, provider_for, sqlite_uri, tmp_path):
    repo = repos.make("project", files={"train.py": "print(1)\n"})
    provider_for(repo / "train.py")
    run_id = start_run()
    ok = cli(run_id, str(tmp_path / "out"), "--repo", str(repo))
    assert ok.exit_code == 0 and "exact" in ok.output
    again = cli(run_id, str(tmp_path / "out"), "--repo", str(repo))
    assert again.exit_code == 2 and "is not empty" in again.output
    unknown = cli("0" * 32, str(tmp_path / "other"), "--repo", str(repo))
    assert unknown.exit_code == 2 and "Traceback" not in unknown.output
    assert not (tmp_path / "other").exists()


def test_commit_force_pushed_away_is_said_plainly(repos, provider_for, sqlite_uri, tmp_path):
    repo = repos.make("project", files={"train.py": "print(1)\n"})
    repos.commit(repo, "train.py", "print(2)\n")
    provider_for(repo / "train.py")
    run_id = start_run()
    recorded = git(repo, "rev-parse", "HEAD")
    git(repo, "reset", "-q", "--hard", "HEAD~1")
    git(repo, "reflog", "expire", "--expire=now", "--all")
    git(repo, "gc", "-q", "--prune=now")
    result = cli(run_id, str(tmp_path / "out"), "--repo", str(repo))
    assert result.exit_code == 2
    assert f"commit {recorded} is not in" in result.output and "force-pushed" in result.output
    assert not (tmp_path / "out").exists()


def test_not_exact_says_why(repos, provider_for, sqlite_uri, tmp_path, monkeypatch):
    repo = repos.make("project", files={"train.py": "print(1)\n", ".env": "A=1\n"})
    provider_for(repo / "train.py")
    (repo / "train.py").write_text("print('big')\n" * 200)
    monkeypatch.setenv("MLFLOW_LINEAGE_DIFF_MAX_BYTES", "100")
    big = start_run()
    r = cli(big, str(tmp_path / "big"), "--repo", str(repo))
    assert r.exit_code == 1 and "not exact: the uncommitted changes were larger than" in r.output
    assert (tmp_path / "big" / "train.py").read_text() == "print(1)\n"  # the commit, restored
    monkeypatch.delenv("MLFLOW_LINEAGE_DIFF_MAX_BYTES")
    (repo / ".env").write_text("A=2\n")
    partial = start_run()
    r = cli(partial, str(tmp_path / "partial"), "--repo", str(repo))
    assert r.exit_code == 1 and "1 changed file left out as likely secrets" in r.output
    tampered = start_run()
    artifact = Path(mlflow.get_run(tampered).info.artifact_uri.removeprefix("file://")) / T.DIFF_ARTIFACT_PATH
    artifact.write_bytes(artifact.read_bytes().replace(b"big", b"bad"))
    r = cli(tampered, str(tmp_path / "tampered"), "--repo", str(repo))
    assert r.exit_code == 1 and "does not match its recorded sha256" in r.output
    assert (tmp_path / "tampered" / "train.py").read_text() == "print(1)\n"


def test_the_patch_is_read_once_by_the_resolve(repos, provider_for, sqlite_uri, tmp_path, monkeypatch):
    """checkout takes the run and the patch's verdict from the resolve it runs: one download of the patch,
    intact or not, and no second look-up of the run."""
    repo = repos.make("project", files={"train.py": "print(1)\n"})
    provider_for(repo / "train.py")
    (repo / "train.py").write_text("print(2)\n")
    intact, tampered = start_run(), start_run()
    artifact = Path(mlflow.get_run(tampered).info.artifact_uri.removeprefix("file://")) / T.DIFF_ARTIFACT_PATH
    artifact.write_bytes(artifact.read_bytes().replace(b"print(2)", b"print(3)"))
    calls: list[str] = []
    downloading: list[bool] = []
    real_download, real_get_run = MlflowClient.download_artifacts, MlflowClient.get_run

    def download(self, *a, **kw):
        calls.append("download")
        downloading.append(True)
        try:
            return real_download(self, *a, **kw)
        finally:
            downloading.pop()

    def get_run(self, *a, **kw):
        calls.extend([] if downloading else ["get_run"])  # MLflow's own look-up inside a download aside
        return real_get_run(self, *a, **kw)

    monkeypatch.setattr(MlflowClient, "download_artifacts", download)
    monkeypatch.setattr(MlflowClient, "get_run", get_run)
    restored = checkout(intact, str(tmp_path / "intact"), repo=str(repo))
    assert restored.exact and calls == ["get_run", "download"]  # both by the resolve
    calls.clear()
    restored = checkout(tampered, str(tmp_path / "tampered"), repo=str(repo))
    assert not restored.exact and "does not match its recorded sha256" in (restored.reason or "")
    assert calls == ["get_run", "download"]


def test_mlflow_own_git_diff_on_a_logged_model_counts(repos, sqlite_uri, tmp_path, monkeypatch):
    repo = repos.make("project", files={"train.py": "print(1)\n"})
    commit = git(repo, "rev-parse", "HEAD")
    (repo / "train.py").write_text("print(2)\n")
    diff = subprocess.run(["git", "diff"], cwd=repo, capture_output=True, text=True, check=True).stdout
    monkeypatch.setenv("MLFLOW_LINEAGE_DISABLE", "true")  # only MLflow's own tags, as its git versioning writes
    model = mlflow.initialize_logged_model(
        name="genai",
        tags={
            T.MLFLOW_GIT_COMMIT: commit,
            T.MLFLOW_GIT_DIRTY: "true",
            T.MLFLOW_GIT_DIFF: diff,
            T.MLFLOW_GIT_REPO_URL: str(repo),
        },
    )
    monkeypatch.delenv("MLFLOW_LINEAGE_DISABLE")
    restored = checkout(f"models:/{model.model_id}", str(tmp_path / "out"))
    assert restored.exact and restored.files == ("train.py",)
    assert (tmp_path / "out" / "train.py").read_text() == "print(2)\n"


def test_a_recorded_url_that_cannot_be_cloned_is_said_without_its_token(sqlite_uri, tmp_path, monkeypatch):
    """Tags written by another tool (an older MLflow) may hold a remote as the user typed it, token and all."""
    monkeypatch.setenv("MLFLOW_LINEAGE_DISABLE", "true")
    url = "https://x-access-token:ghp_SECRET@127.0.0.1:1/acme/widgets.git"  # port 1: refused at once
    model = mlflow.initialize_logged_model(name="m", tags={T.MLFLOW_GIT_COMMIT: "0" * 40, T.MLFLOW_GIT_REPO_URL: url})
    monkeypatch.delenv("MLFLOW_LINEAGE_DISABLE")
    out = CliRunner().invoke(main, ["checkout", f"models:/{model.model_id}", str(tmp_path / "out")])
    assert out.exit_code == 2 and not (tmp_path / "out").exists()
    assert "error: git clone of https://127.0.0.1:1/acme/widgets.git failed: " in out.output
    assert "SECRET" not in out.output and "x-access-token" not in out.output


def _logged_model_recording(url: str, commit: str, monkeypatch) -> str:
    """A LoggedModel whose tags hold ``url`` as another tool wrote it (MLflow's own keys, token and all)."""
    monkeypatch.setenv("MLFLOW_LINEAGE_DISABLE", "true")
    own = {T.MLFLOW_GIT_COMMIT: commit, T.MLFLOW_GIT_REPO_URL: url, T.MLFLOW_GIT_DIRTY: "false"}
    model = mlflow.initialize_logged_model(name="m", tags=own)
    monkeypatch.delenv("MLFLOW_LINEAGE_DISABLE")
    return f"models:/{model.model_id}"


def _checkout_keeping(target: str, out: Path) -> str:
    """checkout through the CLI, exact, with no token in any file of the clone's .git: its origin URL."""
    result = CliRunner().invoke(main, ["checkout", target, str(out)])
    assert result.exit_code == 0 and "exact" in result.output, result.output
    assert [p for p in (out / ".git").rglob("*") if p.is_file() and b"SECRET" in p.read_bytes()] == []
    return git(out, "config", "--get-all", "remote.origin.url")


@pytest.mark.parametrize(
    "recorded, kept",
    [
        (
            "https://x-access-token:ghp_SECRET@example.invalid/acme/widgets.git",
            "https://example.invalid/acme/widgets.git",
        ),
        ("ssh://git:SECRET@example.invalid/acme/widgets.git", "ssh://git@example.invalid/acme/widgets.git"),
        ("git@example.invalid:acme/widgets.git", "git@example.invalid:acme/widgets.git"),
    ],
)
def test_the_recorded_url_is_cloned_on_its_transport_and_the_clone_keeps_no_token(
    recorded, kept, repos, sqlite_uri, tmp_path, monkeypatch
):
    """git clones the URL as recorded (here reaching a local repository through the user's url.insteadOf,
    as a mirror setting would: only the recorded spelling is rewritten), and the clone's origin is the same
    transport without the token; ssh keeps its login."""
    repo = repos.make("project", files={"train.py": "print(1)\n"})
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(origin))
    (tmp_path / "gitconfig").write_text(f'[url "{origin}"]\n\tinsteadOf = {recorded}\n')
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    target = _logged_model_recording(recorded, git(repo, "rev-parse", "HEAD"), monkeypatch)
    assert _checkout_keeping(target, tmp_path / "out") == kept


def test_a_file_url_with_a_token_is_cloned_and_the_clone_fetches_without_it(repos, sqlite_uri, tmp_path, monkeypatch):
    repo = repos.make("project", files={"train.py": "print(1)\n"})
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(origin))
    commit = repos.commit(repo, "train.py", "print(2)\n")
    target = _logged_model_recording(f"file://user:ghp_SECRET@{origin}", commit, monkeypatch)
    git(repo, "push", "-q", str(origin), "main")
    out = tmp_path / "out"
    assert _checkout_keeping(target, out) == f"file://{origin}"
    repos.commit(repo, "train.py", "print(3)\n")
    git(repo, "push", "-q", str(origin), "main")
    git(out, "fetch", "-q", "origin")  # the kept origin reaches the repository: the new commit arrives
    assert git(out, "rev-parse", "origin/main") == git(repo, "rev-parse", "HEAD")


def test_without_git_on_path_checkout_says_so(repos, sqlite_uri, tmp_path, monkeypatch):
    """With --repo, and when the recorded repository would be cloned: one line naming the cause."""
    repo = repos.make("project", files={"train.py": "print(1)\n"})
    target = _logged_model_recording(str(repo), git(repo, "rev-parse", "HEAD"), monkeypatch)
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    for extra in (["--repo", str(repo)], []):
        out = CliRunner().invoke(main, ["checkout", target, str(tmp_path / "out"), *extra])
        assert (out.exit_code, out.output) == (2, "mlflow-lineage: error: git is not on PATH\n"), extra
        assert not (tmp_path / "out").exists()


def test_bad_directory_and_repo(tmp_path, sqlite_uri):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(CheckoutError, match="is not empty"):
        checkout("0" * 32, str(tmp_path / "full"))
    with pytest.raises(CheckoutError, match="is not a git repository"):
        checkout("0" * 32, str(tmp_path / "new"), repo=str(tmp_path / "full"))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_round_trip_through_mlflow_server_with_proxied_artifacts(
    backend, repos, provider_for, tmp_path, mlflow_server_factory, monkeypatch
):
    db = None
    if backend == "postgresql":
        need(port_open("127.0.0.1", 5432), "PostgreSQL is not running on 127.0.0.1:5432")
        from fixtures.services import postgres_database

        db = postgres_database()
        uri = db.__enter__()
        server = mlflow_server_factory(backend=uri)
    else:
        server = mlflow_server_factory()
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
        mlflow.set_tracking_uri(server.url)
        repo = make_project(repos)
        provider_for(repo / "train.py")
        everything(repo)
        expected = tree_id(repo)
        run_id = start_run()
        assert mlflow.get_run(run_id).info.artifact_uri.startswith("mlflow-artifacts:")
        restored = checkout(run_id, str(tmp_path / "rebuilt"), repo=str(repo), tracking_uri=server.url)
        assert restored.exact, restored.reason
        assert tree_id(tmp_path / "rebuilt") == expected
    finally:
        mlflow.set_tracking_uri(None)
        server.stop()
        if db is not None:
            db.__exit__(None, None, None)
