"""MLflow runs as OpenLineage ``RunEvent``s, sent through the ``openlineage-python`` client.

One job per module: ``facts`` (what an event says about a run, as plain values, and the names every
event carries), ``events`` (building ``RunEvent``s with the client's own classes; ``facets``, this
plugin's two custom facets), ``gathering`` (the runs reached from targets, through the resolver),
``sending`` (the client, configured as its users configure it), ``live`` (one event per new model
version, in the background). ``extra`` is the only module that imports openlineage-python, an optional
extra, and only when an event is built or sent: importing this package never needs it.

This package's names are the Python API of ``mlflow-lineage openlineage``.
"""

from __future__ import annotations

from mlflow_lineage_plugin import __version__
from mlflow_lineage_plugin.openlineage.events import run_event, run_events, to_dict, to_json
from mlflow_lineage_plugin.openlineage.extra import INSTALL_HINT, MissingExtra, available
from mlflow_lineage_plugin.openlineage.facts import (
    DATASET_INPUT_FACET,
    FACETS_SCHEMA_FILE,
    FACETS_SCHEMA_PATH,
    FACETS_SCHEMA_URL,
    HOME,
    PRODUCER,
    RELEASE,
    RUN_FACET,
    RUN_ID_NAMESPACE,
    START,
    TERMINAL,
    RunFacts,
    event_type,
    facts_from_run,
    job_name,
    ol_run_id,
    registry_namespace,
)
from mlflow_lineage_plugin.openlineage.gathering import Gathered, events_for, gather
from mlflow_lineage_plugin.openlineage.live import drain, emit_new_version
from mlflow_lineage_plugin.openlineage.sending import NOT_CONFIGURED, NotConfigured, client, emit, transport_kind

__all__ = [
    "__version__",
    "DATASET_INPUT_FACET",
    "FACETS_SCHEMA_FILE",
    "FACETS_SCHEMA_PATH",
    "FACETS_SCHEMA_URL",
    "HOME",
    "INSTALL_HINT",
    "NOT_CONFIGURED",
    "PRODUCER",
    "RELEASE",
    "RUN_FACET",
    "RUN_ID_NAMESPACE",
    "START",
    "TERMINAL",
    "Gathered",
    "MissingExtra",
    "NotConfigured",
    "RunFacts",
    "available",
    "client",
    "drain",
    "emit",
    "emit_new_version",
    "event_type",
    "events_for",
    "facts_from_run",
    "gather",
    "job_name",
    "ol_run_id",
    "registry_namespace",
    "run_event",
    "run_events",
    "to_dict",
    "to_json",
    "transport_kind",
]
