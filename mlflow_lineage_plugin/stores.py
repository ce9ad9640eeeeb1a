"""What both store wrappers share: how MLflow finds them, and being taken for MLflow's own store.

The tracking-store wrapper (``tracking_store``) and the registry-store wrapper (``registry``) each change
a call or two and hand everything else to MLflow's store (the "inner" store).

**How MLflow finds them.** Entry points named like MLflow's own schemes (``sqlite``, ``http``,
``databricks-uc``...) replace MLflow's builders, so users change no URI and every URI-based decision
MLflow makes (Unity Catalog checks, ``models:/`` resolution) is untouched. Each builder builds the inner
store with MLflow's own builder function for the scheme (``mlflow_builder``), never through
``get_store()``: MLflow holds its non-reentrant building lock while a builder runs. Inside ``mlflow
server`` (``in_server``) the server's own builder is used where it has one (read replicas for SQL
backends). Scheme-less paths (``/data/mlruns``) map to the scheme ``""``, which cannot be an
entry-point name: each wrapper's ``file`` entry point names an attribute its module answers lazily
(``file_entry_point``), and loading it puts the file builder under ``""`` too (``claim_scheme_less_paths``).

**Taken for MLflow's own store** by MLflow, its server and users' tests (``StoreWrapper``):

- identity: ``isinstance(store, FileStore)`` and its kin choose behaviour in MLflow (the "View run at"
  link, DBFS artifacts, GenAI features, the server's webhook delivery, which skips a file registry), so
  ``__class__`` answers the inner store's class, and ``unwrap()`` gives the inner store itself.
  ``type(store)`` still names the wrapper;
- reading an attribute the wrapper does not have reads the inner store's;
- setting or deleting an attribute the inner store has acts on the inner store, so
  ``mock.patch.object(store, "get_x", ...)`` reaches the inner store's own calls to ``self.get_x``. The
  wrapper's own attributes (its methods, the instance attributes a subclass lists in ``_OWN``, and any
  the inner store lacks) stay on the wrapper;
- pickling and copying keep the wrapper (a subclass leaves out what cannot travel, e.g. a lock);
- ``repr`` names the wrapper and its inner store.

A plain class on purpose: MLflow's registry ``AbstractStore`` defines its "abstract" methods as stubs
returning None, so a subclass of it would answer None where it should delegate.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import FrameType
from typing import Any, Callable, ClassVar, Optional

#: Default of a changed method's parameter whose default differs between MLflow's stores (``FileStore``
#: defaults ``create_logged_model``'s ``experiment_id``, the others require it): left out of the inner
#: call, so each store applies its own default or raises its own ``TypeError``.
INNER_DEFAULT: Any = type("InnerDefault", (), {"__repr__": lambda self: "<the inner store's default>"})()


class StoreWrapper:
    """An MLflow store that hands every call but the ones its subclass defines to ``unwrap()``."""

    #: The wrapper's own instance attributes: set here, never on the inner store, and never looked up
    #: there (a half-built or half-unpickled wrapper must raise, not recurse).
    _OWN: ClassVar[frozenset[str]] = frozenset({"_inner"})

    def __init__(self, inner: Any):
        self._inner = inner

    def unwrap(self) -> Any:
        """MLflow's own store, the one this wrapper delegates to and passes for (module docstring)."""
        return self._inner

    @property  # type: ignore[misc]
    def __class__(self):  # isinstance() asks this
        return type(self._inner)

    def __getattr__(self, name: str) -> Any:
        # Only called for names not found on the wrapper; dunder look-ups (pickle, copy) included.
        if name.startswith("__") or name in type(self)._OWN:
            raise AttributeError(name)
        return getattr(self._inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if self._is_own(name):
            object.__setattr__(self, name, value)
        else:
            setattr(self._inner, name, value)

    def __delattr__(self, name: str) -> None:
        if self._is_own(name):
            object.__delattr__(self, name)
        else:
            delattr(self._inner, name)

    def _is_own(self, name: str) -> bool:
        cls = type(self)
        return name in cls._OWN or name in self.__dict__ or hasattr(cls, name) or not hasattr(self._inner, name)

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __reduce__(self):
        # pickle would otherwise ask ``__class__`` and rebuild the inner store's class
        return (_restore, (type(self), self.__getstate__()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._inner!r})"


def _restore(cls: type, state: dict[str, Any]) -> Any:
    obj: Any = object.__new__(cls)
    obj.__setstate__(state)
    return obj


def unwrap(store: Any) -> Any:
    """The store MLflow built: ``store`` itself when no wrapper of ours is around it."""
    return store.unwrap() if isinstance(store, StoreWrapper) else store


# --- builders ---------------------------------------------------------------------------------------

TRACKING = "tracking"
REGISTRY = "registry"
_SERVER_BACKEND_ENV = "_MLFLOW_SERVER_FILE_STORE"  # mlflow.server.constants.BACKEND_STORE_URI_ENV_VAR
_SERVER_REGISTRY_ENV = "_MLFLOW_SERVER_REGISTRY_STORE"  # ...REGISTRY_STORE_URI_ENV_VAR
#: Per kind, where MLflow keeps its builder functions (``<package>.utils``), its registry of them
#: (``<package>.registry``, that class) and the server's builders (that class of ``mlflow.server.handlers``).
_MLFLOW = {
    TRACKING: ("mlflow.tracking._tracking_service", "TrackingStoreRegistry", "TrackingStoreRegistryWrapper"),
    REGISTRY: ("mlflow.tracking._model_registry", "ModelRegistryStoreRegistry", "ModelRegistryStoreRegistryWrapper"),
}


def in_server(store_uri: Optional[str], kind: str) -> bool:
    """Whether ``store_uri`` is the store ``mlflow server`` serves from this process: its handlers are
    loaded and the URI is the server's backend URI, or for the registry its registry URI (which
    defaults to the backend's)."""
    if "mlflow.server.handlers" not in sys.modules or not store_uri:
        return False
    served = os.environ.get(_SERVER_BACKEND_ENV)
    if kind == REGISTRY:
        served = os.environ.get(_SERVER_REGISTRY_ENV) or served
    return bool(served) and served == store_uri


def mlflow_builder(
    kind: str,
    client_fn: str,
    server_fn: Optional[str] = None,
    *,
    server: bool = False,
    fallback: Optional[Callable[[], Callable]] = None,
) -> tuple[Callable, bool]:
    """MLflow's own builder function for one scheme, and whether it is the server's: inside ``mlflow
    server`` the server's ``server_fn`` where this MLflow has it, else the client's ``client_fn``
    (``fallback`` names it in MLflow releases that lack ``client_fn``)."""
    if server and server_fn:
        from mlflow.server import handlers

        fn = getattr(getattr(handlers, _MLFLOW[kind][2]), server_fn, None)
        if fn is not None:
            return fn, True
    utils = importlib.import_module(f"{_MLFLOW[kind][0]}.utils")
    fn = getattr(utils, client_fn, None) or (fallback() if fallback else None)
    if fn is None:
        raise ImportError(f"this MLflow release has no {kind}-store builder {client_fn}")
    return fn, False


# --- scheme-less paths ------------------------------------------------------------------------------


def file_entry_point(kind: str, build_file: Callable[..., Any]) -> Callable[[str], Any]:
    """A wrapper module's ``__getattr__``: its ``file`` entry point names ``build_file_and_paths``, and
    loading that claims scheme-less paths for ``build_file`` as well."""

    def __getattr__(name: str) -> Any:
        if name == "build_file_and_paths":
            claim_scheme_less_paths(kind, build_file)
            return build_file
        raise AttributeError(name)

    return __getattr__


def claim_scheme_less_paths(kind: str, build_file: Callable[..., Any]) -> None:
    """Put ``build_file`` under the scheme ``""`` of the MLflow registry that is loading the entry point
    (found up the caller's frames), only where MLflow's own file builder still sits there."""
    try:
        registry_type = getattr(importlib.import_module(f"{_MLFLOW[kind][0]}.registry"), _MLFLOW[kind][1])
    except (ImportError, AttributeError):
        return
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
