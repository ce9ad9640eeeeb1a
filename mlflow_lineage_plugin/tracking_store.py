"""The tracking-store wrapper and its builders, one per built-in URI scheme (how MLflow finds them,
and how the wrapper passes for MLflow's own store: ``stores``).

Only ``create_run`` (and MLflow 3's ``create_logged_model``) sees a run's final tags: every run-context
provider's and the caller's, merged. There the git tags are made to tell one story (``reconcile``); every
other call goes to MLflow's own store unchanged, and no request is added.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Optional

from mlflow_lineage_plugin import config, reconcile, stores, uncommitted
from mlflow_lineage_plugin.errors import debug_traceback, error_line
from mlflow_lineage_plugin.stores import INNER_DEFAULT, StoreWrapper

_logger = logging.getLogger(__name__)

#: For benchmarks only: "1" makes the wrapper pass ``create_run`` through untouched, to measure its cost.
BENCH_OFF_ENV = "_MLFLOW_LINEAGE_BENCH_TRACKING_STORE_OFF"


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


# --- builders (``stores``) --------------------------------------------------------------------------


def _builder(client_fn: str, server_fn: Optional[str]) -> Callable:
    """A builder for one scheme: MLflow's own, wrapped; inside ``mlflow server`` the server's own store,
    unwrapped (the server never runs a client's run-context providers, so it has nothing to reconcile)."""

    def build(store_uri, artifact_uri=None):
        server = stores.in_server(store_uri, stores.TRACKING)
        fn, servers_own = stores.mlflow_builder(stores.TRACKING, client_fn, server_fn, server=server)
        if servers_own:
            return fn(store_uri, artifact_uri)
        return LineageTrackingStore(fn(store_uri=store_uri, artifact_uri=artifact_uri), store_uri=store_uri)

    build.__name__ = f"build_{client_fn.strip('_')}"
    return build


build_sql = _builder("_get_sqlalchemy_store", "_get_sqlalchemy_store")
build_rest = _builder("_get_rest_store", None)
build_file = _builder("_get_file_store", "_get_file_store")
build_databricks = _builder("_get_databricks_rest_store", "_get_databricks_rest_store")
__getattr__ = stores.file_entry_point(stores.TRACKING, build_file)  # the ``file`` entry point
