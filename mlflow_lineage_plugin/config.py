"""Every ``MLFLOW_LINEAGE_*`` setting, read from the environment at the moment it is needed.

Read lazily (not at import) so a notebook that sets a variable between two runs sees the change.
"""

from __future__ import annotations

import os
from typing import Optional

ENV_PREFIX = "MLFLOW_LINEAGE_"

DISABLE = "MLFLOW_LINEAGE_DISABLE"  # "true": the provider and the registry wrapper do nothing
GIT_COMMIT = "MLFLOW_LINEAGE_GIT_COMMIT"  # overrides for builds that ship code without .git
GIT_BRANCH = "MLFLOW_LINEAGE_GIT_BRANCH"
GIT_REPO_URL = "MLFLOW_LINEAGE_GIT_REPO_URL"
GIT_PATH = "MLFLOW_LINEAGE_GIT_PATH"
GIT_DIRTY = "MLFLOW_LINEAGE_GIT_DIRTY"
GIT_TIMEOUT = "MLFLOW_LINEAGE_GIT_TIMEOUT"  # seconds for all git work of one run
DIRTY_TIMEOUT = "MLFLOW_LINEAGE_DIRTY_TIMEOUT"  # seconds the dirty check may take
DATABRICKS_TIMEOUT = "MLFLOW_LINEAGE_DATABRICKS_TIMEOUT"  # seconds for workspace API look-ups
REGISTRY_TIMEOUT = "MLFLOW_LINEAGE_REGISTRY_TIMEOUT"  # seconds to read the source run
WORKSPACE_URI = "MLFLOW_LINEAGE_WORKSPACE_URI"  # override: this process's public workspace URI
REQUIRE = "MLFLOW_LINEAGE_REQUIRE"  # e.g. "commit,clean": refuse versions without them
WORKSPACES = "MLFLOW_LINEAGE_WORKSPACES"  # resolver: "uri=tracking_uri;uri2=..." mapping
CONFIG_FILE = "MLFLOW_LINEAGE_CONFIG"  # resolver: path to a TOML/JSON mapping file
RESOLVE_TIMEOUT = "MLFLOW_LINEAGE_RESOLVE_TIMEOUT"  # resolver: seconds per remote request
DESCRIPTION = "MLFLOW_LINEAGE_DESCRIPTION"  # "false": new versions get no lineage description
OPENLINEAGE = "MLFLOW_LINEAGE_OPENLINEAGE"  # "true": each new model version sends its run's OpenLineage event

ALL_SETTINGS = (
    DISABLE, GIT_COMMIT, GIT_BRANCH, GIT_REPO_URL, GIT_PATH, GIT_DIRTY, GIT_TIMEOUT, DIRTY_TIMEOUT,
    DATABRICKS_TIMEOUT, REGISTRY_TIMEOUT, WORKSPACE_URI, REQUIRE, WORKSPACES, CONFIG_FILE, RESOLVE_TIMEOUT,
    DESCRIPTION, OPENLINEAGE,
)  # fmt: skip

# The time limits' defaults, next to their names so each is stated once.
DEFAULT_SECONDS = {
    GIT_TIMEOUT: 2.0, DIRTY_TIMEOUT: 1.0, DATABRICKS_TIMEOUT: 3.0, REGISTRY_TIMEOUT: 5.0, RESOLVE_TIMEOUT: 30.0,
}  # fmt: skip

_TRUE = {"1", "true", "yes", "on"}


def get(name: str) -> Optional[str]:
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else None


def flag(name: str) -> bool:
    return (get(name) or "").lower() in _TRUE


def seconds(name: str, override: Optional[float] = None) -> float:
    """A time limit: the caller's own positive ``override``, else the setting, else its default."""
    if override is not None and override > 0:
        return float(override)
    default = DEFAULT_SECONDS[name]
    try:
        value = float(get(name) or default)
    except ValueError:
        return default
    return value if value > 0 else default


def disabled() -> bool:
    return flag(DISABLE)


def required() -> frozenset[str]:
    """The strict-mode requirements, e.g. {"commit", "clean"}; empty when strict mode is off."""
    raw = get(REQUIRE) or ""
    return frozenset(p.strip().lower() for p in raw.split(",") if p.strip())
