"""MLflow's HTTP retries and timeout, bounded for a while: the one place the plugin sets them.

MLflow's defaults (120 s per request, 7 retries with back-off) turn one silent server into many
minutes. MLflow has no per-client or per-call setting for them: ``http_request`` reads
``MLFLOW_HTTP_REQUEST_*`` from ``os.environ`` on every request. So bounding them means setting those
variables, which every thread of the process sees until they are restored (docs/resolver.md says so).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Optional

TIMEOUT = "MLFLOW_HTTP_REQUEST_TIMEOUT"
MAX_RETRIES = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"
BACKOFF_FACTOR = "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"
DATABRICKS_RETRY_TIMEOUT = "MLFLOW_DATABRICKS_ENDPOINT_HTTP_RETRY_TIMEOUT"

_lock = threading.Lock()
_depth = 0
_saved: dict[str, Optional[str]] = {}  # each variable as it was before the first of the uses now inside
_ours: dict[str, str] = {}  # what those uses wrote: a value that differs from it is someone else's


@contextlib.contextmanager
def bounded_http(
    timeout: float, retries: int = 0, backoff: Optional[int] = None, *, users_win: bool = False
) -> Iterator[None]:
    """Each MLflow request gives up after ``timeout`` seconds, retried at most ``retries`` times, meanwhile.

    Without retries, MLflow's Databricks SDK path is held to one ``timeout`` as well. ``users_win``
    leaves a variable the user set alone (``backfill``: its own ``--retries`` are a default, MLflow's
    variables a deliberate choice); otherwise the bound holds whatever was set (``show``: a silent
    server must cost one timeout). Each use sets its own values when it starts, even while another is
    inside (one still inside in a forgotten thread must not leave a later use unbounded), and the last
    one out puts every variable back exactly as the first found it, set or unset, exception or not.
    """
    global _depth
    seconds = str(max(1, round(timeout)))
    values = {TIMEOUT: seconds, MAX_RETRIES: str(retries)}
    if backoff is not None:
        values[BACKOFF_FACTOR] = str(backoff)
    if retries == 0:
        values[DATABRICKS_RETRY_TIMEOUT] = seconds
    with _lock:
        if _depth == 0:
            _saved.clear()
            _ours.clear()
        for key, value in values.items():
            old = os.environ.get(key)
            if users_win and old is not None and _ours.get(key) != old:
                continue  # the user's own setting
            _saved.setdefault(key, old)
            os.environ[key] = _ours[key] = value
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for key, old in _saved.items():
                    if old is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = old
                _saved.clear()
                _ours.clear()
