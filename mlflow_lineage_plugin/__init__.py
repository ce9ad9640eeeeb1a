"""mlflow-lineage-plugin: the git reference and workspace of every MLflow run and model version,
and a resolver that walks from any model back to the code that made it.

Nothing here is imported by MLflow at start-up except ``context`` and ``registry`` (through entry
points), so this module stays import-light: the resolver loads on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "resolve", "find"]


def __getattr__(name: str):
    if name in ("resolve", "find"):
        import importlib

        # The ``resolve`` subpackage is itself callable (it calls ``resolve.resolve``), because once
        # imported it shadows this attribute; import by path, as ``from . import`` would recurse here.
        pkg = importlib.import_module("mlflow_lineage_plugin.resolve")
        return pkg if name == "resolve" else pkg.find
    raise AttributeError(name)
