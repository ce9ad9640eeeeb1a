"""Which remote a checkout came from, and its URL as ``git remote get-url`` prints it: the first
configured URL with the longest matching ``url.<base>.insteadOf`` applied (``pushInsteadOf`` only
concerns pushes), from every config file git reads, includes followed. Credentials that a rewrite
brings in are removed later, with everything else, by ``urls.normalize_remote``."""

from __future__ import annotations

import os
import re
import time
from typing import Optional

from mlflow_lineage_plugin.git import gitconfig, process
from mlflow_lineage_plugin.git.cache import Memo, stat_key
from mlflow_lineage_plugin.git.gitconfig import Entry
from mlflow_lineage_plugin.git.refs import Repo

_ENV = ("HOME", "XDG_CONFIG_HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM")
_answers = Memo()  # (gitdir, branch, env, git) -> (files with their stat keys, url)


def remote_url(repo: Repo, branch: Optional[str], deadline: Optional[float] = None) -> Optional[str]:
    """The URL of the branch's upstream remote, else ``origin``'s, else the first remote's.

    Kept until one of the config files it was read from (included ones too) changes."""
    exe = process.executable()
    key = (repo.gitdir, branch, tuple(os.environ.get(k) for k in _ENV), exe)
    hit = _answers.get(key)
    if hit is not None and all(stat_key(path) == was for path, was in hit[0]):
        return hit[1]
    cfg = gitconfig.repo_config(repo.commondir, repo.gitdir, branch, exe)
    if not cfg.complete:
        entries = _entries_via_git(exe, repo, deadline if deadline is not None else time.monotonic() + 1.0)
        if entries is None:  # git could not say: our reading without what only git evaluates, unremembered
            return choose_remote(cfg.entries, branch)
        url = choose_remote(entries, branch)
    else:
        url = choose_remote(cfg.entries, branch)
    _answers.put(key, (cfg.files, url))
    return url


def choose_remote(entries: tuple[Entry, ...], branch: Optional[str]) -> Optional[str]:
    urls: dict[str, str] = {}  # remote name -> its first URL, in the order remotes appear
    upstream = None
    rewrites: list[tuple[str, str]] = []  # (insteadOf prefix, base)
    for section, sub, key, value in entries:
        if section == "remote" and key == "url" and sub:
            urls.setdefault(sub, value)
        elif section == "branch" and key == "remote" and branch is not None and sub == branch:
            upstream = value
        elif section == "url" and key == "insteadof" and sub is not None:
            rewrites.append((value, sub))
    chosen = None
    if upstream and upstream != ".":
        if upstream in urls:
            chosen = urls[upstream]
        elif "/" in upstream or ":" in upstream:  # a branch may name a URL as its remote
            chosen = upstream
    if chosen is None:
        chosen = urls.get("origin") or next(iter(urls.values()), None)
    return rewrite(chosen, rewrites) if chosen else None


def rewrite(url: str, rewrites: list[tuple[str, str]]) -> str:
    """git's ``insteadOf``: the longest matching prefix wins, the first of equal length."""
    best: Optional[tuple[str, str]] = None
    for prefix, base in rewrites:
        if url.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, base)
    return best[1] + url[len(best[0]) :] if best else url


def _entries_via_git(exe: Optional[str], repo: Repo, deadline: float) -> Optional[tuple[Entry, ...]]:
    out = process.run(exe, ["config", "-z", "--list"], repo.root, deadline) if exe else None
    if out is None or out[0] != 0:
        return None
    entries = []
    for item in out[1].decode("utf-8", "replace").split("\0"):
        name, _, value = item.partition("\n")
        section, _, rest = name.partition(".")
        sub, _, key = rest.rpartition(".")
        if key:
            entries.append((section.lower(), sub or None, key.lower(), value))
    return tuple(entries)


def absolute_local_remote(remote: str, root: str) -> str:
    """A relative local-path remote is relative to the working tree, not to our process."""
    if "://" in remote or re.match(r"^[^/\\]+:", remote) or "@" in remote:
        return remote
    return os.path.normpath(os.path.join(root, os.path.expanduser(remote)))
