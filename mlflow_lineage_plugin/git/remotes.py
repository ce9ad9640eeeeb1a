"""Which remote a checkout came from, and its URL as configured."""

from __future__ import annotations

import os
import re
import time
from typing import Optional

from mlflow_lineage_plugin.git import gitconfig, process
from mlflow_lineage_plugin.git.refs import Repo


def remote_url(repo: Repo, branch: Optional[str]) -> Optional[str]:
    """The remote of the branch's upstream, else ``origin``, else the first remote configured."""
    cfg = gitconfig.config_file(os.path.join(repo.commondir, "config"))
    remotes = [(k[1], v[0]) for k, v in cfg.items() if k[0] == "remote" and k[2] == "url" and k[1] and v]
    if not remotes and any(k[0] in ("include", "includeif") for k in cfg):
        cfg, remotes = _config_via_git(repo)
    by_name = dict(remotes)
    upstream = cfg.get(("branch", branch, "remote"), [None])[0] if branch else None
    if upstream and upstream != ".":
        if upstream in by_name:
            return by_name[upstream]
        if "/" in upstream or ":" in upstream:  # a branch may name a URL as its remote
            return upstream
    if "origin" in by_name:
        return by_name["origin"]
    return remotes[0][1] if remotes else None


def _config_via_git(repo: Repo) -> tuple[dict, list[tuple[str, str]]]:
    exe = process.executable()
    out = process.run(exe, ["config", "-z", "--list"], repo.root, time.monotonic() + 1.0) if exe else None
    cfg: dict[tuple[str, Optional[str], str], list[str]] = {}
    remotes: list[tuple[str, str]] = []
    if out is None or out[0] != 0:
        return cfg, remotes
    for item in out[1].decode("utf-8", "replace").split("\0"):
        name, _, value = item.partition("\n")
        section, _, rest = name.partition(".")
        sub, _, key = rest.rpartition(".")
        cfg.setdefault((section.lower(), sub or None, key.lower()), []).append(value)
        if section.lower() == "remote" and key.lower() == "url" and sub:
            remotes.append((sub, value))
    return cfg, remotes


def absolute_local_remote(remote: str, root: str) -> str:
    """A relative local-path remote is relative to the working tree, not to our process."""
    if "://" in remote or re.match(r"^[^/\\]+:", remote) or "@" in remote:
        return remote
    return os.path.normpath(os.path.join(root, os.path.expanduser(remote)))
