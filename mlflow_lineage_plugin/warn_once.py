"""One warning per distinct problem per process.

A loop of 500 runs against an unreachable workspace, or a checkout too large to check in time,
should say so once, not 500 times; the repeats still go to DEBUG for whoever is looking.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable
from typing import Optional


class WarnOnce:
    """Logs a message at WARNING the first time its key is seen, at DEBUG after; thread-safe."""

    def __init__(self, logger: logging.Logger):
        self._logger = logger
        self._seen: set[Hashable] = set()
        self._lock = threading.Lock()

    def __call__(self, message: str, key: Optional[Hashable] = None) -> None:
        """``key`` names the problem when its message varies (a path, a duration); default: the message."""
        key = message if key is None else key
        with self._lock:
            first = key not in self._seen
            self._seen.add(key)
        (self._logger.warning if first else self._logger.debug)(message)

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()
