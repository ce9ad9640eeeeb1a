"""The record and `checkout` never claim more than the run's real code (issue 22). Each case compares the
directory `checkout` rebuilt with the run's real working tree (one git tree id: bytes, modes, links,
submodule pointers), and checks `checkout` says exact only when they are equal.

Real git repositories and SQLite stores."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import mlflow
import pytest
from conftest import git
from test_checkout import start_run, tree_id

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.checkout import CheckoutError, checkout

pytestmark = pytest.mark.usefixtures("git_available")


def two_commits(repos) -> tuple[Path, str, str]:
    """A repository at c2 whose b.py differs from c1's, with train.py edited (a dirty checkout)."""
    files = {"train.py": "print(1)\n", "b.py": "B = 1\n"}
    repo = repos.make("project", files=files, remote="https://github.com/me/project.git")
    c1 = git(repo, "rev-parse", "HEAD")
    c2 = repos.commit(repo, "b.py", "B = 2\n")
    (repo / "train.py").write_text("print(2)\n")
    return repo, c1, c2


def rebuilt(run_id: str, repo: Path, tmp_path: Path, name: str = "rebuilt"):
    return checkout(run_id, str(tmp_path / name), repo=str(repo))


def test_callers_commit_in_the_repository_is_captured_against(repos, provider_for, sqlite_uri, tmp_path):
    repo, c1, _ = two_commits(repos)
    provider_for(repo / "train.py")
    run_id = start_run(tags={T.MLFLOW_GIT_COMMIT: c1})
    tags = mlflow.get_run(run_id).data.tags
    assert tags[T.MLFLOW_GIT_COMMIT] == c1 and tags[T.MLFLOW_GIT_DIRTY] == "true"
    assert tags[T.GIT_DIFF] == "captured"
    restored = rebuilt(run_id, repo, tmp_path)
    assert restored.exact, restored.reason
    assert tree_id(tmp_path / "rebuilt") == tree_id(repo)
    assert (tmp_path / "rebuilt" / "b.py").read_text() == "B = 2\n"


def test_override_commit_setting_is_captured_against(repos, provider_for, sqlite_uri, tmp_path, monkeypatch):
    repo, c1, _ = two_commits(repos)
    provider_for(repo / "train.py")
    monkeypatch.setenv("MLFLOW_LINEAGE_GIT_COMMIT", c1)
    run_id = start_run()
    assert mlflow.get_run(run_id).data.tags[T.MLFLOW_GIT_COMMIT] == c1
    restored = rebuilt(run_id, repo, tmp_path)
    assert restored.exact, restored.reason
    assert tree_id(tmp_path / "rebuilt") == tree_id(repo)


def test_clean_checkout_at_another_commit_than_the_callers(repos, provider_for, sqlite_uri, tmp_path):
    repo, c1, _ = two_commits(repos)
    git(repo, "checkout", "-q", "--", "train.py")
    provider_for(repo / "train.py")
    run_id = start_run(tags={T.MLFLOW_GIT_COMMIT: c1})
    assert mlflow.get_run(run_id).data.tags[T.MLFLOW_GIT_DIRTY] == "true"
    restored = rebuilt(run_id, repo, tmp_path)
    assert restored.exact and tree_id(tmp_path / "rebuilt") == tree_id(repo)


@pytest.mark.parametrize(
    "given",
    [
        {T.MLFLOW_GIT_COMMIT: "deadbeef"},
        {T.MLFLOW_GIT_COMMIT: "1" * 40},
        {T.MLFLOW_GIT_REPO_URL: "https://github.com/someone/else"},
    ],
    ids=["short", "unknown", "other-repository"],
)
def test_callers_commit_not_in_the_repository_keeps_no_patch(given, repos, provider_for, sqlite_uri, tmp_path):
    repo, _, _ = two_commits(repos)
    provider_for(repo / "train.py")
    run_id = start_run(tags=given)
    tags = mlflow.get_run(run_id).data.tags
    assert tags[T.GIT_DIFF] == "other_commit"
    assert not any(k in tags for k in (T.GIT_DIFF_SHA256, T.GIT_DIFF_BYTES, T.GIT_DIFF_FILES))
    assert tags.get(T.MLFLOW_GIT_DIRTY) in (None, "unknown")
    assert not mlflow.MlflowClient().list_artifacts(run_id, T.DIFF_ARTIFACT_DIR)
    if T.MLFLOW_GIT_REPO_URL in given:
        with pytest.raises(CheckoutError):  # no commit recorded
            rebuilt(run_id, repo, tmp_path)
        return
    with pytest.raises(CheckoutError, match="is not in"):
        rebuilt(run_id, repo, tmp_path)


def test_callers_clean_flag_in_a_dirty_checkout_is_one_story(repos, provider_for, sqlite_uri, tmp_path):
    repo, _, _ = two_commits(repos)
    provider_for(repo / "train.py")
    run_id = start_run(tags={T.MLFLOW_GIT_DIRTY: "false"})
    tags = mlflow.get_run(run_id).data.tags
    assert tags[T.MLFLOW_GIT_DIRTY] == "false" and tags[T.GIT_DIFF] == "overridden"
    assert T.GIT_DIFF_SHA256 not in tags
    restored = rebuilt(run_id, repo, tmp_path)
    assert not restored.exact and "say it was clean" in (restored.reason or "")


def test_reconcile_turns_a_patch_of_another_base_into_other_commit():
    """Where the caller's tags could not be read before the run existed, the store wrapper's last word
    still never leaves a patch beside a commit it was not made against."""
    from mlflow_lineage_plugin import reconcile

    c1, c2 = "1" * 40, "2" * 40
    ours = {
        T.MLFLOW_GIT_COMMIT: c2,
        T.MLFLOW_GIT_DIRTY: "true",
        T.GIT_DIFF: "captured",
        T.GIT_DIFF_SHA256: "a" * 64,
        T.GIT_DIFF_FILES: "1",
    }
    fresh = reconcile.Fresh(ours=ours, git=T.GitRef(commit=c2, dirty=True))
    out = reconcile.reconcile({**ours, T.MLFLOW_GIT_COMMIT: c1}, fresh)
    assert out[T.MLFLOW_GIT_COMMIT] == c1 and out[T.GIT_DIFF] == "other_commit"
    assert T.GIT_DIFF_SHA256 not in out and T.GIT_DIFF_FILES not in out
    assert reconcile.reconcile(dict(ours), fresh) == ours


# --- item 4: the verdict is checked against the tree --------------------------------------------


def test_submodule_pointer_hidden_by_ignore_submodules_is_kept(repos, provider_for, sqlite_uri, tmp_path):
    from test_checkout import make_project, submodule_pointer

    repo = make_project(repos)
    git(repo, "config", "diff.ignoreSubmodules", "all")
    provider_for(repo / "train.py")
    submodule_pointer(repo)
    expected = tree_id(repo)
    run_id = start_run()
    assert mlflow.get_run(run_id).data.tags[T.MLFLOW_GIT_DIRTY] == "true"
    restored = rebuilt(run_id, repo, tmp_path)
    assert tree_id(tmp_path / "rebuilt") == expected
    assert restored.exact, restored.reason


STRIP = "import sys\nsys.stdout.write(''.join(l for l in sys.stdin if 'OUTPUT' not in l))\n"


def test_clean_filter_is_exact_as_git_stores_it_and_names_the_files(repos, provider_for, sqlite_uri, tmp_path):
    files = {"train.py": "print(1)\n", "nb/a.ipynb": "cell 1\n", ".gitattributes": "*.ipynb filter=strip\n"}
    repo = repos.make("project", files=files)
    (repo / ".git" / "strip.py").write_text(STRIP)
    git(repo, "config", "filter.strip.clean", f"{sys.executable} .git/strip.py")
    provider_for(repo / "train.py")
    (repo / "nb/a.ipynb").write_text("cell 2\nOUTPUT 42\n")
    expected = tree_id(repo)
    run_id = start_run()
    restored = rebuilt(run_id, repo, tmp_path)
    assert tree_id(tmp_path / "rebuilt") == expected
    assert (tmp_path / "rebuilt" / "nb/a.ipynb").read_text() == "cell 2\n"
    assert restored.exact and restored.filtered == ("nb/a.ipynb",)
    assert "exact as git stores it" in restored.summary() and "  nb/a.ipynb" in restored.summary()


def test_rebuilt_files_that_differ_from_the_record_are_not_exact(repos, provider_for, sqlite_uri, tmp_path):
    """A smudge filter in the user's own git config rewrites files on checkout: the directory is not
    the recorded tree, and checkout says which files differ."""
    files = {"train.py": "print(1)\n", "data.txt": "a\n", ".gitattributes": "*.txt filter=twice\n"}
    repo = repos.make("project", files=files)
    provider_for(repo / "train.py")
    (repo / "train.py").write_text("print(2)\n")
    run_id = start_run()
    home = tmp_path / "home"
    home.mkdir()
    (home / "twice.py").write_text("import sys\nd = sys.stdin.read()\nsys.stdout.write(d + d)\n")
    (home / ".gitconfig").write_text(f'[filter "twice"]\n\tsmudge = {sys.executable} {home / "twice.py"}\n')

    old = os.environ.get("HOME")
    os.environ["HOME"] = str(home)
    try:
        restored = rebuilt(run_id, repo, tmp_path)
    finally:
        os.environ["HOME"] = old or ""
    assert not restored.exact and "data.txt" in (restored.reason or "")
    assert "differ from what the record describes" in restored.summary()


def empty_attributes(r: Path) -> None:
    (r / ".gitattributes").write_text("*.slow filter=slow\n")


def rename_attributes(r: Path) -> None:
    git(r, "mv", ".gitattributes", "attributes.txt")


@pytest.mark.parametrize("change", [empty_attributes, rename_attributes], ids=lambda f: f.__name__)
def test_patch_that_drops_a_filter_attribute_still_reads_back_what_the_filter_wrote(
    change, repos, provider_for, sqlite_uri, tmp_path, monkeypatch
):
    """The commit's .gitattributes sends data.txt through the user's smudge filter on checkout; the run's
    patch removes that line. The file on disk is the filter's output, which the patch's attributes no
    longer explain: checked against the file's bytes, not against the stat data git kept of it. (A slow
    filter on a later file keeps data.txt older than the index, so git does not check it as racily clean.)"""
    attributes = "*.txt filter=twice\n*.slow filter=slow\n"
    files = {"train.py": "print(1)\n", "data.txt": "a\n", "zz.slow": "z\n", ".gitattributes": attributes}
    repo = repos.make("project", files=files)
    provider_for(repo / "train.py")
    change(repo)
    run_id = start_run()
    assert mlflow.get_run(run_id).data.tags[T.GIT_DIFF] == "captured"
    home = tmp_path / "home"
    home.mkdir()
    (home / "twice.py").write_text("import sys\nd = sys.stdin.read()\nsys.stdout.write(d + d)\n")
    (home / "slow.py").write_text("import sys, time\ntime.sleep(1.2)\nsys.stdout.write(sys.stdin.read())\n")
    (home / ".gitconfig").write_text(
        f'[filter "twice"]\n\tsmudge = {sys.executable} {home / "twice.py"}\n'
        f'[filter "slow"]\n\tsmudge = {sys.executable} {home / "slow.py"}\n'
    )
    monkeypatch.setenv("HOME", str(home))
    restored = rebuilt(run_id, repo, tmp_path)
    assert (tmp_path / "rebuilt" / "data.txt").read_text() == "a\na\n"
    assert not restored.exact and "data.txt" in (restored.reason or "")


@pytest.mark.parametrize("ignore_stat", [False, True], ids=["stat", "core.ignoreStat"])
def test_file_changed_after_git_wrote_it_is_not_exact(
    ignore_stat, repos, provider_for, sqlite_uri, tmp_path, monkeypatch
):
    """A post-checkout hook from the user's git template rewrites a file once git has checked it out. With
    ``core.ignoreStat`` git marks what it wrote assume-unchanged and stops looking at its stat data: the
    verdict reads such files again rather than trusting the mark."""
    repo = repos.make("project", files={"train.py": "print(1)\n", "b.py": "B = 1\n"})
    provider_for(repo / "train.py")
    (repo / "train.py").write_text("print(2)\n")
    run_id = start_run()
    home = tmp_path / "home"
    hooks = home / "template" / "hooks"
    hooks.mkdir(parents=True)
    (hooks / "post-checkout").write_text("#!/bin/sh\nprintf 'B = 2\\n' > b.py\n")
    os.chmod(hooks / "post-checkout", 0o755)
    config = f"[init]\n\ttemplateDir = {home / 'template'}\n"
    (home / ".gitconfig").write_text(config + ("[core]\n\tignoreStat = true\n" if ignore_stat else ""))
    monkeypatch.setenv("HOME", str(home))
    restored = rebuilt(run_id, repo, tmp_path)
    assert (tmp_path / "rebuilt" / "b.py").read_text() == "B = 2\n"
    assert not restored.exact and "b.py" in (restored.reason or "")


# --- item 5: `checkout --repo PATH` never writes the user's repository ----------------------------


def snapshot(repo: Path) -> dict:
    """What a user would notice: status, the index file, and every file's bytes and mode (.git too)."""
    import hashlib
    import stat

    files = {}
    for path in sorted(repo.rglob("*")):
        st = path.lstat()
        data = os.readlink(path).encode() if path.is_symlink() else (path.read_bytes() if path.is_file() else b"")
        files[str(path.relative_to(repo))] = (stat.S_IMODE(st.st_mode), stat.S_IFMT(st.st_mode), data)
    index = hashlib.sha256((repo / ".git" / "index").read_bytes()).hexdigest()
    status = git(repo, "--no-optional-locks", "status", "--porcelain")  # a plain status may refresh the index
    return {"status": status, "index": index, "files": files}


def git_mv(r: Path) -> None:
    git(r, "mv", "b.py", "c.py")


def chmod_x(r: Path) -> None:
    os.chmod(r / "train.py", 0o755)


def chmod_minus_x(r: Path) -> None:
    git(r, "update-index", "--chmod=+x", "b.py")  # b.py recorded executable, on disk not: -x


def everything_at_once(r: Path) -> None:
    for change in (git_mv, chmod_x):
        change(r)
    (r / "new.py").write_text("x = 1\n")
    git(r, "add", "new.py")
    (r / "new.py").write_text("x = 2\n")


@pytest.mark.parametrize("state", [git_mv, chmod_x, chmod_minus_x, everything_at_once], ids=lambda f: f.__name__)
def test_checkout_repo_is_read_only(state, repos, provider_for, sqlite_uri, tmp_path):
    from click.testing import CliRunner

    from mlflow_lineage_plugin.cli import main

    repo = repos.make("project", files={"train.py": "print(1)\n", "b.py": "B = 1\n"})
    provider_for(repo / "train.py")
    state(repo)
    run_id = start_run()
    before = snapshot(repo)
    result = CliRunner().invoke(main, ["checkout", run_id, str(tmp_path / "out"), "--repo", str(repo)])
    assert result.exit_code == 0, result.output
    assert snapshot(repo) == before


# --- item 6: a caller's repository URL that is no URL -------------------------------------------


def test_callers_repository_that_is_no_url_is_kept_as_given(repos, provider_for, sqlite_uri, tmp_path):
    repo, _, _ = two_commits(repos)
    provider_for(repo / "train.py")
    run_id = start_run(tags={T.MLFLOW_GIT_REPO_URL: "not a url at all"})
    tags = mlflow.get_run(run_id).data.tags
    assert tags[T.MLFLOW_GIT_REPO_URL] == "not a url at all"
    assert T.SOURCE_URL not in tags
    assert not [v for v in tags.values() if "not a url at all" in v and v != "not a url at all"]


# --- item 2: untracked opt-in ---------------------------------------------------------------------


def test_untracked_opt_in_keeps_new_files_and_never_the_store(repos, provider_for, tmp_path, monkeypatch):
    repo = repos.make("project", files={"train.py": "print(1)\n"})
    (repo / "new_script.py").write_text("print('new')\n")
    (repo / "empty.txt").write_text("")
    (repo / "weights.bin").write_bytes(bytes(range(256)) * 3)
    (repo / "tool.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(repo / "tool.sh", 0o755)
    expected = tree_id(repo, with_untracked=True)
    (repo / ".venv" / "lib").mkdir(parents=True)
    (repo / ".venv" / "pyvenv.cfg").write_text("home = /usr\n")
    (repo / ".venv" / "lib" / "site.py").write_text("x = 1\n")
    monkeypatch.chdir(repo)  # the store and the default artifact root, inside the repository
    # Absolute: MLflow caches stores by URI, so a relative one could reach another test's directory.
    uri = f"sqlite:///{repo / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_LINEAGE_DIFF_UNTRACKED", "true")
    mlflow.set_tracking_uri(uri)
    try:
        provider_for(repo / "train.py")
        first, second = start_run(), start_run()
        tags = mlflow.get_run(second).data.tags
        assert tags[T.MLFLOW_GIT_DIRTY] == "true" and tags[T.GIT_DIFF] == "captured"
        assert tags[T.GIT_DIFF_BYTES] == mlflow.get_run(first).data.tags[T.GIT_DIFF_BYTES]  # the store not in it
        assert tags[T.GIT_DIFF_FILES] == "4"
        restored = checkout(second, str(tmp_path / "rebuilt"), repo=str(repo))
    finally:
        mlflow.set_tracking_uri(None)
    assert restored.exact, restored.reason
    assert tree_id(tmp_path / "rebuilt") == expected
    assert os.access(tmp_path / "rebuilt" / "tool.sh", os.X_OK)
    assert not (tmp_path / "rebuilt" / ".venv").exists() and not (tmp_path / "rebuilt" / "mlflow.db").exists()


# --- item 3: an untracked entry script ------------------------------------------------------------


def test_untracked_entry_script_is_not_at_the_commit(repos, provider_for, sqlite_uri, tmp_path):
    repo = repos.make("project", files={"lib.py": "X = 1\n"}, remote="https://github.com/me/project.git")
    (repo / "new_train.py").write_text("print('not committed yet')\n")
    expected = tree_id(repo, with_untracked=True)
    provider_for(repo / "new_train.py")
    run_id = start_run()
    tags = mlflow.get_run(run_id).data.tags
    assert tags[T.MLFLOW_GIT_DIRTY] == "true" and T.SOURCE_URL not in tags
    assert tags[T.GIT_DIFF] == "captured"
    restored = rebuilt(run_id, repo, tmp_path)
    assert restored.exact, restored.reason
    assert tree_id(tmp_path / "rebuilt") == expected


def test_callers_commit_round_trip_through_mlflow_server(
    repos, provider_for, tmp_path, mlflow_server_factory, monkeypatch
):
    """The same verdict through `mlflow server` with proxied artifacts (mlflow-artifacts:)."""
    server = mlflow_server_factory()
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
        mlflow.set_tracking_uri(server.url)
        repo, c1, _ = two_commits(repos)
        provider_for(repo / "train.py")
        expected = tree_id(repo)
        run_id = start_run(tags={T.MLFLOW_GIT_COMMIT: c1})
        assert mlflow.get_run(run_id).info.artifact_uri.startswith("mlflow-artifacts:")
        restored = checkout(run_id, str(tmp_path / "rebuilt"), repo=str(repo), tracking_uri=server.url)
        assert restored.exact, restored.reason
        assert tree_id(tmp_path / "rebuilt") == expected
    finally:
        mlflow.set_tracking_uri(None)
        server.stop()
