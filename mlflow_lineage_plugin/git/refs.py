"""Finding the repository of a path and reading its HEAD from ``.git`` files: loose refs,
packed-refs, worktrees' own HEADs. Microseconds, and no ``git`` executable needed; git is asked
only where files cannot answer (reftable, an unusual HEAD)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from mlflow_lineage_plugin import config
from mlflow_lineage_plugin.commit_hash import is_commit
from mlflow_lineage_plugin.git import gitconfig, process
from mlflow_lineage_plugin.git.cache import FileCache, read_text

_PER_WORKTREE_REFS = ("refs/bisect/", "refs/worktree/", "refs/rewritten/")


@dataclass(frozen=True)
class Repo:
    root: str  # the working tree
    gitdir: str  # this working tree's git directory (HEAD, index)
    commondir: str  # shared by all worktrees (refs, config, objects)


def find_repo(target: str) -> Optional[Repo]:
    """The nearest enclosing working tree, found the way git finds it: up from the target (not the
    current directory), honouring ``GIT_CEILING_DIRECTORIES`` and not crossing file systems unless
    ``GIT_DISCOVERY_ACROSS_FILESYSTEM`` says so. A ``.git`` that exists but is unreadable ends the
    search: that directory is not part of an outer repository's history either."""
    d = target if os.path.isdir(target) else os.path.dirname(target)
    ceilings = {os.path.realpath(c) for c in os.environ.get("GIT_CEILING_DIRECTORIES", "").split(os.pathsep) if c}
    cross_fs = config.flag("GIT_DISCOVERY_ACROSS_FILESYSTEM")
    try:
        dev = os.stat(d).st_dev
    except OSError:
        return None
    while True:
        dotgit = os.path.join(d, ".git")
        if os.path.lexists(dotgit):
            return _open_dotgit(d, dotgit)
        parent = os.path.dirname(d)
        if parent == d or parent in ceilings:
            return None
        try:
            if not cross_fs and os.stat(parent).st_dev != dev:
                return None
        except OSError:
            return None
        d = parent


def _open_dotgit(root: str, dotgit: str) -> Optional[Repo]:
    if os.path.isdir(dotgit):
        gitdir = dotgit
    else:
        text = read_text(dotgit, 4096)  # submodule or worktree: "gitdir: <path>"
        if not text or not text.startswith("gitdir:"):
            return None
        gitdir = os.path.normpath(os.path.join(root, text[len("gitdir:") :].strip()))
    if not os.path.isfile(os.path.join(gitdir, "HEAD")):
        return None
    common = read_text(os.path.join(gitdir, "commondir"), 4096)
    commondir = os.path.normpath(os.path.join(gitdir, common.strip())) if common else gitdir
    return Repo(root=root, gitdir=gitdir, commondir=commondir)


def read_head(repo: Repo) -> tuple[Optional[str], Optional[str]]:
    """(commit, branch) from HEAD and the refs files; branch is None on a detached HEAD; commit is None
    on an unborn branch or when the refs cannot be read."""
    head = read_text(os.path.join(repo.gitdir, "HEAD"), 4096)
    if head is None:
        return None, None
    head = head.strip()
    branch = None
    if head.startswith("ref:"):
        ref = head[4:].strip()
        if ref.startswith("refs/heads/") and ref != "refs/heads/.invalid":
            branch = ref[len("refs/heads/") :]
        return _resolve_ref(repo, ref), branch
    return (head.lower() if is_commit(head.lower(), full=True) else None), None


def _resolve_ref(repo: Repo, ref: str, depth: int = 0) -> Optional[str]:
    if depth > 5 or ".." in ref:
        return None
    base = repo.gitdir if ref.startswith(_PER_WORKTREE_REFS) or "/" not in ref else repo.commondir
    text = read_text(os.path.join(base, *ref.split("/")), 4096)
    if text is not None:
        text = text.strip()
        if text.startswith("ref:"):
            return _resolve_ref(repo, text[4:].strip(), depth + 1)
        return text.lower() if is_commit(text.lower(), full=True) else None
    return _packed_refs(repo.commondir).get(ref)


_packed = FileCache[dict]()


def _packed_refs(commondir: str) -> dict[str, str]:
    return _packed.get(os.path.join(commondir, "packed-refs"), _parse_packed_refs, {}, {})


def _parse_packed_refs(path: str, _key: tuple) -> dict[str, str]:
    refs: dict[str, str] = {}
    for line in (read_text(path, 64 << 20) or "").splitlines():
        if not line or line[0] in "#^":
            continue
        sha, _, name = line.partition(" ")
        if is_commit(sha.lower(), full=True):
            refs[name.strip()] = sha.lower()
    return refs


def head_needs_git(repo: Repo) -> bool:
    """Refs stored where files cannot be read (reftable), or HEAD that names no branch we can read."""
    cfg = gitconfig.config_file(os.path.join(repo.commondir, "config"))
    if cfg.get(("extensions", None, "refstorage"), [""])[0].lower() == "reftable":
        return True
    head = (read_text(os.path.join(repo.gitdir, "HEAD"), 4096) or "").strip()
    return bool(head) and not head.startswith("ref: refs/heads/")


def head_with_git(exe: str, repo: Repo, deadline: float) -> tuple[Optional[str], Optional[str]]:
    out = process.run(exe, ["rev-parse", "HEAD", "--symbolic-full-name", "HEAD"], repo.root, deadline)
    if out is None or out[0] != 0:
        return None, None
    lines = out[1].decode("utf-8", "replace").split()
    commit = lines[0].lower() if lines and is_commit(lines[0].lower(), full=True) else None
    name = lines[1] if len(lines) > 1 else ""
    return commit, (name[len("refs/heads/") :] if name.startswith("refs/heads/") else None)


def hash_len(repo: Repo) -> int:
    """Bytes of an object name: 32 in a SHA-256 repository, else 20."""
    cfg = gitconfig.config_file(os.path.join(repo.commondir, "config"))
    fmt = cfg.get(("extensions", None, "objectformat"), ["sha1"])[0].lower()
    return 32 if fmt == "sha256" else 20
