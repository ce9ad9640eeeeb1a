"""The resolver: from a model version (or run) back to the workspace, notebook and git commit that
made it, and from code forward to the runs and versions it produced.

``from mlflow_lineage_plugin.resolve import resolve, find``: ``resolve(target)`` returns a
``graph.Lineage``; ``find(commit=...)`` returns a ``find.FindResult``; ``diff(a, b)`` returns a
``diff.Diff``.
"""

from __future__ import annotations

from mlflow_lineage_plugin.errors import ResolveError
from mlflow_lineage_plugin.resolve.diff import Diff, DiffError, diff
from mlflow_lineage_plugin.resolve.find import FindResult, find
from mlflow_lineage_plugin.resolve.graph import Edge, Finding, Lineage, Node
from mlflow_lineage_plugin.resolve.target import Target, TargetError, parse_target
from mlflow_lineage_plugin.resolve.walk import resolve

__all__ = [
    "resolve",
    "find",
    "Lineage",
    "Node",
    "Edge",
    "Finding",
    "FindResult",
    "Target",
    "TargetError",
    "ResolveError",
    "parse_target",
    "diff",
    "Diff",
    "DiffError",
]
