"""MLflow runs as OpenLineage ``RunEvent``s, built with openlineage-python's own (validating) classes
from ``RunFacts``.

Two events per run, as the spec's run cycle has them: ``START`` at the run's start time, then the
terminal event (``COMPLETE``, ``FAIL``, ``ABORT``) at its end; a run still going has its ``START`` only.
The job is where the run lives (namespace: its workspace URI) and what it is (name: experiment name,
plus the entry file); the run id is derived from the MLflow run id, so sending the same run again names
the same OpenLineage run and gives the same events; inputs are the run's logged datasets, outputs the
registered model versions made from it.
"""

from __future__ import annotations

import time
from typing import Any, Optional

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.datasets import DatasetRef
from mlflow_lineage_plugin.openlineage.extra import Client, lib
from mlflow_lineage_plugin.openlineage.facts import (
    DATASET_INPUT_FACET,
    MODEL,
    PRODUCER,
    RUN_FACET,
    START,
    TERMINAL,
    RunFacts,
    event_type,
    iso,
    job_name,
    ol_run_id,
    scheduled_time,
)
from mlflow_lineage_plugin.urls import normalize_remote, source_web_url
from mlflow_lineage_plugin.workspace import run_page_url


def _facets() -> Any:
    """The custom facet classes; importing them imports openlineage-python (``MissingExtra`` without it)."""
    from mlflow_lineage_plugin.openlineage import facets

    return facets


def _source_code_facet(ol: Client, facts: RunFacts) -> Optional[Any]:
    git = T.git_from_run_tags(facts.tags)
    repo = normalize_remote(git.repo_url) or git.repo_url
    if not git.commit or not repo:
        return None
    url = git.source_url or source_web_url(repo, git.commit, git.path) or repo
    return ol.source_code.SourceCodeLocationJobFacet(
        type="git",
        url=url,
        repoUrl=repo,
        path=git.path,
        version=git.commit,
        branch=git.branch,
        producer=PRODUCER,
    )


def _input(ol: Client, d: DatasetRef) -> Any:
    F = _facets()
    facets: dict[str, Any] = {}
    if d.schema:
        facets["schema"] = ol.schema.SchemaDatasetFacet(
            fields=[ol.schema.SchemaDatasetFacetFields(name=n, type=t or None) for n, t in d.schema],
            producer=PRODUCER,
        )
    if d.version or d.digest:
        facets["version"] = ol.version.DatasetVersionDatasetFacet(
            datasetVersion=d.version or d.digest, producer=PRODUCER
        )
    input_facets = {
        DATASET_INPUT_FACET: F.MlflowDatasetFacet(
            name=d.name, digest=d.digest, sourceType=d.source_type, context=d.context, producer=PRODUCER
        )
    }
    return ol.event_v2.InputDataset(namespace=d.namespace, name=d.ol_name, facets=facets, inputFacets=input_facets)


def _output(ol: Client, namespace: str, name: str, version: str) -> Any:
    facets = {
        "datasetType": ol.dataset_type.DatasetTypeDatasetFacet(datasetType=MODEL, producer=PRODUCER),
        "version": ol.version.DatasetVersionDatasetFacet(datasetVersion=str(version), producer=PRODUCER),
    }
    return ol.event_v2.OutputDataset(namespace=namespace, name=f"{name}/{version}", facets=facets)


def run_events(facts: RunFacts) -> list[Any]:
    """The run's ``START`` (at its start time) and, once it has ended, its terminal event (at its end time).

    Pure: the same run gives the same events every time, so re-sending them is harmless."""
    kind = event_type(facts.status)
    events = [run_event(facts, START)] if facts.start_time else []
    if kind in TERMINAL or not events:
        events.append(run_event(facts, kind))
    return events


def run_event(facts: RunFacts, kind: Optional[str] = None) -> Any:
    """One ``RunEvent`` of the run (``kind``: ``START``, else the run's state), built with the client's own
    (validating) classes. The two events of a run differ only in type and time."""
    ol, F = lib(), _facets()
    kind = kind or event_type(facts.status)
    tags = facts.tags
    nb = T.notebook_from_run_tags(tags)
    git = T.git_from_run_tags(tags)
    job_facets: dict[str, Any] = {}
    scl = _source_code_facet(ol, facts)
    if scl is not None:
        job_facets["sourceCodeLocation"] = scl
    run_facets: dict[str, Any] = {}
    start, end = iso(facts.start_time), iso(facts.end_time)
    scheduled = scheduled_time(tags)
    if scheduled:
        run_facets["nominalTime"] = ol.nominal_time.NominalTimeRunFacet(nominalStartTime=scheduled, producer=PRODUCER)
    run_facets[RUN_FACET] = F.MlflowRunFacet(
        runId=facts.run_id,
        experimentId=facts.experiment_id,
        workspaceUri=facts.workspace_uri,
        experimentName=facts.experiment_name,
        runName=tags.get(T.MLFLOW_RUN_NAME),
        status=facts.status,
        user=tags.get(T.MLFLOW_USER),
        runUrl=run_page_url(facts.workspace_uri, facts.experiment_id, facts.run_id),
        gitDirty=git.dirty if git.commit else None,
        notebookPath=nb.path,
        notebookId=nb.id,
        uncommittedChanges=git.diff.state if git.diff else None,
        uncommittedChangesSha256=git.diff.sha256 if git.diff else None,
        uncommittedChangesFiles=git.diff.files if git.diff else None,
        notebookRevisionId=nb.revision_id,
        registeredModelVersions=[{"name": n, "version": v} for n, v in facts.versions] or None,
        producer=PRODUCER,
    )
    outputs = (
        [_output(ol, facts.registry_namespace, n, v) for n, v in facts.versions] if facts.registry_namespace else []
    )
    return ol.event_v2.RunEvent(
        eventType=ol.event_v2.RunState(kind),
        eventTime=(start if kind == START else end or start) or iso(int(time.time() * 1000)),
        run=ol.event_v2.Run(runId=ol_run_id(facts.run_id), facets=run_facets),
        job=ol.event_v2.Job(namespace=facts.workspace_uri, name=job_name(facts), facets=job_facets),
        inputs=[_input(ol, d) for d in facts.datasets],
        outputs=outputs,
        producer=PRODUCER,
    )


def to_dict(event: Any) -> dict[str, Any]:
    return lib().serde.to_dict(event)


def to_json(event: Any) -> str:
    """One line of JSON, exactly what the client's transports send."""
    return lib().serde.to_json(event)
