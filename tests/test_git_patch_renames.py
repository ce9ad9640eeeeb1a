"""A secret under another name stays out of the kept patch (issue 29.1): a file whose rename or copy
source is left out as a likely secret is left out too, along any chain of renames and copies, staged or
not, tracked or (opted in) untracked; the excluded count includes it and `checkout` says so."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import mlflow
import pytest
from conftest import git
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_patch import start_run, stored_patch

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.checkout import checkout
from mlflow_lineage_plugin.git.patch import DiffState, capture_patch

pytestmark = pytest.mark.usefixtures("git_available")

SECRET = "TOKEN=ghp_s3cr3t-DO-NOT-KEEP"
FILES = {".env": f"A=1\n{SECRET}\nB=2\n", "config/api.key": f"{SECRET}-key\n", "train.py": "print(1)\n"}
NAMES = ["config.txt", "notes/readme.md", "settings.py", "data/x.json", "env.example"]

# One step of a chain: how the file is moved or copied, and to which plain name.
HOW = ["git mv", "mv", "cp + git add", "cp"]
steps = st.lists(st.tuples(st.sampled_from(HOW), st.sampled_from(NAMES), st.integers(0, 10)), min_size=1, max_size=4)


def apply_step(repo: Path, holders: list[str], how: str, dst: str, pick: int) -> None:
    """Move or copy one of the files that hold the secret (``holders``) to ``dst``."""
    src = holders[pick % len(holders)]
    if dst in holders or (repo / dst).exists():
        return
    (repo / dst).parent.mkdir(parents=True, exist_ok=True)
    if how == "git mv":
        if src not in git(repo, "ls-files", "--", src).splitlines():
            return
        git(repo, "mv", src, dst)
    elif how == "mv":
        shutil.move(repo / src, repo / dst)
    else:
        shutil.copyfile(repo / src, repo / dst)
        if how == "cp + git add":
            git(repo, "add", dst)
    if how in ("git mv", "mv"):
        holders.remove(src)
    holders.append(dst)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chain=steps, untracked=st.booleans(), also_code=st.booleans())
def test_renames_and_copies_of_secrets_stay_out(chain, untracked, also_code):
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        git(repo, "init", "-q")
        for rel, text in FILES.items():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_text(text)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "initial")
        commit = git(repo, "rev-parse", "HEAD")
        holders = [".env", "config/api.key"]
        for how, dst, pick in chain:
            apply_step(repo, holders, how, dst, pick)
        if also_code:
            (repo / "train.py").write_text("print(2)\n")
        got = capture_patch(str(repo), commit, untracked=untracked)
        assert got.state in (DiffState.CAPTURED, DiffState.EXCLUDED_ONLY)
        assert SECRET.encode() not in got.patch
        # every changed path git reports that holds the secret (or held it, deleted) is counted
        reported = set(git(repo, "diff", "HEAD", "--name-only", "--no-renames", "-z").split("\0"))
        if untracked:
            reported |= set(git(repo, "ls-files", "--others", "--exclude-standard", "-z").split("\0"))
        reported.discard("")
        secret_paths = {p for p in reported if p in holders or p in FILES and p != "train.py"}
        assert got.excluded == len(secret_paths)
        only_secrets = bool(reported) and reported == secret_paths
        assert (got.state is DiffState.EXCLUDED_ONLY) == only_secrets


def test_a_renamed_secret_is_left_out_of_the_run_and_checkout_says_so(repos, provider_for, sqlite_uri, tmp_path):
    repo = repos.make("project", files=FILES)
    provider_for(repo / "train.py")
    git(repo, "mv", ".env", "config.txt")
    (repo / "train.py").write_text("print(2)\n")
    run_id = start_run()
    tags = mlflow.get_run(run_id).data.tags
    assert tags[T.GIT_DIFF] == "captured" and tags[T.GIT_DIFF_EXCLUDED] == "2" and tags[T.GIT_DIFF_FILES] == "1"
    patch = stored_patch(run_id, tmp_path)
    assert SECRET.encode() not in patch and b"config.txt" not in patch and b"print(2)" in patch
    restored = checkout(run_id, str(tmp_path / "rebuilt"), repo=str(repo))
    assert not restored.exact
    assert (
        restored.reason == "2 changed files left out as likely secrets (named like one, or renamed or copied from one)"
    )
    assert not (tmp_path / "rebuilt/config.txt").exists()
