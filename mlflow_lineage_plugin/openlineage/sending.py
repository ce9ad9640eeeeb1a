"""Sending events through openlineage-python's client, configured the way its users already do
(``OPENLINEAGE_URL``, ``OPENLINEAGE_CONFIG`` / ``openlineage.yml``); the plugin never speaks HTTP itself.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from mlflow_lineage_plugin.openlineage.extra import lib

NOT_CONFIGURED = (
    "OpenLineage has no transport configured: set OPENLINEAGE_URL, or OPENLINEAGE_CONFIG "
    "(or ./openlineage.yml, ~/.openlineage/openlineage.yml) with a transport"
)


class NotConfigured(RuntimeError):
    """The OpenLineage client found no transport in its configuration."""


def client() -> Any:
    """An ``OpenLineageClient`` configured as its users configure it; ``NotConfigured`` if it found nothing.

    The client would otherwise add a ``sourceCodeLocation`` facet from the git checkout of the process
    that sends, which is not the code that ran: that is switched off here, the run's own is used.
    """
    ol = lib()
    overrides: dict[str, Any] = {}
    if hasattr(ol.FacetsConfig(), "source_code_location"):
        overrides = {"facets": {"source_code_location": {"disabled": True}}}
    quiet = logging.getLogger("openlineage.client.client")  # it logs "will print to console" when unconfigured
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        c = ol.OpenLineageClient(config=overrides)
    finally:
        quiet.setLevel(level)
    transport = c.config.transport or {}
    if not (
        transport.get("type")
        or os.environ.get("OPENLINEAGE_URL")
        or os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true"
    ):
        raise NotConfigured(NOT_CONFIGURED)
    return c


def transport_kind(c: Any) -> str:
    return str(getattr(c.transport, "kind", None) or type(c.transport).__name__)


def emit(events: Sequence[Any], c: Any = None) -> int:
    """Send ``events`` through the client's transport, in order; returns how many were sent.

    Raises the transport's own exception at the first event it could not deliver.
    """
    c = c or client()
    sent = 0
    for ev in events:
        c.emit(ev)
        sent += 1
    return sent
