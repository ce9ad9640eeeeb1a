"""The RunContextProvider: tags every run (and MLflow 3 LoggedModel) with its git reference and
workspace. It composes the fact sources and the tag contract, nothing else.

MLflow instantiates this class while ``import mlflow`` is still running, so nothing heavy is imported
at module level. The answer is computed afresh for every run: a notebook kernel that commits between
two runs must record two commits (the git reader makes the repeat cheap, not this module).

Precedence of the git reference, field by field: ``MLFLOW_LINEAGE_GIT_*`` overrides (CI, builds shipped
without ``.git``), then the Databricks notebook/job context or its workspace's Git folder, then the
repository of the entry file. A failure anywhere costs the run nothing but one warning naming what is
missing; whatever was found is still recorded.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import FrameType
from typing import Optional

from mlflow_lineage_plugin import config, reconcile, uncommitted
from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.errors import debug_traceback
from mlflow_lineage_plugin.tags import GitRef, Workspace, run_tags
from mlflow_lineage_plugin.warn_once import WarnOnce

_logger = logging.getLogger("mlflow_lineage_plugin")


_warnings = WarnOnce(_logger)


@dataclass
class Collected:
    """What one run's look-up found, and what it could not find (each a short, secret-free phrase)."""

    git: Optional[GitRef] = None
    workspace: Optional[Workspace] = None
    notebook_file: Optional[str] = None  # a Jupyter notebook's own .ipynb, when it could be found
    checkout: Optional[str] = None  # the path whose checkout ``git`` was read from, when it was
    head: Optional[str] = None  # that checkout's own commit (``git`` may record an overridden one)
    databricks: bool = False  # a Databricks notebook or job context was found
    problems: list[str] = field(default_factory=list)


class _Provider:
    """What ``LineageRunContext`` does; the class MLflow loads adds MLflow's base class (see below).

    ``entry_file`` names the script or notebook whose checkout to read (``doctor --script``, tests);
    MLflow itself constructs the provider without one, and the entry file of this process is found
    afresh for every run.
    """

    def __init__(self, entry_file: Optional[str] = None):
        self._entry_file = entry_file

    def in_context(self) -> bool:
        try:
            return not config.disabled()
        except Exception:
            return False

    def tags(self) -> dict[str, str]:
        reconcile.leave(None)  # an answer left by an earlier look-up is never the answer for this run
        deadline = time.monotonic() + config.seconds(config.GIT_TIMEOUT)  # all git work of this run
        try:
            found = collect(self._entry_file)
        except Exception as e:  # a bug here must never cost the user's run
            _warn_once(f"lineage tags not recorded ({type(e).__name__})")
            debug_traceback(_logger, "lineage tags not recorded")
            return {}
        if found.problems:
            _warn_once("; ".join(found.problems))
        callers = _callers_tags()
        try:
            # The uncommitted changes, against the commit the run will record: tags now, the patch left
            # for the store wrapper (``uncommitted``); the dirty flag as measured against that commit.
            git = reconcile.described(found.git, callers)
            if git is None and found.git is not None:  # the caller names another repository
                git, diff = found.git, T.diff_tags(T.GitDiff(T.GIT_DIFF_OTHER_COMMIT)) if found.git.commit else {}
            else:
                git, diff = uncommitted.prepare_run(
                    git, found.checkout, head=found.head, databricks=found.databricks, deadline=deadline
                )
                if diff.get(T.GIT_DIFF) == T.GIT_DIFF_OTHER_COMMIT:
                    git = found.git  # nothing measured against the recorded commit: reconcile says so
            ours = run_tags(git, found.workspace, found.notebook_file)
            ours.update(diff)
        except Exception as e:
            _warn_once(f"lineage tags not recorded ({type(e).__name__})")
            debug_traceback(_logger, "lineage tags not recorded")
            return {}
        # For the tracking-store wrapper, which sees the final tags of the run this answer is for.
        reconcile.leave(
            reconcile.Fresh(
                ours=dict(ours),
                git=git,
                mlflow_git=_mlflow_git_values(),
                callers=callers,
            )
        )
        return ours


_RESOLVE_TAGS = ("mlflow.tracking.context.registry", "resolve_tags")


def _callers_tags() -> Optional[dict[str, str]]:
    """The explicit tags of the call this answer is for, read from MLflow's ``resolve_tags(tags)`` (the
    frame that asks every provider; ``start_run`` and LoggedModel creation pass the caller's tags there).
    It merges them over the providers' answers, so the store wrapper alone cannot tell a caller's value
    that equals ours from ours. None when not asked from there: the wrapper then tells them by value."""
    try:
        frame: Optional[FrameType] = sys._getframe(2)
        for _ in range(3):  # tags() <- resolve_tags, allowing for a wrapper or two in between
            if frame is None:
                return None
            if (frame.f_globals.get("__name__"), frame.f_code.co_name) == _RESOLVE_TAGS:
                given = frame.f_locals.get("tags")
                return {str(k): str(v) for k, v in given.items()} if isinstance(given, Mapping) else {}
            frame = frame.f_back
    except Exception:
        return None
    return None


def _mlflow_git_values() -> dict[str, str]:
    """What MLflow's own git provider answers in this process (it reads git once and caches it), so the
    store wrapper can tell MLflow's possibly stale values from the caller's. Never starts a git read."""
    registry = sys.modules.get("mlflow.tracking.context.registry")
    git_context = sys.modules.get("mlflow.tracking.context.git_context")
    if registry is None or git_context is None:
        return {}
    out: dict[str, str] = {}
    try:
        for provider in registry._run_context_provider_registry:
            if isinstance(provider, git_context.GitRunContext):
                cached = getattr(provider, "_cache", {}).get("git_info") or {}
                out.update({k: v for k, v in cached.items() if isinstance(v, str)})
    except Exception:
        return {}
    return out


def _provider_class() -> type:
    """``LineageRunContext``: the provider as a subclass of MLflow's ``RunContextProvider``.

    Built on first access, not at import: importing MLflow's base class runs ``import mlflow``, which
    loads this very entry point; a class statement below such an import would not exist yet when MLflow
    asks for it, and MLflow would drop the provider with a warning. Whichever access comes first (MLflow's
    entry-point load, inside that import, or a user's) builds the one class; the other finds it.
    """
    cls = globals().get("_LINEAGE_RUN_CONTEXT")
    if cls is None:
        from mlflow.tracking.context.abstract_context import RunContextProvider

        cls = globals().get("_LINEAGE_RUN_CONTEXT")  # the import above may have built it
        if cls is None:
            cls = type(
                "LineageRunContext",
                (_Provider, RunContextProvider),
                {"__module__": __name__, "__doc__": "Entry point ``mlflow.run_context_provider``: ``lineage``."},
            )
            globals()["_LINEAGE_RUN_CONTEXT"] = cls
    return cls


def __getattr__(name: str):
    if name == "LineageRunContext":
        return _provider_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _warn_once(message: str) -> None:
    _warnings(f"mlflow-lineage: {message}")


def collect(entry_file: Optional[str] = None) -> Collected:
    """Look up the git reference and workspace of this process, within the configured time limits.

    ``entry_file``: the script, notebook or directory whose checkout to read; default: this process's
    entry file (``entry.entry_path``)."""
    out = Collected()
    git_budget = config.seconds(config.GIT_TIMEOUT)
    db_budget = config.seconds(config.DATABRICKS_TIMEOUT)

    out.problems.extend(config.problems(for_run=True))  # each bad setting named once, with the run's warning
    overrides = _git_overrides()
    ctx = _step(out, "Databricks notebook context", _databricks_context)

    detected: Optional[GitRef] = None
    if ctx is not None:
        detected = ctx.git if ctx.git is not None and not ctx.git.is_empty() else None
        if detected is None:
            detected = _step(out, "git reference of the Databricks Git folder", _git_from_workspace, ctx, db_budget)
    if detected is None:
        detected = _step(out, "git reference", _git_from_checkout, out, git_budget, entry_file)
    out.git = _merge(detected, overrides)
    out.databricks = ctx is not None
    if out.checkout and (out.git is None or detected is None or not _same_repo(out.git, detected)):
        out.checkout = None  # the recorded repository is not the checkout's: its changes say nothing of it
    out.head = detected.commit if out.checkout and detected is not None else None

    out.workspace = _step(out, "workspace URI", _workspace, ctx, db_budget, out.problems)
    return out


def _step(out: Collected, what: str, fn, *args):
    """Run one fact source; its failure becomes a problem phrase (exception type only: messages of
    third-party errors may quote URLs with credentials)."""
    try:
        return fn(*args)
    except Exception as e:
        out.problems.append(f"{what} not recorded ({type(e).__name__})")
        debug_traceback(_logger, f"{what} not recorded")
        return None


def _databricks_context():
    # MLflow's own runtime test reads these two variables; checking them first keeps the
    # Databricks module (and its imports) off the path of every run elsewhere.
    if not (os.environ.get("DATABRICKS_RUNTIME_VERSION") or os.environ.get("DATABRICKS_ENV_VERSION")):
        return None
    from mlflow_lineage_plugin.databricks.notebook import current_context

    return current_context()


def _git_from_workspace(ctx, timeout: float) -> Optional[GitRef]:
    from mlflow_lineage_plugin.databricks.git_folder import git_ref_from_workspace

    return git_ref_from_workspace(ctx, timeout=timeout)


def _git_from_checkout(out: Collected, timeout: float, entry_file: Optional[str]) -> Optional[GitRef]:
    from mlflow_lineage_plugin import entry, git

    entry_file = os.path.abspath(entry_file) if entry_file else entry.entry_path()
    if entry_file and entry_file.endswith(".ipynb"):
        out.notebook_file = entry_file
    out.checkout = entry_file
    return git.read_git_ref(entry_file, timeout=timeout)


def _workspace(ctx, timeout: float, problems: list[str]) -> Optional[Workspace]:
    """Where this run can be found again: the override, else the active tracking store.

    A Databricks notebook that logs to its own workspace (tracking URI ``databricks``) takes host and
    id from the notebook context; one that logs to another server records that server. A failed
    Databricks look-up has already said so itself: no second warning for it here.
    """
    from mlflow_lineage_plugin import workspace as ws
    from mlflow_lineage_plugin.tracking_workspace import override_workspace, workspace_for_tracking_uri

    found = override_workspace()
    if found is not None:
        return found
    import mlflow

    tracking_uri = mlflow.get_tracking_uri()
    if ctx is not None and tracking_uri in ("databricks", "databricks://"):
        from mlflow_lineage_plugin.databricks.notebook import workspace_from_context

        found = workspace_from_context(ctx)
        if found is not None:
            return found
    if ws.is_databricks_uri(tracking_uri):
        from mlflow_lineage_plugin.databricks.profile_workspace import workspace_for_profile

        return workspace_for_profile(ws.databricks_profile(tracking_uri), timeout=timeout)
    found = workspace_for_tracking_uri(tracking_uri)
    if found is None:
        problems.append("workspace URI unknown for the active tracking URI")
    return found


# --- environment overrides ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Overrides:
    commit: Optional[str] = None
    branch: Optional[str] = None
    repo_url: Optional[str] = None
    path: Optional[str] = None
    dirty: Optional[bool] = None
    dirty_set: bool = False

    def any(self) -> bool:
        return bool(self.commit or self.branch or self.repo_url or self.path or self.dirty_set)


def _git_overrides() -> _Overrides:
    """``MLFLOW_LINEAGE_GIT_*`` as ``config`` parses them; a malformed value is left out (``config.problems``
    names it, never echoing it: a value in the wrong variable may be a secret)."""
    dirty_set, dirty = config.git_dirty()
    return _Overrides(
        config.git_commit(), config.git_branch(), config.git_repo_url(), config.git_path(), dirty, dirty_set
    )


def _same_repo(recorded: GitRef, detected: GitRef) -> bool:
    """Whether an override keeps the checkout's repository (``_merge`` drops the checkout otherwise)."""
    from mlflow_lineage_plugin.urls import same_repo

    return not (recorded.repo_url and detected.repo_url and not same_repo(recorded.repo_url, detected.repo_url))


def _merge(detected: Optional[GitRef], o: _Overrides) -> Optional[GitRef]:
    """Overrides win field by field. A checkout of another repository than the overridden one says
    nothing about it, and a dirty flag read for another commit says nothing about the given one."""
    from mlflow_lineage_plugin.urls import same_repo, source_web_url

    if not o.any():
        return detected
    base = detected or GitRef()
    if o.repo_url and base.repo_url and not same_repo(o.repo_url, base.repo_url):
        base = GitRef()
    commit_changed = bool(o.commit and o.commit != (base.commit or "").lower())
    dirty = o.dirty if o.dirty_set else (None if commit_changed else base.dirty)
    merged = replace(
        base,
        commit=o.commit or base.commit,
        branch=o.branch or base.branch,
        repo_url=o.repo_url or base.repo_url,
        path=o.path or base.path,
        dirty=dirty,
    )
    return replace(merged, source_url=source_web_url(merged.repo_url, merged.commit, merged.path))
