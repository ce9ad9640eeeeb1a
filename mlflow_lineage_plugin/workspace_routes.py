"""A recorded workspace → how this machine reaches it, or what was searched and why nothing does.

A version's ``lineage_workspace_uri`` (or Unity Catalog's ``run_workspace_id``) names where its run
lives; this module decides how this machine reaches that place: the explicit mapping first
(``MLFLOW_LINEAGE_WORKSPACES`` or the ``MLFLOW_LINEAGE_CONFIG`` file), then the client's own workspace,
then a ``~/.databrickscfg`` profile for the same Databricks host or workspace id (so whatever auth a user
already has works, through databricks-sdk's unified auth), then http(s) tracking servers directly and
local stores that exist here. Anything else is "unreachable, because ...". The resolver (and OpenLineage
through it) and ``backfill`` all ask here, so they cannot disagree about where a run is.

Reads the environment and ``~/.databrickscfg``, never the network.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from mlflow_lineage_plugin import config
from mlflow_lineage_plugin.config import load_mapping_file, parse_mapping_env
from mlflow_lineage_plugin.databricks.profiles import (
    config_path,
    norm_host,
    profile_host,
    profiles_for_host,
    read_profiles,
)
from mlflow_lineage_plugin.urls import redact
from mlflow_lineage_plugin.workspace import (
    canonical,
    databricks_profile,
    databricks_workspace_uri,
    is_databricks_uri,
    oss_workspace_uri,
    parse_workspace_uri,
)

_LISTED = 10  # profiles or mapping ids named in a reason before "and N more"


@dataclass(frozen=True)
class Endpoint:
    """How (or why not) a workspace is reached. ``tracking_uri`` None means unreachable."""

    workspace_uri: str
    tracking_uri: Optional[str]
    via: str  # "home", "mapping", "profile", "direct", "local", "none"
    reason: Optional[str] = None


def configured_mapping() -> dict[str, str]:
    """The explicit workspace → tracking URI mapping: the config file, then the variable over it."""
    mapping: dict[str, str] = {}
    path = config.get(config.CONFIG_FILE)
    if path:
        mapping.update(load_mapping_file(path))
    mapping.update(parse_mapping_env(config.get(config.WORKSPACES)))
    return mapping


def same_workspace(a: str, b: str) -> bool:
    """Two spellings of one workspace (a Databricks host without its ``?o=`` id matches any id)."""
    pa, pb = parse_workspace_uri(a), parse_workspace_uri(b)
    if pa.kind == "databricks" and pb.kind == "databricks":
        same_host = norm_host(pa.base) == norm_host(pb.base)
        if pa.workspace_id and pb.workspace_id:
            return same_host and pa.workspace_id == pb.workspace_id
        return same_host
    return canonical(a) == canonical(b)


def home_workspace_uri(tracking_uri: str) -> Optional[str]:
    """This client's own workspace URI, to recognise versions whose runs are right here."""
    if is_databricks_uri(tracking_uri):
        host = profile_host(databricks_profile(tracking_uri))
        return f"{host}/" if host else None
    try:
        return oss_workspace_uri(tracking_uri)
    except Exception:
        return None


def resolve_endpoint(workspace_uri: str) -> Endpoint:
    """The default rules, after the mapping and the home workspace did not match."""
    parsed = parse_workspace_uri(workspace_uri)
    shown = redact(workspace_uri) or workspace_uri
    if parsed.kind == "databricks":
        host = norm_host(parsed.base) or parsed.base
        profiles = profiles_for_host(host, parsed.workspace_id)
        if profiles:
            return Endpoint(workspace_uri, f"databricks://{profiles[0]}", "profile")
        if profile_host(None) == host:  # databricks-sdk's default chain (environment, default profile)
            return Endpoint(workspace_uri, "databricks", "profile")
        return Endpoint(
            workspace_uri,
            None,
            "none",
            f"no profile for that host in {config_path()} "
            f"(add one with host = {host}, or map it in {config.WORKSPACES})",
        )
    if parsed.kind == "http":
        if parsed.name:
            return Endpoint(
                workspace_uri,
                None,
                "none",
                f"MLflow workspace {parsed.name!r} needs an explicit mapping in {config.WORKSPACES}",
            )
        return Endpoint(workspace_uri, parsed.base, "direct")
    if parsed.kind == "sqlite":
        path = parsed.base[len("sqlite:///") :]
        if path and Path(path).is_file():
            return Endpoint(workspace_uri, parsed.base, "local")
        return Endpoint(workspace_uri, None, "none", f"its SQLite file {path} is not on this machine")
    if parsed.kind == "file":
        path = urlsplit(parsed.base).path
        if path and Path(path).is_dir():
            return Endpoint(workspace_uri, parsed.base, "local")
        return Endpoint(workspace_uri, None, "none", f"its directory {path} is not on this machine")
    if parsed.kind == "sql":
        return Endpoint(
            workspace_uri,
            None,
            "none",
            f"database stores are recorded without credentials; map {shown} in {config.WORKSPACES}",
        )
    return Endpoint(workspace_uri, None, "none", f"unknown kind of workspace URI; map it in {config.WORKSPACES}")


def endpoint_for_workspace_id(
    workspace_id: str,
    mapping: Mapping[str, str],
    *,
    home: Optional[Endpoint] = None,
    home_id: Optional[str] = None,
) -> Endpoint:
    """Where the Databricks workspace with this id is reached: the one answer to Unity Catalog's
    ``run_workspace_id``, for the resolver and ``backfill`` alike.

    This client's own workspace (``home``, whose id is ``home_id`` or its URI's ``?o=``) first, then a
    mapping entry whose URI carries ``?o=<id>``, then a ``~/.databrickscfg`` profile recording
    ``workspace_id = <id>`` (with a host). None of them: unreachable, with a reason that lists what was
    looked at, so a user can see which profile lacks its ``workspace_id``.
    """
    ws_id = str(workspace_id).strip()
    own_id = None
    if home is not None:
        own_id = home_id or parse_workspace_uri(home.workspace_uri).workspace_id
        if own_id and str(own_id) == ws_id:
            return Endpoint(home.workspace_uri, home.tracking_uri, "home")
    mapped_ids = []
    for uri, target in mapping.items():
        mapped = parse_workspace_uri(uri).workspace_id
        if mapped == ws_id:
            return Endpoint(uri, target, "mapping")
        if mapped:
            mapped_ids.append(mapped)
    profiles, _ = read_profiles()
    seen = []
    for name, values in profiles.items():
        recorded = (values.get("workspace_id") or "").strip()
        host = profile_host(name) if recorded == ws_id else None
        if host:
            return Endpoint(databricks_workspace_uri(host, ws_id), f"databricks://{name}", "profile")
        if recorded == ws_id:
            seen.append(f"{name} (workspace_id {recorded}, no host)")
        else:
            seen.append(f"{name} ({f'workspace_id {recorded}' if recorded else 'no workspace_id'})")
    searched = []
    if home is not None:
        searched.append(f"this client's workspace ({f'id {own_id}' if own_id else 'its id unknown'})")
    entries = f"{len(mapping)} entr{'y' if len(mapping) == 1 else 'ies'}"
    ids = f", ids {_listed(mapped_ids)}" if mapped_ids else (", none with ?o=<id>" if mapping else "")
    searched.append(f"{config.WORKSPACES} ({entries}{ids})")
    searched.append(f"the profiles of {_config_file_shown()}: {_listed(seen) if seen else 'none'}")
    return Endpoint(
        f"?o={ws_id}",
        None,
        "none",
        f"no profile or {config.WORKSPACES} entry names workspace id {ws_id}; searched {'; '.join(searched)}",
    )


def _config_file_shown() -> str:
    """The file as the user set it: ``~/.databrickscfg`` (where HOME puts it) or DATABRICKS_CONFIG_FILE."""
    path = config_path()
    where = (
        f"{path} (DATABRICKS_CONFIG_FILE)" if os.environ.get("DATABRICKS_CONFIG_FILE") else f"~/.databrickscfg ({path})"
    )
    return where if path.is_file() else f"{where}, which does not exist"


def _listed(items: list[str]) -> str:
    more = len(items) - _LISTED
    return ", ".join(items[:_LISTED]) + (f" and {more} more" if more > 0 else "")
