"""Workspace URI → an MLflow client that can read it, or the reason none can.

A version's ``lineage_workspace_uri`` names where its run lives; this module decides how this
machine reaches that place: the explicit mapping first (``MLFLOW_LINEAGE_WORKSPACES`` or the
``MLFLOW_LINEAGE_CONFIG`` file), then the client's own workspace, then a ``~/.databrickscfg`` profile
for the same Databricks host (so whatever auth a user already has works, through databricks-sdk's
unified auth), then http(s) tracking servers directly and local stores that exist here. Anything
else is "unreachable, because ...", which the walk turns into a finding and keeps going.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

from mlflow_lineage_plugin import config
from mlflow_lineage_plugin.config import load_mapping_file, parse_mapping_env
from mlflow_lineage_plugin.databricks import config_path, norm_host, profile_host, profiles_for_host
from mlflow_lineage_plugin.errors import ResolveError
from mlflow_lineage_plugin.tracking_workspace import registry_uri_for
from mlflow_lineage_plugin.urls import redact
from mlflow_lineage_plugin.workspace import (
    canonical,
    databricks_profile,
    is_databricks_uri,
    is_unity_catalog_uri,
    oss_workspace_uri,
    parse_workspace_uri,
)


@dataclass(frozen=True)
class Endpoint:
    """How (or why not) a workspace is reached. ``tracking_uri`` None means unreachable."""

    workspace_uri: str
    tracking_uri: Optional[str]
    via: str  # "home", "mapping", "profile", "direct", "local", "none"
    reason: Optional[str] = None


# --- bounded MLflow HTTP ----------------------------------------------------------------------

_env_lock = threading.Lock()
_env_depth = 0
_env_saved: dict[str, Optional[str]] = {}


@contextlib.contextmanager
def bounded(timeout: float) -> Iterator[None]:
    """Make MLflow's REST calls give up after ``timeout`` seconds, without retries, meanwhile.

    MLflow's defaults (120 s, 7 retries with back-off) turn one silent server into many minutes;
    a lineage query would rather report "no answer" and move on. MLflow reads these variables on
    every request, so setting them for the duration of a resolve is enough; nested or concurrent
    resolves share one setting and the outermost restores the user's values.
    """
    global _env_depth
    values = {
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, int(round(timeout)))),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_DATABRICKS_ENDPOINT_HTTP_RETRY_TIMEOUT": str(max(1, int(round(timeout)))),
    }
    with _env_lock:
        if _env_depth == 0:
            _env_saved.clear()
            for k, v in values.items():
                _env_saved[k] = os.environ.get(k)
                os.environ[k] = v
        _env_depth += 1
    try:
        yield
    finally:
        with _env_lock:
            _env_depth -= 1
            if _env_depth == 0:
                for k, old in _env_saved.items():
                    if old is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = old


# --- explicit mapping ---------------------------------------------------------------------------


def configured_mapping() -> dict[str, str]:
    mapping: dict[str, str] = {}
    path = config.get(config.CONFIG_FILE)
    if path:
        mapping.update(load_mapping_file(path))
    mapping.update(parse_mapping_env(config.get(config.WORKSPACES)))
    return mapping


# --- the clients of one resolve --------------------------------------------------------------------


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
        if self.home_workspace and _same_workspace(key, self.home_workspace):
            return Endpoint(workspace_uri, self.tracking_uri, "home")
        return resolve_endpoint(workspace_uri)


_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def missing_store(uri: str) -> Optional[str]:
    """Why a local store URI names no store this process can read, or None when it does (or is remote).

    MLflow creates a SQLite file or a store directory that does not exist the moment a client opens
    it, so a read would leave one behind, often in a place the user did not mean (a typo, three
    slashes instead of four, the default ``mlflow.db`` of whatever folder the shell is in). A file it
    cannot open costs minutes of MLflow's connection retries before an error that names no path.
    """
    u = uri.strip()
    if u.startswith("sqlite:"):
        if not u.startswith("sqlite:///"):
            return None  # sqlite:// is an in-memory database
        path = u[len("sqlite:///") :].split("?", 1)[0]
        if not path or path == ":memory:":
            return None
        p = Path(path)
        relative = (
            ""
            if p.is_absolute()
            else (
                f"; three slashes make a relative path (from {Path.cwd()}), an absolute one takes four: "
                f"sqlite:///{Path.cwd() / p}"
            )
        )
        if p.is_dir():
            return f"SQLite store {path} is a directory, not a database file"
        if not p.is_file():
            return f"SQLite store {path} does not exist{relative}"
        if not os.access(p, os.R_OK) or not os.access(p.parent, os.X_OK):
            return f"SQLite store {path} cannot be read (permission denied)"
        return _sqlite_problem(p, path)
    if u.startswith("file:"):
        path = urlsplit(u).path
        if path and not Path(path).is_dir():
            return f"file store {path} does not exist"
        return None
    if "://" in u or u in ("databricks", "databricks-uc", "uc") or not u:
        return None
    # A bare path: MLflow reads it as a file store directory.
    if u.lower().endswith(_SQLITE_SUFFIXES):
        return f"{u} is a path, which MLflow reads as a file store directory; for a SQLite database use sqlite:///{u}"
    if not Path(u).expanduser().is_dir():
        return f"file store {u} does not exist"
    return None


def _sqlite_problem(path: Path, shown: str) -> Optional[str]:
    """Why a SQLite file is no MLflow store, read without writing to it; None when it is one."""
    import sqlite3

    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=1)
        try:
            found = con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'experiments'")
            if found.fetchone() is None:
                return f"SQLite file {shown} holds no MLflow store (MLflow would create its tables there)"
            return None
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc) or "unable to open" in str(exc):
            return f"SQLite store {shown} cannot be read ({exc})"
        return None  # locked or unusual: let MLflow open it and say what is wrong


def check_stores(tracking_uri_given: Optional[str], tracking_uri: str, registry_uri: str) -> None:
    """Every command's first step: the local stores it will open exist and can be read (``ResolveError``)."""
    defaulted = not tracking_uri_given and not os.environ.get("MLFLOW_TRACKING_URI")
    check_store_exists(tracking_uri, "tracking", defaulted)
    if registry_uri != tracking_uri:
        check_store_exists(registry_uri, "registry", False)


def check_store_exists(uri: str, what: str, defaulted: bool = False) -> None:
    """Raise ``ResolveError`` naming the path when ``uri`` is a local store that is not there."""
    reason = missing_store(uri)
    if reason is None:
        return
    hint = (
        " (MLflow's default: no tracking URI is set; set MLFLOW_TRACKING_URI or pass --tracking-uri)"
        if defaulted
        else ""
    )
    raise ResolveError(f"{what} URI {redact(uri) or uri}: {reason}{hint}")


def _same_workspace(a: str, b: str) -> bool:
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
