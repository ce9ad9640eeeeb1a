"""Git reference of the code a run came from: the repository that contains the entry file, its
commit, branch, remote, dirty state, and the file's path in it.

Every run gets a fresh answer (a notebook kernel that commits between two runs records two commits),
so nothing here is cached by path alone. What makes a repeat cheap:

- commit, branch and remote are read from ``.git`` files (HEAD, loose refs, packed-refs, config),
  not from ``git`` processes: microseconds, and they work without a ``git`` executable (``refs``,
  ``gitconfig``, ``remotes``);
- the dirty check (``git status --porcelain --untracked-files=no`` semantics) is skipped only when
  git's own criterion proves the answer (``dirty``). Small repositories only: beyond
  ``SNAPSHOT_MAX_FILES`` one ``git status`` (parallel lstat in C) is cheaper than Python's ``lstat``;
- the index is parsed (small) or searched (large) in Python to tell whether the entry file belongs to
  the repository (``index``, ``belongs``);
- every git process runs in its own process group, bounded, killed on time-out, and never takes the
  index lock (``process``), so it cannot break a ``git commit`` the user runs meanwhile. A repository
  too large to check in time records the dirty state as unknown.

Answers derived from files are kept only while those files are unchanged (``cache``).
"""

from mlflow_lineage_plugin.git.cache import clear
from mlflow_lineage_plugin.git.dirty import RETRY_AFTER_TIMEOUT
from mlflow_lineage_plugin.git.gitconfig import parse_config
from mlflow_lineage_plugin.git.index import SNAPSHOT_MAX_FILES
from mlflow_lineage_plugin.git.reference import read_git_ref
from mlflow_lineage_plugin.git.refs import Repo, find_repo, read_head

__all__ = [
    "RETRY_AFTER_TIMEOUT",
    "SNAPSHOT_MAX_FILES",
    "Repo",
    "clear",
    "find_repo",
    "parse_config",
    "read_git_ref",
    "read_head",
]
