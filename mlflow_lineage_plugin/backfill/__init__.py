"""``mlflow-lineage backfill``: lineage for the runs and model versions made before the plugin.

``plan`` computes tags (pure, with the registry wrapper's own function), ``job`` reads in batches and
writes with bounded concurrency, ``report`` says what happened per model.
"""

from mlflow_lineage_plugin.backfill.job import Backfill, Options, Progress, Selection
from mlflow_lineage_plugin.backfill.report import Item, Report, State

__all__ = ["Backfill", "Item", "Options", "Progress", "Report", "Selection", "State"]
