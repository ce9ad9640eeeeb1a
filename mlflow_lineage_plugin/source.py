"""What a new model version copies from its source, the run (or, in MLflow 3, the LoggedModel) that
produced it, as plain values: pure decoding of what was read (entities, tags, a version's ``source`` and
``run_link``) into a ``tags.SourceRun``. Reading it is ``source_readers``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Optional
from urllib.parse import parse_qs

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.urls import normalize_remote
from mlflow_lineage_plugin.workspace import (
    databricks_workspace_uri,
    is_databricks_host,
    oss_workspace_uri,
    run_page_url,
)

_MODEL_SOURCE = re.compile(r"^models:/(m-[0-9a-f]{32})(?:/.*)?$")
# A LoggedModel's own artifact location; MLflow passes this (and drops model_id) when it registers a
# LoggedModel into Unity Catalog from a non-Databricks tracking store.
_MODEL_ARTIFACTS = re.compile(r"/models/(m-[0-9a-f]{32})/artifacts/?$")
# A run page URL as MLflow's UI (``<server>/#/experiments/E/runs/R[?workspace=W]``) or Databricks
# (``<host>/?o=ID#mlflow/experiments/E/runs/R[/artifactPath/...]``) writes it into ``run_link``.
_RUN_LINK = re.compile(
    r"^(?P<base>https?://[^?#\s]+?)/?(?:\?(?P<query>[^#]*))?#/?(?:mlflow/)?experiments/(?P<exp>[^/?#]+)"
    r"/runs/(?P<run>[^/?#]+)(?:/artifactPath/[^?]*)?(?:\?(?P<tail>.*))?$"
)


@dataclass(frozen=True)
class RunFacts:
    """The part of a run a model version needs; built from an entity or a REST response."""

    run_id: str
    experiment_id: Optional[str] = None
    tags: Mapping[str, str] = field(default_factory=dict)
    deleted: bool = False


@dataclass(frozen=True)
class ModelFacts:
    """The part of an MLflow 3 LoggedModel a model version needs."""

    model_id: str
    experiment_id: Optional[str] = None
    source_run_id: Optional[str] = None
    tags: Mapping[str, str] = field(default_factory=dict)


def model_id_from_source(source: Optional[str]) -> Optional[str]:
    """``models:/m-<32 hex>`` (MLflow 3 LoggedModel URI) or a LoggedModel's artifact location
    (``.../models/m-<32 hex>/artifacts``) → its id; registered-model URIs → None."""
    if not source:
        return None
    m = _MODEL_SOURCE.match(source.strip()) or _MODEL_ARTIFACTS.search(source.strip())
    return m.group(1) if m else None


def workspace_from_run_link(run_link: Optional[str], run_id: Optional[str]) -> Optional[tuple[str, str]]:
    """(workspace URI, experiment id) named by a ``run_link`` that points at the run ``run_id``.

    What a request itself says about where its run lives, for a server that cannot find the run in
    its own store. A link to another run, or in a form not made by MLflow or Databricks, says nothing.
    """
    m = _RUN_LINK.match((run_link or "").strip())
    if not m or not run_id or m.group("run") != run_id:
        return None
    query = parse_qs(m.group("query") or "")
    tail = parse_qs(m.group("tail") or "")
    base = m.group("base")
    if query.get("o") or is_databricks_host(base):
        return databricks_workspace_uri(base, (query.get("o") or [None])[0]), m.group("exp")
    return oss_workspace_uri(base, (tail.get("workspace") or [None])[0]), m.group("exp")


def workspace_uri_from_tags(tags: Mapping[str, str]) -> Optional[str]:
    """The workspace a run or LoggedModel says it lives in: ours first, then what Databricks wrote."""
    if tags.get(T.WORKSPACE_URI):
        return tags[T.WORKSPACE_URI]
    host = tags.get(T.MLFLOW_DATABRICKS_WORKSPACE_URL)
    if host:
        return databricks_workspace_uri(host, tags.get(T.MLFLOW_DATABRICKS_WORKSPACE_ID))
    return None


def source_run(
    *,
    run_id: Optional[str],
    model_id: Optional[str],
    run: Optional[RunFacts] = None,
    model: Optional[ModelFacts] = None,
    fallback_workspace_uri: Optional[str] = None,
    fallback_experiment_id: Optional[str] = None,
) -> T.SourceRun:
    """Everything known about the source, from whatever could be read (possibly nothing).

    The run's own tags speak first (the run knows where it ran); the LoggedModel's tags stand in
    for a model logged outside any run; the tracking URI the client used is the last resort.
    """
    run_id = run_id or (run.run_id if run else None) or (model.source_run_id if model else None)
    model_id = model_id or (model.model_id if model else None)
    merged: dict[str, str] = {}
    if model is not None:
        merged.update(model.tags)
    if run is not None:
        merged.update(run.tags)
    experiment_id = (
        (run.experiment_id if run else None) or (model.experiment_id if model else None) or fallback_experiment_id
    )
    workspace_uri = workspace_uri_from_tags(merged) or fallback_workspace_uri
    return T.SourceRun(
        run_id=run_id or None,
        experiment_id=experiment_id or None,
        model_id=model_id or None,
        workspace_uri=workspace_uri or None,
        run_url=run_page_url(workspace_uri, experiment_id, run_id),
        git=_one_spelling(T.git_from_run_tags(merged)),
        notebook=T.notebook_from_run_tags(merged),
    )


def _one_spelling(git: T.GitRef) -> T.GitRef:
    """The repository URL in the one credential-free form the run provider writes, whichever tag it
    came from (MLflow's raw ``...repoURL`` with ``.git``, ``mlflow.gitRepoURL``, Databricks'
    ``gitRepoUrl``), so a search by repository finds versions from every client. A value that is no
    git URL is dropped: it cannot be told free of credentials."""
    if not git.repo_url:
        return git
    return replace(git, repo_url=normalize_remote(git.repo_url))


def tag_dict(items) -> dict[str, str]:
    """Tags in any shape MLflow hands them over, as one dict: the one reading of that shape, for the
    registry wrapper (client entities, or protobufs inside ``mlflow server``), ``backfill`` (a version's
    tags dict), the REST readers (a list of ``{"key", "value"}``) and the rest.

    Accepts a mapping, an iterable of objects with ``key``/``value`` (``RunTag``, ``ModelVersionTag``,
    ``LoggedModelTag``, their protobuf messages), an iterable of ``{"key", "value"}`` dicts, or None
    (no tags). Keys and values become strings; a key given twice keeps its last value, as MLflow's SQL
    store keeps it.
    """
    if isinstance(items, Mapping):
        return {str(k): str(v) for k, v in items.items()}
    out = {}
    for t in items or ():
        if isinstance(t, Mapping):
            out[str(t.get("key"))] = str(t.get("value", ""))
        else:
            out[str(t.key)] = str(t.value)
    return out


def run_facts_from_entity(run) -> RunFacts:
    return RunFacts(
        run_id=run.info.run_id,
        experiment_id=str(run.info.experiment_id) if run.info.experiment_id is not None else None,
        tags=tag_dict(run.data.tags),
        deleted=getattr(run.info, "lifecycle_stage", "active") == "deleted",
    )


def model_facts_from_entity(model) -> ModelFacts:
    return ModelFacts(
        model_id=model.model_id,
        experiment_id=str(model.experiment_id) if model.experiment_id is not None else None,
        source_run_id=model.source_run_id or None,
        tags=tag_dict(model.tags),
    )
