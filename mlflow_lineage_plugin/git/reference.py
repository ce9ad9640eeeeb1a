"""One run's git reference, composed from the package's readers within one deadline."""

from __future__ import annotations

import logging
import os
import time
from typing import Optional

from mlflow_lineage_plugin import config, urls
from mlflow_lineage_plugin.errors import debug_traceback
from mlflow_lineage_plugin.git import process
from mlflow_lineage_plugin.git.belongs import belongs, entry_tracked
from mlflow_lineage_plugin.git.dirty import DirtyCheck
from mlflow_lineage_plugin.git.index import read_index
from mlflow_lineage_plugin.git.notice import warn_once
from mlflow_lineage_plugin.git.refs import find_repo, head_needs_git, head_with_git, read_head
from mlflow_lineage_plugin.git.remotes import absolute_local_remote, remote_url
from mlflow_lineage_plugin.tags import GitRef


def read_git_ref(entry_path: Optional[str], *, timeout: float = 2.0) -> Optional[GitRef]:
    """The reference of the repository containing ``entry_path`` (a file or a directory).

    Returns None when there is no repository; never raises; bounded by ``timeout`` seconds.
    ``path`` is relative to the repository root (posix), ``repo_url`` credential-free
    (``urls.normalize_remote``), ``source_url`` from ``urls.source_web_url``; ``dirty`` is None when
    the check could not finish in time.
    """
    if not entry_path:
        return None
    try:
        return _read(str(entry_path), max(float(timeout), 0.0))
    except Exception as exc:  # never cost the run: one line, no traceback
        warn_once(f"error:{type(exc).__name__}", f"git reference not read ({type(exc).__name__})")
        debug_traceback(logging.getLogger("mlflow_lineage_plugin.git"), "git reference not read")
        return None


def _read(entry_path: str, timeout: float) -> Optional[GitRef]:
    started = time.monotonic()
    deadline = started + timeout
    target = os.path.realpath(os.path.abspath(os.path.expanduser(entry_path)))
    if not os.path.exists(target):
        return None
    is_dir = os.path.isdir(target)
    repo = find_repo(target)
    if repo is None:
        return None
    rel = os.path.relpath(target, repo.root).replace(os.sep, "/")
    rel = "" if rel == "." else rel
    if rel == ".git" or rel.startswith(("../", ".git/")):
        return None
    dirty_limit = min(timeout, config.seconds(config.DIRTY_TIMEOUT))
    sub_deadline = min(deadline, started + dirty_limit)
    exe = process.executable()
    commit, branch = read_head(repo)
    if commit is None and exe and head_needs_git(repo):
        commit, branch = head_with_git(exe, repo, deadline)
    if commit is None and branch is None:  # HEAD unreadable: no reference worth recording
        return None
    index = read_index(repo)

    dirty_job = DirtyCheck(repo, index, commit, exe, sub_deadline, dirty_limit, branch)
    try:
        dirty_job.start()
        if belongs(repo, index, rel, is_dir, exe, sub_deadline, branch) is False:
            return None
        remote = remote_url(repo, branch, deadline)
        dirty = dirty_job.result()
    finally:
        dirty_job.cancel()
    repo_url = urls.normalize_remote(absolute_local_remote(remote, repo.root)) if remote else None
    path = rel or None
    # An entry file not in the index is no part of the commit: the run is not clean, and has no link.
    untracked = not is_dir and bool(rel) and entry_tracked(repo, index, rel) is False
    return GitRef(
        commit=commit,
        branch=branch,
        repo_url=repo_url,
        dirty=(True if untracked else dirty) if commit else None,
        path=path,
        source_url=None if untracked else urls.source_web_url(repo_url, commit, path),
        entry_untracked=untracked,
    )
