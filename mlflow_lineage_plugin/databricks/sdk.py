"""Every databricks-sdk client the plugin builds, and the bound every workspace look-up runs in.

One place decides the clients' settings (bounded retries, identified as this plugin), when a client is
reused, and how a call on one is waited for: always inside a worker thread with a deadline, because
the SDK's own retry loop may sleep past its ``retry_timeout_seconds``, and a run must never wait on it.
"""

from __future__ import annotations

import hashlib
import math
import threading
from typing import Any, Callable, Optional, TypeVar

from mlflow_lineage_plugin.bounded import Deadline, run_bounded
from mlflow_lineage_plugin.errors import error_line

PRODUCT = "mlflow-lineage-plugin"
#: Seconds a failed look-up is remembered, so a broken profile or workspace costs one wait a minute.
FAILURE_TTL = 60.0

_THREAD = "mlflow-lineage-databricks"

R = TypeVar("R")


def load_sdk() -> None:
    """Import databricks-sdk before a deadline starts, not inside it.

    The import alone takes seconds on a busy machine (2.7-5 s on a loaded 2-CPU box): counted
    against the deadline, it made the first look-up of every fresh process give up, so a job's
    first run recorded no git reference. The import is local work, not a wait on the workspace,
    and MLflow's own Databricks REST client imports the same package, so a run that tracks to
    Databricks pays it once either way.
    """
    import databricks.sdk  # noqa: F401
    import databricks.sdk.core  # noqa: F401
    import databricks.sdk.errors  # noqa: F401


def bounded(fn: Callable[[], R], limit: float) -> R:
    """``fn()`` (calls on a workspace) waited for at most ``limit`` seconds; databricks-sdk is imported
    first, outside the deadline (``load_sdk``). Raises ``bounded.Deadline`` when it did not finish in
    time, else whatever ``fn`` raised."""
    load_sdk()
    return run_bounded(fn, limit, _THREAD).result()


def answer(fn: Callable[[], R], limit: float, secret: Optional[str] = None) -> tuple[Optional[R], Optional[str]]:
    """``bounded(fn, limit)`` for a look-up whose failure becomes one warning: its value, or None and the
    credential-free line that says why (``secret`` is scrubbed from it too)."""
    try:
        return bounded(fn, limit), None
    except Deadline:
        return None, f"no answer within {limit:.1f}s"
    except Exception as exc:
        return None, error_line(exc, secret, limit=200)


def sdk_kwargs(timeout: float) -> dict[str, Any]:
    """Settings of every databricks-sdk client the plugin builds: bounded retries, identified as this plugin."""
    from mlflow_lineage_plugin import __version__

    return {
        "retry_timeout_seconds": max(1, math.ceil(timeout)),
        "http_timeout_seconds": timeout,
        "product": PRODUCT,
        "product_version": __version__,
    }


def sdk_client(profile: Optional[str], timeout: float, host: Optional[str] = None) -> Any:
    """A WorkspaceClient for a ``~/.databrickscfg`` profile (or the SDK's default chain)."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config

    kwargs = sdk_kwargs(timeout)
    if profile:
        kwargs["profile"] = profile
    if host:
        kwargs["host"] = host
    return WorkspaceClient(config=Config(**kwargs))


_clients: dict[tuple[str, ...], Any] = {}
_building: dict[tuple[str, ...], threading.Lock] = {}
_lock = threading.Lock()


def _kept(key: tuple[str, ...], build: Callable[[], Any]) -> Any:
    """The client kept under ``key``, built once: callers that arrive while it is being built wait for
    it rather than build their own (a resolve asks for many versions at once)."""
    with _lock:
        client = _clients.get(key)
        if client is not None:
            return client
        gate = _building.setdefault(key, threading.Lock())
    with gate:
        with _lock:
            client = _clients.get(key)
        if client is None:
            client = build()
            with _lock:
                _clients[key] = client
    return client


def _secret_key(secret: Optional[str]) -> str:
    return hashlib.sha256((secret or "").encode()).hexdigest()


def client_for_token(host: Optional[str], token: Optional[str], timeout: float) -> Any:
    """A WorkspaceClient for a notebook's own credentials, reused while they stay the same.

    Building a client probes ``/.well-known/databricks-config``, so reuse saves a round trip per run.
    With no notebook credentials the SDK's default chain decides (runtime auth, env, profile).
    """
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config

    def build() -> Any:
        if host and token:
            return WorkspaceClient(config=Config(host=host, token=token, auth_type="pat", **sdk_kwargs(timeout)))
        return WorkspaceClient(config=Config(**sdk_kwargs(timeout)))

    return _kept(("token", host or "", _secret_key(token)), build)


def client_for_mlflow_uri(uri: str, timeout: float) -> Any:
    """A WorkspaceClient with the credentials MLflow's own stores use for a ``databricks`` or
    ``databricks-uc`` URI, kept per URI and the host its profile names (a changed profile gets a new one).

    The credentials are MLflow's own answer for the URI (``get_databricks_host_creds``, what its Unity
    Catalog registry store sends every request with), put into a databricks-sdk config as MLflow itself
    puts them when it sends through the SDK (``mlflow.utils.rest_utils.get_workspace_client``): the
    profile's (or the SDK's default chain's) unified auth, or the host and token a secret-scope URI names.
    When MLflow fell back to its legacy providers (the SDK off or failing), their host and token, user and
    password, or OAuth client are used as they are. So a command reads Unity Catalog with exactly the
    registry's credentials, whichever kind they are.
    """
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config
    from mlflow.utils.databricks_utils import get_databricks_host_creds, get_db_info_from_uri

    from mlflow_lineage_plugin.databricks.profiles import profile_host

    profile, _ = get_db_info_from_uri(uri)

    def build() -> Any:
        return WorkspaceClient(config=Config(**_auth_settings(get_databricks_host_creds(uri)), **sdk_kwargs(timeout)))

    return _kept(("mlflow", uri, profile_host(profile) or ""), build)


def _auth_settings(creds: Any) -> dict[str, Any]:
    """MLflow's ``MlflowHostCreds`` as databricks-sdk ``Config`` settings (see ``client_for_mlflow_uri``).

    Read with ``getattr``: the SDK fields (``use_databricks_sdk``, ``databricks_auth_profile``, ...) are
    not on every MLflow release the plugin supports, and without them MLflow sends host and token itself.
    """

    def field(name: str) -> Any:
        return getattr(creds, name, None)

    out: dict[str, Any] = {}
    if field("use_databricks_sdk") and not field("use_secret_scope_token"):
        if field("databricks_auth_profile"):
            out["profile"] = field("databricks_auth_profile")
    elif field("token"):
        out.update(host=creds.host, token=field("token"), auth_type="pat")
    elif field("username") and field("password"):
        out.update(host=creds.host, username=field("username"), password=field("password"), auth_type="basic")
    elif field("client_id") and field("client_secret"):
        out.update(host=creds.host, client_id=field("client_id"), client_secret=field("client_secret"))
    else:
        out["host"] = creds.host
    if field("ignore_tls_verification"):
        out["skip_verify"] = True
    return out


def clear() -> None:
    """Forget the clients kept (tests; credential changes)."""
    with _lock:
        _clients.clear()
        _building.clear()
