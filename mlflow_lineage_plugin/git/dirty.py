"""Whether a checkout has uncommitted changes to tracked files (``git status --porcelain
--untracked-files=no`` is non-empty): proved without git when stat data decide it, else asked of one
bounded ``git status``.

The proof has two sources. git's own criterion: a clean ``git status`` of this very index file and
commit, and every tracked file still has the stat data the index recorded and is not racily clean
(modified in the second the index was written). And, for the files git itself would re-read (racily
clean ones: every file of a fresh clone, since git's status never refreshes an index it may not
write), the stat data we saw before a ``git status`` that found the checkout clean. Such a file is
trusted only when its times were at least ``SETTLED_SECONDS`` older than that look: any later write
then moves a time on every file system whose clock ticks no coarser. The files that decide how git
compares content (config, attributes) must be unchanged too.
"""

from __future__ import annotations

import os
import stat as stat_module
import subprocess
import time
from typing import Optional

from mlflow_lineage_plugin import config
from mlflow_lineage_plugin.git import gitconfig, process, stall, watch
from mlflow_lineage_plugin.git.cache import Memo, stat_key
from mlflow_lineage_plugin.git.index import Index
from mlflow_lineage_plugin.git.notice import warn_once
from mlflow_lineage_plugin.git.refs import Repo

RETRY_AFTER_TIMEOUT = 300.0  # seconds before a repository that timed out is checked again
SETTLED_SECONDS = 2.0  # coarsest timestamp granularity in use (FAT); 1 s on ext3, HFS+, many NFS
_SETTLED_NS = int(SETTLED_SECONDS * 1e9)
_MAX_ATTRIBUTE_DIRS = 128  # beyond this many directories, no remembered proof (too many stats)

_clean_index = Memo()  # gitdir -> _Proof of the last clean `git status`
_timed_out = Memo()  # gitdir -> (index key, when, the time limit that was too short)
_found_dirty = Memo()  # gitdir -> index key of the last `git status` that found changes
STATUS = [
    "-c",
    "status.renames=false",
    "-c",
    "diff.renames=false",
    "status",
    "--porcelain",
    "--untracked-files=no",
    "--ignore-submodules=none",
]


class _Proof:
    """A clean ``git status`` of (commit, index): per index entry, the lstat data seen before it ran
    when those are old enough to be trusted (else None), and the content-comparison files' state."""

    __slots__ = ("commit", "branch", "index_key", "seen", "rules")

    def __init__(
        self, commit: str, branch: Optional[str], index_key: tuple, seen: Optional[tuple], rules: Optional[tuple]
    ):
        self.commit, self.branch, self.index_key, self.seen, self.rules = commit, branch, index_key, seen, rules


class DirtyCheck:
    """``git status --porcelain --untracked-files=no`` is non-empty, decided by proof when possible,
    else by one bounded ``git status`` started early so it overlaps the rest of the look-up."""

    def __init__(
        self,
        repo: Repo,
        index: Optional[Index],
        commit: Optional[str],
        exe: Optional[str],
        deadline: float,
        limit: float = 0.0,
        branch: Optional[str] = None,
    ):
        self.repo, self.index, self.commit, self.exe, self.deadline = repo, index, commit, exe, deadline
        self.limit = limit  # the seconds allowed by the settings, remembered with a time-out
        self.branch = branch
        self.proc: Optional[subprocess.Popen] = None
        self.answer: Optional[bool] = None
        self.decided = False
        self.before: Optional[tuple[int, tuple, Optional[tuple]]] = None
        self.look = watch.look(repo, index.key if index else None, commit or "", branch, self._rules, _rules_unchanged)

    def _rules(self) -> tuple:
        return _rules_key(_rule_files(self.repo, self.branch, self.exe))

    def start(self) -> None:
        if self.exe is None or self.commit is None:
            self.decided = True
            return
        if self.look.dirty is not None:  # change notification: nothing git compares changed since
            self.answer, self.decided = self.look.dirty, True
            return
        if provably_clean(self.repo, self.index, self.commit, self.branch):
            self.answer, self.decided = False, True
            if not self.look.partial:
                self.look.settle(b"")
            return
        if self._recently_timed_out():
            self.decided = True
            return
        if (
            self.index is not None
            and self.index.provable
            and self.index.paths is not None
            and _index_settled(self.index)
            and _found_dirty.get(self.repo.gitdir) != self.index.key
        ):
            rules = _content_rules(self.repo, self.index, self.branch, self.exe)
            self.before = (time.time_ns(), _lstat_all(self.repo, self.index), rules)
        try:
            self.proc = process.spawn(self.exe, STATUS + self.look.pathspec, self.repo.root)
        except OSError:
            self.decided = True

    def result(self) -> Optional[bool]:
        if self.decided or self.proc is None:
            return self.answer
        out = process.collect(self.proc, self.deadline)
        self.proc = None
        self.decided = True
        index_key = self.index.key if self.index else None
        if out is None:
            _timed_out.put(self.repo.gitdir, (index_key, time.monotonic(), self.limit))
            stall.mark(self.repo.gitdir, self.commit or "", status=True)
            setting = (
                config.DIRTY_TIMEOUT
                if config.seconds(config.DIRTY_TIMEOUT) <= self.limit
                else (f"{config.GIT_TIMEOUT}, which bounds all git work of a run")
            )
            warn_once(
                f"timeout:{self.repo.gitdir}",
                f"git status did not finish in time in {self.repo.root}; the dirty state is recorded as "
                f"unknown and uncommitted changes are not kept, until its HEAD or index changes (raise "
                f"{setting} to wait longer)",
            )
            return None
        rc, stdout = out
        if rc != 0:
            return None
        stall.status_answered(self.repo.gitdir)
        self.answer = self.look.settle(stdout)
        if self.look.partial:  # git saw the touched paths only: nothing for the proofs below
            return self.answer
        if self.index is not None:  # while it stays dirty, no proof to prepare
            _found_dirty.put(self.repo.gitdir, self.index.key if self.answer else None)
        if (
            not self.answer
            and self.index is not None
            and _index_settled(self.index)
            and stat_key(os.path.join(self.repo.gitdir, "index")) == index_key
        ):
            _clean_index.put(self.repo.gitdir, _Proof(self.commit or "", self.branch, self.index.key, *self._seen()))
        return self.answer

    def _seen(self) -> tuple[Optional[tuple], Optional[tuple]]:
        """What the clean status proves per file: the stat data from before it ran, for files that
        did not change while it ran and whose times were settled before it started."""
        if self.before is None or self.index is None:
            return None, None
        started_ns, before, rules = self.before
        if rules is None or not _rules_unchanged(rules):
            return None, None
        after = _lstat_all(self.repo, self.index)
        limit = started_ns - _SETTLED_NS
        seen = tuple(
            b if b is not None and b == a and b[4] <= limit and b[5] <= limit else None for b, a in zip(before, after)
        )
        return seen, rules

    def _recently_timed_out(self) -> bool:
        """The same index timed out within ``RETRY_AFTER_TIMEOUT`` under a limit at least as long as
        today's: trying again would only stall this run too. A raised limit is tried at once."""
        last = _timed_out.get(self.repo.gitdir)
        index_key = self.index.key if self.index else None
        return (
            bool(last)
            and last[0] == index_key
            and time.monotonic() - last[1] < RETRY_AFTER_TIMEOUT
            and self.limit <= last[2]
        )

    def cancel(self) -> None:
        if self.proc is not None:
            process.kill(self.proc)
            self.proc = None


def _index_settled(index: Index) -> bool:
    """An index written at least two seconds ago: no rewrite can reuse its identity unnoticed."""
    return time.time() - index.mtime[0] - index.mtime[1] / 1e9 > SETTLED_SECONDS


def _lstat(path: str) -> Optional[tuple]:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_mode, st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_uid, st.st_gid)


def _lstat_all(repo: Repo, index: Index) -> tuple:
    root = repo.root
    return tuple(_lstat(os.path.join(root, rel)) for rel in index.paths or ())


_RULES_ENV = ("HOME", "XDG_CONFIG_HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM", "PATH")


def _content_rules(repo: Repo, index: Index, branch: Optional[str], exe: Optional[str]) -> Optional[tuple]:
    """The files that decide how git compares a file's content with the index when it re-reads it:
    config (filters, line endings; includes followed) and attributes, tracked or not, with their
    stat keys and the environment that chose them. None when there are too many directories."""
    dirs = {""}
    for rel in index.paths or ():
        parts = rel.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
        if len(dirs) > _MAX_ATTRIBUTE_DIRS:
            return None
    return _rules_key(
        _rule_files(repo, branch, exe) + [os.path.join(repo.root, d, ".gitattributes") for d in sorted(dirs)]
    )


def _rules_key(files: list[str]) -> tuple:
    return tuple(os.environ.get(k) for k in _RULES_ENV), tuple(files), tuple(stat_key(f) for f in files)


def _rule_files(repo: Repo, branch: Optional[str], exe: Optional[str]) -> list[str]:
    """Config (includes followed) and the attributes files outside the work tree."""
    cfg = gitconfig.repo_config(repo.commondir, repo.gitdir, branch, exe)
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    attributes = cfg.values("core", None, "attributesfile")
    files = [path for path, _ in cfg.files]
    return files + [
        os.path.expanduser(attributes[-1]) if attributes else os.path.join(xdg, "git", "attributes"),
        os.path.join(repo.commondir, "info", "attributes"),
    ]


def _rules_unchanged(rules: tuple) -> bool:
    env, files, keys = rules
    return env == tuple(os.environ.get(k) for k in _RULES_ENV) and all(stat_key(f) == k for f, k in zip(files, keys))


def provably_clean(repo: Repo, index: Optional[Index], commit: str, branch: Optional[str] = None) -> bool:
    """Every tracked file is proved unchanged since a clean ``git status`` of this exact index file
    and commit: by git's criterion (the stat data the index recorded, not racily clean; then git
    reads no content, so neither filters nor attributes matter), or by the settled stat data seen
    before that status, with config and attributes unchanged since."""
    if index is None or not index.provable or index.paths is None or index.stats is None:
        return False
    proof = _clean_index.get(repo.gitdir)
    if proof is None or proof.commit != commit or proof.index_key != index.key or proof.branch != branch:
        return False
    seen = proof.seen
    rules_checked = False
    index_sec = index.mtime[0]
    root = repo.root
    lstat = os.lstat
    m32 = 0xFFFFFFFF
    for i, (rel, rec) in enumerate(zip(index.paths, index.stats)):
        c_sec, c_ns, m_sec, m_ns, ino, mode, uid, gid, size = rec
        try:
            st = lstat(os.path.join(root, rel))
        except OSError:
            return False
        mt, ct = st.st_mtime_ns, st.st_ctime_ns
        if m_sec < index_sec and not (
            (mt // 1_000_000_000) & m32 != m_sec
            or mt % 1_000_000_000 != m_ns
            or (ct // 1_000_000_000) & m32 != c_sec
            or ct % 1_000_000_000 != c_ns
            or st.st_size & m32 != size
            or st.st_ino & m32 != ino
            or st.st_uid & m32 != uid
            or st.st_gid & m32 != gid
            or _index_mode(st.st_mode) != mode
        ):
            continue
        was = seen[i] if seen is not None else None
        if was is None or was != (st.st_mode, st.st_ino, st.st_dev, st.st_size, mt, ct, st.st_uid, st.st_gid):
            return False
        if not rules_checked:
            if proof.rules is None or not _rules_unchanged(proof.rules):
                return False
            rules_checked = True
    return True


def _index_mode(st_mode: int) -> int:
    if stat_module.S_ISLNK(st_mode):
        return 0o120000
    if stat_module.S_ISREG(st_mode):
        return 0o100755 if st_mode & 0o100 else 0o100644
    return -1
