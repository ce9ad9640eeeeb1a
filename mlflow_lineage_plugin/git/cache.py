"""The git package's memory between runs: answers derived from files, kept only while those files
are unchanged, and small bounded tables of earlier answers. One ``clear()`` forgets all of it."""

from __future__ import annotations

import os
import threading
from collections.abc import Hashable
from typing import Any, Callable, Generic, Optional, TypeVar

T = TypeVar("T")

_ALL: list[Any] = []


def stat_key(path: str) -> Optional[tuple]:
    """A file's identity as git's lock-and-rename rewrites change it; None when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def read_text(path: str, limit: int = 1 << 20) -> Optional[str]:
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8", "replace")
    except OSError:
        return None


class FileCache(Generic[T]):
    """A value computed from one file, recomputed whenever the file's ``stat_key`` changes."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[tuple, T]] = {}
        _ALL.append(self)

    def get(self, path: str, compute: Callable[[str, tuple], T], missing: T, error: T) -> T:
        """``compute(path, key)``; ``missing`` when the file does not exist, ``error`` when unreadable."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return missing
        except OSError:
            return error
        key = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        hit = self._data.get(path)
        if hit is not None and hit[0] == key:
            return hit[1]
        value = compute(path, key)
        self._data[path] = (key, value)
        return value

    def peek(self, path: str) -> Optional[T]:
        hit = self._data.get(path)
        return hit[1] if hit is not None else None

    def clear(self) -> None:
        self._data.clear()


class Memo:
    """Earlier answers under keys that name everything they depend on (file stat keys included);
    bounded, since keys of files that changed are never asked for again."""

    def __init__(self, limit: int = 256) -> None:
        self._data: dict[Hashable, Any] = {}
        self._limit = limit
        self._lock = threading.Lock()
        _ALL.append(self)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    def get(self, key: Hashable, default: Any = None) -> Any:
        return self._data.get(key, default)

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            if len(self._data) >= self._limit and key not in self._data:
                self._data.clear()
            self._data[key] = value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


def clear() -> None:
    """Forget every cached answer of the git package (tests; a process that wants a cold start)."""
    for cache in _ALL:
        cache.clear()
