"""The git reference of an entry file, read from real repositories made with `git` in temp dirs."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import git

from mlflow_lineage_plugin import git as gitmod
from mlflow_lineage_plugin.git import dirty, parse_config, process, read_git_ref
from mlflow_lineage_plugin.tags import GitRef

pytestmark = pytest.mark.usefixtures("git_available")


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD")


def settle(repo: Path, age: float = 60.0) -> None:
    """Make the checkout look like one written a while ago (as every real one is): tracked files and
    the index older than the current second, so no entry is racily clean."""
    now = time.time()
    for rel in git(repo, "ls-files", "-z").split("\0"):
        if rel and (repo / rel).exists():
            os.utime(repo / rel, (now - 2 * age, now - 2 * age), follow_symlinks=False)
    git(repo, "update-index", "-q", "--refresh", check=False)
    index = Path(git(repo, "rev-parse", "--git-dir"))
    index = (index if index.is_absolute() else repo / index) / "index"
    os.utime(index, (now - age, now - age))


class SpawnCounter:
    """Counts the git processes `read_git_ref` starts (the real ones still run)."""

    def __init__(self, monkeypatch):
        self.calls: list[list[str]] = []
        real = process.spawn

        def spawn(exe, args, cwd):
            self.calls.append(list(args))
            return real(exe, args, cwd)

        monkeypatch.setattr(process, "spawn", spawn)


# --- commit, branch, path, link -----------------------------------------------------------------


def test_reads_commit_branch_remote_path_and_link(repos):
    repo = repos.make(files={"src/pkg/train.py": "print(1)\n"}, remote="https://github.com/acme/proj.git")
    ref = read_git_ref(str(repo / "src/pkg/train.py"))
    sha = head(repo)
    assert ref.commit == sha and len(sha) == 40
    assert ref.branch == "main"
    assert ref.repo_url == "https://github.com/acme/proj"
    assert ref.dirty is False
    assert ref.path == "src/pkg/train.py"
    assert ref.source_url == f"https://github.com/acme/proj/blob/{sha}/src/pkg/train.py"


def test_entry_repository_wins_over_current_directory(repos, monkeypatch):
    a = repos.make("a", files={"train.py": "a\n"})
    b = repos.make("b", files={"other.py": "b\n"})
    repos.commit(b, "more.py", "b2\n")
    monkeypatch.chdir(b)
    assert read_git_ref(str(a / "train.py")).commit == head(a)
    monkeypatch.chdir(a)
    assert read_git_ref("train.py").path == "train.py"  # relative to the current directory


def test_directory_entry(repos):
    repo = repos.make(files={"nb/analysis.ipynb": "{}\n", "train.py": "x\n"})
    assert read_git_ref(str(repo)).path is None
    assert read_git_ref(str(repo)).commit == head(repo)
    assert read_git_ref(str(repo / "nb")).path == "nb"


def test_other_branch_and_detached_head(repos):
    repo = repos.make()
    git(repo, "checkout", "-q", "-b", "feature/x")
    sha = repos.commit(repo, "train.py", "v2\n")
    ref = read_git_ref(str(repo / "train.py"))
    assert (ref.branch, ref.commit) == ("feature/x", sha)
    git(repo, "checkout", "-q", "--detach", "main")
    ref = read_git_ref(str(repo / "train.py"))
    assert ref.branch is None
    assert ref.commit == head(repo) != sha


def test_packed_refs_and_symlinked_entry(repos, tmp_path):
    repo = repos.make()
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git/refs/heads/main").exists()
    link = tmp_path / "bin-train.py"
    link.symlink_to(repo / "train.py")
    ref = read_git_ref(str(link))
    assert (ref.commit, ref.branch, ref.path) == (head(repo), "main", "train.py")


def test_no_repository_and_bad_input_give_none(tmp_path, repos):
    (tmp_path / "loose.py").write_text("x\n")
    assert read_git_ref(str(tmp_path / "loose.py")) is None
    assert read_git_ref(None) is None
    assert read_git_ref("") is None
    assert read_git_ref(str(tmp_path / "missing.py")) is None
    repo = repos.make()
    assert read_git_ref(str(repo / ".git" / "HEAD")) is None


def test_unborn_branch_has_no_reference(repos, tmp_path):
    repo = tmp_path / "fresh"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "train.py").write_text("x\n")
    assert read_git_ref(str(repo / "train.py")) is None


# --- dirty state --------------------------------------------------------------------------------


def test_dirty_counts_tracked_changes_only(repos):
    repo = repos.make(files={"train.py": "print('hi')\n", "lib.py": "x = 1\n"})
    entry = str(repo / "train.py")
    assert read_git_ref(entry).dirty is False
    (repo / "notes.txt").write_text("untracked\n")
    assert read_git_ref(entry).dirty is False
    (repo / "lib.py").write_text("x = 2\n")
    assert read_git_ref(entry).dirty is True
    git(repo, "add", "lib.py")
    assert read_git_ref(entry).dirty is True  # staged counts too
    git(repo, "reset", "-q", "--hard")
    assert read_git_ref(entry).dirty is False
    (repo / "lib.py").unlink()
    assert read_git_ref(entry).dirty is True


def test_repeat_on_unchanged_checkout_starts_no_git_process(repos, monkeypatch):
    repo = repos.make(files={"train.py": "print('hi')\n", "lib.py": "x = 1\n"})
    settle(repo)
    entry = str(repo / "train.py")
    spawned = SpawnCounter(monkeypatch)
    assert read_git_ref(entry).dirty is False
    assert len(spawned.calls) == 1 and "status" in spawned.calls[0]
    for _ in range(3):
        assert read_git_ref(entry).dirty is False
    assert len(spawned.calls) == 1
    (repo / "lib.py").write_text("x = 9\n")  # same size, new content
    assert read_git_ref(entry).dirty is True
    assert len(spawned.calls) == 2
    (repo / "lib.py").write_text("x = 1\n")
    assert read_git_ref(entry).dirty is False


def test_clear_forgets_every_remembered_answer(repos, monkeypatch):
    repo = repos.make(files={"train.py": "print('hi')\n"})
    settle(repo)
    entry = str(repo / "train.py")
    spawned = SpawnCounter(monkeypatch)
    assert read_git_ref(entry).dirty is False
    assert read_git_ref(entry).dirty is False
    assert len(spawned.calls) == 1
    gitmod.clear()
    assert read_git_ref(entry).dirty is False
    assert len(spawned.calls) == 2  # the clean status of this index was forgotten with the rest


def test_racily_clean_entries_are_rechecked_until_settled(repos, monkeypatch):
    """A file stamped in the same second as the index may have changed after git hashed it without
    its stat data showing it (coarse timestamps): git re-reads such files, and so must we, as long as
    a later write could still leave the same stat data (here: a time stamp in the future)."""
    repo = repos.make(files={"train.py": "a\n", "lib.py": "b\n"})
    now = time.time()
    os.utime(repo / "train.py", (now + 3600, now + 3600))
    os.utime(repo / "lib.py", (now - 120, now - 120))
    git(repo, "update-index", "-q", "--refresh")  # the index records those stat data
    os.utime(repo / ".git/index", (now - 60, now - 60))  # ... and is older than train.py: racy
    spawned = SpawnCounter(monkeypatch)
    for _ in range(3):
        assert read_git_ref(str(repo / "train.py")).dirty is False
    assert len(spawned.calls) == 3


def _racy_fresh_clone(repos, tmp_path, monkeypatch) -> Path:
    """A fresh clone as git leaves it: files stamped in the index's own second (made certain here by
    dating the index to the oldest file's time), so git re-reads every file on every status."""
    monkeypatch.setenv("MLFLOW_LINEAGE_DIRTY_TIMEOUT", "30")  # a loaded machine must not make it unknown
    src = repos.make("src", files={"train.py": "print(1)\n", "lib.py": "x = 1\n", "pkg/mod.py": "y\n"})
    git(tmp_path, "clone", "-q", str(src), "clone")
    clone = tmp_path / "clone"
    files = [clone / p for p in ("train.py", "lib.py", "pkg/mod.py")]
    oldest = min(f.stat().st_mtime_ns for f in files)
    os.utime(clone / ".git/index", ns=(oldest, oldest))
    # the proof trusts stat data only once they are SETTLED_SECONDS older than the status that saw them
    newest = max(max(f.stat().st_ctime_ns, f.stat().st_mtime_ns) for f in files) / 1e9
    time.sleep(max(0.0, newest + dirty.SETTLED_SECONDS + 0.2 - time.time()))
    return clone


def test_fresh_clone_regains_the_fast_path_without_writing_the_index(repos, tmp_path, monkeypatch):
    clone = _racy_fresh_clone(repos, tmp_path, monkeypatch)
    index = clone / ".git/index"
    before = (index.stat().st_ino, index.stat().st_mtime_ns)
    spawned = SpawnCounter(monkeypatch)
    entry = str(clone / "train.py")
    assert read_git_ref(entry, timeout=30).dirty is False
    assert len(spawned.calls) == 1 and "status" in spawned.calls[0]
    for _ in range(3):
        assert read_git_ref(entry, timeout=30).dirty is False
    assert len(spawned.calls) == 1  # the second run and later: no process
    assert (index.stat().st_ino, index.stat().st_mtime_ns) == before  # and the index was never written


def test_fresh_clone_edit_is_seen_even_with_the_remembered_time_stamp(repos, tmp_path, monkeypatch):
    clone = _racy_fresh_clone(repos, tmp_path, monkeypatch)
    entry = str(clone / "train.py")
    assert read_git_ref(entry, timeout=30).dirty is False
    assert read_git_ref(entry, timeout=30).dirty is False
    lib = clone / "lib.py"
    st = lib.stat()
    lib.write_text("x = 2\n")  # same size, and dated back to the very time stamp that was remembered
    os.utime(lib, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert lib.stat().st_mtime_ns == st.st_mtime_ns and lib.stat().st_size == st.st_size
    assert read_git_ref(entry, timeout=30).dirty is True
    assert read_git_ref(entry, timeout=30).dirty is True
    lib.write_text("x = 1\n")
    assert read_git_ref(entry, timeout=30).dirty is False
    (clone / "pkg/mod.py").write_text("z\n")
    assert read_git_ref(entry, timeout=30).dirty is True


@pytest.mark.parametrize("rule_file", [".git/info/attributes", ".gitattributes", "pkg/.gitattributes"])
def test_fresh_clone_proof_is_dropped_when_attributes_change(repos, tmp_path, monkeypatch, rule_file):
    """git re-reads a racily clean file through its filters and attributes: new rules, new look."""
    clone = _racy_fresh_clone(repos, tmp_path, monkeypatch)
    entry = str(clone / "train.py")
    assert read_git_ref(entry, timeout=30).dirty is False
    spawned = SpawnCounter(monkeypatch)
    assert read_git_ref(entry, timeout=30).dirty is False
    assert spawned.calls == []
    (clone / rule_file).parent.mkdir(parents=True, exist_ok=True)
    (clone / rule_file).write_text("*.py text eol=crlf\n")  # untracked, yet it changes git's comparison
    read_git_ref(entry, timeout=30)
    assert len(spawned.calls) == 1


def test_fresh_for_every_call_commit_between_runs(repos):
    repo = repos.make()
    settle(repo)
    first = read_git_ref(str(repo / "train.py"))
    assert read_git_ref(str(repo / "train.py")).commit == first.commit
    second_sha = repos.commit(repo, "train.py", "print('v2')\n")
    second = read_git_ref(str(repo / "train.py"))
    assert second.commit == second_sha != first.commit
    assert second.dirty is False


def test_index_format_4_and_sha256_repository(repos, tmp_path):
    repo = repos.make(files={"a.py": "a\n", "b/c.py": "c\n"})
    git(repo, "update-index", "--index-version", "4")
    settle(repo)
    assert read_git_ref(str(repo / "b/c.py")).dirty is False
    assert read_git_ref(str(repo / "b/c.py")).dirty is False
    (repo / "b/c.py").write_text("d\n")
    assert read_git_ref(str(repo / "b/c.py")).dirty is True

    r256 = tmp_path / "r256"
    r256.mkdir()
    git(r256, "init", "-q", "--object-format=sha256")
    (r256 / "train.py").write_text("x\n")
    git(r256, "add", "-A")
    git(r256, "commit", "-q", "-m", "one")
    settle(r256)
    ref = read_git_ref(str(r256 / "train.py"))
    assert ref.commit == head(r256) and len(ref.commit) == 64
    assert read_git_ref(str(r256 / "train.py")).dirty is False
    (r256 / "train.py").write_text("y\n")
    assert read_git_ref(str(r256 / "train.py")).dirty is True


def test_dirty_check_never_writes_the_users_index(repos):
    """A plain `git status` rewrites an index with racily clean entries (taking index.lock, which
    would make a concurrent `git commit` of the user fail); ours must not."""
    repo = repos.make(files={"train.py": "a\n", "lib.py": "b\n"})
    index = repo / ".git/index"
    racy = index.stat().st_mtime_ns
    for name in ("train.py", "lib.py"):
        os.utime(repo / name, ns=(racy, racy))
    before = (index.stat().st_ino, index.stat().st_mtime_ns)
    for _ in range(2):
        assert read_git_ref(str(repo / "train.py")).dirty is False
    assert (index.stat().st_ino, index.stat().st_mtime_ns) == before
    git(repo, "status", "--porcelain")
    assert (index.stat().st_ino, index.stat().st_mtime_ns) != before  # what we avoided


def test_dirty_check_timeout_records_unknown_and_kills_git(repos, tmp_path, monkeypatch):
    repo = repos.make()
    pidfile = tmp_path / "hook.pid"
    hook = tmp_path / "slow-fsmonitor.sh"
    hook.write_text(f"#!/bin/sh\necho $$ > {pidfile}\nexec sleep 30\n")
    hook.chmod(0o755)
    git(repo, "config", "core.fsmonitor", str(hook))
    monkeypatch.setenv("MLFLOW_LINEAGE_DIRTY_TIMEOUT", "0.5")
    started = time.monotonic()
    ref = read_git_ref(str(repo / "train.py"))
    took = time.monotonic() - started
    assert ref.commit == head(repo) and ref.branch == "main"
    assert ref.dirty is None
    assert took < 3.0
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    assert not _alive(pid), "the git process group outlived the time-out"
    started = time.monotonic()
    assert read_git_ref(str(repo / "train.py")).dirty is None  # remembered: no second stall
    assert time.monotonic() - started < 0.3


def test_raised_dirty_timeout_is_honoured_on_the_next_run(repos, tmp_path, monkeypatch):
    """The time-out warning tells the user to raise MLFLOW_LINEAGE_DIRTY_TIMEOUT: the next run in the
    same process must use it, not wait out the retry pause meant for an unchanged limit."""
    repo = repos.make(files={"train.py": "a\n", "lib.py": "b\n"})
    stall = tmp_path / "stall"
    stall.write_text("")
    hook = tmp_path / "fsmonitor.sh"
    hook.write_text(f"#!/bin/sh\nif [ -e {stall} ]; then exec sleep 30; fi\nexit 1\n")
    hook.chmod(0o755)
    git(repo, "config", "core.fsmonitor", str(hook))
    (repo / "lib.py").write_text("changed\n")
    monkeypatch.setenv("MLFLOW_LINEAGE_DIRTY_TIMEOUT", "0.5")
    spawned = SpawnCounter(monkeypatch)
    assert read_git_ref(str(repo / "train.py")).dirty is None
    stall.unlink()  # git would now answer at once, but nothing says so: the pause holds
    assert read_git_ref(str(repo / "train.py")).dirty is None
    monkeypatch.setenv("MLFLOW_LINEAGE_DIRTY_TIMEOUT", "0.4")  # a shorter limit: still paused
    assert read_git_ref(str(repo / "train.py")).dirty is None
    assert len(spawned.calls) == 1
    monkeypatch.setenv("MLFLOW_LINEAGE_DIRTY_TIMEOUT", "30")
    assert read_git_ref(str(repo / "train.py"), timeout=60).dirty is True
    assert len(spawned.calls) == 2


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in state


# --- remotes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "remote, expected",
    [
        ("https://alice:s3cr3t-t0ken@github.com/acme/proj.git", "https://github.com/acme/proj"),
        ("https://oauth2:s3cr3t-t0ken@gitlab.example.com/grp/sub/proj.git", "https://gitlab.example.com/grp/sub/proj"),
        ("git@github.com:acme/proj.git", "https://github.com/acme/proj"),
        ("ssh://git@gitlab.example.com:2222/grp/proj.git", "https://gitlab.example.com/grp/proj"),
        ("alice:s3cr3t-t0ken@bitbucket.org:acme/proj.git", "https://bitbucket.org/acme/proj"),
    ],
)
def test_remote_is_credential_free_https(repos, remote, expected):
    repo = repos.make(remote=remote)
    ref = read_git_ref(str(repo / "train.py"))
    assert ref.repo_url == expected
    assert "s3cr3t" not in repr(ref) and "alice" not in repr(ref)
    assert ref.source_url.startswith(expected + "/")


def test_upstream_remote_preferred_then_origin_then_first(repos):
    repo = repos.make()
    git(repo, "remote", "add", "zeta", "https://github.com/acme/zeta.git")
    git(repo, "remote", "add", "fork", "https://github.com/me/fork.git")
    assert read_git_ref(str(repo / "train.py")).repo_url == "https://github.com/acme/zeta"  # first
    git(repo, "remote", "add", "origin", "https://github.com/acme/origin.git")
    assert read_git_ref(str(repo / "train.py")).repo_url == "https://github.com/acme/origin"
    git(repo, "config", "branch.main.remote", "fork")
    git(repo, "config", "branch.main.merge", "refs/heads/main")
    assert read_git_ref(str(repo / "train.py")).repo_url == "https://github.com/me/fork"
    git(repo, "checkout", "-q", "--detach")
    assert read_git_ref(str(repo / "train.py")).repo_url == "https://github.com/acme/origin"


def test_no_remote_and_relative_local_remote(repos):
    repo = repos.make()
    ref = read_git_ref(str(repo / "train.py"))
    assert ref.commit == head(repo)
    assert ref.repo_url is None and ref.source_url is None
    git(repo, "remote", "add", "origin", "../upstream.git")
    ref = read_git_ref(str(repo / "train.py"))
    assert ref.repo_url == str((repo.parent / "upstream").resolve())
    assert ref.source_url is None


def test_config_parser_handles_git_syntax():
    cfg = parse_config(
        "[core]\n\tbare = false ; comment\n"
        '[remote "my \\"odd\\" name"]\n  url = "https://h/x.git" # trailing\n  fetch = +refs/*:refs/*\n'
        "[branch.Main]\n  remote = up\n"
        '[url "x"] insteadOf = y\n'
        "[weird]\n  flag\n  multi = one\\\n two\n"
    )
    assert cfg[("remote", 'my "odd" name', "url")] == ["https://h/x.git"]
    assert cfg[("branch", "main", "remote")] == ["up"]
    assert cfg[("url", "x", "insteadof")] == ["y"]
    assert cfg[("weird", None, "flag")] == ["true"]
    assert cfg[("weird", None, "multi")] == ["one two"]
    assert cfg[("core", None, "bare")] == ["false"]


# --- submodules, worktrees, shallow clones ------------------------------------------------------


def test_file_in_submodule_belongs_to_the_submodule(repos):
    lib = repos.make("lib", files={"lib/model.py": "m\n"}, remote="git@github.com:acme/lib.git")
    lib_sha = head(lib)
    outer = repos.make("outer", files={"train.py": "t\n"}, remote="https://github.com/acme/app.git")
    git(outer, "submodule", "add", "-q", str(lib), "vendor/lib")
    git(outer, "commit", "-q", "-m", "add submodule")
    sub_file = outer / "vendor/lib/lib/model.py"
    assert (outer / "vendor/lib/.git").is_file()
    ref = read_git_ref(str(sub_file))
    assert ref.commit == lib_sha
    assert ref.path == "lib/model.py"
    assert ref.repo_url == str(lib)  # the submodule's origin: the local repository it was cloned from
    assert ref.dirty is False
    outer_ref = read_git_ref(str(outer / "train.py"))
    assert outer_ref.repo_url == "https://github.com/acme/app" and outer_ref.commit == head(outer)
    (sub_file).write_text("changed\n")
    assert read_git_ref(str(sub_file)).dirty is True
    assert read_git_ref(str(outer / "train.py")).dirty is True  # the superproject's code changed too


def test_worktree_has_its_own_head_and_dirty_state(repos):
    main = repos.make("main", remote="https://github.com/acme/proj.git")
    wt = main.parent / "wt"
    git(main, "worktree", "add", "-q", "-b", "experiment", str(wt))
    wt_sha = repos.commit(wt, "train.py", "experiment\n")
    ref = read_git_ref(str(wt / "train.py"))
    assert (ref.commit, ref.branch, ref.path) == (wt_sha, "experiment", "train.py")
    assert ref.repo_url == "https://github.com/acme/proj"  # config lives in the common dir
    (main / "train.py").write_text("dirty main\n")
    assert read_git_ref(str(wt / "train.py")).dirty is False
    assert read_git_ref(str(main / "train.py")).dirty is True
    git(main, "pack-refs", "--all")
    assert read_git_ref(str(wt / "train.py")).commit == wt_sha


def test_shallow_clone(repos, tmp_path):
    src = repos.make("src")
    repos.commit(src, "train.py", "two\n")
    sha = repos.commit(src, "train.py", "three\n")
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{src}", "shallow")
    clone = tmp_path / "shallow"
    assert (clone / ".git/shallow").exists()
    ref = read_git_ref(str(clone / "train.py"))
    assert (ref.commit, ref.branch, ref.dirty) == (sha, "main", False)
    assert ref.repo_url == str(src)


# --- which repository a file belongs to ---------------------------------------------------------


def test_file_ignored_in_outer_repository_is_not_attributed(repos):
    home = repos.make("home", files={".bashrc": "x\n", ".gitignore": "projects/\n"})
    project = home / "projects/scratch"
    project.mkdir(parents=True)
    (project / "train.py").write_text("x\n")
    assert read_git_ref(str(project / "train.py")) is None
    assert read_git_ref(str(project)) is None


def test_untracked_directory_in_outer_repository_is_not_attributed(repos):
    home = repos.make("home", files={".bashrc": "x\n"})  # no ignore rules at all
    (home / "work").mkdir()
    (home / "work/train.py").write_text("x\n")
    assert read_git_ref(str(home / "work/train.py")) is None


def test_new_file_next_to_tracked_ones_belongs_to_the_project(repos):
    repo = repos.make(files={"src/train.py": "x\n", ".gitignore": "scratch_*.py\n"})
    (repo / "src/new_experiment.py").write_text("y\n")
    ref = read_git_ref(str(repo / "src/new_experiment.py"))
    assert ref.commit == head(repo) and ref.path == "src/new_experiment.py"
    (repo / "src/scratch_1.py").write_text("z\n")
    assert read_git_ref(str(repo / "src/scratch_1.py")) is None  # ignored by the repository itself


def test_untracked_entry_checked_once_until_ignore_rules_change(repos, monkeypatch):
    repo = repos.make(files={"nb/old.ipynb": "{}\n"})
    settle(repo)
    (repo / "nb/new.ipynb").write_text("{}\n")
    spawned = SpawnCounter(monkeypatch)
    for _ in range(3):
        assert read_git_ref(str(repo / "nb/new.ipynb")).path == "nb/new.ipynb"
    assert sum("check-ignore" in c for c in spawned.calls) == 1
    (repo / "nb/.gitignore").write_text("new.ipynb\n")
    assert read_git_ref(str(repo / "nb/new.ipynb")) is None
    (repo / "nb/.gitignore").unlink()
    (repo / ".git/info/exclude").write_text("*.ipynb\n")
    assert read_git_ref(str(repo / "nb/new.ipynb")) is None


def test_untracked_entry_checked_once_with_included_config(repos, tmp_path, monkeypatch):
    """Ignore rules named by an included config file are followed like git follows them, so the
    answer is still remembered until one of those files changes."""
    repo = repos.make(files={"nb/old.ipynb": "{}\n"})
    settle(repo)
    rules = tmp_path / "team-excludes"
    rules.write_text("")
    (tmp_path / "team.inc").write_text(f"[core]\n\texcludesFile = {rules}\n")
    git(repo, "config", "include.path", str(tmp_path / "team.inc"))
    (repo / "nb/new.ipynb").write_text("{}\n")
    spawned = SpawnCounter(monkeypatch)
    for _ in range(3):
        assert read_git_ref(str(repo / "nb/new.ipynb")).path == "nb/new.ipynb"
    assert sum("check-ignore" in c for c in spawned.calls) == 1
    rules.write_text("*.ipynb\n")
    assert read_git_ref(str(repo / "nb/new.ipynb")) is None


def test_search_stops_at_git_ceiling_directories(repos, monkeypatch):
    home = repos.make("home", files={"work/tracked.py": "x\n"})
    assert read_git_ref(str(home / "work/tracked.py")).path == "work/tracked.py"
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(home))
    assert read_git_ref(str(home / "work/tracked.py")) is None


def test_inner_repository_inside_outer_one(repos):
    home = repos.make("home", files={".bashrc": "x\n"})
    inner = repos.make("home/code/proj", files={"train.py": "p\n"})
    ref = read_git_ref(str(inner / "train.py"))
    assert ref.commit == head(inner) != head(home)


@pytest.mark.parametrize("index_version", ["2", "3", "4"])
def test_large_index_membership(repos, index_version):
    """Beyond SNAPSHOT_MAX_FILES the index is searched, not parsed (formats 2, 3), or git is asked (4)."""
    files = {f"pkg/m{i:04d}.py": f"x = {i}\n" for i in range(gitmod.SNAPSHOT_MAX_FILES + 50)}
    files[".gitignore"] = "ignored/\n"
    files["x/fresh/run.py"] = "a path that ends like an untracked one\n"
    files["y/pkg/m0001.pyc"] = "a path that contains a tracked one\n"
    files["solo/only.py"] = "the one tracked file of its directory\n"
    repo = repos.make("big", files=files)
    git(repo, "update-index", "--index-version", index_version)
    if index_version == "3":
        git(repo, "update-index", "--skip-worktree", "solo/only.py")  # extended flags: a format 3 index
        assert (repo / ".git/index").read_bytes()[4:8] == b"\0\0\0\3"
    assert read_git_ref(str(repo / "solo/only.py")).path == "solo/only.py"
    assert read_git_ref(str(repo / "pkg/m0001.py")).path == "pkg/m0001.py"
    (repo / "pkg/new.py").write_text("n\n")
    assert read_git_ref(str(repo / "pkg/new.py")).commit == head(repo)
    (repo / "ignored").mkdir()
    (repo / "ignored/run.py").write_text("i\n")
    assert read_git_ref(str(repo / "ignored/run.py")) is None
    (repo / "fresh").mkdir()
    (repo / "fresh/run.py").write_text("f\n")
    assert read_git_ref(str(repo / "fresh/run.py")) is None
    (repo / "pkg/m0002.py").write_text("changed\n")
    assert read_git_ref(str(repo / "pkg/m0001.py")).dirty is True


# --- degraded environments ----------------------------------------------------------------------


def test_without_git_executable_reads_files(repos, tmp_path, monkeypatch):
    repo = repos.make(remote="git@github.com:acme/proj.git")
    git(repo, "pack-refs", "--all")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("git") is None
    ref = read_git_ref(str(repo / "train.py"))
    assert (ref.commit, ref.branch, ref.repo_url) == (head_with_path(repo), "main", "https://github.com/acme/proj")
    assert ref.dirty is None


def head_with_path(repo: Path) -> str:
    return (repo / ".git/packed-refs").read_text().split("refs/heads/main")[0].split()[-1]


def test_git_env_of_the_process_does_not_redirect_git(repos, monkeypatch):
    a = repos.make("a")
    b = repos.make("b")
    (b / "train.py").write_text("dirty b\n")
    monkeypatch.setenv("GIT_DIR", str(b / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(b))
    assert read_git_ref(str(a / "train.py")).dirty is False


@pytest.mark.parametrize(
    "damage",
    ["garbage_head", "empty_head", "garbage_ref", "missing_gitdir", "truncated_index", "garbage_config"],
)
def test_corrupt_git_directory_never_raises(repos, damage):
    repo = repos.make(remote="https://github.com/acme/proj.git")
    sha = head_file(repo)
    dotgit = repo / ".git"
    if damage == "garbage_head":
        (dotgit / "HEAD").write_bytes(b"\x00\xffnot a ref\n")
    elif damage == "empty_head":
        (dotgit / "HEAD").write_text("")
    elif damage == "garbage_ref":
        (dotgit / "refs/heads/main").write_text("zzzz\n")
    elif damage == "missing_gitdir":
        shutil.rmtree(dotgit)
        (repo / ".git").write_text("gitdir: ../nowhere/.git\n")
    elif damage == "truncated_index":
        (dotgit / "index").write_bytes((dotgit / "index").read_bytes()[:30])
    elif damage == "garbage_config":
        (dotgit / "config").write_bytes(b'[remote "origin"\n\turl = \xff\xfe[[[\n')
    ref = read_git_ref(str(repo / "train.py"))
    expected = {
        # HEAD names no commit and no branch: git itself does not see a repository, neither do we
        "garbage_head": None,
        "empty_head": None,
        "missing_gitdir": None,
        # the branch is known, its commit is not: no commit, hence no dirty state and no link
        "garbage_ref": GitRef(branch="main", repo_url="https://github.com/acme/proj", path="train.py"),
        # git cannot read the index: the dirty state is unknown, everything else stands
        "truncated_index": GitRef(
            commit=sha,
            branch="main",
            repo_url="https://github.com/acme/proj",
            dirty=None,
            path="train.py",
            source_url=f"https://github.com/acme/proj/blob/{sha}/train.py",
        ),
        # git refuses an unparsable config (so no dirty state) and no remote can be read from it
        "garbage_config": GitRef(commit=sha, branch="main", repo_url=None, dirty=None, path="train.py"),
    }[damage]
    assert ref == expected


def head_file(repo: Path) -> str:
    return (repo / ".git/refs/heads/main").read_text().strip()
