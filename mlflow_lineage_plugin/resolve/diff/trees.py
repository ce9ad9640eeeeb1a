"""The code section: the two sides' exact trees and the difference between them, made by git alone.

Each side's tree is its commit with the run's kept patch applied to a private index file
(``git/record_tree``, as ``checkout`` builds the tree it checks against), and the new objects go to a
private object directory that borrows the repository's (``GIT_OBJECT_DIRECTORY`` +
``GIT_ALTERNATE_OBJECT_DIRECTORIES``): the user's working tree, index and object store stay as they
were, and no file is checked out. The difference is then ``git diff`` between two tree objects.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from dataclasses import dataclass, replace
from typing import Optional

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.git.clone import CloneError, NoGit, clone
from mlflow_lineage_plugin.git.process import git_run, last_line
from mlflow_lineage_plugin.git.record_tree import record_tree
from mlflow_lineage_plugin.resolve.code import STATE_REASONS, kept_patch, kept_patch_gap
from mlflow_lineage_plugin.resolve.diff.load import DiffError, Loaded
from mlflow_lineage_plugin.resolve.diff.result import CodeSection, CodeSide, Commit, FileChange, Known, SectionName
from mlflow_lineage_plugin.resolve.elements import FindingCode
from mlflow_lineage_plugin.urls import normalize_remote, redact

MAX_COMMITS = 20  # listed each way; the rest are counted


@dataclass
class _Plan:
    """One side before git: its commit and what to fold into it."""

    side: CodeSide
    patch: Optional[bytes] = None  # verified kept patch, or MLflow's own diff text


def code_section(a: Loaded, b: Loaded, *, repo: Optional[str] = None, patch: bool = False) -> CodeSection:
    pa, pb = _plan(a), _plan(b)
    sa, sb = pa.side, pb.side
    missing = [f"{n}: {s.reason}" for n, s in (("A", sa), ("B", sb)) if not s.commit]
    if missing:
        return CodeSection(SectionName.CODE, Known.UNKNOWN, tuple(missing), a=sa, b=sb)
    ra, rb = sa.repo_url, sb.repo_url
    if ra and rb and ra.lower() != rb.lower():
        why = f"A and B come from different repositories ({ra}, {rb}): their code is not compared"
        return CodeSection(SectionName.CODE, Known.UNKNOWN, (why,), a=sa, b=sb, same_repository=False)
    with contextlib.ExitStack() as stack:
        if repo is None:
            origin = _recorded_url(a) if ra else _recorded_url(b) if rb else None  # one that names a place
            if not origin:
                why = "neither side records its repository URL; give --repo PATH (a local clone)"
                return CodeSection(SectionName.CODE, Known.UNKNOWN, (why,), a=sa, b=sb)
            gitdir, problem = _clone(origin, stack.enter_context(tempfile.TemporaryDirectory(prefix="mlflow-lineage-")))
            if problem:
                return CodeSection(SectionName.CODE, Known.UNKNOWN, (problem,), a=sa, b=sb, same_repository=True)
            where = redact(origin) or "the recorded repository"
        else:
            gitdir, where = repo, repo
        scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="mlflow-lineage-diff-", dir=_scratch_root()))
        git = Git(gitdir, scratch, (f"{sa.commit}^{{tree}}", f"{sb.commit}^{{tree}}"))
        if git.resolved is None:
            raise DiffError(_missing(git, (("A", sa), ("B", sb)), repo, where))
        ta, tb = git.resolved
        sa, sb = _tree(git, pa, ta), _tree(git, pb, tb)
        files, text = _files(git, sa.tree or "", sb.tree or "", patch)
        section = CodeSection(
            SectionName.CODE,
            Known.EXACT if sa.exact and sb.exact else Known.PARTLY,
            _not_exact(sa, "A") + _not_exact(sb, "B"),
            a=sa,
            b=sb,
            same_repository=True,
            files=files,
            patch=text,
        )
        return _commits(git, section) if sa.commit != sb.commit else section


def _scratch_root() -> Optional[str]:
    """Where the private index files and objects go: memory (``/dev/shm``) where the machine has it, as a
    few dozen loose objects cost more to delete from a disk than git takes to write them; they are small
    (at most the two kept patches, each under the capture limit, and the trees they touch)."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


def _plan(side: Loaded) -> _Plan:
    """The side's commit and patch from the tags that name its code (``checkout``'s reading of them),
    with the kept patch verified (read once: by the walk, or here when the walk did not)."""
    src = side.source
    if src is None:
        return _Plan(CodeSide(reason=_no_code(side)))
    git = T.git_from_run_tags(src.tags)
    repo_url = normalize_remote(git.repo_url)  # as show names it: tags from another tool may hold a token
    if not git.commit:
        return _Plan(CodeSide(repo_url=repo_url, branch=git.branch, reason=_no_code(side)))
    commit = git.commit.lower()
    base = CodeSide(commit=commit, repo_url=repo_url, branch=git.branch)
    if src.mlflow_diff is not None and not src.tags.get(T.GIT_DIFF):
        text = src.mlflow_diff
        return _Plan(replace(base, exact=True), text.encode() + (b"" if text.endswith("\n") else b"\n"))
    diff = git.diff
    if diff is None:
        if git.dirty is False:
            return _Plan(replace(base, exact=True))
        why = "its uncommitted changes were not kept" if git.dirty else "its checkout state is unknown"
        return _Plan(replace(base, reason=f"{why}: any file may differ from commit {commit[:12]}"))
    if diff.state != T.GIT_DIFF_CAPTURED:
        reason = STATE_REASONS.get(diff.state, f"{T.GIT_DIFF}={diff.state}")
        return _Plan(replace(base, reason=f"{reason}: any file may differ from commit {commit[:12]}"))
    if not diff.sha256 or src.client is None or not src.run_id:
        return _Plan(replace(base, reason=f"its kept patch cannot be verified (no {T.GIT_DIFF_SHA256} or no run)"))
    data, problem = kept_patch(src, diff.sha256)
    if problem:
        return _Plan(replace(base, reason=f"{problem}: its uncommitted changes are not compared"))
    gap = kept_patch_gap(diff)
    if gap:
        return _Plan(replace(base, reason=f"{gap}; what is not in its patch is not compared"), data)
    return _Plan(replace(base, exact=True), data)


def _recorded_url(side: Loaded) -> Optional[str]:
    """The side's repository URL as its tags record it, for git to clone on its own transport (ssh stays
    ssh); never shown, as it may hold a token: the sections name ``normalize_remote``'s form."""
    return T.git_from_run_tags(side.source.tags).repo_url if side.source is not None else None


def _no_code(side: Loaded) -> str:
    found = [f.message for f in side.facts.lineage.findings if f.code == FindingCode.NO_GIT_REFERENCE]
    return found[0] if found else side.source_why or "no git reference is recorded"


def _not_exact(s: CodeSide, name: str) -> tuple[str, ...]:
    return (f"{name} is not exact: {s.reason}",) if not s.exact else ()


# --- git ---------------------------------------------------------------------------------------------
class Git:
    """git in the repository, writing new objects only to a private object directory."""

    def __init__(self, gitdir: str, tmp: str, revs: tuple[str, ...] = ()):
        """``resolved``: ``revs`` as object ids (None when one is missing), read with the object directory."""
        self.cwd, self.tmp = gitdir, tmp
        objects = os.path.join(tmp, "objects")
        os.makedirs(objects, exist_ok=True)
        done = git_run(["rev-parse", "--path-format=absolute", "--git-common-dir", *revs], gitdir)
        if done.returncode != 0:
            done = git_run(["rev-parse", "--path-format=absolute", "--git-common-dir"], gitdir)
        common, *resolved = done.stdout.decode().split("\n")[: 1 + len(revs)]
        self.resolved = resolved if len(resolved) == len(revs) and all(resolved) else None
        self.env = {  # on top of git_environment()
            "GIT_OBJECT_DIRECTORY": objects,
            "GIT_ALTERNATE_OBJECT_DIRECTORIES": os.path.join(common.strip(), "objects"),
        }

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return git_run(list(args), self.cwd, self.env)

    def ok(self, *args: str) -> bool:
        return self.run(*args).returncode == 0

    def out(self, *args: str) -> str:
        done = self.run(*args)
        if done.returncode != 0:
            raise DiffError(f"git {args[0]} failed: {last_line(done.stderr)}")
        return done.stdout.decode("utf-8", "surrogateescape")


def _missing(git: Git, sides: tuple[tuple[str, CodeSide], ...], repo: Optional[str], where: str) -> str:
    """The one line naming a commit the repository does not hold, and how to get it."""
    for name, s in sides:
        if not git.ok("cat-file", "-e", f"{s.commit}^{{commit}}"):
            fix = f"fetch it: git -C {repo} fetch origin {s.commit}" if repo else "rewritten or force-pushed away?"
            return f"commit {s.commit} ({name}) is not in {where}; {fix}"
    return f"the commits of A and B cannot be read in {where}"


def _clone(origin: str, tmp: str) -> tuple[str, Optional[str]]:
    """A bare clone in ``tmp`` (no files checked out), or why not: when the clone itself failed (a network,
    a credential), a local clone given as ``--repo`` is the way round it."""
    target = os.path.join(tmp, "repo.git")
    try:
        clone(origin, target, bare=True)
    except NoGit as exc:
        return "", str(exc)
    except CloneError as exc:
        return "", f"{exc}; give --repo PATH (a local clone)"
    return target, None


def _tree(git: Git, plan: _Plan, tree: str) -> CodeSide:
    """The side's exact tree: its commit's ``tree``, with the patch applied through a private index."""
    s = plan.side
    if plan.patch is None:
        return replace(s, tree=tree)
    record = record_tree(git.cwd, tree, plan.patch, env=git.env, scratch=git.tmp)
    if record.tree is None:
        why = f"its kept patch did not apply to commit {(s.commit or '')[:12]} ({record.problem})"
        return replace(s, tree=tree, exact=False, reason=why)
    return replace(s, tree=record.tree, patch_files=record.files)


def _files(git: Git, ta: str, tb: str, patch: bool) -> tuple[tuple[FileChange, ...], Optional[str]]:
    """``git diff --raw --numstat -z -M`` between the trees (raw records first, numstat in the same order),
    with ``-p`` the unified diff after them, from the same one process."""
    if ta == tb:
        return (), "" if patch else None
    tokens = git.out("diff", "--raw", "--numstat", *(["-p"] if patch else []), "-z", "-M", ta, tb).split("\0")
    raw: list[tuple[str, str, str, Optional[str], str]] = []
    i = 0
    while i < len(tokens) and tokens[i].startswith(":"):
        meta = tokens[i][1:].split()
        status = meta[4]
        if status[0] in "RC":
            raw.append((meta[0], meta[1], status[0], tokens[i + 1], tokens[i + 2]))
            i += 3
        else:
            raw.append((meta[0], meta[1], status[0], None, tokens[i + 1]))
            i += 2
    out = []
    for old_mode, new_mode, status, old_path, path in raw:
        added, deleted, rest = tokens[i].split("\t", 2)
        i += 3 if not rest else 1
        binary = added == "-"
        out.append(
            FileChange(
                path=path,
                status=status,
                old_path=old_path,
                added=None if binary else int(added),
                deleted=None if binary else int(deleted),
                binary=binary,
                old_mode=None if old_mode == "000000" else old_mode,
                new_mode=None if new_mode == "000000" else new_mode,
            )
        )
    return tuple(out), "\0".join(tokens[i:]).lstrip("\0") if patch else None  # text diffs hold no NUL


def _commits(git: Git, section: CodeSection) -> CodeSection:
    """Both directions in one ``git log --left-right A...B``; the merge base only when they diverged."""
    ca, cb = section.a.commit or "", section.b.commit or ""
    text = git.out("log", "--left-right", "--format=%m%H%x1f%s%x1e", f"{ca}...{cb}")
    ways: dict[str, list[Commit]] = {"<": [], ">": []}
    for rec in text.split("\x1e"):
        rec = rec.strip()
        if rec[:1] in ways:
            ways[rec[0]].append(Commit(*rec[1:].split("\x1f", 1)))
    a_to_b, b_to_a = ways[">"], ways["<"]
    base = ca if not b_to_a else cb if not a_to_b else git.out("merge-base", ca, cb).strip() or None
    return replace(
        section,
        merge_base=base,
        a_to_b=tuple(a_to_b[:MAX_COMMITS]),
        b_to_a=tuple(b_to_a[:MAX_COMMITS]),
        more_commits=(max(0, len(a_to_b) - MAX_COMMITS), max(0, len(b_to_a) - MAX_COMMITS)),
    )
