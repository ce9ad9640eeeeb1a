"""Checkouts where a git process ran out of time (a hanging fsmonitor hook, a filter that never
returns), remembered by HEAD commit and index file: capturing their uncommitted changes again would only
wait as long and fail the same way, so it is skipped until one of the two changes, or until a later
``git status`` answers in time where one had not (the dirty check retries on its own schedule)."""

from __future__ import annotations

import os

from mlflow_lineage_plugin.git.cache import Memo, stat_key

_stalled = Memo()  # gitdir -> (commit, index key, whether git status was the one that timed out)


def _key(gitdir: str, commit: str) -> tuple:
    return (commit or "").lower(), stat_key(os.path.join(gitdir, "index"))


def mark(gitdir: str, commit: str, *, status: bool = False) -> None:
    _stalled.put(gitdir, (*_key(gitdir, commit), status))


def status_answered(gitdir: str) -> None:
    """``git status`` finished in time: a stall only it had shown is over."""
    last = _stalled.get(gitdir)
    if last is not None and last[2]:
        _stalled.put(gitdir, None)


def stalled(gitdir: str, commit: str) -> bool:
    """A git process timed out in this checkout at this HEAD commit and index file."""
    last = _stalled.get(gitdir)
    return last is not None and last[:2] == _key(gitdir, commit)
