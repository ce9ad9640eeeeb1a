"""Rebuild the source of a model version, LoggedModel or run in a new directory: the recorded commit,
plus the uncommitted changes kept with the run (``lineage/uncommitted.patch``), verified by sha256.

Never touches the user's own working tree: the code goes into a fresh clone (of the recorded
repository with the user's own git credentials, or of a local clone given as ``repo``, which fetches
nothing). No credential is written anywhere: the clone's remote is the recorded, credential-free URL or
the given path.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Optional

from mlflow_lineage_plugin import tags as T


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
    repo: Optional[str] = None
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


@dataclass(frozen=True)
class Source:
    """Where the code of a target is recorded: the run (or runless LoggedModel) and its tags."""

    tags: Mapping[str, str]
    run_id: Optional[str] = None
    client: Any = None  # an MlflowClient that reaches the run's workspace
    mlflow_diff: Optional[str] = None  # MLflow's own ``mlflow.source.git.diff`` text, when that is all


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
        repo = os.path.abspath(os.path.expanduser(repo))
        if not os.path.isdir(repo) or git_run(["rev-parse", "--git-dir"], repo).returncode != 0:
            raise CheckoutError(f"--repo {repo} is not a git repository")
    src = find_source(target, tracking_uri=tracking_uri, registry_uri=registry_uri, timeout=timeout)
    git = T.git_from_run_tags(src.tags)
    if not git.commit:
        raise CheckoutError(f"{target} records no git commit")
    origin = repo or git.repo_url
    if not origin:
        raise CheckoutError(f"{target} records no repository URL; give --repo PATH (a local clone)")
    created = not os.path.exists(directory)
    try:
        _clone(origin, directory, local=repo is not None)
        commit = git.commit.lower()
        if git_run(["cat-file", "-e", f"{commit}^{{commit}}"], directory).returncode != 0:
            raise CheckoutError(f"commit {commit} is not in {origin} (rewritten or force-pushed away?)")
        done = git_run(["checkout", "--quiet", "--detach", commit], directory)
        if done.returncode != 0:
            raise CheckoutError(f"commit {commit} could not be checked out: {_last_line(done.stderr)}")
    except BaseException:
        _remove(directory, created)
        raise
    base = Restored(directory=directory, commit=commit, exact=False, run_id=src.run_id, repo=origin)
    return _verdict(_restore_changes(base, src, git))


def find_source(
    target: str,
    *,
    tracking_uri: Optional[str] = None,
    registry_uri: Optional[str] = None,
    timeout: Optional[float] = None,
) -> Source:
    """The run behind ``target``, through the resolver (versions, aliases, LoggedModels, runs)."""
    from mlflow_lineage_plugin.resolve import resolve
    from mlflow_lineage_plugin.resolve.endpoints import Clients

    clients = Clients(tracking_uri, registry_uri, timeout)
    return source_of(target, resolve(target, clients=clients), clients)


def source_of(target: str, lineage: Any, clients: Any, read: Optional[Mapping[str, Any]] = None) -> Source:
    """The run behind an already resolved ``lineage``; ``read`` holds run entities the walk already read."""
    from mlflow_lineage_plugin.resolve import graph as G

    runs = [n for n in lineage.of_kind(G.RUN) if n.attrs.get("run_id")]
    if len({n.attrs["run_id"] for n in runs}) > 1:
        raise CheckoutError(f"{target} names {len(runs)} runs; name one model version, LoggedModel or run")
    if runs:
        node = runs[0]
        endpoint = clients.endpoint(node.workspace_uri)
        if not endpoint.tracking_uri:
            raise CheckoutError(
                f"the workspace of run {node.attrs['run_id']} cannot be reached"
                f"{f': {endpoint.reason}' if endpoint.reason else ''}"
            )
        client = clients.tracking(endpoint.tracking_uri)
        run = (read or {}).get(node.attrs["run_id"]) or client.get_run(node.attrs["run_id"])
        tags = dict(run.data.tags or {})
        models = lineage.of_kind(G.LOGGED_MODEL)
        if not T.git_from_run_tags(tags).commit and len(models) == 1:
            return _logged_model_source(client, models[0].attrs["model_id"], run.info.run_id)
        return Source(tags=tags, run_id=run.info.run_id, client=client)
    models = lineage.of_kind(G.LOGGED_MODEL)
    if len(models) == 1:  # a model logged outside any run: its own tags are all there is
        return _logged_model_source(clients.tracking(), models[0].attrs["model_id"], None)
    raise CheckoutError(f"{target} leads to no run")


def _logged_model_source(client: Any, model_id: str, run_id: Optional[str]) -> Source:
    tags = dict(client.get_logged_model(model_id).tags or {})
    return Source(tags=tags, run_id=run_id, client=client, mlflow_diff=tags.get(T.MLFLOW_GIT_DIFF))


def _restore_changes(base: Restored, src: Source, git: T.GitRef) -> Restored:
    diff = git.diff
    if src.mlflow_diff is not None and not src.tags.get(T.GIT_DIFF):
        return _apply_mlflow_diff(base, src.mlflow_diff)
    if diff is None:
        if git.dirty is False:
            return replace(base, exact=True)
        why = (
            "the run was made from uncommitted changes that were not kept"
            if git.dirty
            else "the run's checkout state is unknown (not checked in time), so changes may be missing"
        )
        return replace(base, reason=why)
    if diff.state != T.GIT_DIFF_CAPTURED:
        return replace(base, reason=STATE_REASONS.get(diff.state, f"{T.GIT_DIFF}={diff.state}"))
    if not diff.sha256:
        return replace(base, reason=f"the run records no {T.GIT_DIFF_SHA256}: the patch cannot be verified")
    if src.client is None or not src.run_id:
        return replace(base, reason="the patch is kept with a run, and this target has none")
    from mlflow_lineage_plugin.resolve.changes import read_patch

    data, problem = read_patch(src.client, src.run_id, diff.sha256)
    if problem:
        return replace(base, reason=f"{problem}: not applied")
    with tempfile.TemporaryDirectory(prefix="mlflow-lineage-checkout-") as tmp:
        path = os.path.join(tmp, "uncommitted.patch")
        with open(path, "wb") as fh:
            fh.write(data)
        files, problem = _apply(base.directory, path)
    if problem:
        return replace(base, reason=problem)
    restored = replace(base, patch_sha256=diff.sha256, files=files)
    gap = kept_patch_gap(diff)
    return replace(restored, reason=gap) if gap else replace(restored, exact=True)


def kept_patch_gap(diff: T.GitDiff) -> Optional[str]:
    """What a kept patch, verified and applied, still lacks of the run's code (None: nothing); ``diff`` says
    the same of its trees."""
    if diff.excluded:
        n = diff.excluded
        why = "left out as likely secrets (named like one, or renamed or copied from one)"
        return f"{n} changed file{'' if n == 1 else 's'} {why}"
    if diff.left_out and "all changes" in diff.left_out:
        return f"to fit the size cap, these were not kept: {diff.left_out}"
    if diff.left_out:
        return f"exact except the outputs of these notebooks: {', '.join(T.left_out_notebooks(diff.left_out))}"
    return None


STATE_REASONS = {
    T.GIT_DIFF_TOO_LARGE: "the uncommitted changes were larger than the capture limit and not kept",
    T.GIT_DIFF_EXCLUDED_ONLY: "every changed file was left out as a likely secret",
    T.GIT_DIFF_FAILED: "the uncommitted changes could not be captured or stored",
    T.GIT_DIFF_OFF: "the capture of uncommitted changes was turned off for this run",
    T.GIT_DIFF_UNAVAILABLE: "the run's checkout had no local copy to read changes from (Databricks Git folder)",
    T.GIT_DIFF_OTHER_COMMIT: "the run records a commit or repository other than its checkout's: changes not kept",
    T.GIT_DIFF_OVERRIDDEN: "the run's own tags say it was clean, but its checkout had uncommitted changes (not kept)",
}


def _apply_mlflow_diff(base: Restored, text: str) -> Restored:
    """MLflow's own git versioning keeps the diff text itself (no sha256, no untracked files)."""
    if not text.strip():
        return replace(base, exact=True)
    with tempfile.TemporaryDirectory(prefix="mlflow-lineage-checkout-") as tmp:
        path = os.path.join(tmp, "mlflow.diff")
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")
        files, problem = _apply(base.directory, path)
    if problem:
        return replace(base, reason=problem)
    return replace(base, exact=True, files=files, patch_sha256=hashlib.sha256(text.encode()).hexdigest())


def _apply(directory: str, patch_path: str) -> tuple[tuple[str, ...], Optional[str]]:
    """``git apply --index``: the index takes submodule pointers and new files as the run had them.
    The tree the record describes (the commit's tree with the patch's post-images) is made first on a
    private index, so the verdict compares the rebuilt directory with it, not with itself."""
    record = _record_tree(directory, patch_path)
    if record is None:
        return (), "the patch does not apply to the recorded commit"
    done = git_run(["apply", "--index", "--whitespace=nowarn", patch_path], directory)
    if done.returncode != 0:
        return (), f"the patch did not apply: {_last_line(done.stderr)}"
    git_run(["update-ref", _RECORD_REF, record], directory)
    names = git_run(["diff", "--cached", "--name-only", "-z", "--ignore-submodules=none", "HEAD"], directory)
    files = tuple(p for p in names.stdout.decode("utf-8", "surrogateescape").split("\0") if p)
    return files, None


# --- the verdict: the rebuilt directory against the tree the record describes ---------------------

_RECORD_REF = "refs/mlflow-lineage/record"  # in the new clone only: the tree the record describes


def _record_tree(directory: str, patch_path: Optional[str]) -> Optional[str]:
    """The tree id of the recorded commit with the patch applied, on a private index file."""
    with tempfile.TemporaryDirectory(prefix="mlflow-lineage-checkout-") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        steps = [["read-tree", "HEAD"]]
        if patch_path:
            steps.append(["apply", "--cached", "--whitespace=nowarn", patch_path])
        for args in steps:
            if git_run(args, directory, env).returncode != 0:
                return None
        tree = git_run(["write-tree"], directory, env)
    return tree.stdout.decode().strip() if tree.returncode == 0 else None


def _verdict(restored: Restored) -> Restored:
    """Exact only when the directory, read back as git stores files (a private copy of its index,
    every file hashed again), is the tree the record describes; files under a git filter are named, since
    git stores them filtered (a notebook's outputs stripped) and their bytes at the run may differ."""
    if not restored.exact:
        return restored
    directory = restored.directory
    recorded = git_run(["rev-parse", "--verify", "-q", f"{_RECORD_REF}^{{tree}}"], directory)
    record = recorded.stdout.decode().strip() if recorded.returncode == 0 else _record_tree(directory, None)
    with tempfile.TemporaryDirectory(prefix="mlflow-lineage-checkout-") as tmp:
        index = os.path.join(tmp, "index")
        shutil.copy2(os.path.join(directory, ".git", "index"), index)
        env = {"GIT_INDEX_FILE": index}
        added = git_run(["add", "--renormalize", "."], directory, env)  # every file read again, stat data aside
        added = git_run(["add", "-A"], directory, env) if added.returncode == 0 else added
        tree = git_run(["write-tree"], directory, env) if added.returncode == 0 else added
    rebuilt = tree.stdout.decode().strip() if tree.returncode == 0 else None
    git_run(["update-ref", "-d", _RECORD_REF], directory)
    if not record or not rebuilt:
        return replace(restored, exact=False, reason="the rebuilt tree could not be compared with the record")
    if rebuilt != record:
        names = git_run(["diff", "--name-only", "-z", "--ignore-submodules=none", record, rebuilt], directory)
        paths = [p for p in names.stdout.decode("utf-8", "surrogateescape").split("\0") if p]
        shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        return replace(
            restored, exact=False, reason=f"the rebuilt files differ from what the record describes: {shown}"
        )
    return replace(restored, filtered=_filtered(directory))


def _filtered(directory: str) -> tuple[str, ...]:
    """Tracked files a ``filter`` attribute applies to (``.gitattributes``: nbstripout and the like)."""
    listed = git_run(["ls-files", "-z"], directory)
    if listed.returncode != 0 or not listed.stdout:
        return ()
    attrs = subprocess.run(
        ["git", "check-attr", "-z", "--stdin", "filter"],
        cwd=directory,
        env=git_environment(),
        input=listed.stdout,
        capture_output=True,
    )
    fields = attrs.stdout.decode("utf-8", "surrogateescape").split("\0")
    triples = zip(fields[0::3], fields[1::3], fields[2::3])
    return tuple(path for path, _, value in triples if value not in ("unspecified", "unset", ""))


# --- git and the directory -------------------------------------------------------------------------


def _check_directory(directory: str) -> None:
    if os.path.exists(directory):
        if not os.path.isdir(directory):
            raise CheckoutError(f"{directory} exists and is not a directory")
        if os.listdir(directory):
            raise CheckoutError(f"{directory} is not empty; give a new directory")


def git_environment() -> dict[str, str]:
    from mlflow_lineage_plugin.git.process import LOCAL_REPO_ENV

    return {k: v for k, v in os.environ.items() if k not in LOCAL_REPO_ENV}


def git_run(args: list[str], cwd: str, env: Optional[dict[str, str]] = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", *args], cwd=cwd, env={**git_environment(), **(env or {})}, stdin=subprocess.DEVNULL, capture_output=True
    )


def _clone(origin: str, directory: str, *, local: bool) -> None:
    """A clone without a checkout; from a local clone by hard links, fetching nothing over a network.
    The user's own git (config, credential helpers, prompts) does the talking to a remote."""
    if shutil.which("git") is None:
        raise CheckoutError("git is not on PATH")
    args = ["clone", "--quiet", "--no-checkout", *(["--local"] if local else []), "--", origin, directory]
    done = subprocess.run(["git", *args], env=git_environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode != 0:
        from mlflow_lineage_plugin.urls import redact_text

        raise CheckoutError(f"git clone of {origin} failed: {redact_text(_last_line(done.stderr))}")


def _last_line(stderr: bytes) -> str:
    lines = [line.strip() for line in (stderr or b"").decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


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
