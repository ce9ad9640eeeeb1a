"""MLflow's file registry renames a model wrongly once its versions carry tags: this renames it whole.

MLflow's ``FileStore.rename_registered_model`` copies each version and then sets its tags with ``for tag
in mv.tags``, but ``mv.tags`` is a dict, so any version tag (every version the plugin enriched) fails with
``'str' object has no attribute 'key'`` half-way through the copy; it also never copies the model's own
tags and aliases. The registry wrapper sends a file store's renames here (not with
``MLFLOW_LINEAGE_DISABLE``, which leaves MLflow's own rename).
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Any


def applies(store: Any) -> bool:
    """Whether ``store`` is MLflow's file registry, whose rename this replaces."""
    try:
        from mlflow.store.model_registry.file_store import FileStore
    except ImportError:
        return False
    return isinstance(store, FileStore)


def rename_registered_model(store: Any, name: str, new_name: str):
    """The model's folder is copied whole (tags, aliases, soft-deleted versions and all), the name in
    each metadata file is rewritten with the store's own helpers (the ones MLflow's rename uses), and only
    then the old folder goes; a failure half-way leaves the model as it was."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST

    old_dir = store._get_registered_model_path(name)
    if not os.path.exists(old_dir):
        raise MlflowException(f"Registered Model with name={name} not found", RESOURCE_DOES_NOT_EXIST)
    new_dir = store._get_registered_model_path(new_name)
    if os.path.exists(new_dir):
        raise MlflowException(f"Registered Model (name={new_name}) already exists.", RESOURCE_ALREADY_EXISTS)
    now = int(time.time() * 1000)
    shutil.copytree(old_dir, new_dir)
    try:
        for mv in store._list_file_model_versions_under_path(new_dir):
            mv.name, mv.last_updated_timestamp = new_name, now
            store._save_model_version_as_meta_file(mv, meta_dir=os.path.join(new_dir, f"version-{mv.version}"))
        model = store._get_registered_model_from_path(new_dir)
        model.name, model.last_updated_timestamp = new_name, now
        store._save_registered_model_as_meta_file(model, meta_dir=new_dir)
    except BaseException:
        shutil.rmtree(new_dir, ignore_errors=True)  # the model stays as it was
        raise
    shutil.rmtree(old_dir)
    return store.get_registered_model(new_name)
