"""The uncommitted changes of a checkout as one patch: the bytes ``git diff <commit> --binary``
prints (staged and unstaged together, submodule pointers included; the same as ``git diff HEAD
--binary`` while HEAD is that commit), so ``git apply`` on a checkout of the commit rebuilds the
working tree's tracked files exactly.

Pure capture: no MLflow, no upload, and the same bytes whatever the user's git settings (``_DIFF``).
Files that usually hold secrets are left out by name (``DEFAULT_EXCLUDES`` plus the caller's
gitignore-style patterns, matched ignoring case so ``.ENV`` or ``Secrets.yaml`` are left out too), and
so are renames and copies of them; a patch over the size cap is not kept at all (a cut patch does not
apply); every git process is bounded by one deadline, a checkout where git ran out of time is not
captured again until its HEAD or index changes (``stall``), and the user's index is never written
(untracked files are added to a temporary copy of it).
"""

from __future__ import annotations

import enum
import hashlib
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Optional

from mlflow_lineage_plugin.commit_hash import is_commit
from mlflow_lineage_plugin.config import DEFAULT_DIFF_MAX_BYTES
from mlflow_lineage_plugin.errors import debug_traceback
from mlflow_lineage_plugin.git import notebooks, process, stall
from mlflow_lineage_plugin.git.notebooks import is_notebook
from mlflow_lineage_plugin.git.refs import find_repo
from mlflow_lineage_plugin.git.wildmatch import wildmatch_regex
from mlflow_lineage_plugin.tags import left_out_text

DEFAULT_MAX_BYTES = DEFAULT_DIFF_MAX_BYTES  # stated once, with the setting it is the default of
MIN_SECONDS = 0.05  # less time than this left: no git process is started
DEFAULT_EXCLUDES = (
    ".env*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_rsa*",
    "id_ed25519*",
    ".netrc",
    ".npmrc",
    ".pypirc",
    "*credentials*",
    "*secret*",
)
# `git diff` rewrites the index when it meets files whose stat data changed but not their content, even
# with GIT_OPTIONAL_LOCKS=0 (git 2.39): never the user's index.
_NO_REFRESH = ["-c", "diff.autoRefreshIndex=false"]
# What the patch must be, whatever the user's or the repository's config says (``git diff`` with no
# config at all): no colour, no external diff or textconv (their output does not apply), submodules as
# pointers, three lines of context, the standard a/ b/ prefixes, paths from the top of the tree,
# quoted unusual names, git's default rename detection and file order, blank context lines kept.
_DIFF = [
    *_NO_REFRESH,
    "-c",
    "diff.noprefix=false",
    "-c",
    "diff.mnemonicPrefix=false",
    "-c",
    "diff.relative=false",
    "-c",
    "diff.suppressBlankEmpty=false",
    "-c",
    "core.quotePath=true",
    "diff",
    "--binary",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--submodule=short",
    "--ignore-submodules=none",
    "--unified=3",
    "--inter-hunk-context=0",
    "--diff-algorithm=myers",
    "--indent-heuristic",
    "--find-renames",
    "-l1000",
    f"-O{os.devnull}",
]


class DiffState(str, enum.Enum):
    CAPTURED = "captured"  # the patch is kept (empty when nothing changed)
    TOO_LARGE = "too_large"  # over the cap: nothing kept, ``size`` says how large it was
    EXCLUDED_ONLY = "excluded_only"  # every changed file was left out as a likely secret
    FAILED = "failed"  # git could not say in time, or the input was not a checkout and commit


@dataclass(frozen=True)
class Patch:
    state: DiffState
    patch: bytes = b""
    sha256: Optional[str] = None  # of ``patch``; None when nothing is kept
    size: int = 0  # bytes of the whole patch, kept or not
    files: int = 0  # files the patch changes
    excluded: int = 0  # changed files left out by the exclude patterns
    reason: Optional[str] = None  # one line for FAILED: never a path's content
    skipped: bool = False  # FAILED at once: git ran out of time in this checkout before (``stall``)
    left_out: Optional[str] = None  # cut down to fit the cap: what is not in it (``tags.left_out_text``)


def capture_patch(
    checkout: str,
    commit: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    exclude: Iterable[str] = (),
    untracked: bool = False,
    timeout: float = 10.0,
    skip: Iterable[str] = (),
    include: Iterable[str] = (),
) -> Patch:
    """The changes of ``checkout``'s working tree relative to ``commit``; never raises.

    ``exclude``: gitignore-style patterns added to ``DEFAULT_EXCLUDES``. ``untracked``: also the
    untracked files git does not ignore, as new files, but never MLflow's own stores, virtualenvs or
    caches (``untracked_code``; ``skip``: absolute paths of the tracking store and artifact root).
    ``max_bytes`` caps the kept patch.
    """
    deadline = time.monotonic() + max(float(timeout), 0.0)
    try:
        rules = ExcludeRules([*DEFAULT_EXCLUDES, *exclude])
        return _capture(checkout, commit, max_bytes, rules, untracked, deadline, tuple(skip), tuple(include))
    except Exception as exc:  # a capture must never cost the run
        debug_traceback(logging.getLogger("mlflow_lineage_plugin.git"), "capture failed")
        return Patch(DiffState.FAILED, reason=f"capture failed ({type(exc).__name__})")


def commit_exists(checkout: str, commit: str, timeout: float = 10.0) -> bool:
    """Whether ``commit`` (a full id) is a commit of ``checkout``'s repository: a run that records a
    commit other than the checkout's HEAD has its changes captured against it only then."""
    commit = (commit or "").strip().lower()
    repo = find_repo(os.path.realpath(checkout)) if is_commit(commit, full=True) else None
    if repo is None:
        return False
    out = process.run(
        process.executable(), ["cat-file", "-e", f"{commit}^{{commit}}"], repo.root, time.monotonic() + timeout
    )
    return out is not None and out[0] == 0


def _capture(
    checkout: str,
    commit: str,
    max_bytes: int,
    rules: ExcludeRules,
    untracked: bool,
    deadline: float,
    skip: tuple = (),
    include: tuple = (),
) -> Patch:
    commit = (commit or "").strip().lower()
    if not is_commit(commit, full=True):
        return Patch(DiffState.FAILED, reason="not a full commit id")
    repo = find_repo(os.path.realpath(checkout))
    exe = process.executable()
    if repo is None or exe is None:
        return Patch(DiffState.FAILED, reason="no git checkout" if repo is None else "no git executable")
    if stall.stalled(repo.gitdir, commit):
        return Patch(
            DiffState.FAILED, reason=f"git did not finish in time in this checkout; {_NOT_AGAIN}", skipped=True
        )
    if deadline - time.monotonic() < MIN_SECONDS:  # the run's git time is spent: no stall to remember
        return Patch(DiffState.FAILED, reason="no time was left of the run's deadline for git work")
    if not untracked and not include:
        quick = _one_pass(exe, repo.root, commit, max_bytes, rules, deadline)
        if quick is not None:
            return quick
    status = _paths(exe, repo.root, [*_NO_REFRESH, "diff", commit, "--name-status", "-z", "--no-renames"], deadline)
    new = _paths(exe, repo.root, ["ls-files", "--others", "--exclude-standard", "-z"], deadline) if untracked else []
    new = untracked_code(repo.root, new, skip) if new else new
    if new is not None and include:  # an untracked entry script: the run's own code
        new = [*new, *(p for p in include if p not in new)]
    if status is None or new is None:
        return _failed(deadline, "git diff", repo.gitdir, commit)
    changed = status[1::2]
    added = [p for s, p in zip(status[::2], changed) if s == "A" and not rules.excluded(p)]
    kept_new = [p for p in new if not rules.excluded(p)]
    with tempfile.TemporaryDirectory(prefix="mlflow-lineage-") as tmp:
        env = None
        if kept_new:
            env = {"GIT_INDEX_FILE": _index_copy(repo.gitdir, tmp)}
            added_ok = process.run(
                exe, ["add", "--intent-to-add", "--", *(f":(literal){p}" for p in kept_new)], repo.root, deadline, env
            )
            if added_ok is None or added_ok[0] != 0:
                return _failed(deadline, "git add --intent-to-add", repo.gitdir, commit)
        left_out = [p for p in changed + new if rules.excluded(p)]
        if added or kept_new:
            copied = _copies_of_secrets(exe, repo.root, commit, rules, left_out, added + kept_new, deadline, env)
            if copied is None:
                return _failed(deadline, "git diff", repo.gitdir, commit)
            left_out += copied
        if left_out and len(left_out) == len(changed) + len(new):
            return Patch(DiffState.EXCLUDED_ONLY, excluded=len(left_out))
        pathspecs = ["--", ".", *(f":(exclude,literal){p}" for p in left_out)] if left_out else []
        try:
            proc = process.spawn(exe, [*_DIFF, commit, *pathspecs], repo.root, env)
        except OSError:
            return Patch(DiffState.FAILED, reason="git did not start")
        counter = _HeaderCount()
        out = process.collect_capped(proc, deadline, max(int(max_bytes), 0), counter)
        if out is None or out[0] != 0:
            return _failed(deadline, "git diff", repo.gitdir, commit)
        if out[2] <= max_bytes:
            return _kept(out[1], len(left_out))
        kinds = dict(zip(changed, status[::2]), **{p: "A" for p in kept_new})
        nbs = [(kinds[p], p) for p in [*changed, *kept_new] if is_notebook(p) and p not in left_out]
        fitted = None
        if nbs:
            code = [*(pathspecs or ["--", "."]), *(f":(exclude,literal){p}" for _, p in nbs)]
            fitted = notebooks.fit(exe, repo.root, _DIFF, commit, code, nbs, max_bytes, deadline, env)
    if fitted is None:
        return Patch(DiffState.TOO_LARGE, size=out[2], files=counter.n, excluded=len(left_out))
    kept = _kept(fitted.patch, len(left_out))
    return replace(kept, left_out=left_out_text(fitted.outputs_left_out, fitted.notebooks_left_out))


def _kept(data: bytes, excluded: int = 0) -> Patch:
    return Patch(
        DiffState.CAPTURED,
        patch=data,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        files=len(re.findall(rb"^diff --git ", data, re.M)),
        excluded=excluded,
    )


class _HeaderCount:
    """Counts the ``diff --git`` lines (one per file) of a stream read in chunks, kept or not."""

    _MARK = b"\ndiff --git "

    def __init__(self) -> None:
        self.n = 0
        self._tail = b"\n"  # the stream starts at a line start

    def __call__(self, chunk: bytes) -> None:
        joined = self._tail + chunk
        self.n += joined.count(self._MARK)
        self._tail = joined[-(len(self._MARK) - 1) :]


def _copies_of_secrets(
    exe: str,
    root: str,
    commit: str,
    rules: ExcludeRules,
    left_out: list[str],
    added: list[str],
    deadline: float,
    env: Optional[dict[str, str]],
) -> Optional[list[str]]:
    """The added files git sees as renames or copies of a file left out by name (a secret under
    another name: ``git mv .env config.txt``), followed along chains; None when git failed.

    The sources are the changed files left out and every tracked file whose name is left out (a copy
    leaves its source unchanged); git's copy detection then looks at those and the added files only."""
    tracked = _paths(exe, root, ["ls-files", "-z", "--", *rules.pathspecs()], deadline, env)
    if tracked is None:
        return None
    sources = {p for p in [*left_out, *tracked] if rules.excluded(p)}
    if not sources:
        return []
    args = [*_NO_REFRESH, "diff", commit, "--name-status", "-z", "--find-renames", "--find-copies-harder", "-l0", "--"]
    pairs = _paths(exe, root, [*args, *(f":(literal){p}" for p in sorted(sources) + added)], deadline, env)
    if pairs is None:
        return None
    follows: dict[str, str] = {}
    i = 0
    while i < len(pairs):
        if pairs[i][:1] in ("R", "C"):
            follows[pairs[i + 2]] = pairs[i + 1]
            i += 3
        else:
            i += 2
    out = []
    for path in added:
        seen = {path}
        src = follows.get(path)
        while src is not None and src not in sources and src not in seen:
            seen.add(src)
            src = follows.get(src)
        if src is not None and src in sources:
            out.append(path)
    return out


def _one_pass(
    exe: str, root: str, commit: str, max_bytes: int, rules: ExcludeRules, deadline: float
) -> Optional[Patch]:
    """The common case with one git pass over the tree instead of two: the patch names its own files.
    None when it cannot settle the case (over the cap, a quoted name, a file to leave out, an added
    file while a file to leave out is tracked, git failed): the two-pass capture then decides."""
    try:
        proc = process.spawn(exe, [*_DIFF, commit], root)
    except OSError:
        return None
    out = process.collect_capped(proc, deadline, max(int(max_bytes), 0))
    if out is None or out[0] != 0 or out[2] > max_bytes:
        return None
    data = out[1]
    names = _patch_paths(data)
    if names is None or any(rules.excluded(p) for p in names):
        return None
    if re.search(rb"^new file mode ", data, re.M):
        tracked = _paths(exe, root, ["ls-files", "-z", "--", *rules.pathspecs()], deadline)
        if tracked is None or any(rules.excluded(p) for p in tracked):
            return None
    return _kept(data)


def _patch_paths(data: bytes) -> Optional[list[str]]:
    """Every path a patch touches, from its headers (``diff --git a/P b/P``, ``rename/copy from/to``);
    None when one is quoted (git quotes unusual names) and so cannot be read back plainly."""
    out = []
    for line in data.split(b"\n"):
        if line.startswith(b"diff --git "):
            rest = line[len(b"diff --git ") :]
            half = (len(rest) - 5) // 2
            name = rest[2 : 2 + half]
            if rest.startswith(b'"') or half <= 0:
                return None
            if rest == b"a/" + name + b" b/" + name:
                out.append(name)
            elif not (b" b/" in rest and rest.startswith(b"a/")):
                return None  # a rename's header: its ``rename from/to`` lines name both files
        elif line.startswith((b"rename from ", b"rename to ", b"copy from ", b"copy to ")):
            name = line.split(b" ", 2)[2]
            if name.startswith(b'"'):
                return None
            out.append(name)
    return [n.decode("utf-8", "surrogateescape") for n in out]


#: Untracked directories that hold MLflow's stores or tool caches, never the run's code.
NEVER_CAPTURED_DIRS = frozenset(
    {
        "mlruns",
        "mlartifacts",
        "__pycache__",
        ".ipynb_checkpoints",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
        ".nox",
        "node_modules",
    }
)


def untracked_code(root: str, paths: list[str], skip: Iterable[str] = ()) -> list[str]:
    """The untracked files worth keeping as the run's code: not under ``NEVER_CAPTURED_DIRS``, not in a
    virtualenv or conda environment (a directory holding ``pyvenv.cfg`` or ``conda-meta``), not the
    tracking store or artifact root (``skip``, with SQLite's side files), whatever .gitignore says."""
    skipped = [os.path.realpath(p) for p in skip if p]
    skipped_files = {f"{p}{s}" for p in skipped for s in ("", "-journal", "-wal", "-shm")}
    env_dirs: dict[str, bool] = {}

    def environment(rel_dir: str) -> bool:
        if rel_dir not in env_dirs:
            full = os.path.join(root, rel_dir)
            env_dirs[rel_dir] = os.path.isfile(os.path.join(full, "pyvenv.cfg")) or os.path.isdir(
                os.path.join(full, "conda-meta")
            )
        return env_dirs[rel_dir]

    out = []
    for rel in paths:
        parts = rel.split("/")
        dirs = ["/".join(parts[:i]) for i in range(1, len(parts))]
        if any(part in NEVER_CAPTURED_DIRS for part in parts[:-1]) or any(environment(d) for d in dirs):
            continue
        full = os.path.realpath(os.path.join(root, rel))
        if full in skipped_files or any(full.startswith(p + os.sep) for p in skipped):
            continue
        out.append(rel)
    return out


def _failed(deadline: float, what: str, gitdir: str, commit: str) -> Patch:
    if time.monotonic() < deadline:
        return Patch(DiffState.FAILED, reason=f"{what} failed")
    stall.mark(gitdir, commit)
    return Patch(DiffState.FAILED, reason=f"{what} did not finish in time; {_NOT_AGAIN}")


_NOT_AGAIN = "not tried again in this checkout until its HEAD or index changes"


def _paths(
    exe: str, root: str, args: list[str], deadline: float, env: Optional[dict[str, str]] = None
) -> Optional[list[str]]:
    out = process.run(exe, args, root, deadline, env)
    if out is None or out[0] != 0:
        return None
    return [p for p in out[1].decode("utf-8", "surrogateescape").split("\0") if p]


def _index_copy(gitdir: str, tmp: str) -> str:
    """A private copy of the index for ``git add --intent-to-add``: the user's stays untouched."""
    path = os.path.join(tmp, "index")
    src = os.path.join(gitdir, "index")
    if os.path.exists(src):
        shutil.copyfile(src, path)
    return path


class ExcludeRules:
    """gitignore-style patterns (``#`` comments, ``!`` re-includes, a leading or inner ``/`` anchors
    to the top, a trailing ``/`` matches directories only); the last matching pattern decides, and a
    left-out directory leaves out everything in it. Case is ignored: a secret is a secret in capitals."""

    def __init__(self, patterns: Iterable[str]):
        self.rules: list[tuple[bool, bool, bool, re.Pattern]] = []  # (negated, anchored, dir_only, regex)
        self.patterns: list[str] = []  # the patterns that leave out, without ``/`` at either end
        for raw in patterns:
            pattern = raw.strip()
            if not pattern or pattern.startswith("#"):
                continue
            negated = pattern.startswith("!")
            pattern = pattern[1:] if negated else pattern
            dir_only = pattern.endswith("/")
            pattern = pattern.rstrip("/")
            anchored = "/" in pattern
            regex = wildmatch_regex(pattern.lstrip("/"), icase=True)
            if pattern and regex is not None:
                self.rules.append((negated, anchored, dir_only, regex))
                if not negated:
                    self.patterns.append(pattern.strip("/"))

    def pathspecs(self) -> list[str]:
        """git pathspecs matching at least every path these rules leave out (more is fine: the caller
        asks ``excluded`` of each), so git lists the candidates instead of Python testing every file."""
        out = []
        for pattern in self.patterns:
            base = pattern if "/" in pattern else f"**/{pattern}"
            out += [f":(glob,icase){base}", f":(glob,icase){base}/**"]
        return out

    def excluded(self, path: str) -> bool:
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):  # a directory left out leaves out what it holds
            if self._decide("/".join(parts[:depth]), parts[depth - 1], is_dir=depth < len(parts)):
                return True
        return False

    def _decide(self, path: str, name: str, is_dir: bool) -> bool:
        verdict = False
        for negated, anchored, dir_only, regex in self.rules:
            if dir_only and not is_dir:
                continue
            if regex.match(path if anchored else name):
                verdict = not negated
        return verdict
