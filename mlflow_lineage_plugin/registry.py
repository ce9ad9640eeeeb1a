"""The model-registry store wrapper and its builders, one per built-in URI scheme (how MLflow finds
them, and how the wrapper passes for MLflow's own store: ``stores``).

The wrapper delegates everything and changes one call, ``create_model_version``: the source run's
lineage goes into that same call as tags, so a version exists fully tagged or not at all. A copy goes
through that call too; a file store's rename goes to ``file_store_rename``.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, Callable, Optional

from mlflow.exceptions import MlflowException

from mlflow_lineage_plugin import config, file_store_rename, stores
from mlflow_lineage_plugin import description as D
from mlflow_lineage_plugin import source as S
from mlflow_lineage_plugin import source_readers as SR
from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin import workspace as W
from mlflow_lineage_plugin.bounded import run_bounded
from mlflow_lineage_plugin.errors import debug_traceback, error_line
from mlflow_lineage_plugin.stores import StoreWrapper
from mlflow_lineage_plugin.tracking_workspace import active_workspace_name, server_workspace_uri

_logger = logging.getLogger(__name__)

_RETRY_WORKSPACE_AFTER = 300.0  # seconds before asking again for a workspace that could not be told


class LineageRefusal(MlflowException):
    """Strict mode said no: the one error the wrapper lets through to the caller (HTTP 400 from a
    server). Every other exception of the enrichment is ours and never costs the registration."""

    def __init__(self, message: str):
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)


_RUNTIME = frozenset({"_lock", "_reader", "_workspace_uri", "_workspace_failed_at", "_inner_params"})


class LineageRegistryStore(StoreWrapper):
    """Delegates to the real registry store (``stores``); adds lineage tags to every new model version."""

    _OWN = StoreWrapper._OWN | {"_store_uri", "_tracking_uri", "_unity_catalog", "_server"} | _RUNTIME

    def __init__(
        self,
        inner: Any,
        *,
        store_uri: Optional[str],
        tracking_uri: Optional[str],
        unity_catalog: bool = False,
        server: bool = False,
    ):
        super().__init__(inner)
        self._store_uri = store_uri
        self._tracking_uri = tracking_uri
        self._unity_catalog = unity_catalog
        self._server = server
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._lock = threading.Lock()
        self._reader: Optional[SR.Reader] = None
        self._workspace_uri: Optional[str] = None
        self._workspace_failed_at = float("-inf")
        self._inner_params = _param_names(getattr(self._inner, "create_model_version", None))

    # --- pickling: the runtime state is rebuilt, not carried ------------------------------------

    def __getstate__(self) -> dict:
        return {k: v for k, v in super().__getstate__().items() if k not in _RUNTIME}

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._init_runtime()

    # --- the one changed call -------------------------------------------------------------------

    def create_model_version(
        self,
        name,
        source,
        run_id=None,
        tags=None,
        run_link=None,
        description=None,
        local_model_path=None,
        model_id=None,
    ):
        if not config.disabled():
            try:
                tags, run_link, description = self._enrich(name, source, run_id, tags, run_link, model_id, description)
            except LineageRefusal:
                raise
            except Exception as exc:
                # A bug of ours must never cost the user's registration.
                _logger.warning(
                    "mlflow-lineage: new version of model '%s' registered without lineage: %s", name, error_line(exc)
                )
                debug_traceback(_logger, "new model version registered without lineage")
        kwargs = {}
        if "local_model_path" in self._inner_params:
            kwargs["local_model_path"] = local_model_path
        if "model_id" in self._inner_params:
            kwargs["model_id"] = model_id
        mv = self._inner.create_model_version(name, source, run_id, tags, run_link, description, **kwargs)
        if config.switch(config.OPENLINEAGE) and not config.disabled():  # opt-in; queues, never waits or raises
            from mlflow_lineage_plugin.openlineage import emit_new_version

            emit_new_version(mv, self._tracking_uri, self._store_uri, self._server)
        return mv

    def copy_model_version(self, src_mv, dst_name):
        """A copy is a new version, judged as every other one (strict mode included) by this wrapper's
        ``create_model_version``: MLflow's generic copy calls its store's own create, past the wrapper,
        while through a server the copy reaches the server's wrapper as a create call."""
        from mlflow.store.model_registry.abstract_store import AbstractStore

        generic = getattr(type(self._inner), "copy_model_version", None) is AbstractStore.copy_model_version
        if config.disabled() or not generic:
            return self._inner.copy_model_version(src_mv, dst_name)
        return AbstractStore.copy_model_version(self, src_mv, dst_name)  # type: ignore[arg-type]

    def rename_registered_model(self, name, new_name):
        if config.disabled() or not file_store_rename.applies(self._inner):
            return self._inner.rename_registered_model(name, new_name)
        return file_store_rename.rename_registered_model(self._inner, name, new_name)

    def _enrich(self, name, source, run_id, tags, run_link, model_id, description=None):
        pairs = list(S.tag_dict(tags).items())
        user = dict(pairs)
        if T.is_prompt(user):
            return tags, run_link, description
        required = _requirements()
        if T.SCHEMA in user:
            # Already enriched upstream (the client has the plugin too): no second read. On a server the
            # description is then the client's to decide (its MLFLOW_LINEAGE_DESCRIPTION): it sent the
            # line, or chose none, and the server's own setting must not overrule it.
            _enforce(required, T.source_from_version_tags(user), name)
            if self._server:
                return tags, run_link, description
            return tags, run_link, D.for_new_version(description, pairs, unity_catalog=self._unity_catalog)
        model_id = model_id or S.model_id_from_source(source)
        if not run_id and not model_id:
            _enforce(required, None, name)
            return tags, run_link, description

        fallback = self._fallback_workspace_uri()
        # Read even when the run is this thread's active run: the active run object holds the tags of
        # the run's start, and a tag the user set since (`mlflow.set_tag(...)`) must win.
        fetched = SR.fetch(self._get_reader, run_id=run_id, model_id=model_id, timeout=_timeout())
        experiment_hint, not_here = None, None
        run_unread = _run_unread(fetched)
        if self._server and fetched.missing:
            fallback, experiment_hint, not_here = _workspace_the_request_names(run_link, run_id)
            if experiment_hint or fallback:  # the request names where the run is: say what it says
                run_unread = None
        src = S.source_run(
            run_id=run_id,
            model_id=model_id,
            run=fetched.run,
            model=fetched.model,
            fallback_workspace_uri=fallback,
            fallback_experiment_id=experiment_hint,
        )
        if fetched.problems and not fetched.missing:  # could not be read now: backfill completes it later
            src = dataclasses.replace(src, partial=True)
        _enforce(
            required,
            src,
            name,
            fetched.problems,
            unread=fetched.run is None and fetched.model is None and bool(fetched.problems),
            deleted=fetched.run is not None and fetched.run.deleted,
        )

        ours = missing_version_tags(src, user, unity_catalog=self._unity_catalog)
        new_tags = _as_entities(pairs) + _as_entities(list(ours.items()))
        if not self._unity_catalog and not run_link and src.run_url and self._run_is_elsewhere(src.workspace_uri):
            run_link = src.run_url

        notes = list(fetched.problems) + ([not_here] if not_here else [])
        if fetched.run is not None and fetched.run.deleted:
            notes.append(f"source run {fetched.run.run_id} is deleted")
        if notes:
            _logger.warning(
                "mlflow-lineage: new version of model '%s' registered with partial lineage: %s",
                name,
                "; ".join(notes),
            )
        run_name = fetched.run.tags.get(T.MLFLOW_RUN_NAME) if fetched.run is not None else None
        description = D.for_new_version(
            description, pairs + list(ours.items()), run_name, unity_catalog=self._unity_catalog, run_unread=run_unread
        )
        return new_tags, run_link, description

    # --- where to read, and the workspace to name when the run does not say ----------------------

    def _get_reader(self) -> SR.Reader:
        with self._lock:
            if self._reader is None:
                if self._server:
                    from mlflow.server import handlers

                    self._reader = SR.store_reader(handlers._get_tracking_store(), _timeout())
                else:
                    self._reader = SR.reader_for_tracking_uri(self._tracking_uri or _current_tracking_uri(), _timeout())
            return self._reader

    def _run_is_elsewhere(self, run_workspace_uri: Optional[str]) -> bool:
        """Whether the run lives outside this registry's own workspace.

        Only then does ``run_link`` earn its place: for a run in the same workspace the UI's own
        "Source Run" link shows the run's name and opens in place, while a ``run_link`` shows a cut
        URL and opens a new tab.
        """
        if not run_workspace_uri:
            return True
        if self._server:
            here = self._fallback_workspace_uri()
        elif self._store_uri and not W.is_databricks_uri(self._store_uri):
            here = W.oss_workspace_uri(self._store_uri, active_workspace_name())
        else:
            return True
        return not here or here.rstrip("/") != run_workspace_uri.rstrip("/")

    def _fallback_workspace_uri(self) -> Optional[str]:
        if self._server:
            return server_workspace_uri()
        with self._lock:
            if self._workspace_uri is not None:
                return self._workspace_uri
            if time.monotonic() - self._workspace_failed_at < _RETRY_WORKSPACE_AFTER:
                return None
        # None on an error or past the deadline alike: either way the workspace cannot be told now
        uri = run_bounded(lambda: _workspace_uri_of(self._tracking_uri), _timeout(), "mlflow-lineage-workspace").value
        with self._lock:
            if uri:
                self._workspace_uri = uri
            else:  # e.g. a Databricks host that did not answer: do not make every registration wait
                self._workspace_failed_at = time.monotonic()
        return uri


# --- helpers ----------------------------------------------------------------------------------------


def missing_version_tags(src: T.SourceRun, present: Mapping[str, str], *, unity_catalog: bool) -> dict[str, str]:
    """The lineage tags a version with tags ``present`` lacks, under the registry's limits.

    Shared by version creation and ``mlflow-lineage backfill``, so both write exactly the same tags.
    """
    ours = {k: v for k, v in T.version_tags(src, unity_catalog=unity_catalog).items() if k not in present}
    if unity_catalog:
        ours = T.cap_for_registry(ours, len(present), T.UC_MAX_TAGS)
    return ours


def _param_names(fn) -> frozenset[str]:
    if fn is None:
        return frozenset()
    try:
        return frozenset(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return frozenset()


def _run_unread(fetched: SR.Fetched) -> Optional[str]:
    """Whether the source run was asked for and not read, and why (for the version's description)."""
    from mlflow_lineage_plugin.resolve.markdown import RUN_NOT_FOUND, RUN_NOT_READ

    if fetched.run is not None or not fetched.problems:
        return None
    return RUN_NOT_FOUND if fetched.missing else RUN_NOT_READ


def _as_entities(pairs: list[tuple[str, str]]) -> list:
    from mlflow.entities.model_registry import ModelVersionTag

    return [ModelVersionTag(k, v) for k, v in pairs]


def _timeout() -> float:
    return config.seconds(config.REGISTRY_TIMEOUT)


def _requirements() -> frozenset[str]:
    if config.unknown_requirements():
        problem = config.setting_problem(config.REQUIRE, config.get(config.REQUIRE) or "")
        raise LineageRefusal(problem or f"{config.REQUIRE}: unknown requirement(s)")
    return config.required()


def _enforce(
    required: frozenset[str],
    src: Optional[T.SourceRun],
    name: str,
    problems: tuple[str, ...] = (),
    unread: bool = False,
    deleted: bool = False,
) -> None:
    """Strict mode: refuse a version whose code cannot be named, before anything is created. The
    requirements are ``check``'s (``config.KNOWN_REQUIREMENTS``), asked of the source run alone.

    ``unread``: the source could not be read, so a missing commit says nothing about the run.
    ``deleted``: the source run is deleted (``reachable`` refuses it).
    """
    if not required:
        return
    reasons = []
    if src is None:
        reasons.append("it has no source run or LoggedModel")
    elif unread and not src.git.commit:
        what = " and clean state" if "clean" in required else ""
        reasons.append(f"its source could not be read, so its commit{what} cannot be confirmed")
    else:
        if {"commit", "exact"} & required and not src.git.commit:
            reasons.append("its source run records no git commit")
        if "clean" in required and src.git.dirty is not False:
            reasons.append(
                "its source run was made from uncommitted changes"
                if src.git.dirty
                else "its source run cannot be confirmed clean (git dirty state unknown)"
            )
        if "exact" in required and src.git.commit and not src.git.rebuildable():
            reasons.append("the exact code of its source run cannot be rebuilt (its uncommitted changes were not kept)")
        if "reachable" in required and unread:
            reasons.append("its source run or LoggedModel could not be read")
        if "reachable" in required and deleted:
            reasons.append("its source run is deleted")
    if not reasons:
        return
    why = "; ".join(reasons)
    if problems:
        why += f" ({'; '.join(problems)})"
    raise LineageRefusal(
        f"mlflow-lineage: refusing to register a version of model '{name}' because {why}. "
        f"{config.REQUIRE}={','.join(r for r in config.REQUIREMENTS_ORDER if r in required)} is set."
    )


def _workspace_the_request_names(
    run_link: Optional[str], run_id: Optional[str]
) -> tuple[Optional[str], Optional[str], str]:
    """A server that does not hold the run (a shared registry; the run is on the client's tracking
    server) must not name itself as the run's workspace: only the request can say where the run is."""
    named = S.workspace_from_run_link(run_link, run_id)
    if named:
        return named[0], named[1], f"its workspace {named[0]} is taken from the request's run_link"
    return (
        None,
        None,
        ("it is not on this server and the request names no workspace (no run_link), so only its id is recorded"),
    )


def _current_tracking_uri() -> str:
    import mlflow

    return mlflow.get_tracking_uri()


def _workspace_uri_of(tracking_uri: Optional[str]) -> Optional[str]:
    from mlflow_lineage_plugin.tracking_workspace import workspace_for_tracking_uri

    ws = workspace_for_tracking_uri(tracking_uri)
    return ws.uri if ws else None


# --- builders (``stores``) --------------------------------------------------------------------------


def _call(fn: Callable, store_uri, tracking_uri):
    params = _param_names(fn)
    if "tracking_uri" in params:
        return fn(store_uri=store_uri, tracking_uri=tracking_uri)
    return fn(store_uri=store_uri)


def _uc_store_class():
    """MLflow 2.x registers the UC store class itself; 3.x wraps it in a builder function."""
    from mlflow.store._unity_catalog.registry.rest_store import UcModelRegistryStore

    return UcModelRegistryStore


def _builder(client_fn: str, server_fn: Optional[str], fallback: Optional[Callable[[], Callable]] = None):
    """A builder for one scheme: MLflow's own, wrapped (``stores.mlflow_builder``)."""

    def build(store_uri, tracking_uri=None):
        server = stores.in_server(store_uri, stores.REGISTRY)
        fn, servers_own = stores.mlflow_builder(stores.REGISTRY, client_fn, server_fn, server=server, fallback=fallback)
        inner = _call(fn, store_uri, None if servers_own else tracking_uri)
        return LineageRegistryStore(
            inner,
            store_uri=store_uri,
            tracking_uri=tracking_uri,
            unity_catalog=W.is_unity_catalog_uri(store_uri),
            server=server,
        )

    build.__name__ = f"build_{client_fn.strip('_')}"
    return build


def _build_uc_oss(store_uri, tracking_uri=None):
    from mlflow.store._unity_catalog.registry.uc_oss_rest_store import UnityCatalogOssStore

    inner = _call(UnityCatalogOssStore, store_uri, tracking_uri)
    return LineageRegistryStore(
        inner, store_uri=store_uri, tracking_uri=tracking_uri, unity_catalog=W.is_unity_catalog_uri(store_uri)
    )


build_sqlite = build_sql = _builder("_get_sqlalchemy_store", "_get_sqlalchemy_store")
build_rest = _builder("_get_rest_store", None)
build_file = _builder("_get_file_store", "_get_file_store")
build_databricks = _builder("_get_databricks_rest_store", "_get_databricks_rest_store")
build_databricks_uc = _builder("_get_databricks_uc_rest_store", "_get_databricks_uc_rest_store", _uc_store_class)
build_uc_oss = _build_uc_oss
__getattr__ = stores.file_entry_point(stores.REGISTRY, build_file)  # the ``file`` entry point
