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

from mlflow_lineage_plugin.bounded import run_bounded

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


_clients: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def client_for_token(host: Optional[str], token: Optional[str], timeout: float) -> Any:
    """A WorkspaceClient for a notebook's own credentials, reused while they stay the same.

    Building a client probes ``/.well-known/databricks-config``, so reuse saves a round trip per run.
    With no notebook credentials the SDK's default chain decides (runtime auth, env, profile).
    """
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config

    key = (host or "", hashlib.sha256((token or "").encode()).hexdigest())
    with _lock:
        client = _clients.get(key)
    if client is not None:
        return client
    if host and token:
        cfg = Config(host=host, token=token, auth_type="pat", **sdk_kwargs(timeout))
    else:
        cfg = Config(**sdk_kwargs(timeout))
    client = WorkspaceClient(config=cfg)
    with _lock:
        _clients[key] = client
    return client


def clear() -> None:
    """Forget the clients kept (tests; credential changes)."""
    with _lock:
        _clients.clear()
