"""The Databricks notebook or job this process runs in, from its own context: no network.

The context is read through ``mlflow.utils.databricks_utils`` (which reads the runtime's
``dbruntime.databricks_repl_context``), so the plugin sees exactly what MLflow's own Databricks
providers see. What the workspace API adds (the Git folder of a notebook whose context carries no git
facts) is in ``git_folder``.
"""

from __future__ import annotations

import logging
import posixpath
from dataclasses import dataclass, field
from typing import Any, Optional

from mlflow_lineage_plugin.tags import GitRef, Notebook, Workspace
from mlflow_lineage_plugin.urls import normalize_remote, source_web_url
from mlflow_lineage_plugin.workspace import base_url, databricks_workspace_uri

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatabricksContext:
    """What the notebook or job context says about where this process runs.

    ``api_url``/``api_token`` are the notebook's own credentials for the workspace API; the token is
    kept out of ``repr`` and equality so a logged or compared context never shows it.
    """

    workspace_url: Optional[str] = None
    workspace_id: Optional[str] = None
    notebook: Notebook = Notebook()
    job_id: Optional[str] = None
    job_run_id: Optional[str] = None
    git: GitRef = GitRef()  # from get_git_repo_*; empty when the notebook is not in a Git folder
    api_url: Optional[str] = None
    api_token: Optional[str] = field(default=None, repr=False, compare=False)


def _text(value: Any) -> Optional[str]:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _ask(module: Any, name: str) -> Optional[str]:
    """One ``databricks_utils`` getter; missing on this MLflow version or failing both mean None.

    MLflow's getters fall back to dbutils when the REPL context lacks an attribute, and that fallback
    raises outside a notebook; each value is independent, so one failure must not lose the others.
    """
    fn = getattr(module, name, None)
    if fn is None:
        return None
    try:
        return _text(fn())
    except Exception:
        return None


def _notebook_token() -> Optional[str]:
    """The notebook's API token, read where MLflow's own credential provider reads it."""
    try:
        from dbruntime.databricks_repl_context import get_context

        token = _text(getattr(get_context(), "apiToken", None))
        if token:
            return token
    except Exception:
        pass
    try:
        from mlflow.utils import databricks_utils

        return _text(databricks_utils._get_command_context().apiToken().get())
    except Exception:
        return None


def _status_to_dirty(status: Optional[str]) -> Optional[bool]:
    s = (status or "").strip().lower()
    if s in ("clean", "unmodified"):
        return False
    if s in ("dirty", "modified", "uncommitted"):
        return True
    return None


def notebook_source_url(repo_url: Optional[str], commit: Optional[str], path: Optional[str]) -> Optional[str]:
    """A link to the notebook at ``commit``.

    Databricks reports a notebook's path without its file extension (``notebooks/train`` for
    ``notebooks/train.py`` or ``.ipynb``, depending on the repo's format), so a file link would 404;
    the folder that holds it, at that exact commit, is the closest link that opens.
    """
    if path and "." not in posixpath.basename(path):
        parent = posixpath.dirname(path.strip("/"))
        return source_web_url(repo_url, commit, parent or None)
    return source_web_url(repo_url, commit, path)


def git_ref_from_values(
    url: Optional[str],
    commit: Optional[str],
    reference: Optional[str] = None,
    reference_type: Optional[str] = None,
    relative_path: Optional[str] = None,
    status: Optional[str] = None,
) -> GitRef:
    """Map the Repos/Git-folder facts onto a ``GitRef`` (pure; shared by context and API paths)."""
    repo_url = normalize_remote(url) if url else None
    branch = reference if reference and (reference_type or "").strip().lower() == "branch" else None
    path = relative_path.strip("/") if relative_path else None
    return GitRef(
        commit=commit or None,
        branch=branch or None,
        repo_url=repo_url,
        dirty=_status_to_dirty(status),
        path=path or None,
        source_url=notebook_source_url(repo_url, commit, path),
    )


def current_context() -> Optional[DatabricksContext]:
    """The context of this process, or None outside a Databricks notebook or job. Never raises."""
    try:
        from mlflow.utils import databricks_utils as du
    except Exception:
        return None
    try:
        in_runtime = getattr(du, "is_in_databricks_runtime", None)
        if in_runtime is not None and not in_runtime():
            return None
        in_notebook = bool(getattr(du, "is_in_databricks_notebook", lambda: False)())
        in_job = bool(getattr(du, "is_in_databricks_job", lambda: False)())
        if not (in_notebook or in_job):
            return None
        api_url = _ask(du, "get_webapp_url")
        workspace_url = _ask(du, "get_workspace_url")
        if not workspace_url:
            browser_host = _ask(du, "get_browser_hostname")
            workspace_url = f"https://{browser_host}" if browser_host else api_url
        git = git_ref_from_values(
            url=_ask(du, "get_git_repo_url"),
            commit=_ask(du, "get_git_repo_commit"),
            reference=_ask(du, "get_git_repo_reference"),
            reference_type=_ask(du, "get_git_repo_reference_type"),
            relative_path=_ask(du, "get_git_repo_relative_path"),
            status=_ask(du, "get_git_repo_status"),
        )
        return DatabricksContext(
            workspace_url=workspace_url,
            workspace_id=_ask(du, "get_workspace_id"),
            notebook=Notebook(path=_ask(du, "get_notebook_path"), id=_ask(du, "get_notebook_id")),
            job_id=_ask(du, "get_job_id"),
            job_run_id=_ask(du, "get_job_run_id"),
            git=git,
            api_url=api_url,
            api_token=_notebook_token(),
        )
    except Exception as exc:
        _logger.debug("mlflow-lineage: could not read the Databricks context: %s", type(exc).__name__)
        return None


def workspace_from_context(ctx: Optional[DatabricksContext]) -> Optional[Workspace]:
    """The workspace of a notebook or job, from its own context (no network)."""
    if ctx is None:
        return None
    host = ctx.workspace_url or ctx.api_url
    if not host:
        return None
    uri = databricks_workspace_uri(host, ctx.workspace_id)
    return Workspace(uri=uri, host=base_url(uri), workspace_id=ctx.workspace_id)
