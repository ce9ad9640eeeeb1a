"""What one OpenLineage event says about an MLflow run, as plain values (``RunFacts``), and the names
every event carries: the producer, the custom facets' schema, the run id namespace, the job's name.
Pure: no openlineage-python here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from mlflow_lineage_plugin import __version__
from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.datasets import DatasetRef, run_datasets
from mlflow_lineage_plugin.urls import redact
from mlflow_lineage_plugin.workspace import is_databricks_uri, oss_workspace_uri

# The project's home, as pyproject.toml's [project.urls] declares it (a test holds the two together). A
# placeholder until the project is published: github.com/example is the org the repository's examples use.
HOME = "https://github.com/example/mlflow-lineage-plugin"
RELEASE = f"v{__version__}"  # the git tag of this release: producer and schema URLs name files at it
PRODUCER = f"{HOME}/tree/{RELEASE}"
# The custom facets' JSON schema ships in the package, at this path in the repository, served raw (JSON,
# not a web page) at the release's tag; each facet's _schemaURL adds its ``#/$defs/<facet>`` fragment.
FACETS_SCHEMA_PATH = "mlflow_lineage_plugin/openlineage_facets.json"
_RAW = HOME.replace("https://github.com/", "https://raw.githubusercontent.com/", 1)
FACETS_SCHEMA_URL = f"{_RAW}/{RELEASE}/{FACETS_SCHEMA_PATH}"
FACETS_SCHEMA_FILE = Path(__file__).parent.parent / "openlineage_facets.json"
RUN_FACET = "mlflow_run"  # keys of the custom facets in the event
DATASET_INPUT_FACET = "mlflow_dataset"
# Fixed forever: the OpenLineage run id of an MLflow run is uuid5(this, run id), so re-sending a run
# names the same OpenLineage run (consumers merge by run id) whatever machine or release sends it.
RUN_ID_NAMESPACE = uuid.UUID("5d0f6a8e-3c1b-5e27-9a4f-6c2b1e8d7f30")
MODEL = "MODEL"

START = "START"
_STATES = {"FINISHED": "COMPLETE", "FAILED": "FAIL", "KILLED": "ABORT", "RUNNING": "RUNNING", "SCHEDULED": "RUNNING"}
TERMINAL = frozenset({"COMPLETE", "FAIL", "ABORT"})


@dataclass(frozen=True)
class RunFacts:
    """Everything one event says about a run, as plain values: ``run_event`` is a pure function of it."""

    run_id: str
    experiment_id: str
    experiment_name: Optional[str]
    status: str
    start_time: Optional[int]
    end_time: Optional[int]
    workspace_uri: str
    tags: dict[str, str] = field(default_factory=dict)
    datasets: tuple[DatasetRef, ...] = ()
    versions: tuple[tuple[str, str], ...] = ()  # (registered model, version)
    registry_namespace: Optional[str] = None


def facts_from_run(
    run: Any,
    *,
    experiment_name: Optional[str],
    workspace_uri: Optional[str],
    versions: Iterable[tuple[str, str]] = (),
    registry_namespace: Optional[str] = None,
) -> RunFacts:
    from mlflow_lineage_plugin.workspace import show_workspace  # credential-free, ?o= kept

    info = run.info
    rtags = dict(run.data.tags or {})
    ws = show_workspace(rtags.get(T.WORKSPACE_URI) or workspace_uri) or "mlflow"
    return RunFacts(
        run_id=info.run_id,
        experiment_id=str(info.experiment_id),
        experiment_name=experiment_name,
        status=str(info.status),
        start_time=info.start_time,
        end_time=info.end_time,
        workspace_uri=ws,
        tags=rtags,
        datasets=tuple(run_datasets(run, ws)),
        versions=tuple(sorted(set(versions), key=lambda v: (v[0], int(v[1]) if v[1].isdigit() else 0))),
        registry_namespace=registry_namespace,
    )


def registry_namespace(registry_uri: Optional[str]) -> Optional[str]:
    """Where registered models live, as a namespace: the registry's workspace URI."""
    if not registry_uri:
        return None
    if is_databricks_uri(registry_uri):
        return redact(registry_uri)
    try:
        return oss_workspace_uri(registry_uri)
    except Exception:
        return redact(registry_uri)


def ol_run_id(mlflow_run_id: str) -> str:
    return str(uuid.uuid5(RUN_ID_NAMESPACE, mlflow_run_id))


def iso(ms: Optional[int]) -> Optional[str]:
    if not ms:
        return None
    return datetime.fromtimestamp(int(ms) / 1000, tz=timezone.utc).isoformat(timespec="milliseconds")


def scheduled_time(tags: dict[str, str]) -> Optional[str]:
    """The time the run was scheduled for, when whoever scheduled it recorded one (``lineage_scheduled_time``:
    ISO 8601 with an offset, or epoch milliseconds); never the actual start, which is the START's eventTime."""
    raw = (tags.get(T.SCHEDULED_TIME) or "").strip()
    if raw.isdigit():
        return iso(int(raw))
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.isoformat(timespec="milliseconds") if when.tzinfo else None


def entry_path(facts: RunFacts) -> Optional[str]:
    """The file the run came from: its path in the repository, else its notebook, else its script."""
    git = T.git_from_run_tags(facts.tags)
    if git.path:
        return git.path
    nb = T.notebook_from_run_tags(facts.tags)
    if nb.path:
        return nb.path
    name = facts.tags.get(T.MLFLOW_SOURCE_NAME)
    if name and (facts.tags.get(T.MLFLOW_SOURCE_TYPE) or "").upper() != T.SOURCE_TYPE_NOTEBOOK:
        return name
    return None


def job_name(facts: RunFacts) -> str:
    """``<experiment name>:<entry path>``: one job per experiment and entry file."""
    exp = facts.experiment_name or f"experiment {facts.experiment_id}"
    path = entry_path(facts)
    return f"{exp}:{path}" if path else exp


def event_type(status: str) -> str:
    return _STATES.get(status.upper(), "OTHER")
