"""Databricks notebook/job context and workspace look-ups (placeholder: the Databricks helper
replaces this)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from mlflow_lineage_plugin.tags import GitRef, Notebook, Workspace


@dataclass(frozen=True)
class DatabricksContext:
    """What the notebook or job context says about where this process runs."""

    workspace_url: Optional[str] = None
    workspace_id: Optional[str] = None
    notebook: Notebook = Notebook()
    job_id: Optional[str] = None
    job_run_id: Optional[str] = None
    git: GitRef = GitRef()  # from get_git_repo_*; empty when the notebook is not in a Git folder


def current_context() -> Optional[DatabricksContext]:
    """The context of this process, or None outside Databricks. Never raises."""
    return None


def workspace_from_context(ctx: DatabricksContext) -> Optional[Workspace]:
    return None


def git_ref_from_workspace(ctx: DatabricksContext, *, timeout: float = 3.0) -> Optional[GitRef]:
    """Ask the workspace (databricks-sdk) for the Git folder that holds the notebook; bounded."""
    return None


def workspace_for_profile(profile: Optional[str], *, timeout: float = 3.0) -> Optional[Workspace]:
    """Host and workspace id of a `databricks` / `databricks://profile` tracking URI; bounded."""
    return None
