"""Live: the event of the run behind each new model version, sent in the background by one worker
thread, so creating a version never waits for OpenLineage and never fails because of it.
"""

from __future__ import annotations

import atexit
import contextvars
import logging
import queue
import threading
import time
from typing import Any, Callable, Optional

from mlflow_lineage_plugin import config
from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.errors import debug_traceback, error_line
from mlflow_lineage_plugin.openlineage.events import run_events
from mlflow_lineage_plugin.openlineage.extra import INSTALL_HINT, MissingExtra
from mlflow_lineage_plugin.openlineage.facts import facts_from_run, registry_namespace
from mlflow_lineage_plugin.openlineage.sending import NOT_CONFIGURED, NotConfigured, client, transport_kind
from mlflow_lineage_plugin.source import tag_dict
from mlflow_lineage_plugin.warn_once import WarnOnce
from mlflow_lineage_plugin.workspace import is_databricks_uri, oss_workspace_uri

_logger = logging.getLogger(__name__)
_warn = WarnOnce(_logger)

_RETRY_TRANSPORT_AFTER = 60.0  # seconds a failed transport is left alone: a dead endpoint costs one warning


class _Worker:
    """One daemon thread sends the events of new versions in order; nothing waits for it, except the
    end of the process, for at most the registry time limit, so a short script's event is not lost."""

    def __init__(self) -> None:
        self._q: queue.Queue = queue.Queue(maxsize=1000)
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._at_exit = False
        self.down_until = float("-inf")  # after a failed send: skip sending until then

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="mlflow-lineage-openlineage", daemon=True)
                self._thread.start()
                if not self._at_exit:
                    atexit.register(self.drain)
                    self._at_exit = True
        try:
            self._q.put_nowait(job)
        except queue.Full:
            _warn(
                "mlflow-lineage: OpenLineage events are not being sent fast enough; dropping new ones",
                key="openlineage-full",
            )

    def _loop(self) -> None:
        while True:
            job = self._q.get()
            try:
                job()
            except Exception as exc:  # a bug of ours must not end the loop
                _warn(f"mlflow-lineage: OpenLineage event not sent: {error_line(exc)}", key="openlineage-bug")
                debug_traceback(_logger, "OpenLineage event not sent")
            finally:
                self._q.task_done()

    def drain(self, timeout: Optional[float] = None) -> bool:
        """Wait until every queued event is handled, at most ``timeout`` seconds; True when all were."""
        limit = config.seconds(config.REGISTRY_TIMEOUT) if timeout is None else timeout
        deadline = time.monotonic() + limit
        while self._q.unfinished_tasks:
            if time.monotonic() >= deadline:
                _logger.warning(
                    "mlflow-lineage: %d OpenLineage event(s) not sent within %g s of exit: the "
                    "transport did not finish in time",
                    self._q.unfinished_tasks,
                    limit,
                )
                return False
            time.sleep(0.02)
        return True


_worker = _Worker()


def drain(timeout: Optional[float] = None) -> bool:
    return _worker.drain(timeout)


def emit_new_version(mv: Any, tracking_uri: Optional[str], registry_uri: Optional[str], server: bool = False) -> None:
    """Queue the event of the run behind a just-created model version. Never raises, never waits.

    Called by the registry wrapper after the version exists. The run is read and the event sent on
    the worker thread; any failure there is one warning (per kind of problem) and nothing else.
    """
    try:
        run_id = getattr(mv, "run_id", None) or tag_dict(getattr(mv, "tags", None)).get(T.RUN_ID)
        if not run_id:
            return
        if server:
            from mlflow_lineage_plugin.tracking_workspace import server_workspace_uri

            reg_ns = server_workspace_uri() or registry_namespace(registry_uri)
        else:
            reg_ns = registry_namespace(registry_uri)
            if tracking_uri is None:
                import mlflow

                tracking_uri = mlflow.get_tracking_uri()
        ws = tag_dict(getattr(mv, "tags", None)).get(T.WORKSPACE_URI)
        name, version = str(mv.name), str(mv.version)
        ctx = contextvars.copy_context()  # inside mlflow server: the request's MLflow workspace

        def job() -> None:
            ctx.run(_send_version, run_id, name, version, ws, tracking_uri, reg_ns, server)

        _worker.submit(job)
    except Exception as exc:
        _warn(f"mlflow-lineage: OpenLineage event not queued: {error_line(exc)}", key="openlineage-queue")
        debug_traceback(_logger, "OpenLineage event not queued")


def _send_version(
    run_id: str,
    name: str,
    version: str,
    ws: Optional[str],
    tracking_uri: Optional[str],
    reg_ns: Optional[str],
    server: bool,
) -> None:
    try:
        c = client()
    except MissingExtra:
        _warn(f"mlflow-lineage: {config.OPENLINEAGE} is on, but {INSTALL_HINT}", key="openlineage-extra")
        return
    except NotConfigured:
        _warn(f"mlflow-lineage: {config.OPENLINEAGE} is on, but {NOT_CONFIGURED}", key="openlineage-config")
        return
    try:
        if server:
            from mlflow.server import handlers

            store = handlers._get_tracking_store()
            run = store.get_run(run_id)
            exp = store.get_experiment(run.info.experiment_id)
        else:
            from mlflow import MlflowClient

            reader = MlflowClient(tracking_uri=tracking_uri)
            run = reader.get_run(run_id)
            exp = reader.get_experiment(run.info.experiment_id)
    except Exception as exc:
        _warn(
            f"mlflow-lineage: no OpenLineage event for version {version} of model '{name}': its run "
            f"could not be read: {error_line(exc)}",
            key="openlineage-read",
        )
        debug_traceback(_logger, "OpenLineage event's run not read")
        return
    fallback = ws or (oss_workspace_uri(tracking_uri) if tracking_uri and not is_databricks_uri(tracking_uri) else None)
    facts = facts_from_run(
        run,
        experiment_name=getattr(exp, "name", None),
        workspace_uri=fallback,
        versions=[(name, version)],
        registry_namespace=reg_ns,
    )
    if time.monotonic() < _worker.down_until:
        _logger.debug(
            "mlflow-lineage: OpenLineage event for version %s of model '%s' skipped: the transport failed moments ago",
            version,
            name,
        )
        return
    try:
        for ev in run_events(facts):
            c.emit(ev)
    except Exception as exc:
        _worker.down_until = time.monotonic() + _RETRY_TRANSPORT_AFTER
        _warn(
            f"mlflow-lineage: OpenLineage event for version {version} of model '{name}' not sent "
            f"({transport_kind(c)} transport): {error_line(exc)}; new versions skip sending for "
            f"{_RETRY_TRANSPORT_AFTER:g} s",
            key="openlineage-send",
        )
        debug_traceback(_logger, "OpenLineage event not sent")
