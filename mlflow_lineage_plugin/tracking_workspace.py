"""The workspace this process logs to: its tracking URI, plus what MLflow (OSS workspaces) or
databricks-sdk (the host and id behind ``databricks://profile``) say about it.

Kept apart from ``workspace``, whose URI functions are pure, so that module imports neither MLflow
nor the Databricks look-ups.
"""

from __future__ import annotations

from typing import Optional

from mlflow_lineage_plugin.tags import Workspace
from mlflow_lineage_plugin.workspace import (
    DEFAULT_WORKSPACE_NAME,
    base_url,
    databricks_profile,
    is_databricks_uri,
    oss_workspace_uri,
)


def active_workspace_name() -> Optional[str]:
    """The MLflow OSS workspace this process logs to, or None (MLflow 2 or workspaces disabled)."""
    try:
        from mlflow.environment_variables import MLFLOW_ENABLE_WORKSPACES
        from mlflow.utils.workspace_context import get_request_workspace
    except ImportError:
        return None
    try:
        if not MLFLOW_ENABLE_WORKSPACES.get():
            return None
        name = get_request_workspace()
    except Exception:
        return None
    return name if name and name != DEFAULT_WORKSPACE_NAME else None


def workspace_for_tracking_uri(tracking_uri: Optional[str] = None) -> Optional[Workspace]:
    """The workspace of a tracking URI as this process sees it; Databricks URIs ask the SDK config.

    Returns None when it cannot be told (never raises): the caller records nothing rather than a guess.
    """
    if tracking_uri is None:
        try:
            import mlflow

            tracking_uri = mlflow.get_tracking_uri()
        except Exception:
            return None
    if not tracking_uri:
        return None
    if is_databricks_uri(tracking_uri):
        from mlflow_lineage_plugin import databricks

        return databricks.workspace_for_profile(databricks_profile(tracking_uri))
    name = active_workspace_name()
    uri = oss_workspace_uri(tracking_uri, name)
    return Workspace(uri=uri, host=base_url(uri), name=name)
