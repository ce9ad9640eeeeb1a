"""The MLflow clients one resolve uses, one per reachable workspace, plus what is down and why.

Where a recorded workspace is reached from here is decided in ``workspace_routes`` (shared with
``backfill``); that the local stores a command opens exist, in ``store_check``; how long MLflow's HTTP
calls may take, in ``mlflow_http``.
"""

from __future__ import annotations

import threading
from typing import Any, Optional

from mlflow_lineage_plugin import config
from mlflow_lineage_plugin.resolve.store_check import check_stores
from mlflow_lineage_plugin.tracking_workspace import registry_uri_for
from mlflow_lineage_plugin.workspace import canonical, is_unity_catalog_uri
from mlflow_lineage_plugin.workspace_routes import (
    Endpoint,
    configured_mapping,
    endpoint_for_workspace_id,
    home_workspace_uri,
    resolve_endpoint,
    same_workspace,
)


class Clients:
    """The MLflow clients one resolve uses, one per reachable workspace, plus what is down and why.

    Thread-safe: the walk looks up several workspaces concurrently.
    """

    def __init__(
        self,
        tracking_uri: Optional[str] = None,
        registry_uri: Optional[str] = None,
        timeout: Optional[float] = None,
        mapping: Optional[dict[str, str]] = None,
    ):
        import mlflow

        self.tracking_uri = tracking_uri or mlflow.get_tracking_uri()
        self.registry_uri = registry_uri_for(registry_uri, tracking_uri)
        check_stores(tracking_uri, self.tracking_uri, self.registry_uri)
        self.timeout = config.seconds(config.RESOLVE_TIMEOUT, timeout)
        self.mapping = configured_mapping() if mapping is None else {canonical(k): v for k, v in mapping.items()}
        self.home_workspace = home_workspace_uri(self.tracking_uri)
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._down: dict[str, str] = {}
        self._registry: Any = None

    # clients -------------------------------------------------------------------------------
    def registry(self):
        with self._lock:
            if self._registry is None:
                from mlflow import MlflowClient

                self._registry = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)
            return self._registry

    def tracking(self, tracking_uri: Optional[str] = None):
        uri = tracking_uri or self.tracking_uri
        with self._lock:
            client = self._clients.get(uri)
            if client is None:
                from mlflow import MlflowClient

                client = MlflowClient(tracking_uri=uri, registry_uri=self.registry_uri)
                self._clients[uri] = client
            return client

    def is_unity_catalog(self) -> bool:
        return is_unity_catalog_uri(self.registry_uri)

    # reachability --------------------------------------------------------------------------
    def mark_down(self, workspace_uri: str, reason: str) -> None:
        with self._lock:
            self._down.setdefault(canonical(workspace_uri), reason)

    def down_reason(self, workspace_uri: str) -> Optional[str]:
        with self._lock:
            return self._down.get(canonical(workspace_uri))

    def endpoint(self, workspace_uri: Optional[str]) -> Endpoint:
        """Where to read a workspace; ``None`` (a version that does not say) means this client's own."""
        if not workspace_uri:
            return Endpoint(self.home_workspace or self.tracking_uri, self.tracking_uri, "home")
        key = canonical(workspace_uri)
        down = self.down_reason(key)
        if key in self.mapping:
            target = self.mapping[key]
            return Endpoint(workspace_uri, None if down else target, "mapping", down)
        if down:
            return Endpoint(workspace_uri, None, "none", down)
        if self.home_workspace and same_workspace(key, self.home_workspace):
            return Endpoint(workspace_uri, self.tracking_uri, "home")
        return resolve_endpoint(workspace_uri)

    def endpoint_for_workspace_id(self, workspace_id: str, home_id: Optional[str] = None) -> Endpoint:
        """Where Unity Catalog's ``run_workspace_id`` is read (``home_id``: this client's, when UC said)."""
        ep = endpoint_for_workspace_id(workspace_id, self.mapping, home=self.endpoint(None), home_id=home_id)
        down = self.down_reason(ep.workspace_uri) if ep.tracking_uri else None
        return Endpoint(ep.workspace_uri, None, ep.via, down) if down else ep
