"""Run one call in a daemon thread and stop waiting for it after a deadline.

Every look-up the plugin makes inside a user's ``start_run`` or model-version creation (a
Databricks workspace, a tracking server, a registry's workspace) may hang on I/O that has no
timeout of its own, or whose library retries past the one it was given. A daemon thread, not an
executor, so an abandoned call can never hold up interpreter exit. The caller's context variables
go along: inside ``mlflow server`` they carry the request's MLflow workspace.
"""

from __future__ import annotations

import contextvars
import threading
from dataclasses import dataclass
from typing import Callable, Generic, Optional, TypeVar

T = TypeVar("T")


class Deadline(Exception):
    """The call had not finished when the deadline passed (it may still finish, unobserved)."""


@dataclass(frozen=True)
class Outcome(Generic[T]):
    value: Optional[T] = None
    error: Optional[BaseException] = None
    finished: bool = True

    def result(self) -> T:
        """The value; the call's own exception, or ``Deadline``, raised in the caller's thread."""
        if not self.finished:
            raise Deadline()
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


def run_bounded(fn: Callable[[], T], timeout: float, name: str) -> Outcome[T]:
    """``fn()`` in a daemon thread named ``name``, waited for at most ``timeout`` seconds."""
    box: dict = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed back to the caller
            box["error"] = exc

    worker = threading.Thread(target=contextvars.copy_context().run, args=(target,), name=name, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        return Outcome(finished=False)
    return Outcome(value=box.get("value"), error=box.get("error"))
