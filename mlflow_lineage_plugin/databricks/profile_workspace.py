"""The workspace (host and id) of a ``databricks`` / ``databricks://profile`` tracking URI, asked of
the workspace once per profile and host (bounded, remembered)."""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Optional

from mlflow_lineage_plugin import config
from mlflow_lineage_plugin.databricks import sdk
from mlflow_lineage_plugin.databricks.profiles import profile_host
from mlflow_lineage_plugin.tags import Workspace
from mlflow_lineage_plugin.warn_once import WarnOnce
from mlflow_lineage_plugin.workspace import base_url, databricks_workspace_uri

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Known:
    workspace: Optional[Workspace]
    expires: float


_profiles: dict[tuple[str, str], _Known] = {}
_warnings = WarnOnce(_logger)
_lock = threading.Lock()


def _lookup_profile(profile: Optional[str], timeout: float) -> Workspace:
    client = sdk.sdk_client(profile, timeout)
    if not client.config.host:
        raise ValueError("no Databricks host configured")
    workspace_id = str(client.get_workspace_id())
    uri = databricks_workspace_uri(client.config.host, workspace_id)
    return Workspace(uri=uri, host=base_url(uri), workspace_id=workspace_id)


def workspace_for_profile(profile: Optional[str], *, timeout: Optional[float] = None) -> Optional[Workspace]:
    """Host and workspace id of a `databricks` / `databricks://profile` tracking URI; bounded.

    Remembered per (profile, host) for the process once found: the id of a host never changes. A
    failure (no token, host unreachable) is remembered for a minute and warned about once, so a
    broken profile does not stall every run. Returns None on any failure; never raises.
    """
    try:
        key = (profile or "", profile_host(profile) or "")
    except Exception:
        key = (profile or "", "")
    now = time.monotonic()
    with _lock:
        known = _profiles.get(key)
    if known is not None and (known.workspace is not None or now < known.expires):
        return known.workspace
    limit = config.seconds(config.DATABRICKS_TIMEOUT, timeout)
    workspace, problem = sdk.answer(lambda: _lookup_profile(profile, limit), limit)
    with _lock:
        _profiles[key] = _Known(workspace, math.inf if workspace else now + sdk.FAILURE_TTL)
    if problem is not None:
        _warnings(
            f"mlflow-lineage: could not identify the Databricks workspace of profile {profile or 'DEFAULT'} "
            f"({problem}); recording no workspace URI",
            ("profile", *key),
        )
    return workspace


def clear() -> None:
    """Forget the workspaces of profiles and the failures (tests; credential changes)."""
    with _lock:
        _profiles.clear()
        _warnings.clear()
