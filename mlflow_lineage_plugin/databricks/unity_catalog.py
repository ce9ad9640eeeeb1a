"""Where Unity Catalog says a model version's source run lives: its ``run_workspace_id``.

UC records the workspace of a version's run itself, but MLflow's UC client drops the field when it
converts UC's answer, so the plugin asks UC's own API (``GET /api/2.1/unity-catalog/models/<name>/
versions/<n>``). The resolver (a version made without the plugin, and OpenLineage through it) and
``backfill`` both ask here, so they read it with the same credentials, bound and words.

The transport is databricks-sdk (``model_versions.get``) on a client built from the registry store's own
credentials (``sdk.client_for_mlflow_uri``: MLflow's ``get_databricks_host_creds`` for the registry URI,
as MLflow's UC store sends every request with), rather than MLflow's REST helper, because:

- the credentials are the registry's either way, whichever kind they are (a profile's unified auth,
  a secret scope's host and token, MLflow's legacy providers); MLflow itself sends them through a
  databricks-sdk client whenever it can;
- the SDK's client takes the plugin's bounds (``retry_timeout_seconds``, ``http_timeout_seconds``) and
  names the plugin in its user agent, where MLflow's helper would apply the process-wide
  ``MLFLOW_HTTP_REQUEST_*`` settings and retry budget of whatever command is running;
- one client is kept per registry URI and host (one ``/.well-known`` probe, not one per version), and
  the same client tells the registry's own workspace id (``registry_workspace_id``), which the resolver
  needs to recognise "this workspace".

Where that workspace id is reached from here is ``workspace_routes.endpoint_for_workspace_id``'s answer.
Open-source Unity Catalog (``uc:``) has no workspaces and no such field: nothing is asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from mlflow_lineage_plugin.bounded import Deadline
from mlflow_lineage_plugin.databricks import sdk
from mlflow_lineage_plugin.errors import describe_error
from mlflow_lineage_plugin.workspace import is_databricks_unity_catalog_uri


@dataclass(frozen=True)
class RunWorkspace:
    """UC's answer for one version: the workspace id of its run, or why UC could not be asked."""

    workspace_id: Optional[str] = None  # None: UC records none (or could not say: then ``problem``)
    problem: Optional[str] = None  # one credential-free line, in the words of ``errors.describe_error``


def run_workspace_id(registry_uri: str, full_name: str, version: str, timeout: float) -> RunWorkspace:
    """The workspace id Unity Catalog records for the run of ``full_name`` version ``version``, asked
    within ``timeout`` seconds with the registry's own credentials. Never raises."""
    if not is_databricks_unity_catalog_uri(registry_uri):
        return RunWorkspace()

    def ask() -> Optional[str]:
        client = sdk.client_for_mlflow_uri(registry_uri, timeout)
        ws_id = client.model_versions.get(full_name, int(version)).run_workspace_id
        return str(ws_id) if ws_id else None

    try:
        return RunWorkspace(sdk.bounded(ask, timeout))
    except Deadline:
        return RunWorkspace(problem=f"no answer within {timeout:g} s")  # describe_error's words for a timeout
    except Exception as exc:
        return RunWorkspace(problem=describe_error(exc, timeout))


def registry_workspace_id(registry_uri: str, timeout: float) -> Optional[str]:
    """The id of the workspace the registry's credentials reach (this client's own, to the resolver),
    within ``timeout`` seconds; None when it cannot be told. Never raises."""
    if not is_databricks_unity_catalog_uri(registry_uri):
        return None
    try:
        ws_id = sdk.bounded(lambda: sdk.client_for_mlflow_uri(registry_uri, timeout).get_workspace_id(), timeout)
    except Exception:
        return None
    return str(ws_id) if ws_id else None
