"""mlflow-lineage-plugin: the git reference and workspace of every MLflow run and model version,
and a resolver that walks from any model back to the code that made it.

Nothing here is imported by MLflow at start-up except ``context`` and ``registry`` (through entry
points), so this module stays import-light: the resolver is its own subpackage,
``from mlflow_lineage_plugin.resolve import resolve, find``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
