"""A map over a thread pool that keeps each item's exception instead of raising the first.

The resolver, OpenLineage's gathering and backfill read many entities at once; one that cannot be read
is a finding or a line in a report, never the end of the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Executor
from typing import Any, Callable, Optional

Outcome = tuple[Any, Any, Optional[BaseException]]  # (item, fn(item) or None, the exception or None)


def pmap(pool: Executor, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Outcome]:
    """``(item, result, None)`` or ``(item, None, exception)`` per item, in order. A single item runs in
    the caller's thread: no hand-off for nothing to overlap with."""
    items = list(items)

    def safe(item: Any) -> Outcome:
        try:
            return item, fn(item), None
        except Exception as exc:
            return item, None, exc

    if len(items) <= 1:
        return [safe(i) for i in items]
    return list(pool.map(safe, items))
