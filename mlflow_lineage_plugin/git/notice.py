"""The git package's one warning per problem per process, on its own logger."""

from __future__ import annotations

import logging

from mlflow_lineage_plugin.warn_once import WarnOnce

_warnings = WarnOnce(logging.getLogger("mlflow_lineage_plugin.git"))


def warn_once(key: str, message: str) -> None:
    _warnings(f"mlflow-lineage: {message}", key)
