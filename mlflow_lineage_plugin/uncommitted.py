"""A dirty run's uncommitted changes, kept with the run: the provider captures them before the run
exists (``prepare``: its tags say what became of them), the tracking-store wrapper stores the patch as
the run's artifact ``lineage/uncommitted.patch`` right after the run exists (``attach``).

The patch travels from one to the other like the provider's fresh git answer (``reconcile``): in a
context variable of the creating thread, taken once. It is stored only on the run whose tags carry its
sha256, so a caller who overrode the tags, or a run created without the provider, gets no stray upload.
A store that cannot take the upload in time costs one warning and ``lineage_git_diff=failed``.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any, Optional

from mlflow_lineage_plugin import config
from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.errors import debug_traceback, error_line
from mlflow_lineage_plugin.warn_once import WarnOnce

_logger = logging.getLogger("mlflow_lineage_plugin")
_warnings = WarnOnce(_logger)


@dataclass(frozen=True)
class Pending:
    """A captured patch waiting for its run to exist."""

    patch: bytes
    sha256: str


_pending: ContextVar[Optional[Pending]] = ContextVar("mlflow_lineage_patch", default=None)


@dataclass(frozen=True)
class Settings:
    enabled: bool
    max_bytes: int
    exclude: tuple[str, ...]
    untracked: bool
    timeout: float


def settings() -> Settings:
    from mlflow_lineage_plugin.git.patch import DEFAULT_MAX_BYTES

    return Settings(
        enabled=config.switch(config.DIFF),
        max_bytes=config.byte_count(config.DIFF_MAX_BYTES, DEFAULT_MAX_BYTES),
        exclude=config.diff_exclude(),
        untracked=config.switch(config.DIFF_UNTRACKED),
        timeout=config.seconds(config.DIFF_TIMEOUT),
    )


def prepare(
    git: Optional[T.GitRef], checkout: Optional[str], *, databricks: bool = False, deadline: Optional[float] = None
) -> dict[str, str]:
    """The provider's step: the ``lineage_git_diff*`` tags of the run about to start, and its patch
    left for the store wrapper. A clean run (or one without a commit) gets no tags and starts no process.

    ``checkout``: a path inside the local checkout the git reference was read from; None when it came
    from elsewhere (a Databricks Git folder has no local checkout: its changes are ``unavailable``).
    ``deadline``: the run's one deadline for all its git work (``time.monotonic()``), shared with the
    git reference; the capture ends by it too.
    """
    return prepare_run(git, checkout, databricks=databricks, deadline=deadline)[1]


def prepare_run(
    git: Optional[T.GitRef],
    checkout: Optional[str],
    *,
    head: Optional[str] = None,
    databricks: bool = False,
    deadline: Optional[float] = None,
) -> tuple[Optional[T.GitRef], dict[str, str]]:
    """``prepare``, and the git reference with its dirty flag as measured. ``head``: the commit the
    checkout is at. When ``git`` records another one (the caller's, ``MLFLOW_LINEAGE_GIT_COMMIT``), the
    checkout's changes are captured against the recorded commit if the repository has it (its dirty
    flag then says whether the working tree differs from that commit), else none are kept
    (``other_commit``): never a patch made against another base."""
    _pending.set(None)
    if git is None or not git.commit:
        return git, {}
    other = bool(head and checkout and git.commit.lower() != head.lower())
    # Clean tracked files say nothing of untracked ones: with their capture on, a clean run asks git too.
    measure = other or (git.dirty is False and bool(checkout) and config.switch(config.DIFF_UNTRACKED))
    if git.dirty is False and not measure:
        return git, {}
    try:
        if other:
            from mlflow_lineage_plugin.git.patch import commit_exists

            if not commit_exists(checkout or "", git.commit, _timeout(settings().timeout, deadline)):
                return git, T.diff_tags(T.GitDiff(T.GIT_DIFF_OTHER_COMMIT))
        entry = (git.path,) if git.entry_untracked and git.path else ()
        tags, dirty = _prepare(git.commit, checkout, databricks, deadline, entry)
    except Exception as exc:  # a bug of ours must never cost the run its other tags
        _warnings(f"mlflow-lineage: uncommitted changes not kept ({type(exc).__name__})")
        debug_traceback(_logger, "uncommitted changes not kept")
        return git, T.diff_tags(T.GitDiff(T.GIT_DIFF_FAILED))
    if dirty is False and git.dirty is not False:  # the working tree is the commit's, whatever the index says
        return replace(git, dirty=False), tags
    return (replace(git, dirty=dirty) if measure and dirty is not None else git), tags


def _timeout(seconds: float, deadline: Optional[float]) -> float:
    return seconds if deadline is None else min(seconds, deadline - time.monotonic())


def _prepare(
    commit: str, checkout: Optional[str], databricks: bool, deadline: Optional[float], entry: tuple[str, ...] = ()
) -> tuple[dict[str, str], Optional[bool]]:
    """The diff tags, and whether the working tree differs from ``commit`` (None: not measured).
    ``entry``: an untracked entry script, kept as a new file whatever the untracked setting says."""
    if not checkout:
        return (T.diff_tags(T.GitDiff(T.GIT_DIFF_UNAVAILABLE)) if databricks else {}), None
    s = settings()
    if not s.enabled:
        return T.diff_tags(T.GitDiff(T.GIT_DIFF_OFF)), None
    from mlflow_lineage_plugin.git.patch import DiffState, capture_patch

    p = capture_patch(
        checkout,
        commit,
        max_bytes=s.max_bytes,
        exclude=s.exclude,
        untracked=s.untracked,
        timeout=_timeout(s.timeout, deadline),
        skip=_store_paths() if s.untracked else (),
        include=entry,
    )
    if p.state is DiffState.CAPTURED and not p.patch:
        return {}, False  # nothing differs from the commit after all (a dirty index, an unknown state)
    if p.state is DiffState.FAILED and p.skipped:  # the time-out that caused it said so, once
        _logger.debug("mlflow-lineage: uncommitted changes not kept: %s", p.reason)
    elif p.state is DiffState.FAILED:
        _warnings(f"mlflow-lineage: uncommitted changes not kept: {p.reason}")
    elif p.state is DiffState.TOO_LARGE:
        _warnings(
            f"mlflow-lineage: uncommitted changes not kept: the patch has {p.size} bytes, over "
            f"{config.DIFF_MAX_BYTES}={s.max_bytes}",
            key="too_large",
        )
    if p.left_out:
        _warnings(
            f"mlflow-lineage: uncommitted changes over {config.DIFF_MAX_BYTES}={s.max_bytes} kept without "
            f"notebook outputs ({T.GIT_DIFF_LEFT_OUT} says which)",
            key="left_out",
        )
    if p.state is DiffState.CAPTURED and p.sha256:
        _pending.set(Pending(p.patch, p.sha256))
    tags = T.diff_tags(
        T.GitDiff(
            p.state.value,
            sha256=p.sha256,
            size=p.size,
            files=p.files if p.state in (DiffState.CAPTURED, DiffState.TOO_LARGE) else None,
            excluded=p.excluded,
            left_out=p.left_out,
        )
    )
    return tags, (None if p.state is DiffState.FAILED else True)


def _store_paths() -> tuple[str, ...]:
    """The local tracking store (a SQLite file or a file store's directory): never captured as code."""
    import mlflow

    uri = (mlflow.get_tracking_uri() or "").split("?", 1)[0]
    if uri.startswith("sqlite:///"):
        return (os.path.abspath(uri[len("sqlite:///") :]),)
    if uri.startswith("file://"):
        return (os.path.abspath(uri[len("file://") :]),)
    return (os.path.abspath(uri),) if uri and ":" not in uri else ()


def take() -> Optional[Pending]:
    pending = _pending.get()
    if pending is not None:
        _pending.set(None)
    return pending


def attach(store: Any, run: Any, tracking_uri: Optional[str] = None) -> None:
    """The store wrapper's step, right after ``create_run``: store the patch with the run it was
    captured for. Never raises; bounded by ``MLFLOW_LINEAGE_DIFF_TIMEOUT``."""
    pending = take()
    if pending is None:
        return
    try:
        tags = dict(run.data.tags or {})
        if tags.get(T.GIT_DIFF) != T.GIT_DIFF_CAPTURED or tags.get(T.GIT_DIFF_SHA256) != pending.sha256:
            return  # not the run this patch was captured for
        run_id, artifact_uri = run.info.run_id, run.info.artifact_uri
    except Exception:
        return
    problem = _upload(pending.patch, artifact_uri, tracking_uri, settings().timeout)
    if problem is None:
        return
    _logger.warning("mlflow-lineage: run %s started, but its uncommitted changes were not stored: %s", run_id, problem)
    try:
        from mlflow.entities import RunTag

        store.set_tag(run_id, RunTag(T.GIT_DIFF, T.GIT_DIFF_FAILED))
        store.delete_tag(run_id, T.GIT_DIFF_SHA256)
    except Exception as exc:
        _logger.debug("mlflow-lineage: %s not set to failed: %s", T.GIT_DIFF, error_line(exc))


def _upload(patch: bytes, artifact_uri: Optional[str], tracking_uri: Optional[str], timeout: float) -> Optional[str]:
    """None when stored; else one line saying why not (never a credential: ``error_line``)."""
    if not artifact_uri:
        return "the run has no artifact location"

    def work() -> None:
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        with tempfile.TemporaryDirectory(prefix="mlflow-lineage-") as tmp:
            path = os.path.join(tmp, T.DIFF_ARTIFACT_NAME)
            with open(path, "wb") as fh:
                fh.write(patch)
            try:
                repo = get_artifact_repository(artifact_uri, tracking_uri=tracking_uri)
            except TypeError:  # MLflow releases before the tracking_uri parameter
                repo = get_artifact_repository(artifact_uri)
            repo.log_artifact(path, T.DIFF_ARTIFACT_DIR)

    from mlflow_lineage_plugin.bounded import run_bounded

    outcome = run_bounded(work, timeout, "mlflow-lineage-patch-upload")
    if not outcome.finished:
        return f"the artifact store did not take the upload within {timeout:g}s"
    if outcome.error is not None:
        return error_line(outcome.error)
    return None
