"""The tracking-store wrapper and its builders, one per built-in URI scheme.

Only ``create_run`` (and MLflow 3's ``create_logged_model``) sees a run's final tags: every run-context
provider's and the caller's, merged. There the git tags are made to tell one story (``reconcile``); every
other call goes to MLflow's own store unchanged, and no request is added.

Built like the registry wrapper: entry points named like MLflow's own schemes replace MLflow's builders
(no URI changes), and each builder calls MLflow's own builder function, never ``get_store()`` (its
building lock is held and not reentrant). Inside ``mlflow server`` the builders return the server's own
store unwrapped: the server never runs a client's run-context providers, so it has nothing to reconcile.

MLflow, its server and users' tests take the wrapper for MLflow's own store (``isinstance``, attribute
patching, pickling): ``stores`` says how.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Callable, Optional

from mlflow_lineage_plugin import config, reconcile, uncommitted
from mlflow_lineage_plugin.errors import debug_traceback, error_line
from mlflow_lineage_plugin.stores import INNER_DEFAULT, StoreWrapper

_logger = logging.getLogger(__name__)

#: For benchmarks only: "1" makes the wrapper pass ``create_run`` through untouched, to measure its cost.
BENCH_OFF_ENV = "_MLFLOW_LINEAGE_BENCH_TRACKING_STORE_OFF"
_SERVER_BACKEND_ENV = "_MLFLOW_SERVER_FILE_STORE"  # mlflow.server.constants.BACKEND_STORE_URI_ENV_VAR


class LineageTrackingStore(StoreWrapper):
    """Delegates to the real tracking store (``stores``); reconciles the git tags of new runs and
    LoggedModels.

    Holds no state of its own beyond the inner store, so it is thread-safe wherever the inner store is;
    the provider's answer travels in a context variable of the creating thread.
    """

    _OWN = StoreWrapper._OWN | {"_store_uri"}

    def __init__(self, inner: Any, *, store_uri: Optional[str] = None):
        super().__init__(inner)
        self._store_uri = store_uri

    # --- the changed calls ------------------------------------------------------------------------

    def create_run(self, experiment_id, user_id, start_time, tags, run_name):
        tags, fresh = self._final_tags(tags, "run")
        run = self._inner.create_run(
            experiment_id=experiment_id, user_id=user_id, start_time=start_time, tags=tags, run_name=run_name
        )
        if fresh is not None:
            self._after_create_run(run, fresh)
        return run

    def create_logged_model(
        self, experiment_id=INNER_DEFAULT, name=None, source_run_id=None, tags=None, params=None, model_type=None
    ):
        tags, _ = self._final_tags(tags, "LoggedModel")
        given = {} if experiment_id is INNER_DEFAULT else {"experiment_id": experiment_id}
        return self._inner.create_logged_model(
            name=name, source_run_id=source_run_id, tags=tags, params=params, model_type=model_type, **given
        )

    def _after_create_run(self, run: Any, fresh: reconcile.Fresh) -> None:
        """The run exists, its id is known, and so is the provider's answer it was created with: the
        place for work that needs all three. The uncommitted changes captured with that answer are
        stored with the run (``uncommitted``)."""
        uncommitted.attach(self._inner, run, self._store_uri)

    def _final_tags(self, tags, what: str) -> tuple[Any, Optional[reconcile.Fresh]]:
        """The tags to create with, and the provider's answer when it applied to them."""
        fresh = reconcile.take()
        if fresh is None or not tags or config.disabled() or os.environ.get(BENCH_OFF_ENV) == "1":
            return tags, None
        try:
            pairs = [(t.key, t.value) for t in tags]
            merged = dict(pairs)
            if len(merged) != len(pairs) or not reconcile.applies(fresh, merged):
                return tags, None
            final = reconcile.reconcile(merged, fresh)
            if final == merged:
                return tags, fresh
            cls = type(tags[0])
            return [cls(k, v) for k, v in final.items()], fresh
        except Exception as exc:  # a bug of ours must never cost the user's run
            _logger.warning(
                "mlflow-lineage: new %s created with its tags as merged, not reconciled: %s", what, error_line(exc)
            )
            debug_traceback(_logger, f"new {what}'s tags not reconciled")
            return tags, None


# --- builders ---------------------------------------------------------------------------------------


def _in_server(store_uri: Optional[str]) -> bool:
    """True when this store is the one ``mlflow server`` serves."""
    if "mlflow.server.handlers" not in sys.modules or not store_uri:
        return False
    return os.environ.get(_SERVER_BACKEND_ENV) == store_uri


def _builder(client_fn: str, server_fn: Optional[str]) -> Callable:
    """A builder for one scheme: MLflow's client builder, wrapped; inside ``mlflow server`` the
    server's own builder (read replicas for SQL backends), unwrapped."""

    def build(store_uri, artifact_uri=None):
        if server_fn and _in_server(store_uri):
            from mlflow.server import handlers

            fn = getattr(handlers.TrackingStoreRegistryWrapper, server_fn, None)
            if fn is not None:
                return fn(store_uri, artifact_uri)
        from mlflow.tracking._tracking_service import utils

        fn = getattr(utils, client_fn, None)
        if fn is None:
            raise ImportError(f"this MLflow release has no tracking-store builder {client_fn}")
        return LineageTrackingStore(fn(store_uri=store_uri, artifact_uri=artifact_uri), store_uri=store_uri)

    build.__name__ = f"build_{client_fn.strip('_')}"
    return build


build_sql = _builder("_get_sqlalchemy_store", "_get_sqlalchemy_store")
build_rest = _builder("_get_rest_store", None)
build_file = _builder("_get_file_store", "_get_file_store")
build_databricks = _builder("_get_databricks_rest_store", "_get_databricks_rest_store")


def _register_local_paths() -> None:
    """Also claim scheme-less paths (``/data/mlruns``) for this registry: see ``scheme_less``."""
    try:
        from mlflow.tracking._tracking_service.registry import TrackingStoreRegistry
    except ImportError:
        return
    from mlflow_lineage_plugin import scheme_less

    scheme_less.claim(TrackingStoreRegistry, build_file)


def __getattr__(name: str):
    if name == "build_file_and_paths":
        _register_local_paths()
        return build_file
    raise AttributeError(name)
