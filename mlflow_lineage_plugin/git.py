"""Git reference of the code a run came from: the repository that contains the entry file, its
commit, branch, remote, dirty state, and the file's path in it.

Every run gets a fresh answer (a notebook kernel that commits between two runs records two commits),
so nothing here is cached by path alone. What makes a repeat cheap:

- commit, branch and remote are read from ``.git`` files (HEAD, loose refs, packed-refs, config),
  not from ``git`` processes: microseconds, and they work without a ``git`` executable;
- the dirty check (``git status --porcelain --untracked-files=no`` semantics) is skipped only when
  git's own criterion proves the answer: the index matched HEAD in an earlier clean ``git status`` of
  this very index file, and every tracked file still has the stat data the index recorded for it and
  is not racily clean. Then git would not even read a file's content. Small repositories only: beyond
  ``SNAPSHOT_MAX_FILES`` one ``git status`` (parallel lstat in C) is cheaper than Python's ``lstat``;
- the dirty check runs in its own process group, bounded, killed on time-out, and never takes the
  index lock (``GIT_OPTIONAL_LOCKS=0``) so it cannot break a ``git commit`` the user runs meanwhile.
  A repository too large to check in time records the dirty state as unknown.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import struct
import subprocess
import time
from bisect import bisect_left
from dataclasses import dataclass
from typing import Optional

from mlflow_lineage_plugin import config, urls
from mlflow_lineage_plugin.tags import GitRef
from mlflow_lineage_plugin.warn_once import WarnOnce

_logger = logging.getLogger(__name__)

SNAPSHOT_MAX_FILES = 512  # ~4 us per lstat from Python vs ~2 ms for a git process
RETRY_AFTER_TIMEOUT = 300.0  # seconds before a repository that timed out is checked again

_HEX = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
# What git itself drops from the environment before it works in another repository (a submodule):
# inherited from a hook or a wrapper, these would point our git at the wrong repository.
_LOCAL_REPO_ENV = (
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY", "GIT_DIR", "GIT_WORK_TREE", "GIT_IMPLICIT_WORK_TREE", "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE", "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE", "GIT_PREFIX",
    "GIT_INTERNAL_SUPER_PREFIX", "GIT_SHALLOW_FILE", "GIT_COMMON_DIR",
)  # fmt: skip
_PER_WORKTREE_REFS = ("refs/bisect/", "refs/worktree/", "refs/rewritten/")


@dataclass(frozen=True)
class Repo:
    root: str  # the working tree
    gitdir: str  # this working tree's git directory (HEAD, index)
    commondir: str  # shared by all worktrees (refs, config, objects)


@dataclass(frozen=True)
class _Index:
    key: tuple  # identity of the index file: a rewrite (lock + rename) changes it
    mtime: tuple[int, int]
    count: int
    paths: Optional[tuple[str, ...]] = None  # sorted; only for small, plain indexes
    stats: Optional[tuple[tuple, ...]] = None
    provable: bool = False  # git's stat criterion alone decides the worktree side
    version: int = 0


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
        return _read(str(entry_path), time.monotonic() + max(float(timeout), 0.0))
    except Exception as exc:  # never cost the run: one line, no traceback
        _warn_once(f"error:{type(exc).__name__}", f"git reference not read ({type(exc).__name__})")
        return None


def _read(entry_path: str, deadline: float) -> Optional[GitRef]:
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
    started = time.monotonic()
    sub_deadline = min(deadline, started + config.seconds(config.DIRTY_TIMEOUT))
    exe = _git_executable()
    commit, branch = read_head(repo)
    if commit is None and exe and _head_needs_git(repo):
        commit, branch = _head_with_git(exe, repo, deadline)
    if commit is None and branch is None:  # HEAD unreadable: no reference worth recording
        return None
    index = _read_index(repo)

    dirty_job = _DirtyCheck(repo, index, commit, exe, sub_deadline)
    try:
        dirty_job.start()
        belongs = _belongs(repo, index, rel, is_dir, exe, sub_deadline)
        if belongs is False:
            return None
        remote = _remote_url(repo, branch)
        dirty = dirty_job.result()
    finally:
        dirty_job.cancel()
    repo_url = urls.normalize_remote(_absolute_local_remote(remote, repo.root)) if remote else None
    path = rel or None
    return GitRef(
        commit=commit,
        branch=branch,
        repo_url=repo_url,
        dirty=dirty if commit else None,
        path=path,
        source_url=urls.source_web_url(repo_url, commit, path),
    )


# --- finding the repository ---------------------------------------------------------------------


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
        text = _read_text(dotgit, 4096)  # submodule or worktree: "gitdir: <path>"
        if not text or not text.startswith("gitdir:"):
            return None
        gitdir = os.path.normpath(os.path.join(root, text[len("gitdir:"):].strip()))
    if not os.path.isfile(os.path.join(gitdir, "HEAD")):
        return None
    common = _read_text(os.path.join(gitdir, "commondir"), 4096)
    commondir = os.path.normpath(os.path.join(gitdir, common.strip())) if common else gitdir
    return Repo(root=root, gitdir=gitdir, commondir=commondir)


def _read_text(path: str, limit: int = 1 << 20) -> Optional[str]:
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8", "replace")
    except OSError:
        return None


# --- HEAD, refs, remotes from files -------------------------------------------------------------


def read_head(repo: Repo) -> tuple[Optional[str], Optional[str]]:
    """(commit, branch) from HEAD and the refs files; branch is None on a detached HEAD; commit is None
    on an unborn branch or when the refs cannot be read."""
    head = _read_text(os.path.join(repo.gitdir, "HEAD"), 4096)
    if head is None:
        return None, None
    head = head.strip()
    branch = None
    if head.startswith("ref:"):
        ref = head[4:].strip()
        if ref.startswith("refs/heads/") and ref != "refs/heads/.invalid":
            branch = ref[len("refs/heads/"):]
        return _resolve_ref(repo, ref), branch
    return (head.lower() if _HEX.match(head.lower()) else None), None


def _resolve_ref(repo: Repo, ref: str, depth: int = 0) -> Optional[str]:
    if depth > 5 or ".." in ref:
        return None
    base = repo.gitdir if ref.startswith(_PER_WORKTREE_REFS) or "/" not in ref else repo.commondir
    text = _read_text(os.path.join(base, *ref.split("/")), 4096)
    if text is not None:
        text = text.strip()
        if text.startswith("ref:"):
            return _resolve_ref(repo, text[4:].strip(), depth + 1)
        return text.lower() if _HEX.match(text.lower()) else None
    return _packed_refs(repo.commondir).get(ref)


_packed_cache: dict[str, tuple[tuple, dict]] = {}


def _packed_refs(commondir: str) -> dict[str, str]:
    path = os.path.join(commondir, "packed-refs")
    key = _stat_key(path)
    if key is None:
        return {}
    cached = _packed_cache.get(path)
    if cached and cached[0] == key:
        return cached[1]
    refs: dict[str, str] = {}
    for line in (_read_text(path, 64 << 20) or "").splitlines():
        if not line or line[0] in "#^":
            continue
        sha, _, name = line.partition(" ")
        if _HEX.match(sha.lower()):
            refs[name.strip()] = sha.lower()
    _packed_cache[path] = (key, refs)
    return refs


def _head_needs_git(repo: Repo) -> bool:
    """Refs stored where files cannot be read (reftable), or HEAD that names no branch we can read."""
    cfg = _config(os.path.join(repo.commondir, "config"))
    if cfg.get(("extensions", None, "refstorage"), [""])[0].lower() == "reftable":
        return True
    head = (_read_text(os.path.join(repo.gitdir, "HEAD"), 4096) or "").strip()
    return bool(head) and not head.startswith("ref: refs/heads/")


def _head_with_git(exe: str, repo: Repo, deadline: float) -> tuple[Optional[str], Optional[str]]:
    out = _run(exe, ["rev-parse", "HEAD", "--symbolic-full-name", "HEAD"], repo.root, deadline)
    if out is None or out[0] != 0:
        return None, None
    lines = out[1].decode("utf-8", "replace").split()
    commit = lines[0].lower() if lines and _HEX.match(lines[0].lower()) else None
    name = lines[1] if len(lines) > 1 else ""
    return commit, (name[len("refs/heads/"):] if name.startswith("refs/heads/") else None)


_config_cache: dict[str, tuple[tuple, dict]] = {}


def _config(path: str) -> dict[tuple[str, Optional[str], str], list[str]]:
    """A git config file as {(section, subsection, key): [values]}; re-read whenever it changes."""
    key = _stat_key(path)
    if key is None:
        return {}
    cached = _config_cache.get(path)
    if cached and cached[0] == key:
        return cached[1]
    parsed = parse_config(_read_text(path) or "")
    _config_cache[path] = (key, parsed)
    return parsed


_SECTION = re.compile(r'^\[\s*([A-Za-z0-9.-]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]')


def parse_config(text: str) -> dict[tuple[str, Optional[str], str], list[str]]:
    """The subset of git's config syntax a repository's remotes and branches are written in:
    sections with quoted subsections (and the legacy ``[section.sub]``), quoting, escapes, comments
    and continuation lines. Values from ``[include]`` files are not followed (the caller falls back
    to ``git config`` when that matters)."""
    out: dict[tuple[str, Optional[str], str], list[str]] = {}
    section: Optional[str] = None
    sub: Optional[str] = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].lstrip()
        i += 1
        m = _SECTION.match(line)
        if m:
            name = m.group(1)
            if m.group(2) is not None:
                section, sub = name.lower(), re.sub(r"\\(.)", r"\1", m.group(2))
            elif "." in name:
                head, _, rest = name.partition(".")
                section, sub = head.lower(), rest.lower()
            else:
                section, sub = name.lower(), None
            line = line[m.end():].lstrip()
        if not line or line[0] in "#;" or section is None:
            continue
        km = re.match(r"([A-Za-z][A-Za-z0-9-]*)\s*(=?)", line)
        if not km:
            continue
        key = km.group(1).lower()
        if not km.group(2):
            out.setdefault((section, sub, key), []).append("true")
            continue
        raw = line[km.end():]
        while raw.rstrip("\r\n").endswith("\\") and not raw.rstrip("\r\n").endswith("\\\\") and i < len(lines):
            raw = raw.rstrip("\r\n")[:-1] + lines[i]
            i += 1
        out.setdefault((section, sub, key), []).append(_config_value(raw))
    return out


def _config_value(raw: str) -> str:
    value, quoted, pending_space, j = [], False, "", 0
    escapes = {"n": "\n", "t": "\t", "b": "\b", "\\": "\\", '"': '"'}
    while j < len(raw):
        c = raw[j]
        j += 1
        if c == "\\" and j < len(raw):
            value.append(pending_space + escapes.get(raw[j], raw[j]))
            pending_space = ""
            j += 1
        elif c == '"':
            quoted = not quoted
        elif c in "#;" and not quoted:
            break
        elif c.isspace() and not quoted:
            if value:
                pending_space += c
        else:
            value.append(pending_space + c)
            pending_space = ""
    return "".join(value)


def _remote_url(repo: Repo, branch: Optional[str]) -> Optional[str]:
    """The remote of the branch's upstream, else ``origin``, else the first remote configured."""
    cfg = _config(os.path.join(repo.commondir, "config"))
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
    exe = _git_executable()
    out = _run(exe, ["config", "-z", "--list"], repo.root, time.monotonic() + 1.0) if exe else None
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


def _absolute_local_remote(remote: str, root: str) -> str:
    """A relative local-path remote is relative to the working tree, not to our process."""
    if "://" in remote or re.match(r"^[^/\\]+:", remote) or "@" in remote:
        return remote
    return os.path.normpath(os.path.join(root, os.path.expanduser(remote)))


# --- the index ----------------------------------------------------------------------------------


def _stat_key(path: str) -> Optional[tuple]:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


_index_cache: dict[str, _Index] = {}


def _read_index(repo: Repo) -> Optional[_Index]:
    """The index header, and for small plain indexes every path with its recorded stat data.

    Cached by the index file's identity: git rewrites the index through a lock file and a rename, so
    a changed index is a new inode or a new mtime.
    """
    path = os.path.join(repo.gitdir, "index")
    try:
        st = os.stat(path)
    except FileNotFoundError:  # a repository before its first `git add`
        return _Index(key=(), mtime=(0, 0), count=0, paths=(), stats=(), provable=True)
    except OSError:
        return None
    key = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    cached = _index_cache.get(path)
    if cached is not None and cached.key == key:
        return cached
    mtime = (st.st_mtime_ns // 1_000_000_000, st.st_mtime_ns % 1_000_000_000)
    try:
        with open(path, "rb") as f:
            header = f.read(12)
            if len(header) < 12 or header[:4] != b"DIRC":
                return None
            version, count = struct.unpack(">LL", header[4:])
            data = header + f.read() if count <= SNAPSHOT_MAX_FILES else None
    except OSError:
        return None
    index = _Index(key=key, mtime=mtime, count=count, version=version)
    if data is not None and version in (2, 3, 4):
        try:
            parsed = _parse_entries(data, version, count, _hash_len(repo))
        except (struct.error, ValueError, IndexError):  # truncated or corrupt: unknown, not empty
            return None
        if parsed is not None:
            index = _Index(key, mtime, count, *parsed, version=version)
    _index_cache[path] = index
    return index


def _hash_len(repo: Repo) -> int:
    cfg = _config(os.path.join(repo.commondir, "config"))
    fmt = cfg.get(("extensions", None, "objectformat"), ["sha1"])[0].lower()
    return 32 if fmt == "sha256" else 20


def _parse_entries(data: bytes, version: int, count: int, hash_len: int):
    """Paths and stat data of index format 2, 3 or 4 (Documentation/gitformat-index.txt)."""
    paths: list[str] = []
    stats: list[tuple] = []
    provable = True
    pos, prev = 12, b""
    fixed = 40 + hash_len  # ten 32-bit stat fields + object name
    for _ in range(count):
        st = struct.unpack_from(">10L", data, pos)
        (flags,) = struct.unpack_from(">H", data, pos + fixed)
        name_at = pos + fixed + 2
        if flags & 0x4000:  # extended flags: skip-worktree, intent-to-add
            (ext,) = struct.unpack_from(">H", data, name_at)
            name_at += 2
            if ext & 0x6000:
                provable = False
        if flags & 0x8000 or flags & 0x3000:  # assume-unchanged, or a conflict stage
            provable = False
        if version == 4:
            strip, name_at = _varint(data, name_at)
            end = data.index(b"\0", name_at)
            name = prev[: len(prev) - strip] + data[name_at:end]
            pos, prev = end + 1, name
        else:
            length = flags & 0xFFF
            end = data.index(b"\0", name_at) if length == 0xFFF else name_at + length
            name = data[name_at:end]
            pos = pos + ((name_at - pos + len(name) + 8) & ~7)
        mode = st[6]
        if mode & 0o170000 == 0o160000:  # a submodule: its state is not in our stat data
            provable = False
        paths.append(name.decode("utf-8", "surrogateescape"))
        stats.append((st[0], st[1], st[2], st[3], st[5], mode, st[7], st[8], st[9]))
    tail = data[pos : len(data) - hash_len]
    while len(tail) >= 8:  # extensions: a split or sparse index lists not every file
        sig, size = tail[:4], struct.unpack(">L", tail[4:8])[0]
        if sig in (b"link", b"sdir"):
            return None
        tail = tail[8 + size :]
    return tuple(paths), tuple(stats), provable


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    c = data[pos]
    pos += 1
    value = c & 0x7F
    while c & 0x80:
        c = data[pos]
        pos += 1
        value = ((value + 1) << 7) | (c & 0x7F)
    return value, pos


def _belongs(repo: Repo, index: Optional[_Index], rel: str, is_dir: bool, exe: Optional[str],
             deadline: float) -> Optional[bool]:
    """Whether the entry is part of this repository rather than a stray file in an outer one.

    Tracked (or, for a directory, holding tracked files): yes. Ignored: no. Untracked and not ignored:
    yes only when its directory holds tracked files (a new script in a project), not when the whole
    directory is foreign to the repository (a dotfiles repository in ``$HOME``). None: cannot tell.
    """
    if not rel:
        return True
    anchor = rel if is_dir else rel.rpartition("/")[0]
    if index is not None and index.paths is not None:
        tracked_here = _has_prefix(index.paths, rel + "/") if is_dir else _contains(index.paths, rel)
        anchor_tracked = _has_prefix(index.paths, anchor + "/") if anchor else index.count > 0
    elif index is None:
        return None
    else:
        scanned = _scan_index(repo, index, rel, is_dir, anchor)
        if scanned is not None:
            tracked_here, anchor_tracked = scanned
        else:
            found = _ls_files(exe, repo, anchor or rel, deadline) if exe else None
            if found is None:
                return None
            tracked_here = bool(found) if is_dir else rel in found
            anchor_tracked = bool(found) if anchor else index.count > 0
    if tracked_here:
        return True
    if exe is None:
        return anchor_tracked
    key = (repo.gitdir, index.key, rel, is_dir, _ignore_rules_key(repo, rel))
    if key in _untracked_cache:
        return _untracked_cache[key]
    out = _run(exe, ["check-ignore", "-q", "--", rel], repo.root, deadline)
    if out is None or out[0] not in (0, 1):
        return anchor_tracked
    answer = anchor_tracked and out[0] == 1
    if key[-1] is not None:
        if len(_untracked_cache) > 256:
            _untracked_cache.clear()
        _untracked_cache[key] = answer
    return answer


_untracked_cache: dict[tuple, bool] = {}


def _ignore_rules_key(repo: Repo, rel: str) -> Optional[tuple]:
    """The state of every file git reads to decide whether ``rel`` is ignored, so an untracked entry
    file (a notebook not yet committed) is checked once, not on every run. None when a config file
    includes others (their names would need git's own resolution)."""
    home = os.path.expanduser("~")
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    configs = [
        os.environ.get("GIT_CONFIG_GLOBAL") or os.path.join(home, ".gitconfig"),
        os.path.join(xdg, "git", "config"),
        os.environ.get("GIT_CONFIG_SYSTEM") or "/etc/gitconfig",
        os.path.join(repo.commondir, "config"),
    ]
    excludes = [os.path.join(xdg, "git", "ignore"), os.path.join(repo.commondir, "info", "exclude")]
    for path in configs:
        cfg = _config(path)
        if any(k[0] in ("include", "includeif") for k in cfg):
            return None
        excludes += [os.path.expanduser(v) for v in cfg.get(("core", None, "excludesfile"), [])]
    parts = rel.split("/")[:-1]
    ignores = [os.path.join(repo.root, *parts[:i], ".gitignore") for i in range(len(parts) + 1)]
    files = tuple(configs + excludes + ignores)
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("GIT_")))
    return files, tuple(_stat_key(f) for f in files), env


def _contains(paths: tuple[str, ...], rel: str) -> bool:
    i = bisect_left(paths, rel)
    return i < len(paths) and paths[i] == rel


def _has_prefix(paths: tuple[str, ...], prefix: str) -> bool:
    i = bisect_left(paths, prefix)
    return i < len(paths) and paths[i].startswith(prefix)


_tracked_cache: dict[tuple, object] = {}
_MODES = frozenset((0o100644, 0o100755, 0o120000, 0o160000, 0o040000))


def _scan_index(repo: Repo, index: _Index, rel: str, is_dir: bool, anchor: str) -> Optional[tuple[bool, bool]]:
    """(entry tracked, anchor directory holds tracked files) by searching a large index's bytes for the
    path instead of parsing every entry (a 50,000-file index is 4 MB: ~2 ms instead of a git process).

    Formats 2 and 3 store each path whole, between fixed-size stat data and NUL padding; a hit counts
    only when the flags, the file mode and the padding around it all check out, so a path that merely
    contains ``rel`` (or a cache-tree record) never matches. Format 4 compresses paths and a split index
    keeps entries elsewhere: None, and the caller asks git.
    """
    if index.version not in (2, 3):
        return None
    key = (repo.gitdir, index.key, "scan", rel, is_dir)
    if key in _tracked_cache:
        return _tracked_cache[key]  # type: ignore[return-value]
    try:
        if any(n.startswith("sharedindex.") for n in os.listdir(repo.gitdir)):
            return None
        with open(os.path.join(repo.gitdir, "index"), "rb") as f:
            data = f.read()
    except OSError:
        return None
    hash_len = _hash_len(repo)
    if is_dir:
        tracked_here = anchor_tracked = _index_has(data, index.version, hash_len, rel + "/", prefix=True)
    else:
        tracked_here = _index_has(data, index.version, hash_len, rel, prefix=False)
        anchor_tracked = tracked_here or (
            _index_has(data, index.version, hash_len, anchor + "/", prefix=True) if anchor else index.count > 0)
    if len(_tracked_cache) > 256:
        _tracked_cache.clear()
    _tracked_cache[key] = (tracked_here, anchor_tracked)
    return tracked_here, anchor_tracked


def _index_has(data: bytes, version: int, hash_len: int, path: str, *, prefix: bool) -> bool:
    needle = path.encode("utf-8", "surrogateescape") + (b"" if prefix else b"\0")
    end_of_entries = len(data) - hash_len
    fixed = 40 + hash_len
    at = data.find(needle, 12, end_of_entries)
    while at != -1:
        name_end = data.find(b"\0", at, end_of_entries)
        if name_end != -1:
            length = name_end - at
            for ext in (0, 2) if version == 3 else (0,):
                start = at - 2 - ext - fixed
                if start < 12:
                    continue
                (flags,) = struct.unpack_from(">H", data, at - 2 - ext)
                (mode,) = struct.unpack_from(">L", data, start + 24)
                if ext and data[at - 2] & 0x9F or ext and data[at - 1]:  # only two extended bits exist
                    continue
                padded = start + ((fixed + 2 + ext + length + 8) & ~7)
                if (
                    bool(flags & 0x4000) == bool(ext)
                    and (flags & 0xFFF) == min(length, 0xFFF)
                    and mode in _MODES
                    and padded <= end_of_entries
                    and data[name_end:padded].strip(b"\0") == b""
                ):
                    return True
        at = data.find(needle, at + 1, end_of_entries)
    return False


def _ls_files(exe: str, repo: Repo, pathspec: str, deadline: float) -> Optional[frozenset]:
    index = _index_cache.get(os.path.join(repo.gitdir, "index"))
    key = (repo.gitdir, index.key if index else None, pathspec)
    if key in _tracked_cache:
        return _tracked_cache[key]
    out = _run(exe, ["--literal-pathspecs", "ls-files", "-z", "--", pathspec], repo.root, deadline)
    if out is None or out[0] != 0:
        return None
    found = frozenset(p for p in out[1].decode("utf-8", "surrogateescape").split("\0") if p)
    if len(_tracked_cache) > 256:
        _tracked_cache.clear()
    _tracked_cache[key] = found
    return found


# --- the dirty check ----------------------------------------------------------------------------

_clean_index: dict[str, tuple] = {}  # gitdir -> (commit, index key) of a clean `git status`
_timed_out: dict[str, tuple[tuple, float]] = {}  # gitdir -> (index key, when)
_STATUS = ["-c", "status.renames=false", "-c", "diff.renames=false",
           "status", "--porcelain", "--untracked-files=no"]  # fmt: skip


class _DirtyCheck:
    """``git status --porcelain --untracked-files=no`` is non-empty, decided by proof when possible,
    else by one bounded ``git status`` started early so it overlaps the rest of the look-up."""

    def __init__(self, repo: Repo, index: Optional[_Index], commit: Optional[str], exe: Optional[str],
                 deadline: float):
        self.repo, self.index, self.commit, self.exe, self.deadline = repo, index, commit, exe, deadline
        self.proc: Optional[subprocess.Popen] = None
        self.answer: Optional[bool] = None
        self.decided = False

    def start(self) -> None:
        if self.exe is None or self.commit is None:
            self.decided = True
            return
        if _provably_clean(self.repo, self.index, self.commit):
            self.answer, self.decided = False, True
            return
        last = _timed_out.get(self.repo.gitdir)
        index_key = self.index.key if self.index else None
        if last and last[0] == index_key and time.monotonic() - last[1] < RETRY_AFTER_TIMEOUT:
            self.decided = True
            return
        try:
            self.proc = _spawn(self.exe, _STATUS, self.repo.root)
        except OSError:
            self.decided = True

    def result(self) -> Optional[bool]:
        if self.decided or self.proc is None:
            return self.answer
        out = _collect(self.proc, self.deadline)
        self.proc = None
        self.decided = True
        index_key = self.index.key if self.index else None
        if out is None:
            _timed_out[self.repo.gitdir] = (index_key, time.monotonic())
            _warn_once(
                f"timeout:{self.repo.gitdir}",
                f"git status did not finish in time in {self.repo.root}; the dirty state is recorded as "
                f"unknown (raise {config.DIRTY_TIMEOUT} to wait longer)",
            )
            return None
        rc, stdout = out
        if rc != 0:
            return None
        self.answer = bool(stdout.strip())
        if not self.answer and self.index is not None and _index_settled(self.index) and \
                _stat_key(os.path.join(self.repo.gitdir, "index")) == index_key:
            _clean_index[self.repo.gitdir] = (self.commit, index_key)
        return self.answer

    def cancel(self) -> None:
        if self.proc is not None:
            _kill(self.proc)
            self.proc = None


def _index_settled(index: _Index) -> bool:
    """An index written at least two seconds ago: no rewrite can reuse its identity unnoticed."""
    return time.time() - index.mtime[0] - index.mtime[1] / 1e9 > 2.0


def _provably_clean(repo: Repo, index: Optional[_Index], commit: str) -> bool:
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


# --- processes ----------------------------------------------------------------------------------

_exe_cache: tuple[Optional[str], Optional[str]] = ("\0", None)


def _git_executable() -> Optional[str]:
    global _exe_cache
    path = os.environ.get("PATH")
    if _exe_cache[0] != path:
        _exe_cache = (path, shutil.which("git", path=path))
    return _exe_cache[1]


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _LOCAL_REPO_ENV}
    env["GIT_OPTIONAL_LOCKS"] = "0"
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.setdefault("LC_ALL", "C")
    return env


def _spawn(exe: str, args: list[str], cwd: str) -> subprocess.Popen:
    """A git process in its own process group, so a time-out kills it and anything it started
    (hooks, fsmonitor) that could otherwise hold our pipe open."""
    kw: dict = {"start_new_session": True} if os.name == "posix" else {
        "creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    return subprocess.Popen([exe, *args], cwd=cwd, env=_git_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, **kw)


def _collect(proc: subprocess.Popen, deadline: float) -> Optional[tuple[int, bytes]]:
    try:
        out, _ = proc.communicate(timeout=max(deadline - time.monotonic(), 0.001))
    except subprocess.TimeoutExpired:
        _kill(proc)
        return None
    return proc.returncode, out or b""


def _kill(proc: subprocess.Popen) -> None:
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except OSError:
        pass
    with contextlib.suppress(Exception):
        proc.communicate(timeout=1.0)


def _run(exe: Optional[str], args: list[str], cwd: str, deadline: float) -> Optional[tuple[int, bytes]]:
    if exe is None or deadline <= time.monotonic():
        return None
    try:
        proc = _spawn(exe, args, cwd)
    except OSError:
        return None
    return _collect(proc, deadline)


_warnings = WarnOnce(_logger)


def _warn_once(key: str, message: str) -> None:
    _warnings(f"mlflow-lineage: {message}", key)
