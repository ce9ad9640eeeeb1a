"""Whether a checkout has uncommitted changes to tracked files (``git status --porcelain
--untracked-files=no`` is non-empty): proved without git when git's own stat criterion decides it,
else asked of one bounded ``git status``."""

from __future__ import annotations

import os
import subprocess
import time
from typing import Optional

from mlflow_lineage_plugin import config
from mlflow_lineage_plugin.git import process
from mlflow_lineage_plugin.git.cache import Memo, stat_key
from mlflow_lineage_plugin.git.index import Index
from mlflow_lineage_plugin.git.notice import warn_once
from mlflow_lineage_plugin.git.refs import Repo

RETRY_AFTER_TIMEOUT = 300.0  # seconds before a repository that timed out is checked again

_clean_index = Memo()  # gitdir -> (commit, index key) of a clean `git status`
_timed_out = Memo()  # gitdir -> (index key, when, the time limit that was too short)
STATUS = ["-c", "status.renames=false", "-c", "diff.renames=false",
          "status", "--porcelain", "--untracked-files=no"]  # fmt: skip


class DirtyCheck:
    """``git status --porcelain --untracked-files=no`` is non-empty, decided by proof when possible,
    else by one bounded ``git status`` started early so it overlaps the rest of the look-up."""

    def __init__(self, repo: Repo, index: Optional[Index], commit: Optional[str], exe: Optional[str],
                 deadline: float, limit: float = 0.0):
        self.repo, self.index, self.commit, self.exe, self.deadline = repo, index, commit, exe, deadline
        self.limit = limit  # the seconds allowed by the settings, remembered with a time-out
        self.proc: Optional[subprocess.Popen] = None
        self.answer: Optional[bool] = None
        self.decided = False

    def start(self) -> None:
        if self.exe is None or self.commit is None:
            self.decided = True
            return
        if provably_clean(self.repo, self.index, self.commit):
            self.answer, self.decided = False, True
            return
        if self._recently_timed_out():
            self.decided = True
            return
        try:
            self.proc = process.spawn(self.exe, STATUS, self.repo.root)
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
            setting = config.DIRTY_TIMEOUT if config.seconds(config.DIRTY_TIMEOUT) <= self.limit else (
                f"{config.GIT_TIMEOUT}, which bounds all git work of a run")
            warn_once(
                f"timeout:{self.repo.gitdir}",
                f"git status did not finish in time in {self.repo.root}; the dirty state is recorded as "
                f"unknown (raise {setting} to wait longer)",
            )
            return None
        rc, stdout = out
        if rc != 0:
            return None
        self.answer = bool(stdout.strip())
        if not self.answer and self.index is not None and _index_settled(self.index) and \
                stat_key(os.path.join(self.repo.gitdir, "index")) == index_key:
            _clean_index.put(self.repo.gitdir, (self.commit, index_key))
        return self.answer

    def _recently_timed_out(self) -> bool:
        """The same index timed out within ``RETRY_AFTER_TIMEOUT`` under a limit at least as long as
        today's: trying again would only stall this run too. A raised limit is tried at once."""
        last = _timed_out.get(self.repo.gitdir)
        index_key = self.index.key if self.index else None
        return bool(last) and last[0] == index_key and time.monotonic() - last[1] < RETRY_AFTER_TIMEOUT \
            and self.limit <= last[2]

    def cancel(self) -> None:
        if self.proc is not None:
            process.kill(self.proc)
            self.proc = None


def _index_settled(index: Index) -> bool:
    """An index written at least two seconds ago: no rewrite can reuse its identity unnoticed."""
    return time.time() - index.mtime[0] - index.mtime[1] / 1e9 > 2.0


def provably_clean(repo: Repo, index: Optional[Index], commit: str) -> bool:
    """git's own criterion, without git: the index equals HEAD (a clean status of this exact index
    file and commit said so) and every tracked file's lstat matches what the index recorded, with no
    entry racily clean (modified in the same second the index was written). Only then git status
    reads no file content, so neither filters nor attributes can change its answer."""
    if index is None or not index.provable or index.paths is None or index.stats is None:
        return False
    if _clean_index.get(repo.gitdir) != (commit, index.key):
        return False
    index_sec = index.mtime[0]
    root = repo.root
    lstat = os.lstat
    m32 = 0xFFFFFFFF
    for rel, rec in zip(index.paths, index.stats):
        c_sec, c_ns, m_sec, m_ns, ino, mode, uid, gid, size = rec
        if m_sec >= index_sec:
            return False
        try:
            st = lstat(os.path.join(root, rel))
        except OSError:
            return False
        mt, ct = st.st_mtime_ns, st.st_ctime_ns
        if (
            (mt // 1_000_000_000) & m32 != m_sec or mt % 1_000_000_000 != m_ns
            or (ct // 1_000_000_000) & m32 != c_sec or ct % 1_000_000_000 != c_ns
            or st.st_size & m32 != size or st.st_ino & m32 != ino
            or st.st_uid & m32 != uid or st.st_gid & m32 != gid
            or _index_mode(st.st_mode) != mode
        ):  # fmt: skip
            return False
    return True


def _index_mode(st_mode: int) -> int:
    kind = st_mode & 0o170000
    if kind == 0o120000:
        return 0o120000
    if kind == 0o100000:
        return 0o100755 if st_mode & 0o100 else 0o100644
    return -1
