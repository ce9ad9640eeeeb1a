"""Databricks: one job per module.

- ``notebook``: the notebook or job this process runs in, from its own context (no network)
- ``sdk``: every databricks-sdk client the plugin builds, and the bound each workspace call runs in
- ``git_folder``: the Repos / Git folder holding a notebook, from the workspace API
- ``profiles``: ``~/.databrickscfg`` read as databricks-sdk reads it (no network)
- ``profile_workspace``: the workspace (host, id) of a ``databricks://profile`` tracking URI
- ``unity_catalog``: what Unity Catalog records about a model version and MLflow's client drops

Import each name from the module that owns it; this package holds only ``clear_caches``.
"""

from __future__ import annotations

from mlflow_lineage_plugin.databricks import git_folder, profile_workspace, sdk


def clear_caches() -> None:
    """Forget everything the Databricks look-ups remember: clients, Git-folder locations, profile
    workspaces, failures and the warnings already given (tests; credential changes)."""
    sdk.clear()
    git_folder.clear()
    profile_workspace.clear()
