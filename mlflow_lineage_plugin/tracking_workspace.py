"""The workspace this process logs to: its tracking URI, plus what MLflow (OSS workspaces) or
databricks-sdk (the host and id behind ``databricks://profile``) say about it.

Kept apart from ``workspace``, whose URI functions are pure, so that module imports neither MLflow
nor the Databricks look-ups.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

from mlflow_lineage_plugin import config
from mlflow_lineage_plugin.tags import Workspace
from mlflow_lineage_plugin.urls import looks_like_uri_setting, redact
from mlflow_lineage_plugin.workspace import (
    DEFAULT_WORKSPACE_NAME,
    base_url,
    databricks_profile,
    databricks_workspace_uri,
    is_databricks_uri,
    oss_workspace_uri,
    parse_workspace_uri,
    with_workspace_name,
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
        from mlflow_lineage_plugin.databricks.profile_workspace import workspace_for_profile

        return workspace_for_profile(databricks_profile(tracking_uri))
    name = active_workspace_name()
    uri = oss_workspace_uri(tracking_uri, name)
    return Workspace(uri=uri, host=base_url(uri), name=name)


def registry_uri_for(registry_uri: Optional[str], tracking_uri: Optional[str]) -> str:
    """The registry a command reads: the one given, else ``MLFLOW_REGISTRY_URI``, else the tracking store
    given (MLflow's own default would make a Databricks tracking URI's registry Unity Catalog), else
    MLflow's default for this process."""
    given = registry_uri or os.environ.get("MLFLOW_REGISTRY_URI") or tracking_uri
    if given:
        return given
    import mlflow

    return mlflow.get_registry_uri()


def override_workspace(raw: Optional[str] = None) -> Optional[Workspace]:
    """``MLFLOW_LINEAGE_WORKSPACE_URI`` (or ``raw``) as given, minus any credentials; the ``?o=`` id and
    ``?workspace=`` name are the only query parameters kept. None when unset or no URI."""
    if raw is None:
        raw = config.get(config.WORKSPACE_URI)
    if not raw or not looks_like_uri_setting(raw):
        return None  # e.g. a token pasted into the wrong variable: never recorded
    raw = raw.strip()
    parsed = parse_workspace_uri(raw)
    base = redact(raw) or ""
    if not base:
        return None
    if parsed.workspace_id:
        uri = databricks_workspace_uri(base, parsed.workspace_id)
    else:
        uri = with_workspace_name(base.rstrip("/") if "://" in base else base, parsed.name)
    return Workspace(uri=uri, host=base_url(uri), workspace_id=parsed.workspace_id, name=parsed.name)


def server_workspace_uri() -> Optional[str]:
    """Inside ``mlflow server``: the workspace a request names, for runs that do not say their own.

    The operator's ``MLFLOW_LINEAGE_WORKSPACE_URI`` (a public URL behind a proxy), read as the run
    provider and ``backfill`` read it; else the URL the client reached this server at.
    """
    found = override_workspace()
    return found.uri if found is not None else request_workspace_uri()


def request_workspace_uri() -> Optional[str]:
    """Inside ``mlflow server``: the URL the client reached this server at (its Host header).

    A server does not know its public URL; the request does, as the client saw it. Operators behind
    a proxy set ``MLFLOW_LINEAGE_WORKSPACE_URI`` instead (``server_workspace_uri``).
    """
    flask = sys.modules.get("flask")
    if flask is None:
        return None
    try:
        if not flask.has_request_context():
            return None
        host_url = flask.request.host_url.rstrip("/") + (os.environ.get("_MLFLOW_STATIC_PREFIX") or "")
    except Exception:
        return None
    return oss_workspace_uri(host_url, active_workspace_name())
