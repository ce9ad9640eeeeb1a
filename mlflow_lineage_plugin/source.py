"""What a new model version copies from its source: the run (or, in MLflow 3, the LoggedModel) that
produced it.

Two halves: ``source_run`` is a pure function from what was read to a ``tags.SourceRun``; ``fetch``
does the reading, at most one run and one LoggedModel, inside one time budget, and reports what it
could not read instead of raising, so a registration never fails because lineage was unreachable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.bounded import run_bounded
from mlflow_lineage_plugin.urls import error_line
from mlflow_lineage_plugin.workspace import databricks_workspace_uri, run_page_url

_MODEL_SOURCE = re.compile(r"^models:/(m-[0-9a-f]{32})(?:/.*)?$")
# A LoggedModel's own artifact location; MLflow passes this (and drops model_id) when it registers a
# LoggedModel into Unity Catalog from a non-Databricks tracking store.
_MODEL_ARTIFACTS = re.compile(r"/models/(m-[0-9a-f]{32})/artifacts/?$")


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


@dataclass(frozen=True)
class Fetched:
    run: Optional[RunFacts] = None
    model: Optional[ModelFacts] = None
    problems: tuple[str, ...] = ()


class Reader(Protocol):
    def get_run(self, run_id: str) -> RunFacts: ...

    def get_logged_model(self, model_id: str) -> ModelFacts: ...


def model_id_from_source(source: Optional[str]) -> Optional[str]:
    """``models:/m-<32 hex>`` (MLflow 3 LoggedModel URI) or a LoggedModel's artifact location
    (``.../models/m-<32 hex>/artifacts``) → its id; registered-model URIs → None."""
    if not source:
        return None
    m = _MODEL_SOURCE.match(source.strip()) or _MODEL_ARTIFACTS.search(source.strip())
    return m.group(1) if m else None


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
    experiment_id = (run.experiment_id if run else None) or (model.experiment_id if model else None)
    workspace_uri = workspace_uri_from_tags(merged) or fallback_workspace_uri
    return T.SourceRun(
        run_id=run_id or None,
        experiment_id=experiment_id or None,
        model_id=model_id or None,
        workspace_uri=workspace_uri or None,
        run_url=run_page_url(workspace_uri, experiment_id, run_id),
        git=T.git_from_run_tags(merged),
        notebook=T.notebook_from_run_tags(merged),
    )


def _read(reader: Reader, run_id: Optional[str], model_id: Optional[str], out: dict) -> None:
    problems: list[str] = out.setdefault("problems", [])
    if model_id and not run_id:
        try:
            out["model"] = reader.get_logged_model(model_id)
        except Exception as exc:
            problems.append(f"LoggedModel {model_id} could not be read ({error_line(exc)})")
            return
        run_id = out["model"].source_run_id
    if not run_id:
        return
    try:
        out["run"] = reader.get_run(run_id)
    except Exception as exc:
        problems.append(f"run {run_id} could not be read ({error_line(exc)})")


def fetch(
    reader_factory: Callable[[], Reader],
    *,
    run_id: Optional[str],
    model_id: Optional[str],
    timeout: float,
) -> Fetched:
    """Read the source run (and the LoggedModel when only a model id is known) within ``timeout``.

    Runs in a daemon thread so a hung server or a locked database costs the caller at most
    ``timeout`` seconds; whatever arrived in time is used.
    """
    if not run_id and not model_id:
        return Fetched()
    out: dict = {}

    def work() -> None:
        try:
            _read(reader_factory(), run_id, model_id, out)
        except Exception as exc:
            out.setdefault("problems", []).append(f"tracking store unavailable ({error_line(exc)})")

    if not run_bounded(work, timeout, "mlflow-lineage-source").finished:
        what = f"run {run_id}" if run_id else f"LoggedModel {model_id}"
        return Fetched(run=out.get("run"), model=out.get("model"),
                       problems=(f"{what} not read within {timeout:g}s",))
    return Fetched(run=out.get("run"), model=out.get("model"), problems=tuple(out.get("problems", ())))


# --- readers --------------------------------------------------------------------------------------


def _tag_dict(items) -> dict[str, str]:
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
        tags=_tag_dict(run.data.tags),
        deleted=getattr(run.info, "lifecycle_stage", "active") == "deleted",
    )


def model_facts_from_entity(model) -> ModelFacts:
    return ModelFacts(
        model_id=model.model_id,
        experiment_id=str(model.experiment_id) if model.experiment_id is not None else None,
        source_run_id=model.source_run_id or None,
        tags=_tag_dict(model.tags),
    )


class StoreReader:
    """Reads through an MLflow tracking store object (SQL, file, or a server's own store)."""

    def __init__(self, store):
        self.store = store

    def get_run(self, run_id: str) -> RunFacts:
        return run_facts_from_entity(self.store.get_run(run_id))

    def get_logged_model(self, model_id: str) -> ModelFacts:
        return model_facts_from_entity(self.store.get_logged_model(model_id))


class SqlTagsReader(StoreReader):
    """Reads only a run's experiment, state and tags from MLflow's SQL tables, in one query.

    MLflow's ``get_run`` also loads params, metrics, dataset inputs and model outputs: about 30x
    the time, which alone would make a registration ~1.5x slower. A plain connection, not MLflow's
    managed session (whose set-up and commit cost four times the query), since nothing is written.
    Used only for MLflow's plain ``SqlAlchemyStore``; the workspace-aware store keeps ``get_run`` so
    workspace isolation holds.
    """

    def get_run(self, run_id: str) -> RunFacts:
        import sqlalchemy as sa
        from mlflow.store.tracking.dbmodels.models import SqlRun, SqlTag

        query = (sa.select(SqlRun.experiment_id, SqlRun.lifecycle_stage, SqlTag.key, SqlTag.value)
                 .select_from(SqlRun).outerjoin(SqlTag, SqlTag.run_uuid == SqlRun.run_uuid)
                 .where(SqlRun.run_uuid == run_id))  # fmt: skip
        with self.store.engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return super().get_run(run_id)  # MLflow's own "run not found" error
        tags = {key: value for _, _, key, value in rows if key is not None}
        return RunFacts(run_id=run_id, experiment_id=str(rows[0][0]), tags=tags, deleted=rows[0][1] == "deleted")


def store_reader(store) -> StoreReader:
    """The cheapest faithful reader for a tracking store object."""
    try:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    except ImportError:
        return StoreReader(store)
    from mlflow_lineage_plugin.tracking_store import LineageTrackingStore

    if type(store) is LineageTrackingStore:  # our own tracking-store wrapper: read its inner store
        store = store.inner
    if type(store) is SqlAlchemyStore and hasattr(store, "engine"):
        return SqlTagsReader(store)
    return StoreReader(store)


class RestReader:
    """Reads a tracking server or Databricks workspace with ONE attempt per request.

    MLflow's own REST store retries for minutes; a registration must not wait that long for
    lineage, so this calls the same endpoints without retries and with a socket timeout.
    """

    def __init__(self, host_creds, timeout: float):
        self.host_creds = host_creds
        self.timeout = timeout

    def _get(self, endpoint: str, params: Optional[dict] = None) -> dict:
        from mlflow.utils.rest_utils import http_request, verify_rest_response

        response = http_request(
            host_creds=self.host_creds, endpoint=endpoint, method="GET", params=params,
            max_retries=0, timeout=self.timeout,
        )  # fmt: skip
        verify_rest_response(response, endpoint)
        return response.json()

    def get_run(self, run_id: str) -> RunFacts:
        run = self._get("/api/2.0/mlflow/runs/get", {"run_id": run_id}).get("run", {})
        info = run.get("info", {})
        return RunFacts(
            run_id=info.get("run_id") or run_id,
            experiment_id=info.get("experiment_id"),
            tags=_tag_dict(run.get("data", {}).get("tags", [])),
            deleted=info.get("lifecycle_stage") == "deleted",
        )

    def get_logged_model(self, model_id: str) -> ModelFacts:
        info = self._get(f"/api/2.0/mlflow/logged-models/{model_id}").get("model", {}).get("info", {})
        return ModelFacts(
            model_id=info.get("model_id") or model_id,
            experiment_id=info.get("experiment_id"),
            source_run_id=info.get("source_run_id") or None,
            tags=_tag_dict(info.get("tags", [])),
        )


def reader_for_tracking_uri(tracking_uri: str, timeout: float) -> Reader:
    """REST for servers and Databricks (no retries); MLflow's own store object for local/SQL URIs."""
    scheme = tracking_uri.split("://", 1)[0].lower() if "://" in tracking_uri else tracking_uri.lower()
    if scheme in ("http", "https"):
        from mlflow.utils.credentials import get_default_host_creds

        return RestReader(get_default_host_creds(tracking_uri), timeout)
    if scheme in ("databricks", "databricks-uc"):
        from mlflow.utils.databricks_utils import get_databricks_host_creds

        return RestReader(get_databricks_host_creds(tracking_uri), timeout)
    from mlflow.tracking._tracking_service.utils import _get_store

    return store_reader(_get_store(tracking_uri))
