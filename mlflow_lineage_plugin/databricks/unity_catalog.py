"""What Unity Catalog itself records about a model version and MLflow's client does not pass on."""

from __future__ import annotations

from typing import Optional

from mlflow_lineage_plugin.databricks import sdk


def uc_source_workspace(
    profile: Optional[str], full_name: str, version: str, timeout: float
) -> tuple[Optional[str], Optional[str], Optional[str]]:
    """(run_workspace_id, this workspace's id, host) for a Unity Catalog model version.

    MLflow's UC client drops ``run_workspace_id`` when it converts the response, so ask UC directly.
    """
    w = sdk.sdk_client(profile, timeout)
    info = w.model_versions.get(full_name, int(version))
    ws_id = str(info.run_workspace_id) if info.run_workspace_id else None
    try:
        home = str(w.get_workspace_id())
    except Exception:
        home = None
    return ws_id, home, w.config.host
