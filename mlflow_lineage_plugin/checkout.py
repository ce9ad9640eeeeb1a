"""Rebuild the source of a model version, LoggedModel or run in a new directory: the recorded commit,
plus the uncommitted changes kept with the run (``lineage/uncommitted.patch``), verified by sha256.

Never touches the user's own working tree: the code goes into a fresh clone (of the recorded
repository with the user's own git credentials, or of a local clone given as ``repo``, which fetches
nothing). No credential is written anywhere: the clone's origin is the recorded URL without its
credentials, on its own transport (``git/clone.clone``), or the given path.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from typing import Any, Optional

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.git.clone import CloneError, clone, given_clone
from mlflow_lineage_plugin.git.process import git_run, last_line
from mlflow_lineage_plugin.git.record_tree import RecordTree, record_tree
from mlflow_lineage_plugin.resolve.code import STATE_REASONS, Source, kept_patch, kept_patch_gap, source_of
from mlflow_lineage_plugin.urls import redact


class CheckoutError(Exception):
    """Bad input (exit code 2): a directory that is not new, an unknown target, a commit that is not
    in the repository. The message is one line meant for the user."""


@dataclass(frozen=True)
class Restored:
    """What ``checkout`` rebuilt. ``exact``: the tree is the run's working tree at its start (tracked
    files; untracked ones too where they were captured); otherwise ``reason`` says what is missing."""

    directory: str
    commit: str
    exact: bool
    reason: Optional[str] = None
    run_id: Optional[str] = None
    repo: Optional[str] = None  # where the code came from, as the clone's origin names it: no credential
    patch_sha256: Optional[str] = None
    files: tuple[str, ...] = field(default_factory=tuple)  # files the applied patch changed
    filtered: tuple[str, ...] = field(default_factory=tuple)  # files under a clean/smudge filter: as git stores them

    def summary(self) -> str:
        lines = [f"restored commit {self.commit} into {self.directory}"]
        if self.run_id:
            lines[0] += f" (run {self.run_id})"
        if self.patch_sha256:
            lines.append(
                f"applied {T.DIFF_ARTIFACT_PATH} (sha256 {self.patch_sha256[:12]}... verified): "
                f"{len(self.files)} file{'' if len(self.files) == 1 else 's'} changed"
            )
            lines.extend(f"  {p}" for p in self.files)
        if not self.exact:
            lines.append(f"not exact: {self.reason}")
        elif self.filtered:
            n = len(self.filtered)
            lines.append(
                f"exact as git stores it: the run's code at its start; {n} file{'' if n == 1 else 's'} pass"
                f"{'es' if n == 1 else ''} through a git filter (their working-tree bytes, e.g. notebook outputs, "
                "are not in git):"
            )
            lines.extend(f"  {p}" for p in self.filtered)
        else:
            lines.append("exact: the run's code as it was at its start")
        return "\n".join(lines) + "\n"


def checkout(
    target: str,
    directory: str,
    *,
    repo: Optional[str] = None,
    tracking_uri: Optional[str] = None,
    registry_uri: Optional[str] = None,
    timeout: Optional[float] = None,
) -> Restored:
    """Rebuild ``target``'s source in ``directory`` (new or empty). Raises ``CheckoutError`` on bad
    input, ``resolve.TargetError``/``ResolveError`` for a target that cannot be read."""
    directory = os.path.abspath(os.path.expanduser(directory))
    _check_directory(directory)
    if repo is not None:
        try:
            repo = given_clone(repo)
        except CloneError as exc:
            raise CheckoutError(str(exc)) from None
    src = find_source(target, tracking_uri=tracking_uri, registry_uri=registry_uri, timeout=timeout)
    git = T.git_from_run_tags(src.tags)
    if not git.commit:
        raise CheckoutError(f"{target} records no git commit")
    origin = repo or git.repo_url
    if not origin:
        raise CheckoutError(f"{target} records no repository URL; give --repo PATH (a local clone)")
    created = not os.path.exists(directory)
    try:
        try:
            kept = clone(origin, directory, bare=False)
        except CloneError as exc:
            raise CheckoutError(str(exc)) from None
        commit = git.commit.lower()
        if git_run(["cat-file", "-e", f"{commit}^{{commit}}"], directory).returncode != 0:
            raise CheckoutError(f"commit {commit} is not in {redact(origin)} (rewritten or force-pushed away?)")
        done = git_run(["checkout", "--quiet", "--detach", commit], directory)
        if done.returncode != 0:
            raise CheckoutError(f"commit {commit} could not be checked out: {last_line(done.stderr)}")
    except BaseException:
        _remove(directory, created)
        raise
    base = Restored(directory=directory, commit=commit, exact=False, run_id=src.run_id, repo=kept)
    return _verdict(*_restore_changes(base, src, git))


def find_source(
    target: str,
    *,
    tracking_uri: Optional[str] = None,
    registry_uri: Optional[str] = None,
    timeout: Optional[float] = None,
) -> Source:
    """The run behind ``target``, through the resolver (versions, aliases, LoggedModels, runs), with the run
    and its kept patch as the resolve read and verified them: nothing is read twice."""
    from mlflow_lineage_plugin.resolve import resolve
    from mlflow_lineage_plugin.resolve.changes import Read
    from mlflow_lineage_plugin.resolve.endpoints import Clients

    clients = Clients(tracking_uri, registry_uri, timeout)
    runs: dict[str, Any] = {}
    patches: Read = {}
    lineage = resolve(target, clients=clients, runs=runs, patches=patches)
    src, why = source_of(target, lineage, clients, runs, patches)
    if src is None:
        raise CheckoutError(why or f"{target} leads to no run")
    return src


def _restore_changes(base: Restored, src: Source, git: T.GitRef) -> tuple[Restored, Optional[RecordTree]]:
    """The kept changes applied, and the tree the record describes (None: the commit's own)."""
    diff = git.diff
    if src.mlflow_diff is not None and not src.tags.get(T.GIT_DIFF):
        return _apply_mlflow_diff(base, src.mlflow_diff)
    if diff is None:
        if git.dirty is False:
            return replace(base, exact=True), None
        why = (
            "the run was made from uncommitted changes that were not kept"
            if git.dirty
            else "the run's checkout state is unknown (not checked in time), so changes may be missing"
        )
        return replace(base, reason=why), None
    if diff.state != T.GIT_DIFF_CAPTURED:
        return replace(base, reason=STATE_REASONS.get(diff.state, f"{T.GIT_DIFF}={diff.state}")), None
    if not diff.sha256:
        return replace(base, reason=f"the run records no {T.GIT_DIFF_SHA256}: the patch cannot be verified"), None
    if src.client is None or not src.run_id:
        return replace(base, reason="the patch is kept with a run, and this target has none"), None
    data, problem = kept_patch(src, diff.sha256)
    if problem:
        return replace(base, reason=f"{problem}: not applied"), None
    record, problem = _apply(base.directory, data)
    if problem:
        return replace(base, reason=problem), record
    restored = replace(base, patch_sha256=diff.sha256, files=record.files)
    gap = kept_patch_gap(diff)
    return (replace(restored, reason=gap) if gap else replace(restored, exact=True)), record


def _apply_mlflow_diff(base: Restored, text: str) -> tuple[Restored, Optional[RecordTree]]:
    """MLflow's own git versioning keeps the diff text itself (no sha256, no untracked files)."""
    if not text.strip():
        return replace(base, exact=True), None
    record, problem = _apply(base.directory, (text if text.endswith("\n") else text + "\n").encode("utf-8"))
    if problem:
        return replace(base, reason=problem), record
    sha = hashlib.sha256(text.encode()).hexdigest()
    return replace(base, exact=True, files=record.files, patch_sha256=sha), record


def _apply(directory: str, patch: bytes) -> tuple[RecordTree, Optional[str]]:
    """``git apply --index``: the index takes submodule pointers and new files as the run had them.
    The tree the record describes (the commit's tree with the patch's post-images) is made first on a
    private index, so the verdict compares the rebuilt directory with it, not with itself."""
    record = record_tree(directory, "HEAD", patch)
    if record.tree is None:
        return record, "the patch does not apply to the recorded commit"
    done = git_run(["apply", "--index", "--whitespace=nowarn", "-"], directory, stdin=patch)
    if done.returncode != 0:
        return record, f"the patch did not apply: {last_line(done.stderr)}"
    return record, None


# --- the verdict: the rebuilt directory against the tree the record describes ---------------------

# What git may convert between a stored blob and the file it writes (gitattributes(5)); with
# ``core.autocrlf`` on, a file without a ``text`` setting is converted too.
_CONVERSIONS = ("filter", "text", "eol", "crlf", "ident", "working-tree-encoding")
_NONE = ("unspecified", "unset", "")
# git's stat comparison at its strictest, whatever the user's config says: no fsmonitor shortcut.
_STAT_PROOF = ["-c", "core.checkStat=default", "-c", "core.trustctime=true", "-c", "core.fsmonitor=false"]


def _verdict(restored: Restored, record: Optional[RecordTree]) -> Restored:
    """Exact only when the directory, read back as git stores files, is the tree the record describes;
    files under a git filter are named, since git stores them filtered (a notebook's outputs stripped)
    and their bytes at the run may differ."""
    if not restored.exact:
        return restored
    directory = restored.directory
    want = (record or record_tree(directory, "HEAD", None)).tree
    listed = _listed(directory, restored.files, _attributes_changed(directory, want)) if want else None
    rebuilt = _rebuilt_tree(directory, listed[0]) if listed is not None else None
    if not want or listed is None or not rebuilt:
        return replace(restored, exact=False, reason="the rebuilt tree could not be compared with the record")
    if rebuilt != want:
        names = git_run(["diff", "--name-only", "-z", "--ignore-submodules=none", want, rebuilt], directory)
        paths = [p for p in names.stdout.decode("utf-8", "surrogateescape").split("\0") if p]
        shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        return replace(
            restored, exact=False, reason=f"the rebuilt files differ from what the record describes: {shown}"
        )
    return replace(restored, filtered=listed[1])


def _attributes_changed(directory: str, want: str) -> bool:
    """Whether the patch changed any ``.gitattributes`` (added, removed, renamed or edited)."""
    args = ["diff-tree", "-r", "--no-renames", "--name-only", "-z", "HEAD", want, "--", ":(glob)**/.gitattributes"]
    done = git_run(args, directory)
    return done.returncode != 0 or bool(done.stdout.strip(b"\0"))


def _listed(directory: str, patched: tuple[str, ...], everything: bool) -> Optional[tuple[list[str], tuple[str, ...]]]:
    """The tracked files to hash again, and those under a ``filter`` attribute (nbstripout and the like).

    Hashed again: the files git may have converted when it wrote them (``_CONVERSIONS``), the files the
    patch wrote, and those marked assume-unchanged (``core.ignoreStat``), whose stat data git does not
    look at. ``everything`` when the patch changed a ``.gitattributes``: the checkout wrote the files under
    the commit's attributes, and the read-back would use the patch's."""
    listed = git_run(["ls-files", "-v", "-z"], directory)
    if listed.returncode != 0:
        return None
    entries = [e for e in listed.stdout.decode("utf-8", "surrogateescape").split("\0") if len(e) > 2]
    paths = [e[2:] for e in entries]
    if not paths:
        return [], ()
    attrs = git_run(
        ["check-attr", "-z", "--stdin", *_CONVERSIONS],
        directory,
        stdin="\0".join(paths).encode("utf-8", "surrogateescape") + b"\0",
    )
    if attrs.returncode != 0:
        return None
    autocrlf = git_run(["config", "--get", "core.autocrlf"], directory).stdout.decode().strip().lower()
    auto = autocrlf not in ("", "false", "no", "off", "0")
    fields = attrs.stdout.decode("utf-8", "surrogateescape").split("\0")
    values: dict[str, dict[str, str]] = {}  # only what is set: most files have no attribute at all
    for path, attr, value in [t for t in zip(fields[0::3], fields[1::3], fields[2::3]) if t[2] != "unspecified"]:
        values.setdefault(path, {})[attr] = value
    filtered = tuple(p for p, got in values.items() if got.get("filter", "unspecified") not in _NONE)
    if everything:
        return paths, filtered
    tracked = set(paths)
    if auto:  # every text file may be converted: all but those set -text (binary)
        rehash = tracked - {p for p, got in values.items() if not _converted(got, True)}
    else:
        rehash = {p for p, got in values.items() if _converted(got, False)}
    rehash.update(p for p in patched if p in tracked)
    rehash.update(e[2:] for e in entries if e[0].islower())
    return sorted(rehash), filtered


def _converted(attrs: dict[str, str], autocrlf: bool) -> bool:
    """Whether git may write this file other than as its blob's bytes."""
    if any(attrs.get(a, "unspecified") not in _NONE for a in ("filter", "ident", "working-tree-encoding")):
        return True
    if attrs.get("text") == "unset" or attrs.get("crlf") == "unset":  # -text, binary
        return False
    return autocrlf or any(attrs.get(a, "unspecified") != "unspecified" for a in ("text", "eol", "crlf"))


def _rebuilt_tree(directory: str, rehash: list[str]) -> Optional[str]:
    """The directory as git stores files, through a private copy of checkout's own, freshly written index.
    git recorded the stat data of every file it wrote, so a file whose stat data still matches holds the
    bytes git wrote, which are its blob's unless git converted them: those (``rehash``) are read and hashed
    again. ``add -A`` finds, by stat data, any file changed, removed or added since (and hashes the racily
    clean ones, as git always does)."""
    with tempfile.TemporaryDirectory(prefix="mlflow-lineage-checkout-") as tmp:
        index = os.path.join(tmp, "index")
        if os.path.exists(os.path.join(directory, ".git", "index")):  # none: a commit without files
            shutil.copy2(os.path.join(directory, ".git", "index"), index)  # its mtime too: git's racy-file check
        env = {"GIT_INDEX_FILE": index}
        done = None
        if rehash:
            args = [*_STAT_PROOF, "--literal-pathspecs", "add", "--renormalize", "--pathspec-from-file=-"]
            stdin = "\0".join(rehash).encode("utf-8", "surrogateescape")
            done = git_run([*args, "--pathspec-file-nul"], directory, env, stdin=stdin)
        if done is None or done.returncode == 0:
            done = git_run([*_STAT_PROOF, "add", "-A"], directory, env)
        if done.returncode == 0:
            done = git_run(["write-tree"], directory, env)
    tree = done.stdout.decode().strip() if done.returncode == 0 else ""
    return tree or None


# --- git and the directory -------------------------------------------------------------------------


def _check_directory(directory: str) -> None:
    if os.path.exists(directory):
        if not os.path.isdir(directory):
            raise CheckoutError(f"{directory} exists and is not a directory")
        if os.listdir(directory):
            raise CheckoutError(f"{directory} is not empty; give a new directory")


def _remove(directory: str, created: bool) -> None:
    """Undo a clone that cannot be used: the directory as it was (absent, or empty)."""
    if created:
        shutil.rmtree(directory, ignore_errors=True)
        return
    for name in os.listdir(directory) if os.path.isdir(directory) else ():
        path = os.path.join(directory, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.remove(path)
