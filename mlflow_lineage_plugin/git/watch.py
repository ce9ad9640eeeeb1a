"""Change notification for repeated runs in one long-lived process (a sweep, a notebook kernel): the
kernel says which tracked files were written since the last dirty answer, so a repeat with nothing
changed starts no ``git status``, and one after an edit asks git about the touched paths only.

Why it is as fresh as a full check: inotify queues an event inside the writing system call, so a
non-blocking read of the queue when a run asks sees every write made before it, by any process; events
that arrive while git answers stay queued for the next run. An answer is reused only for the same commit,
branch, index file (its stat identity) and config/attributes files, and only when the watch set covered
every tracked directory of that very index before the answer's ``git status`` started.

Off the first run's path, and free in one-run processes: the first look in a checkout only counts; the
second starts a background thread that parses the index and sets the watches; runs after it finished use
them. Everything else takes the caller's full check: not Linux, no inotify, a network or FUSE file system
(Databricks Git folders), more directories than ``MLFLOW_LINEAGE_WATCH_LIMIT`` or a quarter of the
user's inotify watches, submodules, a split or sparse index, a queue overflow (until the next full
answer), a directory of tracked files created, moved or deleted (until the watches are set again),
and a forked child (its parent's queue is never read there).

Not seen, like by no inotify user: writes through ``mmap`` and through a hard link in an unwatched
directory. Nothing outside ``git/dirty.py`` uses this module (``doctor`` asks ``availability``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import struct
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable, Optional

from mlflow_lineage_plugin import config
from mlflow_lineage_plugin.git.cache import stat_key
from mlflow_lineage_plugin.git.index import walk_entries
from mlflow_lineage_plugin.git.refs import Repo, hash_len

MAX_PATHSPEC = 64  # touched paths asked of git by name; beyond this one full `git status` is cheaper
_MAX_CHECKOUTS = 4  # inotify instances per process: the user's limit (often 128) is shared by every program
_SHARE_OF_USER_WATCHES = 4  # never take more than a quarter of the user's inotify watches (IDEs need them)

_MODIFY, _ATTRIB, _CLOSE_WRITE = 0x2, 0x4, 0x8
_MOVED_FROM, _MOVED_TO, _CREATE, _DELETE = 0x40, 0x80, 0x100, 0x200
_DELETE_SELF, _MOVE_SELF = 0x400, 0x800
_Q_OVERFLOW, _IGNORED, _ISDIR = 0x4000, 0x8000, 0x40000000
_ONLYDIR, _DONT_FOLLOW = 0x01000000, 0x02000000
_MASK = (
    _MODIFY
    | _ATTRIB
    | _CLOSE_WRITE
    | _MOVED_FROM
    | _MOVED_TO
    | _CREATE
    | _DELETE
    | _DELETE_SELF
    | _MOVE_SELF
    | _ONLYDIR
    | _DONT_FOLLOW
)
_GONE = _IGNORED | _DELETE_SELF | _MOVE_SELF
_EVENT = struct.Struct("iIII")
_GIT_FILES = frozenset(("HEAD", "index", "packed-refs", "config", "config.worktree", "commondir", "info", "refs"))
_REFS = "\0refs"  # the role of a refs/heads directory among the watched ones
_RULE_NAMES = frozenset((".gitattributes", ".gitignore"))
# File systems whose changes made elsewhere (another host, the hypervisor, a FUSE daemon) never reach
# this kernel's inotify.
_REMOTE_FS = (
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "9p",
    "ceph",
    "afs",
    "glusterfs",
    "lustre",
    "gpfs",
    "virtiofs",
    "fuse",
    "fuseblk",
    "vboxsf",
    "davfs",
)


@dataclass(frozen=True)
class Availability:
    active: bool
    reason: str  # why not, or what is watched


class Look:
    """One run's question. ``dirty`` is the answer when no git is needed; else ``pathspec`` is what to
    pass to ``git status`` (empty: the whole tree) and ``settle(stdout)`` turns its output into the
    answer and remembers it."""

    __slots__ = ("_watch", "_gen", "_key", "_prior", "_touched", "_rules", "dirty", "pathspec")

    def __init__(
        self,
        watch: Optional[_Watch] = None,
        gen: int = 0,
        key: tuple = (),
        prior: Optional[frozenset] = None,
        touched: Sequence[str] = (),
        rules: Optional[tuple] = None,
        dirty: Optional[bool] = None,
    ):
        self._watch, self._gen, self._key, self._rules = watch, gen, key, rules
        self._prior: Optional[frozenset] = prior
        self._touched: tuple[str, ...] = tuple(touched)
        self.dirty: Optional[bool] = dirty
        self.pathspec: list[str] = ["--", *(f":(literal){p}" for p in self._touched)] if self._touched else []

    @property
    def partial(self) -> bool:
        return bool(self._touched)

    def settle(self, stdout: bytes) -> bool:
        """The dirty answer for the whole tree, from ``git status --porcelain`` of ``pathspec``."""
        found = _porcelain_paths(stdout)
        if self._touched:
            rest = self._prior - set(self._touched) if self._prior is not None else frozenset()
            changed = None if found is None else frozenset(rest | found)
            dirty = bool(rest) or bool(stdout.strip())
        else:
            changed, dirty = found, bool(stdout.strip())
        if self._watch is not None:
            self._watch.remember(self, changed, dirty)
        return dirty


_INERT = Look()
_watches: dict[Repo, _Watch] = {}
_lock = threading.Lock()


def look(
    repo: Repo,
    index_key: Optional[tuple],
    commit: str,
    branch: Optional[str],
    rules: Callable[[], tuple],
    rules_hold: Callable[[tuple], bool],
) -> Look:
    """What the watch knows of ``repo`` at this instant. ``rules()`` is the state of the files outside
    the work tree whose change makes every answer void (config, attributes), ``rules_hold(state)``
    whether it still holds."""
    if index_key is None:
        return _INERT
    with _lock:
        watch = _watches.get(repo)
        if watch is None or watch.pid != os.getpid():
            _watches[repo] = _Watch(repo)  # the first run in this checkout: counted, nothing else
            return _INERT
    return watch.look(index_key, commit, branch, rules, rules_hold)


def availability(repo: Repo) -> Availability:
    """Whether repeated runs in ``repo`` would use change notification, and why not (``doctor``)."""
    reason = _platform_problem() or _limit_problem() or _fs_problem(repo.root)
    if reason:
        return Availability(False, reason)
    try:
        tracked, dirs = _tracked(repo)
    except _Unavailable as exc:
        return Availability(False, str(exc))
    limit = _watch_limit()
    if len(dirs) > limit:
        return Availability(False, _over_limit(len(dirs), limit))
    return Availability(
        True, f"inotify on {len(dirs)} directories of {len(tracked)} tracked files, from a process's second run here"
    )


def status(repo: Repo) -> tuple[bool, str, dict[str, int]]:
    """(active now, why not, counters) of this process's watch of ``repo`` (tests, benchmarks)."""
    watch = _watches.get(repo)
    if watch is None:
        return False, "no run in this checkout yet", {}
    return watch.index_key is not None and watch.fd >= 0, watch.reason, dict(watch.counters)


class _Unavailable(Exception):
    """Watches cannot serve this checkout; ``index_key``: only while the index is this one (else for good)."""

    def __init__(self, reason: str, index_key: Optional[tuple] = None):
        super().__init__(reason)
        self.index_key = index_key


class _Watch:
    """The watches of one checkout and what they have said since the last answer."""

    def __init__(self, repo: Repo):
        self.repo = repo
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.fd = -1
        self.wds: dict[int, Optional[str]] = {}  # wd -> work-tree directory ("" the top), None: a git directory
        self.by_dir: dict[str, int] = {}
        self.tracked: frozenset[str] = frozenset()
        self.dirs: frozenset[str] = frozenset()
        self.parsed_key: Optional[tuple] = None
        self.index_key: Optional[tuple] = None  # the index whose every tracked directory is watched
        self.gen = 0
        self.touched: dict[str, int] = {}  # tracked path -> generation of its latest event
        self.base: Optional[_Base] = None
        self.syncing = False
        self.epoch = 0  # changes whenever the watch set becomes complete or incomplete
        self.spoiled = False  # the watch set lost completeness while being set
        self.failed: Optional[tuple] = None  # (reason, index key or None for every index)
        self.reason = "watches not set yet"
        self.used = 0.0
        self.counters = {"answered": 0, "partial": 0, "full": 0, "overflow": 0, "resync": 0}

    # --- the run's path -------------------------------------------------------------------------

    def look(self, index_key: tuple, commit: str, branch: Optional[str], rules, rules_hold) -> Look:
        with self.lock:
            self.used = time.monotonic()
            if self.fd >= 0:
                self._drain()
            if self.index_key != index_key:
                self._start_sync(index_key)
                return _INERT
            key = (commit, branch, index_key, self.epoch)
            base = self.base
            if base is None or base.key != key or base.rules is None or not rules_hold(base.rules):
                self.counters["full"] += 1
                return Look(self, self.gen, key, rules=rules())
            touched = sorted(p for p, g in self.touched.items() if g > base.gen)
            if not touched:
                self.counters["answered"] += 1
                return Look(dirty=base.dirty)
            if base.changed is None or len(touched) > MAX_PATHSPEC:
                self.counters["full"] += 1
                return Look(self, self.gen, key, rules=base.rules)
            self.counters["partial"] += 1
            return Look(self, self.gen, key, prior=base.changed, touched=touched, rules=base.rules)

    def remember(self, asked: Look, changed: Optional[frozenset], dirty: bool) -> None:
        with self.lock:
            if asked._key[2:] != (self.index_key, self.epoch) or os.getpid() != self.pid:
                return
            if self.base is not None and self.base.gen > asked._gen:
                return  # a later answer is already remembered
            self.base = _Base(asked._key, asked._gen, changed, dirty, asked._rules)
            self.touched = {p: g for p, g in self.touched.items() if g > asked._gen}

    def _drain(self) -> None:
        """Read every queued event without blocking; each batch is one generation."""
        while True:
            try:
                buf = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return
            except OSError:
                self._fail("the inotify queue could not be read", None)
                return
            if not buf:
                return
            self.gen += 1
            pos = 0
            while pos + 16 <= len(buf):
                wd, mask, _cookie, length = _EVENT.unpack_from(buf, pos)
                name = os.fsdecode(buf[pos + 16 : pos + 16 + length].split(b"\0", 1)[0])
                pos += 16 + length
                self._event(wd, mask, name)

    def _event(self, wd: int, mask: int, name: str) -> None:
        if mask & _Q_OVERFLOW:  # events were lost: a directory may have appeared unseen
            self.counters["overflow"] += 1
            self._incomplete()
            return
        if wd not in self.wds:
            return
        where = self.wds[wd]
        if mask & _GONE:
            if mask & _IGNORED:
                self.wds.pop(wd, None)
            self._incomplete()
            return
        if where is None:  # .git: HEAD, index, refs, packed-refs, config, info/exclude and attributes
            if name in _GIT_FILES or not name or name in ("exclude", "attributes", "sparse-checkout"):
                self.base = None
            return
        if where == _REFS:
            if not name.endswith(".lock"):
                self.base = None
            return
            return
        rel = f"{where}/{name}" if where else name
        if mask & _ISDIR:
            if rel in self.dirs:  # a directory of tracked files appeared or went: watches no longer complete
                self._incomplete()
        elif name in _RULE_NAMES:
            self.base = None
        elif rel in self.tracked:
            self.touched[rel] = self.gen

    def _incomplete(self) -> None:
        self.index_key = None
        self.base = None
        self.epoch += 1
        self.spoiled = True
        self.reason = "setting the watches again"

    # --- set-up, in a background thread -------------------------------------------------------

    def _start_sync(self, index_key: tuple) -> None:
        if self.syncing:
            return
        if self.failed is not None and (self.failed[1] is None or self.failed[1] == index_key):
            return
        self.syncing = True
        self.counters["resync"] += 1
        threading.Thread(target=self._sync, name="mlflow-lineage-watch", daemon=True).start()

    def _sync(self) -> None:
        try:
            self._set_watches()
        except _Unavailable as exc:
            with self.lock:
                self._fail(str(exc), exc.index_key)
        except Exception as exc:  # never let the thread die loudly: the full check stays
            with self.lock:
                self._fail(f"watches not set ({type(exc).__name__})", None)
        finally:
            self.syncing = False

    def _set_watches(self) -> None:
        problem = _platform_problem() or _limit_problem() or _fs_problem(self.repo.root)
        if problem:
            raise _Unavailable(problem)
        with self.lock:
            self.spoiled = False
        index_path = os.path.join(self.repo.gitdir, "index")
        key = stat_key(index_path)
        if key != self.parsed_key:
            try:
                tracked, dirs = _tracked(self.repo)
            except _Unavailable as exc:
                raise _Unavailable(str(exc), key) from None
            limit = _watch_limit()
            if len(dirs) > limit:
                raise _Unavailable(_over_limit(len(dirs), limit), key)
            self.tracked, self.dirs, self.parsed_key = tracked, dirs, key
        libc = _libc()
        if self.fd < 0:
            _make_room(self)
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
            if fd < 0:
                raise _Unavailable(f"inotify_init1 failed ({os.strerror(libc.errno())})")
            self.fd = fd
        for d in sorted(_git_dirs(self.repo)):
            self._add(libc, d, _REFS if d.startswith(os.path.join(self.repo.commondir, "refs")) else None)
        for rel in sorted(self.dirs):
            self._add(libc, os.path.join(self.repo.root, rel) if rel else self.repo.root, rel)
        with self.lock:
            if stat_key(index_path) == key == self.parsed_key and not self.spoiled:
                self.index_key = key  # complete from here on; the next run's full answer becomes the base
                self.base = None
                self.epoch += 1
                self.reason = f"active: {len(self.by_dir)} directories watched"

    def _add(self, libc, path: str, rel: Optional[str]) -> None:
        wd = libc.inotify_add_watch(self.fd, os.fsencode(path), _MASK)
        if wd < 0:
            err = libc.errno()
            if err in (2, 20):  # ENOENT, ENOTDIR: a tracked directory deleted; its parent sees it return
                return
            if err == 28:  # ENOSPC
                raise _Unavailable("the user's inotify watch limit is reached (fs.inotify.max_user_watches)")
            raise _Unavailable(f"inotify_add_watch failed ({os.strerror(err)})")
        with self.lock:
            self.wds[wd] = rel
            if rel is not None and rel != _REFS:
                self.by_dir[rel] = wd

    def _fail(self, reason: str, index_key: Optional[tuple]) -> None:
        self.failed = (reason, index_key)
        self.reason = reason
        self.index_key = None
        self.base = None
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            self.wds.clear()
            self.by_dir.clear()
            with contextlib.suppress(OSError):
                os.close(fd)


def _git_dirs(repo: Repo) -> set[str]:
    """The git directories whose files decide commit, branch and index: HEAD, index, packed-refs,
    config, info/ and the branches under refs/heads (bounded: commit and branch are re-read anyway)."""
    out = {repo.gitdir, repo.commondir, os.path.join(repo.commondir, "info")}
    heads = os.path.join(repo.commondir, "refs", "heads")
    for top, _dirs, _files in os.walk(heads):
        out.add(top)
        if len(out) > 256:
            break
    return out


@dataclass(frozen=True)
class _Base:
    key: tuple  # (commit, branch, index key, watch epoch)
    gen: int  # the generation when its git status started: later events are not in it
    changed: Optional[frozenset]  # tracked paths git listed; None when a name was quoted
    dirty: bool
    rules: Optional[tuple]


def _porcelain_paths(stdout: bytes) -> Optional[frozenset]:
    """Paths of ``git status --porcelain`` (renames off); None when one is quoted (unusual names)."""
    out = set()
    for line in stdout.decode("utf-8", "surrogateescape").splitlines():
        path = line[3:]
        if not path or path.startswith('"'):
            return None
        out.add(path)
    return frozenset(out)


def _tracked(repo: Repo) -> tuple[frozenset[str], frozenset[str]]:
    """Every tracked path of the index and every directory holding one (with their parents), read
    straight from the entries by ``index.walk_entries`` (split or sparse indexes are left to the full
    check), so 50,000 entries cost a few MB for a moment."""
    try:
        with open(os.path.join(repo.gitdir, "index"), "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return frozenset(), frozenset({""})
    except OSError as exc:
        raise _Unavailable(f"the index is not readable ({type(exc).__name__})") from None
    if len(data) < 12 or data[:4] != b"DIRC":
        raise _Unavailable("the index is not in a format read here")
    version, count = struct.unpack(">LL", data[4:12])
    if version not in (2, 3, 4):
        raise _Unavailable(f"index format {version} is not read here")
    try:
        walked = walk_entries(data, version, count, hash_len(repo))
        if walked is None:
            raise _Unavailable("the index is split or sparse")
        paths: list[str] = []
        for at, _flags, _ext, name in walked:
            if struct.unpack_from(">L", data, at + 24)[0] & 0o170000 == 0o160000:
                raise _Unavailable("the checkout has submodules")
            paths.append(name.decode("utf-8", "surrogateescape"))
    except (struct.error, ValueError, IndexError):
        raise _Unavailable("the index could not be parsed") from None
    dirs = {""}
    for p in paths:
        cut = p.rfind("/")
        while cut > 0 and p[:cut] not in dirs:
            dirs.add(p[:cut])
            cut = p.rfind("/", 0, cut)
    return frozenset(paths), frozenset(dirs)


def _libc() -> Any:
    import ctypes  # here, not at import: a one-run process never loads it

    lib: Any = ctypes.CDLL(None, use_errno=True)
    lib.inotify_init1.argtypes = [ctypes.c_int]
    lib.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    lib.errno = ctypes.get_errno
    return lib


def _platform_problem() -> Optional[str]:
    if not sys.platform.startswith("linux"):
        return f"no change notification backend on {sys.platform} (inotify is Linux only)"
    try:
        _libc()
    except (OSError, AttributeError):
        return "the C library has no inotify"
    return None


def _watch_limit() -> int:
    limit = config.count(config.WATCH_LIMIT)
    try:
        with open("/proc/sys/fs/inotify/max_user_watches") as f:
            limit = min(limit, int(f.read()) // _SHARE_OF_USER_WATCHES)
    except (OSError, ValueError):
        pass
    return limit


def _limit_problem() -> Optional[str]:
    if config.count(config.WATCH_LIMIT) == 0:
        return f"switched off ({config.WATCH_LIMIT}=0)"
    return None


def _over_limit(dirs: int, limit: int) -> str:
    return (
        f"{dirs} directories of tracked files, over the limit of {limit} (raise {config.WATCH_LIMIT}, "
        f"or fs.inotify.max_user_watches: at most a quarter of it is used)"
    )


def _fs_problem(root: str) -> Optional[str]:
    """The file system type of ``root`` from /proc/self/mountinfo: remote and FUSE ones are refused."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        return "the file system type is unknown (/proc/self/mountinfo unreadable)"
    best, fstype = "", ""
    real = os.path.realpath(root)
    for line in lines:
        left, _, right = line.partition(" - ")
        fields = left.split()
        if len(fields) < 5 or not right:
            continue
        point = fields[4].replace("\\040", " ")
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, fstype = point, right.split()[0]
    if fstype.split(".")[0] in _REMOTE_FS:
        return f"the checkout is on a {fstype} file system, whose changes made elsewhere inotify does not see"
    return None


def _make_room(keep: _Watch) -> None:
    """At most ``_MAX_CHECKOUTS`` checkouts watched at once: the least recently used one is closed (it
    takes the full check until its next run sets its watches again)."""
    with _lock:
        active = [w for w in _watches.values() if w.fd >= 0 and w is not keep]
    while len(active) >= _MAX_CHECKOUTS:
        oldest = min(active, key=lambda w: w.used)
        with oldest.lock:
            oldest._incomplete()
            oldest.close()
            oldest.reason = "closed for checkouts used more recently"
        active.remove(oldest)


def _forget_in_child() -> None:
    """A forked child never reads its parent's queue (that would steal the parent's events)."""
    global _lock
    for watch in list(_watches.values()):
        watch.pid = -1
        if watch.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(watch.fd)
    _watches.clear()
    _lock = threading.Lock()


def _close_all() -> None:
    for watch in list(_watches.values()):
        if watch.pid == os.getpid():
            watch.close()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)
atexit.register(_close_all)
