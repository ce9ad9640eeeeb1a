"""The resolver: from a model version (or run) back to the workspace, notebook and git commit that
made it, and from code forward to the runs and versions it produced.

``resolve(target)`` returns a ``graph.Lineage``; ``find(commit=...)`` returns a ``find.FindResult``.
"""

from __future__ import annotations

from mlflow_lineage_plugin.resolve.clients import ResolveError
from mlflow_lineage_plugin.resolve.find import FindResult, find
from mlflow_lineage_plugin.resolve.graph import Edge, Finding, Lineage, Node
from mlflow_lineage_plugin.resolve.target import Target, TargetError, parse_target
from mlflow_lineage_plugin.resolve.walk import resolve

__all__ = [
    "resolve", "find", "Lineage", "Node", "Edge", "Finding", "FindResult", "Target", "TargetError",
    "ResolveError", "parse_target",
]  # fmt: skip


class _CallablePackage(__import__("types").ModuleType):
    """``mlflow_lineage_plugin.resolve`` is both this package and the function: importing the
    package sets it as the parent's ``resolve`` attribute, so the package must answer calls too."""

    def __call__(self, target, **kwargs):
        return resolve(target, **kwargs)


__import__("sys").modules[__name__].__class__ = _CallablePackage
