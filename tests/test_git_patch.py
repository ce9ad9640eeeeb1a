"""The uncommitted-changes patch, captured from real repositories and checked against git itself:
byte-identical to `git diff HEAD --binary`, applying it to a clean checkout of the commit rebuilds
the dirty tree, secrets stay out, the cap keeps nothing, and a stalled git is cut off."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest
from conftest import git

from mlflow_lineage_plugin.git import process
from mlflow_lineage_plugin.git.patch import DEFAULT_EXCLUDES, DiffState, ExcludeRules, capture_patch

pytestmark = pytest.mark.usefixtures("git_available")

SECRET = "s3cr3t-VALUE-do-not-keep"


def git_diff(repo: Path, *args: str) -> bytes:
    """git's own `git diff HEAD --binary`, as a user would run it."""
    return subprocess.run(
        ["git", "diff", "HEAD", "--binary", *args], cwd=repo, env=process.git_env(), check=True, capture_output=True
    ).stdout


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD")


# A file for every kind of change a patch must carry (edit, delete, rename, mode, binary, notebook, staged);
# tests/test_checkout.py builds its round-trip project from them too.
PROJECT_FILES = {
    "train.py": "print('train')\n" * 20,
    "lib/util.py": "def f():\n    return 1\n",
    "lib/old_name.py": "x = 1\n" * 30,
    "run.sh": "#!/bin/sh\necho run\n",
    "gone.txt": "to be deleted\n",
    "model.bin": bytes(range(256)).decode("latin-1") * 4,
    "nb/analysis.ipynb": '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n',
    "staged.py": "a = 1\n",
}


def make_project(repos) -> Path:
    return repos.make(files=PROJECT_FILES)


def dirty_everything(repo: Path) -> None:
    (repo / "train.py").write_text("print('train v2')\n" * 20)  # edit
    (repo / "gone.txt").unlink()  # delete
    git(repo, "mv", "lib/old_name.py", "lib/new_name.py")  # rename (staged)
    os.chmod(repo / "run.sh", 0o755)  # mode change
    (repo / "model.bin").write_bytes(bytes(range(255, -1, -1)) * 4)  # binary
    (repo / "staged.py").write_text("a = 2\n")
    git(repo, "add", "staged.py")
    (repo / "staged.py").write_text("a = 3\n")  # staged and unstaged on one file
    (repo / "nb/analysis.ipynb").write_text('{"cells": [{"cell_type": "code", "source": "1"}], "metadata": {}}\n')
    (repo / "brand_new.py").write_text("new\n")
    git(repo, "add", "brand_new.py")  # a new file, staged


def test_patch_is_byte_identical_to_git_diff_head_binary(repos):
    repo = make_project(repos)
    dirty_everything(repo)
    expected = git_diff(repo)
    got = capture_patch(str(repo), head(repo))
    assert got.state is DiffState.CAPTURED
    assert got.patch == expected
    assert got.size == len(expected) and got.sha256 == hashlib.sha256(expected).hexdigest()
    assert got.files == 8 and got.excluded == 0
    assert b"GIT binary patch" in got.patch and b"rename from lib/old_name.py" in got.patch


def tracked_state(repo: Path) -> dict[str, tuple[str, bool]]:
    """Every tracked file's content hash and executable bit, as the working tree holds it."""
    out = {}
    for rel in git(repo, "ls-files", "-z").split("\0"):
        p = repo / rel
        if rel and p.is_file():
            out[rel] = (hashlib.sha256(p.read_bytes()).hexdigest(), bool(p.stat().st_mode & stat.S_IXUSR))
    return out


def test_patch_applied_to_the_commit_rebuilds_the_dirty_tree(repos, tmp_path):
    repo = make_project(repos)
    commit = head(repo)
    dirty_everything(repo)
    (repo / "notes.md").write_text("untracked, opted in\n")
    got = capture_patch(str(repo), commit, untracked=True)
    assert got.state is DiffState.CAPTURED
    rebuilt = tmp_path / "rebuilt"
    git(repo, "worktree", "add", "-q", "--detach", str(rebuilt), commit)
    (tmp_path / "p.patch").write_bytes(got.patch)
    git(rebuilt, "apply", "--index", "--binary", str(tmp_path / "p.patch"))
    git(repo, "add", "--intent-to-add", "notes.md")  # so that tracked_state lists it on both sides
    assert tracked_state(rebuilt) == tracked_state(repo)


def test_submodule_pointer_change_is_in_the_patch(repos):
    lib = repos.make("lib", files={"lib.py": "v1\n"})
    outer = repos.make("outer", files={"train.py": "t\n"})
    git(outer, "submodule", "add", "-q", str(lib), "vendor/lib")
    git(outer, "commit", "-q", "-m", "add submodule")
    commit = head(outer)
    sub = outer / "vendor/lib"
    (sub / "lib.py").write_text("v2\n")
    git(sub, "commit", "-q", "-am", "v2")
    got = capture_patch(str(outer), commit)
    assert got.patch == git_diff(outer)
    assert f"+Subproject commit {head(sub)}".encode() in got.patch and got.files == 1


def test_untracked_files_are_opt_in_and_never_ignored_ones(repos):
    repo = repos.make(files={"train.py": "t\n", ".gitignore": "*.log\n"})
    (repo / "train.py").write_text("t2\n")
    (repo / "new_module.py").write_text("n\n")
    (repo / "debug.log").write_text("ignored\n")
    index = repo / ".git/index"
    before = (index.read_bytes(), index.stat().st_mtime_ns)
    without = capture_patch(str(repo), head(repo))
    assert without.patch == git_diff(repo) and b"new_module.py" not in without.patch
    with_new = capture_patch(str(repo), head(repo), untracked=True)
    assert with_new.files == 2 and b"new file mode 100644" in with_new.patch
    assert b"new_module.py" in with_new.patch and b"debug.log" not in with_new.patch
    assert (index.read_bytes(), index.stat().st_mtime_ns) == before  # the user's index is untouched
    assert "?? new_module.py" in git(repo, "status", "--porcelain").splitlines()  # still untracked


def test_over_the_cap_nothing_is_kept_and_the_size_is_told(repos):
    repo = make_project(repos)
    dirty_everything(repo)
    full = len(git_diff(repo))
    over = capture_patch(str(repo), head(repo), max_bytes=100)
    assert (over.state, over.patch, over.sha256, over.size, over.files) == (DiffState.TOO_LARGE, b"", None, full, 8)
    exact = capture_patch(str(repo), head(repo), max_bytes=full)
    assert exact.state is DiffState.CAPTURED and exact.size == full and exact.left_out is None
    # just over: the code is kept, the notebook (not laid out as Jupyter writes it) left out whole
    cut = capture_patch(str(repo), head(repo), max_bytes=full - 1)
    assert cut.state is DiffState.CAPTURED and cut.files == 7 and cut.left_out == "nb/analysis.ipynb: all changes"
    assert b"nb/analysis.ipynb" not in cut.patch and cut.size == len(cut.patch) < full


def test_likely_secrets_are_left_out_by_name(repos):
    repo = repos.make(
        files={
            "train.py": "t\n",
            ".env": "A=1\n",
            "config/secrets.yaml": "k: 1\n",
            "certs/Server.PEM": "c\n",
            "data/rows.csv": "1\n",
            "keep/ok.txt": "o\n",
        }
    )
    for rel in (".env", "config/secrets.yaml", "certs/Server.PEM", "data/rows.csv"):
        (repo / rel).write_text(f"{SECRET}\n")
    (repo / "train.py").write_text("t2\n")
    (repo / ".env.local").write_text(f"{SECRET}\n")  # untracked, and a secret
    got = capture_patch(str(repo), head(repo), untracked=True, exclude=["data/*.csv"])
    assert got.state is DiffState.CAPTURED
    assert got.files == 1 and got.excluded == 5
    assert SECRET.encode() not in got.patch
    for name in (b".env", b"secrets.yaml", b"Server.PEM", b"rows.csv"):
        assert name not in got.patch
    assert got.patch == git_diff(repo, "--", "train.py")


def test_only_secrets_changed_is_excluded_only(repos):
    repo = repos.make(files={"train.py": "t\n", ".env": "A=1\n"})
    (repo / ".env").write_text(f"{SECRET}\n")
    got = capture_patch(str(repo), head(repo))
    assert (got.state, got.patch, got.sha256, got.excluded, got.files) == (DiffState.EXCLUDED_ONLY, b"", None, 1, 0)


def test_clean_checkout_captures_an_empty_patch(repos):
    repo = repos.make()
    got = capture_patch(str(repo), head(repo))
    assert (got.state, got.patch, got.files, got.excluded) == (DiffState.CAPTURED, b"", 0, 0)


@pytest.mark.parametrize(
    "path, excluded",
    [
        (".env", True),
        (".env.production", True),
        ("app/.ENV", True),
        ("server.pem", True),
        ("a/b/tls.key", True),
        ("keys/id_rsa", True),
        ("id_ed25519.pub", True),
        (".netrc", True),
        ("home/.npmrc", True),
        (".pypirc", True),
        ("aws/credentials", True),
        ("config/my_secrets.yaml", True),
        ("secrets/app.yaml", True),
        ("cert.p12", True),
        ("cert.pfx", True),
        ("train.py", False),
        ("environment.yml", False),
        ("keyboard.py", False),
        ("docs/keys.md", False),
    ],
)
def test_default_exclude_patterns(path, excluded):
    assert ExcludeRules(DEFAULT_EXCLUDES).excluded(path) is excluded


def test_exclude_patterns_follow_gitignore_rules():
    rules = ExcludeRules(["/top.txt", "data/", "**/raw/*.csv", "*.log", "!keep.log", "# comment"])
    assert rules.excluded("top.txt") and not rules.excluded("sub/top.txt")  # anchored
    assert rules.excluded("data/x.py") and rules.excluded("a/data/x.py") and not rules.excluded("data")
    assert rules.excluded("a/raw/b.csv") and rules.excluded("raw/b.csv") and not rules.excluded("a/raw/b/c.csv")
    assert rules.excluded("x.log") and not rules.excluded("keep.log")


def test_bad_input_fails_with_a_reason(repos, tmp_path):
    repo = repos.make()
    assert capture_patch(str(repo), "deadbeef") == capture_patch(str(repo), "--output=/tmp/x")
    assert capture_patch(str(repo), "deadbeef").reason == "not a full commit id"
    assert capture_patch(str(tmp_path), "0" * 40).reason == "no git checkout"
    unknown = capture_patch(str(repo), "1" * 40)
    assert unknown.state is DiffState.FAILED and unknown.reason == "git diff failed"


def test_a_stalled_git_is_cut_off(repos, tmp_path):
    repo = repos.make(files={"train.py": "t\n", ".gitattributes": "*.py filter=slow\n"})
    pidfile = tmp_path / "filter.pid"
    git(repo, "config", "filter.slow.clean", f"sh -c 'echo $$ > {pidfile}; exec sleep 30'")
    (repo / "train.py").write_text("t2\n")
    started = time.monotonic()
    got = capture_patch(str(repo), head(repo), timeout=1.0)
    assert got.state is DiffState.FAILED and got.reason.startswith("git diff did not finish in time")
    assert time.monotonic() - started < 10
    # the same checkout, HEAD and index: not tried again (it would only stall again), until one changes
    started = time.monotonic()
    again = capture_patch(str(repo), head(repo), timeout=1.0)
    assert again.state is DiffState.FAILED and again.skipped and time.monotonic() - started < 0.5
    git(repo, "config", "--unset", "filter.slow.clean")
    assert capture_patch(str(repo), head(repo)).skipped  # a config change alone: still skipped
    git(repo, "add", "train.py")  # the index changes
    assert capture_patch(str(repo), head(repo)).state is DiffState.CAPTURED
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while (
        time.monotonic() < deadline
        and Path(f"/proc/{pid}").exists()
        and "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    ):
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists() or "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()
