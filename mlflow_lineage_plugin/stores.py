"""What both store wrappers share: being taken for MLflow's own store by everyone but themselves.

The tracking-store and registry-store wrappers each change a call or two and hand everything else to
MLflow's store (the "inner" store). MLflow, its server and users' tests treat the wrapper as that store:

- identity: ``isinstance(store, FileStore)`` and its kin choose behaviour in MLflow (the "View run at"
  link, DBFS artifacts, GenAI features, the server's webhook delivery, which skips a file registry), so
  ``__class__`` answers the inner store's class. ``type(store)`` still names the wrapper;
- reading an attribute the wrapper does not have reads the inner store's;
- setting or deleting an attribute the inner store has acts on the inner store, so
  ``mock.patch.object(store, "get_x", ...)`` reaches the inner store's own calls to ``self.get_x``. The
  wrapper's own attributes (its methods, the instance attributes a subclass lists in ``_OWN``, and any
  the inner store lacks) stay on the wrapper;
- pickling and copying keep the wrapper (a subclass leaves out what cannot travel, e.g. a lock);
- ``repr`` names the wrapper and its inner store; ``unwrap()`` gives the inner store.

A plain class on purpose: MLflow's registry ``AbstractStore`` defines its "abstract" methods as stubs
returning None, so a subclass of it would answer None where it should delegate.
"""

from __future__ import annotations

from typing import Any, ClassVar

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
        """MLflow's own store, the one this wrapper delegates to."""
        return self._inner

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

    @property  # type: ignore[misc]
    def __class__(self):  # isinstance() asks this (module docstring)
        return type(self._inner)

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
