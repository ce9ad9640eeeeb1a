"""Reading a model version's source: at most one run and one LoggedModel, inside one time budget,
through the cheapest faithful reader of the store (MLflow's store object, one bounded SQL query, or REST
without retries). What could not be read is reported, never raised, so a registration never fails
because lineage was unreachable; turning what was read into values is ``source``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Optional, Protocol

from mlflow_lineage_plugin.bounded import run_bounded
from mlflow_lineage_plugin.errors import error_line, is_not_found, is_timeout
from mlflow_lineage_plugin.source import ModelFacts, RunFacts, model_facts_from_entity, run_facts_from_entity, tag_dict


@dataclass(frozen=True)
class Fetched:
    run: Optional[RunFacts] = None
    model: Optional[ModelFacts] = None
    problems: tuple[str, ...] = ()
    missing: bool = False  # the store answered that the run (or LoggedModel) does not exist there


class Reader(Protocol):
    def get_run(self, run_id: str) -> RunFacts: ...

    def get_logged_model(self, model_id: str) -> ModelFacts: ...


def _not_read(what: str, timeout: float) -> str:
    return f"{what} not read within {timeout:g}s"


def _problem(what: str, exc: Exception, timeout: float) -> str:
    """A socket timeout set to the same bound as the caller's deadline may fire first: the user reads the
    same words either way."""
    return _not_read(what, timeout) if is_timeout(exc) else f"{what} could not be read ({error_line(exc)})"


def _read(reader: Reader, run_id: Optional[str], model_id: Optional[str], out: dict, timeout: float) -> None:
    problems: list[str] = out.setdefault("problems", [])
    if model_id and not run_id:
        try:
            out["model"] = reader.get_logged_model(model_id)
        except Exception as exc:
            problems.append(_problem(f"LoggedModel {model_id}", exc, timeout))
            out["missing"] = is_not_found(exc)
            return
        run_id = out["model"].source_run_id
    if not run_id:
        return
    try:
        out["run"] = reader.get_run(run_id)
    except Exception as exc:
        problems.append(_problem(f"run {run_id}", exc, timeout))
        out["missing"] = is_not_found(exc)


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
            _read(reader_factory(), run_id, model_id, out, timeout)
        except Exception as exc:
            out.setdefault("problems", []).append(f"tracking store unavailable ({error_line(exc)})")

    if not run_bounded(work, timeout, "mlflow-lineage-source").finished:
        what = f"run {run_id}" if run_id else f"LoggedModel {model_id}"
        return Fetched(run=out.get("run"), model=out.get("model"), problems=(_not_read(what, timeout),))
    return Fetched(
        run=out.get("run"),
        model=out.get("model"),
        problems=tuple(out.get("problems", ())),
        missing=bool(out.get("missing")),
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

    The query is bounded by the database itself, not only by the caller's deadline: a read the
    caller has given up on (a locked ``tags`` table) would otherwise keep its pooled connection
    until the lock goes, and a server's pool (5 + 10 by default) runs dry after a dozen versions.
    """

    def __init__(self, store, timeout: Optional[float] = None):
        super().__init__(store)
        self.timeout = timeout

    def get_run(self, run_id: str) -> RunFacts:
        with self.store.engine.connect() as conn:
            rows = _bounded_select(conn, {"run_id": run_id}, self.timeout)
        if not rows:
            return super().get_run(run_id)  # MLflow's own "run not found" error
        tags = {key: value for _, _, key, value in rows if key is not None}
        return RunFacts(run_id=run_id, experiment_id=str(rows[0][0]), tags=tags, deleted=rows[0][1] == "deleted")


@functools.cache
def _run_tags_query():
    import sqlalchemy as sa
    from mlflow.store.tracking.dbmodels.models import SqlRun, SqlTag

    return (
        sa.select(SqlRun.experiment_id, SqlRun.lifecycle_stage, SqlTag.key, SqlTag.value)
        .select_from(SqlRun)
        .outerjoin(SqlTag, SqlTag.run_uuid == SqlRun.run_uuid)
        .where(SqlRun.run_uuid == sa.bindparam("run_id"))
    )


@functools.lru_cache(maxsize=16)
def _compiled(dialect):
    return _run_tags_query().compile(dialect=dialect)


def _driver_call(dialect, params: dict, prefix: str) -> tuple[str, object]:
    """``prefix`` + the query, with its parameters as this driver takes them (named or positional),
    for the dialects whose limit must stand in the statement text itself."""
    compiled = _compiled(dialect)
    values = compiled.construct_params(params)
    if dialect.positional:
        return prefix + compiled.string, tuple(values[name] for name in compiled.positiontup)
    return prefix + compiled.string, values


_SQLITE_BUSY_KEY = "mlflow_lineage_busy_timeout"


def _bounded_select(conn, params: dict, timeout: Optional[float]) -> list:
    """Run the run-tags query with the database's own statement / lock-wait limit of ``timeout`` s.

    Each dialect's limit ends with the query: PostgreSQL's ``SET LOCAL`` with the transaction the
    connection's return to the pool rolls back, MariaDB's ``SET STATEMENT ... FOR`` and MySQL's
    optimizer hints with the statement; SQLite's busy timeout and SQL Server's lock timeout are
    per connection, so they are put back. The limits travel in the query's own round trip.
    """
    query = _run_tags_query()
    if not timeout or timeout <= 0:
        return conn.execute(query, params).all()
    ms = max(1, int(timeout * 1000))
    dialect = conn.dialect.name
    if dialect == "postgresql":
        limits = f"SET LOCAL statement_timeout = {ms}; SET LOCAL lock_timeout = {ms}"
        if conn.dialect.driver == "psycopg2":  # sent as one simple query: one round trip
            return list(conn.exec_driver_sql(*_driver_call(conn.dialect, params, limits + "; ")).all())
        conn.exec_driver_sql(limits)  # drivers that bind server-side take one statement per call
        return conn.execute(query, params).all()
    if dialect in ("mysql", "mariadb"):
        seconds = max(1, -(-ms // 1000))  # lock-wait limits count whole seconds
        if getattr(conn.dialect, "is_mariadb", False):
            limits = (
                f"SET STATEMENT max_statement_time={ms / 1000:.3f}, lock_wait_timeout={seconds}, "
                f"innodb_lock_wait_timeout={seconds} FOR "
            )
            return list(conn.exec_driver_sql(*_driver_call(conn.dialect, params, limits)).all())
        hint = (
            f"MAX_EXECUTION_TIME({ms}) SET_VAR(lock_wait_timeout={seconds}) SET_VAR(innodb_lock_wait_timeout={seconds})"
        )
        return conn.execute(query.prefix_with(f"/*+ {hint} */"), params).all()
    if dialect == "sqlite":
        info = conn.connection.info  # lives as long as the database connection itself
        before = info.get(_SQLITE_BUSY_KEY)
        if before is None:
            before = info[_SQLITE_BUSY_KEY] = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
        if before == ms:  # MLflow's default (Python's 5 s) and ours agree: nothing to change
            return conn.execute(query, params).all()
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {ms}")
        try:
            return conn.execute(query, params).all()
        finally:
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(before or 0)}")
    if dialect == "mssql":
        before = conn.exec_driver_sql("SELECT @@LOCK_TIMEOUT").scalar()
        conn.exec_driver_sql(f"SET LOCK_TIMEOUT {ms}")
        try:
            return conn.execute(query, params).all()
        finally:
            conn.exec_driver_sql(f"SET LOCK_TIMEOUT {int(before if before is not None else -1)}")
    return conn.execute(query, params).all()


def store_reader(store, timeout: Optional[float] = None) -> StoreReader:
    """The cheapest faithful reader for a tracking store object; ``timeout`` bounds a SQL read in
    the database too."""
    try:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    except ImportError:
        return StoreReader(store)
    from mlflow_lineage_plugin.stores import unwrap

    store = unwrap(store)  # our own tracking-store wrapper: read its inner store
    if type(store) is SqlAlchemyStore and hasattr(store, "engine"):
        return SqlTagsReader(store, timeout)
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
            host_creds=self.host_creds,
            endpoint=endpoint,
            method="GET",
            params=params,
            max_retries=0,
            timeout=self.timeout,
        )
        verify_rest_response(response, endpoint)
        return response.json()

    def get_run(self, run_id: str) -> RunFacts:
        run = self._get("/api/2.0/mlflow/runs/get", {"run_id": run_id}).get("run", {})
        info = run.get("info", {})
        return RunFacts(
            run_id=info.get("run_id") or run_id,
            experiment_id=info.get("experiment_id"),
            tags=tag_dict(run.get("data", {}).get("tags", [])),
            deleted=info.get("lifecycle_stage") == "deleted",
        )

    def get_logged_model(self, model_id: str) -> ModelFacts:
        info = self._get(f"/api/2.0/mlflow/logged-models/{model_id}").get("model", {}).get("info", {})
        return ModelFacts(
            model_id=info.get("model_id") or model_id,
            experiment_id=info.get("experiment_id"),
            source_run_id=info.get("source_run_id") or None,
            tags=tag_dict(info.get("tags", [])),
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

    return store_reader(_get_store(tracking_uri), timeout)
