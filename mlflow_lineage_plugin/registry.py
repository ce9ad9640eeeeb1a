"""Model-registry store builders (placeholder: pass-through to MLflow's own builders)."""

from __future__ import annotations


def _builtin(name):
    def build(store_uri, tracking_uri=None):
        from mlflow.tracking._model_registry import utils

        fn = getattr(utils, name)
        try:
            return fn(store_uri=store_uri, tracking_uri=tracking_uri)
        except TypeError:
            return fn(store_uri)

    return build


build_sqlite = build_sql = _builtin("_get_sqlalchemy_store")
build_rest = _builtin("_get_rest_store")
build_file = _builtin("_get_file_store")
build_databricks = _builtin("_get_databricks_rest_store")
build_databricks_uc = _builtin("_get_databricks_uc_rest_store")
