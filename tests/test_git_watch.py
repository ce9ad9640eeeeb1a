"""Change notification for repeated runs (git/watch.py): every answer it gives must be the one git gives
at that instant, on real repositories, edits and git commands; and it must step aside (overflow, fork,
limits) rather than answer stale.

The freshness test calls the provider's git look-up (``read_git_ref``) and the patch capture in-process
rather than whole ``start_run``s, so 1,000 edit/run pairs fit in well under a minute."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from conftest import GIT_ENV, git

from mlflow_lineage_plugin import config
from mlflow_lineage_plugin.git import find_repo, read_git_ref, watch
from mlflow_lineage_plugin.git.patch import _DIFF, capture_patch

pytestmark = [
    pytest.mark.usefixtures("git_available"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux only"),
]

QUIET = {"GIT_OPTIONAL_LOCKS": "0"}  # ground truth must not rewrite the index behind the watch's back


def truth(repo: Path) -> tuple[str, str, bool, bytes]:
    """(commit, branch, dirty, patch) as git says them now, in one ``git status`` (plus the diff when
    dirty), without writing anything."""
    env = {**os.environ, **GIT_ENV, **QUIET}

    def out(*args: str) -> bytes:
        return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True).stdout

    lines = out("status", "--porcelain=v2", "--branch", "--untracked-files=no").decode().splitlines()
    head = {k: v for k, _, v in (line[2:].partition(" ") for line in lines if line.startswith("# "))}
    commit, branch = head["branch.oid"], head["branch.head"]
    dirty = any(not line.startswith("#") for line in lines)
    return commit, ("" if branch == "(detached)" else branch), dirty, out(*_DIFF, commit) if dirty else b""


def wait_active(repo_path: Path, entry: Path, seconds: float = 20.0) -> None:
    """Runs until the background set-up has finished and an answer is remembered."""
    repo = find_repo(str(repo_path))
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        read_git_ref(str(entry))
        if watch.status(repo)[0]:
            read_git_ref(str(entry))
            return
        time.sleep(0.02)
    pytest.fail(f"change notification never became active: {watch.status(repo)[1]}")


def watching(repo_path: Path, seconds: float = 10.0) -> None:
    repo = find_repo(str(repo_path))
    end = time.monotonic() + seconds
    while not watch.status(repo)[0] and time.monotonic() < end:
        time.sleep(0.005)


def counters(repo_path: Path) -> dict[str, int]:
    return watch.status(find_repo(str(repo_path)))[2]


@pytest.fixture
def checkout(repos):
    """Tracked files in nested directories, a .gitignore, and a branch with a directory main lacks."""
    path = repos.make(
        files={
            "train.py": "print('train')\n",
            "src/a.py": "a = 1\n",
            "src/deep/b.py": "b = 2\n",
            "src/c.py": "c = 3\n",
            "tool.sh": "echo hi\n",
            ".gitignore": "*.log\n",
        }
    )
    git(path, "checkout", "-q", "-b", "other")
    (path / "extra").mkdir()
    (path / "extra" / "e.py").write_text("e = 5\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "extra")
    git(path, "checkout", "-q", "main")
    return path


def test_every_answer_is_fresh_over_1000_edit_run_pairs(checkout):
    """Each kind of change the issue names, made just before a run, is in that run's answer: an edit, an
    edit that restores the original bytes and mtime, one by another process, a .gitignore change, a
    commit, a branch switch (into a directory the watch did not cover), a stash and its pop, a deletion,
    a mode change and an editor's save-by-rename. Most answers come from the watch, not from git."""
    repo = checkout
    entry = repo / "train.py"
    wait_active(repo, entry)
    original = {rel: ((repo / rel).read_bytes(), os.stat(repo / rel)) for rel in ("src/a.py", "src/deep/b.py")}

    def restore(rel: str) -> None:
        data, st = original[rel]
        (repo / rel).write_bytes(data)
        os.utime(repo / rel, ns=(st.st_atime_ns, st.st_mtime_ns))

    def by_other_process(rel: str, text: str) -> None:
        subprocess.run([sys.executable, "-c", f"open({rel!r}, 'a').write({text!r})"], cwd=repo, check=True)

    def atomic_save(rel: str, text: str) -> None:
        tmp = repo / (rel + ".tmp~")
        tmp.write_text(text)
        os.replace(tmp, repo / rel)

    counter = [0]

    def commit_change() -> None:
        counter[0] += 1
        (repo / "src/c.py").write_text(f"c = {counter[0]}\n")
        git(repo, "commit", "-q", "-am", f"c {counter[0]}")

    steps = [  # those that leave the index alone first; each index write sets the watches again
        ("edit", lambda: (repo / "src/a.py").write_text("a = 'edited'\n")),
        ("restore bytes and mtime", lambda: restore("src/a.py")),
        ("edit by another process", lambda: by_other_process("src/deep/b.py", "x = 1\n")),
        ("restore it", lambda: restore("src/deep/b.py")),
        ("untracked file next to tracked ones", lambda: (repo / "src" / "run.log").write_text("log\n")),
        ("mode change", lambda: os.chmod(repo / "tool.sh", 0o755)),
        ("mode back", lambda: os.chmod(repo / "tool.sh", 0o644)),
        ("save by rename", lambda: atomic_save("src/c.py", "c = 'saved'\n")),
        ("restore by rename", lambda: atomic_save("src/c.py", f"c = {counter[0]}\n")),
        ("delete", lambda: (repo / "src/a.py").unlink()),
        ("bring back", lambda: restore("src/a.py")),
        (".gitignore change", lambda: (repo / ".gitignore").write_text("*.log\n*.tmp\n")),
        (".gitignore back", lambda: (repo / ".gitignore").write_text("*.log\n")),
        ("commit", commit_change),
        ("branch switch", lambda: git(repo, "checkout", "-q", "other")),
        ("edit in a directory only this branch has", lambda: (repo / "extra/e.py").write_text("e = 'x'\n")),
        ("git stash", lambda: git(repo, "stash", "-q")),
        ("git stash pop", lambda: git(repo, "stash", "pop", "-q")),
        ("checkout of the file", lambda: git(repo, "checkout", "-q", "--", "extra/e.py")),
        ("switch back", lambda: git(repo, "checkout", "-q", "main")),
    ]
    wrong = []
    kinds_dirty = set()
    for i in range(1000):
        name, act = steps[i % len(steps)]
        watching(repo)  # (after an index write the watches are set again in the background first)
        act()
        ref = read_git_ref(str(entry))
        commit, branch, dirty, patch = truth(repo)
        got = (ref.commit, ref.branch, ref.dirty)
        if got != (commit, branch, dirty):
            wrong.append(f"pair {i} ({name}): got {got}, git says {(commit, branch, dirty)}")
        elif dirty:
            kinds_dirty.add(name)
            captured = capture_patch(str(repo), commit)
            if captured.patch != patch:
                wrong.append(f"pair {i} ({name}): the captured patch differs from git diff")
    assert not wrong, "\n".join(wrong[:20])
    assert {"edit", "edit by another process", ".gitignore change", "git stash pop", "mode change"} <= kinds_dirty
    # Most answers came from the kernel's notice rather than a full git status. After an index write (the
    # git commands above, and `git diff`'s own index refresh) one full check comes first.
    seen = counters(repo)
    assert seen["answered"] + seen["partial"] >= 400 and seen["partial"] >= 300, seen


def test_nothing_changed_starts_no_git_and_one_edit_asks_git_about_that_path_only(checkout, monkeypatch):
    from mlflow_lineage_plugin.git import process

    entry = checkout / "train.py"
    wait_active(checkout, entry)
    calls: list[list[str]] = []
    real = process.spawn

    def spawn(exe, args, cwd, env=None):
        calls.append(list(args))
        return real(exe, args, cwd, env) if env else real(exe, args, cwd)

    monkeypatch.setattr(process, "spawn", spawn)
    for _ in range(5):
        assert read_git_ref(str(entry)).dirty is False
    assert calls == []
    (checkout / "src/deep/b.py").write_text("b = 'changed'\n")
    assert read_git_ref(str(entry)).dirty is True
    assert len(calls) == 1 and calls[0][-2:] == ["--", ":(literal)src/deep/b.py"]
    patch = capture_patch(str(checkout), git(checkout, "rev-parse", "HEAD"))
    assert patch.patch == truth(checkout)[3] and b"b = 'changed'" in patch.patch


def test_an_index_in_format_4_is_watched_like_the_others(checkout):
    """Format 4 compresses each path against the previous one (``feature.manyFiles`` turns it on, the
    setting of big checkouts); the watch reads it with the stat snapshot's one entry reader."""
    git(checkout, "update-index", "--index-version", "4")
    assert (checkout / ".git/index").read_bytes()[4:8] == b"\0\0\0\4"
    entry = checkout / "train.py"
    wait_active(checkout, entry)
    assert read_git_ref(str(entry)).dirty is False
    (checkout / "src/deep/b.py").write_text("b = 'changed'\n")
    assert read_git_ref(str(entry)).dirty is True
    assert read_git_ref(str(entry)).dirty is truth(checkout)[2] is True


def test_a_one_run_process_sets_no_watch(checkout):
    entry = checkout / "train.py"
    assert read_git_ref(str(entry)).dirty is False
    active, _, seen = watch.status(find_repo(str(checkout)))
    assert not active and seen["resync"] == 0  # no thread started, no watch set


def test_queue_overflow_falls_back_to_git(checkout):
    """Events past the kernel's queue limit are dropped, the edit's among them: the overflow notice
    sends the next run to a full git status, which sees the edit."""
    entry = checkout / "train.py"
    wait_active(checkout, entry)
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    a, b = checkout / "src/a.py", checkout / "src/c.py"
    st_a, st_b = os.stat(a), os.stat(b)
    for i in range(limit // 2 + 100):  # alternate two files: identical consecutive events are merged
        os.utime(a, ns=(st_a.st_atime_ns, st_a.st_mtime_ns + i))
        os.utime(b, ns=(st_b.st_atime_ns, st_b.st_mtime_ns + i))
    (checkout / "src/deep/b.py").write_text("b = 'lost event'\n")  # its event no longer fits the queue
    assert read_git_ref(str(entry)).dirty is True
    assert counters(checkout)["overflow"] >= 1


def test_a_forked_child_falls_back_and_leaves_the_parents_events(checkout):
    """The child shares the parent's inotify queue: were it to read it, the parent would miss edits."""
    entry = checkout / "train.py"
    wait_active(checkout, entry)
    (checkout / "src/a.py").write_text("a = 'before fork'\n")
    r, w = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pid = os.fork()
    if pid == 0:  # the child: a full answer, and its own watch state
        try:
            ref = read_git_ref(str(entry))
            state = watch.status(find_repo(str(checkout)))
            os.write(w, f"{ref.dirty}|{state[0]}".encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        child = f.read()
    os.waitpid(pid, 0)
    assert child == "True|False"
    assert read_git_ref(str(entry)).dirty is True  # the parent still has its event


def test_limit_setting_and_availability(checkout, monkeypatch):
    repo = find_repo(str(checkout))
    assert watch.availability(repo).active
    monkeypatch.setenv(config.WATCH_LIMIT, "2")
    found = watch.availability(repo)
    assert not found.active and "over the limit of 2" in found.reason
    monkeypatch.setenv(config.WATCH_LIMIT, "0")
    assert "switched off" in watch.availability(repo).reason
    entry = checkout / "train.py"
    for _ in range(3):
        assert read_git_ref(str(entry)).dirty is False
    time.sleep(0.2)
    assert watch.status(repo)[0] is False
    monkeypatch.setenv(config.WATCH_LIMIT, "many")
    assert config.count(config.WATCH_LIMIT) == config.DEFAULT_COUNTS[config.WATCH_LIMIT]
    assert any(config.WATCH_LIMIT in p and "whole number" in p for p in config.problems())


def test_doctor_says_whether_change_notification_is_on_and_why_not(checkout, tmp_path, monkeypatch):
    from mlflow_lineage_plugin.doctor import Report, check_change_notification

    report = Report()
    check_change_notification(report, str(checkout / "train.py"))
    monkeypatch.setenv(config.WATCH_LIMIT, "1")
    check_change_notification(report, str(checkout / "train.py"))
    check_change_notification(report, str(tmp_path / "nowhere.py"))
    on, over, none = (c.summary for c in report.checks)
    assert on.startswith("on for repeated runs") and "3 directories of 6 tracked files" in on
    assert over.startswith("off:") and "over the limit of 1" in over
    assert none == "not used: no git checkout here"


def test_at_most_four_checkouts_are_watched_at_once(repos):
    """Each watched checkout holds an inotify instance, and the user's limit (often 128) is shared by
    every program: the least recently used checkout gives its instance up, and keeps correct answers."""
    paths = [repos.make(f"r{i}") for i in range(6)]
    for path in paths:
        wait_active(path, path / "train.py")
    active = [watch.status(find_repo(str(p)))[0] for p in paths]
    assert sum(active) == 4 and active[-4:] == [True] * 4, active
    (paths[0] / "train.py").write_text("print('changed')\n")
    assert read_git_ref(str(paths[0] / "train.py")).dirty is True


def test_capturing_the_patch_leaves_the_index_alone(checkout):
    """`git diff` refreshes the index when files' stat data changed but not their content, even without
    optional locks; an index write would also send the next run to the full check and new watches."""
    index = checkout / ".git" / "index"
    before = os.stat(index)
    for rel in ("src/a.py", "src/c.py"):
        os.utime(checkout / rel, ns=(before.st_atime_ns, before.st_mtime_ns + 5_000_000_000))
    (checkout / "src/deep/b.py").write_text("b = 'edited'\n")
    captured = capture_patch(str(checkout), git(checkout, "rev-parse", "HEAD"))
    assert captured.files == 1
    after = os.stat(index)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
