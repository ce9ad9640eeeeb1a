"""Workspace URIs: the one string that says where a run can be found again, and the run-page link
derived from it.

Forms written into ``lineage_workspace_uri``:
- Databricks: ``https://<workspace-host>/?o=<workspace-id>`` (the id disambiguates hosts shared by
  several workspaces, and is what Databricks' own ``?o=`` links use).
- MLflow tracking server: ``http(s)://host[:port][/prefix]`` without credentials.
- Local stores: ``sqlite:////abs/path.db``, ``file:///abs/mlruns``; SQL databases without credentials.
- MLflow OSS workspaces (not the default one): ``?workspace=<name>`` appended.

Pure functions of strings (plus ``os.path.abspath`` for local stores): what this process's own
workspace is, which needs MLflow or databricks-sdk, is found in ``tracking_workspace``.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Optional
from urllib.parse import parse_qs, quote, urlsplit

from mlflow_lineage_plugin.urls import redact

DEFAULT_WORKSPACE_NAME = "default"
_UNITY_CATALOG = ("databricks-uc", "uc")


@dataclass(frozen=True)
class ParsedWorkspaceUri:
    kind: str  # "databricks", "http", "sqlite", "file", "sql", "unknown"
    base: str  # the URI without the workspace name: a tracking URI or a Databricks host URL
    workspace_id: Optional[str] = None
    name: Optional[str] = None


def databricks_workspace_uri(host: str, workspace_id: Optional[str]) -> str:
    host = host.strip().rstrip("/")
    if not host.startswith(("http://", "https://")):
        host = "https://" + host
    host = redact(host) or host
    if workspace_id and str(workspace_id) != "0":
        return f"{host}/?o={workspace_id}"
    return f"{host}/"


def _absolute_local(uri: str) -> str:
    if uri.startswith("sqlite:///"):
        path, query = uri[len("sqlite:///") :].partition("?")[::2]
        if path and path != ":memory:":  # one file, one URI: no ``/../`` or ``/./`` segments
            return "sqlite:///" + os.path.abspath(path) + (f"?{query}" if query else "")
        return uri
    if uri.startswith("file:"):
        parts = urlsplit(uri)
        return "file://" + os.path.abspath(parts.path or ".")
    if "://" not in uri:
        return "file://" + os.path.abspath(uri)
    return uri


def with_workspace_name(uri: str, name: Optional[str]) -> str:
    if not name or name == DEFAULT_WORKSPACE_NAME:
        return uri
    return f"{uri}?workspace={quote(name, safe='')}"


def oss_workspace_uri(tracking_uri: str, workspace_name: Optional[str] = None) -> str:
    """The workspace URI of an open-source tracking URI (never a Databricks one)."""
    uri = redact(tracking_uri.strip()) or tracking_uri.strip()
    uri = _absolute_local(uri)
    if uri.startswith(("http://", "https://")):
        uri = uri.rstrip("/")
    return with_workspace_name(uri, workspace_name)


_DATABRICKS_DOMAINS = (".databricks.com", ".azuredatabricks.net")  # AWS and GCP (*.gcp.databricks.com), Azure


def is_databricks_host(url: Optional[str]) -> bool:
    """Whether an http(s) URL's host is a Databricks workspace's, so ``?o=<id>`` links and profiles apply.

    Judged on the host alone (any case, any port), never on a path or query that merely mentions one.
    """
    try:
        host = urlsplit((url or "").strip()).hostname or ""
    except ValueError:
        return False
    return host.endswith(_DATABRICKS_DOMAINS)


def is_databricks_uri(uri: Optional[str]) -> bool:
    if not uri:
        return False
    scheme = uri.split("://", 1)[0] if "://" in uri else uri
    return scheme in ("databricks", "databricks-uc", "uc")


def is_unity_catalog_uri(uri: Optional[str]) -> bool:
    """Whether a registry URI names Unity Catalog (Databricks' ``databricks-uc`` or the open-source
    ``uc:``), read as MLflow picks its registry store: the bare name, else the URL's scheme in any case."""
    return _unity_catalog_scheme(uri) is not None


def is_databricks_unity_catalog_uri(uri: Optional[str]) -> bool:
    """Whether a registry URI names Databricks' Unity Catalog (``databricks-uc``), not the open-source one."""
    return _unity_catalog_scheme(uri) == "databricks-uc"


def _unity_catalog_scheme(uri: Optional[str]) -> Optional[str]:
    if not uri:
        return None
    scheme = uri if uri in _UNITY_CATALOG else urlsplit(uri).scheme
    return scheme if scheme in _UNITY_CATALOG else None


def databricks_profile(uri: str) -> Optional[str]:
    """``databricks://profile`` → ``profile`` (``databricks://profile:prefix`` keeps the profile)."""
    if "://" not in uri:
        return None
    rest = uri.split("://", 1)[1]
    return rest.split(":", 1)[0] or None


def parse_workspace_uri(uri: str) -> ParsedWorkspaceUri:
    """Undo the forms above, for the resolver (and old tags: anything unknown stays ``unknown``)."""
    uri = uri.strip()
    base, _, query = uri.partition("?")
    params = parse_qs(query)
    name = next(iter(params.get("workspace", [])), None)
    ws_id = next(iter(params.get("o", [])), None)
    if ws_id is not None:
        return ParsedWorkspaceUri("databricks", base.rstrip("/"), workspace_id=ws_id)
    scheme = base.split("://", 1)[0].lower() if "://" in base else ""
    if scheme in ("http", "https"):
        if is_databricks_host(base):
            return ParsedWorkspaceUri("databricks", base.rstrip("/"), name=name)
        return ParsedWorkspaceUri("http", base.rstrip("/"), name=name)
    if scheme == "sqlite":
        return ParsedWorkspaceUri("sqlite", base, name=name)
    if scheme == "file":
        return ParsedWorkspaceUri("file", base, name=name)
    if scheme.split("+")[0] in ("postgresql", "mysql", "mssql"):
        return ParsedWorkspaceUri("sql", base, name=name)
    return ParsedWorkspaceUri("unknown", base, name=name)


def run_page_url(workspace_uri: Optional[str], experiment_id: Optional[str], run_id: Optional[str]) -> Optional[str]:
    """A browser link to the run page, when the workspace has a web UI (local stores have none)."""
    if not workspace_uri or not experiment_id or not run_id:
        return None
    p = parse_workspace_uri(workspace_uri)
    if p.kind == "databricks":
        query = f"?o={p.workspace_id}" if p.workspace_id else ""
        return f"{p.base}/{query}#mlflow/experiments/{experiment_id}/runs/{run_id}"
    if p.kind == "http":
        ws = f"?workspace={quote(p.name, safe='')}" if p.name else ""
        return f"{p.base}/#/experiments/{experiment_id}/runs/{run_id}{ws}"
    return None


def base_url(uri: str) -> Optional[str]:
    """``scheme://host[:port]`` of an http(s) workspace URI (credentials already removed); None otherwise."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


def canonical(uri: str) -> str:
    """One spelling per workspace: lower-case scheme and host, no trailing slash before the query."""
    uri = uri.strip()
    base, sep, query = uri.partition("?")
    if "://" in base:
        scheme, _, rest = base.partition("://")
        host, slash, path = rest.partition("/")
        base = f"{scheme.lower()}://{host.lower()}{slash}{path}"
    if not base.endswith(":///"):
        base = base.rstrip("/")
    return f"{base}/?{query}" if query else base


@functools.lru_cache(maxsize=512)
def show_workspace(uri: Optional[str]) -> Optional[str]:
    """A workspace URI fit to print: credentials dropped, but its ``?o=<id>`` / ``?workspace=<name>``
    kept (plain ``redact`` drops every query, and with it which workspace is meant)."""
    if not uri:
        return uri
    base, _, query = uri.strip().partition("?")
    keep = "&".join(p for p in query.split("&") if p.split("=", 1)[0] in ("o", "workspace"))
    base = redact(base) or base
    return f"{base}?{keep}" if keep else base
