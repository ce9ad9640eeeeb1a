"""Scheme-less store paths (``/data/mlruns``) for both store wrappers.

MLflow maps a bare path to the scheme ``""``, which cannot be an entry-point name. So each wrapper's
``file`` entry point names an attribute its module answers lazily; loading it calls ``claim`` here,
which finds the MLflow registry that is loading the entry point (up the caller's frames) and puts the
wrapper's file builder under ``""`` too, but only where MLflow's own file builder still sits there.
"""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any, Callable, Optional


def claim(registry_type: Any, build_file: Callable[..., Any]) -> None:
    frame: Optional[FrameType] = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "register_entrypoints":
            registry = frame.f_locals.get("self")
            if isinstance(registry, registry_type):
                current = registry._registry.get("")
                if current is not None and getattr(current, "__name__", "") == "_get_file_store":
                    registry.register("", build_file)
            return
        frame = frame.f_back
