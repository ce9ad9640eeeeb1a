"""Whether an entry file is part of a repository, or a stray file inside an outer one."""

from __future__ import annotations

import os
from typing import Optional

from mlflow_lineage_plugin.git import gitconfig, process
from mlflow_lineage_plugin.git.cache import Memo, stat_key
from mlflow_lineage_plugin.git.index import Index, contains, has_prefix, ls_files, scan_index
from mlflow_lineage_plugin.git.refs import Repo

_untracked = Memo()


def belongs(
    repo: Repo,
    index: Optional[Index],
    rel: str,
    is_dir: bool,
    exe: Optional[str],
    deadline: float,
    branch: Optional[str] = None,
) -> Optional[bool]:
    """Whether the entry is part of this repository rather than a stray file in an outer one.

    Tracked (or, for a directory, holding tracked files): yes. Ignored: no. Untracked and not ignored:
    yes only when its directory holds tracked files (a new script in a project), not when the whole
    directory is foreign to the repository (a dotfiles repository in ``$HOME``). None: cannot tell.
    """
    if not rel:
        return True
    anchor = rel if is_dir else rel.rpartition("/")[0]
    if index is not None and index.paths is not None:
        tracked_here = has_prefix(index.paths, rel + "/") if is_dir else contains(index.paths, rel)
        anchor_tracked = has_prefix(index.paths, anchor + "/") if anchor else index.count > 0
    elif index is None:
        return None
    else:
        scanned = scan_index(repo, index, rel, is_dir, anchor)
        if scanned is not None:
            tracked_here, anchor_tracked = scanned
        else:
            found = ls_files(exe, repo, anchor or rel, deadline) if exe else None
            if found is None:
                return None
            tracked_here = bool(found) if is_dir else rel in found
            anchor_tracked = bool(found) if anchor else index.count > 0
    if tracked_here:
        return True
    if exe is None:
        return anchor_tracked
    rules = _ignore_rules_key(repo, rel, branch)
    key = (repo.gitdir, index.key, rel, is_dir, rules)
    if key in _untracked:
        return _untracked.get(key)
    out = process.run(exe, ["check-ignore", "-q", "--", rel], repo.root, deadline)
    if out is None or out[0] not in (0, 1):
        return anchor_tracked
    answer = anchor_tracked and out[0] == 1
    if rules[-1]:  # every config file known: a change in any of them changes the key
        _untracked.put(key, answer)
    return answer


def entry_tracked(repo: Repo, index: Optional[Index], rel: str) -> Optional[bool]:
    """Whether the entry file itself is in the index (a script run before its first commit is not: it
    is no part of the commit). None: not known without a git process."""
    if index is None or not rel:
        return None
    if index.paths is not None:
        return contains(index.paths, rel)
    scanned = scan_index(repo, index, rel, False, rel.rpartition("/")[0])
    return scanned[0] if scanned is not None else None


def _ignore_rules_key(repo: Repo, rel: str, branch: Optional[str]) -> tuple:
    """The state of every file git reads to decide whether ``rel`` is ignored (config files with
    their includes, exclude files, ``.gitignore`` files on the way), so an untracked entry file (a
    notebook not yet committed) is checked once, not on every run."""
    cfg = gitconfig.repo_config(repo.commondir, repo.gitdir, branch, process.executable())
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    excludes = [os.path.join(xdg, "git", "ignore"), os.path.join(repo.commondir, "info", "exclude")]
    excludes += [os.path.expanduser(v) for v in cfg.values("core", None, "excludesfile")]
    parts = rel.split("/")[:-1]
    ignores = [os.path.join(repo.root, *parts[:i], ".gitignore") for i in range(len(parts) + 1)]
    files = tuple([path for path, _ in cfg.files] + excludes + ignores)
    env = tuple(
        sorted((k, v) for k, v in os.environ.items() if k.startswith("GIT_") or k in ("HOME", "XDG_CONFIG_HOME"))
    )
    return files, tuple(stat_key(f) for f in files), env, cfg.complete
