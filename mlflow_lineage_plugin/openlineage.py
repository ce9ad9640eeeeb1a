"""MLflow runs as OpenLineage ``RunEvent``s, sent through the ``openlineage-python`` client.

The only module that imports ``openlineage-python``, and only when an event is built: the package is
an optional extra, and everything else in the plugin works without it. Transport is the client's
own, configured the way its users already do (``OPENLINEAGE_URL``, ``OPENLINEAGE_CONFIG`` /
``openlineage.yml``); this module never speaks HTTP itself.

Two events per run, as the spec's run cycle has them: ``START`` at the run's start time, then the
terminal event (``COMPLETE``, ``FAIL``, ``ABORT``) at its end; a run still going has its ``START`` only.
The job is where the run lives (namespace: its workspace URI) and what it is (name: experiment name,
plus the entry file); the run id is derived from the MLflow run id, so sending the same run again names
the same OpenLineage run and gives the same events; inputs are the run's logged datasets, outputs the
registered model versions made from it.
"""

from __future__ import annotations

import atexit
import contextvars
import functools
import logging
import os
import queue
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from mlflow_lineage_plugin import __version__, config
from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.datasets import DatasetRef, run_datasets
from mlflow_lineage_plugin.errors import debug_traceback, error_line
from mlflow_lineage_plugin.parallel import pmap
from mlflow_lineage_plugin.urls import normalize_remote, redact, source_web_url
from mlflow_lineage_plugin.warn_once import WarnOnce
from mlflow_lineage_plugin.workspace import is_databricks_uri, oss_workspace_uri, run_page_url

_logger = logging.getLogger(__name__)
_warn = WarnOnce(_logger)

INSTALL_HINT = 'OpenLineage events need the optional extra: pip install "mlflow-lineage-plugin[openlineage]"'
NOT_CONFIGURED = (
    "OpenLineage has no transport configured: set OPENLINEAGE_URL, or OPENLINEAGE_CONFIG "
    "(or ./openlineage.yml, ~/.openlineage/openlineage.yml) with a transport"
)
# The project's home, as pyproject.toml's [project.urls] declares it (a test holds the two together). A
# placeholder until the project is published: github.com/example is the org the repository's examples use.
HOME = "https://github.com/example/mlflow-lineage-plugin"
RELEASE = f"v{__version__}"  # the git tag of this release: producer and schema URLs name files at it
PRODUCER = f"{HOME}/tree/{RELEASE}"
# The custom facets' JSON schema ships in the package, at this path in the repository, served raw (JSON,
# not a web page) at the release's tag; each facet's _schemaURL adds its ``#/$defs/<facet>`` fragment.
FACETS_SCHEMA_PATH = "mlflow_lineage_plugin/openlineage_facets.json"
_RAW = HOME.replace("https://github.com/", "https://raw.githubusercontent.com/", 1)
FACETS_SCHEMA_URL = f"{_RAW}/{RELEASE}/{FACETS_SCHEMA_PATH}"
FACETS_SCHEMA_FILE = Path(__file__).with_name("openlineage_facets.json")
RUN_FACET = "mlflow_run"  # keys of the custom facets in the event
DATASET_INPUT_FACET = "mlflow_dataset"
# Fixed forever: the OpenLineage run id of an MLflow run is uuid5(this, run id), so re-sending a run
# names the same OpenLineage run (consumers merge by run id) whatever machine or release sends it.
RUN_ID_NAMESPACE = uuid.UUID("5d0f6a8e-3c1b-5e27-9a4f-6c2b1e8d7f30")
MODEL = "MODEL"
_RETRY_TRANSPORT_AFTER = 60.0  # seconds a failed transport is left alone: a dead endpoint costs one warning

START = "START"
_STATES = {"FINISHED": "COMPLETE", "FAILED": "FAIL", "KILLED": "ABORT", "RUNNING": "RUNNING", "SCHEDULED": "RUNNING"}
TERMINAL = frozenset({"COMPLETE", "FAIL", "ABORT"})


class MissingExtra(ImportError):
    """``openlineage-python`` is not installed (the ``[openlineage]`` extra)."""


class NotConfigured(RuntimeError):
    """The OpenLineage client found no transport in its configuration."""


# --- what one event says, read already ----------------------------------------------------------------


@dataclass(frozen=True)
class RunFacts:
    """Everything one event says about a run, as plain values: ``run_event`` is a pure function of it."""

    run_id: str
    experiment_id: str
    experiment_name: Optional[str]
    status: str
    start_time: Optional[int]
    end_time: Optional[int]
    workspace_uri: str
    tags: dict[str, str] = field(default_factory=dict)
    datasets: tuple[DatasetRef, ...] = ()
    versions: tuple[tuple[str, str], ...] = ()  # (registered model, version)
    registry_namespace: Optional[str] = None


def facts_from_run(
    run: Any,
    *,
    experiment_name: Optional[str],
    workspace_uri: Optional[str],
    versions: Iterable[tuple[str, str]] = (),
    registry_namespace: Optional[str] = None,
) -> RunFacts:
    from mlflow_lineage_plugin.workspace import show_workspace  # credential-free, ?o= kept

    info = run.info
    rtags = dict(run.data.tags or {})
    ws = show_workspace(rtags.get(T.WORKSPACE_URI) or workspace_uri) or "mlflow"
    return RunFacts(
        run_id=info.run_id,
        experiment_id=str(info.experiment_id),
        experiment_name=experiment_name,
        status=str(info.status),
        start_time=info.start_time,
        end_time=info.end_time,
        workspace_uri=ws,
        tags=rtags,
        datasets=tuple(run_datasets(run, ws)),
        versions=tuple(sorted(set(versions), key=lambda v: (v[0], int(v[1]) if v[1].isdigit() else 0))),
        registry_namespace=registry_namespace,
    )


def registry_namespace(registry_uri: Optional[str]) -> Optional[str]:
    """Where registered models live, as a namespace: the registry's workspace URI."""
    if not registry_uri:
        return None
    if is_databricks_uri(registry_uri):
        return redact(registry_uri)
    try:
        return oss_workspace_uri(registry_uri)
    except Exception:
        return redact(registry_uri)


def ol_run_id(mlflow_run_id: str) -> str:
    return str(uuid.uuid5(RUN_ID_NAMESPACE, mlflow_run_id))


def _iso(ms: Optional[int]) -> Optional[str]:
    if not ms:
        return None
    return datetime.fromtimestamp(int(ms) / 1000, tz=timezone.utc).isoformat(timespec="milliseconds")


def scheduled_time(tags: dict[str, str]) -> Optional[str]:
    """The time the run was scheduled for, when whoever scheduled it recorded one (``lineage_scheduled_time``:
    ISO 8601 with an offset, or epoch milliseconds); never the actual start, which is the START's eventTime."""
    raw = (tags.get(T.SCHEDULED_TIME) or "").strip()
    if raw.isdigit():
        return _iso(int(raw))
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.isoformat(timespec="milliseconds") if when.tzinfo else None


def entry_path(facts: RunFacts) -> Optional[str]:
    """The file the run came from: its path in the repository, else its notebook, else its script."""
    git = T.git_from_run_tags(facts.tags)
    if git.path:
        return git.path
    nb = T.notebook_from_run_tags(facts.tags)
    if nb.path:
        return nb.path
    name = facts.tags.get(T.MLFLOW_SOURCE_NAME)
    if name and (facts.tags.get(T.MLFLOW_SOURCE_TYPE) or "").upper() != T.SOURCE_TYPE_NOTEBOOK:
        return name
    return None


def job_name(facts: RunFacts) -> str:
    """``<experiment name>:<entry path>``: one job per experiment and entry file."""
    exp = facts.experiment_name or f"experiment {facts.experiment_id}"
    path = entry_path(facts)
    return f"{exp}:{path}" if path else exp


def event_type(status: str) -> str:
    return _STATES.get(status.upper(), "OTHER")


# --- building events with the client's own classes ------------------------------------------------------


@functools.cache
def _ol() -> Any:
    """The client's classes and this plugin's two facets, imported on first use."""
    try:
        import attr
        from openlineage.client import event_v2
        from openlineage.client.generated import (
            base,
            dataset_type_dataset,
            dataset_version_dataset,
            nominal_time_run,
            schema_dataset,
            source_code_location_job,
        )
        from openlineage.client.serde import Serde
    except ImportError:
        raise MissingExtra(INSTALL_HINT) from None

    @attr.define
    class MlflowRunFacet(base.RunFacet):
        """The MLflow run behind an OpenLineage run: ids and links to find it again."""

        runId: str = attr.field()  # noqa: N815
        experimentId: str = attr.field()  # noqa: N815
        workspaceUri: str = attr.field()  # noqa: N815
        experimentName: Optional[str] = attr.field(default=None)  # noqa: N815
        runName: Optional[str] = attr.field(default=None)  # noqa: N815
        status: Optional[str] = attr.field(default=None)
        user: Optional[str] = attr.field(default=None)
        runUrl: Optional[str] = attr.field(default=None)  # noqa: N815
        gitDirty: Optional[bool] = attr.field(default=None)  # noqa: N815
        uncommittedChanges: Optional[str] = attr.field(default=None)  # noqa: N815
        uncommittedChangesSha256: Optional[str] = attr.field(default=None)  # noqa: N815
        uncommittedChangesFiles: Optional[int] = attr.field(default=None)  # noqa: N815
        notebookPath: Optional[str] = attr.field(default=None)  # noqa: N815
        notebookId: Optional[str] = attr.field(default=None)  # noqa: N815
        notebookRevisionId: Optional[str] = attr.field(default=None)  # noqa: N815
        registeredModelVersions: Optional[list] = attr.field(default=None)  # noqa: N815

        @staticmethod
        def _get_schema() -> str:
            return FACETS_SCHEMA_URL + "#/$defs/MlflowRunFacet"

    @attr.define
    class MlflowDatasetFacet(base.InputDatasetFacet):
        """How MLflow recorded the input: its dataset name, digest, source type and context."""

        name: str = attr.field()
        digest: Optional[str] = attr.field(default=None)
        sourceType: Optional[str] = attr.field(default=None)  # noqa: N815
        context: Optional[str] = attr.field(default=None)

        @staticmethod
        def _get_schema() -> str:
            return FACETS_SCHEMA_URL + "#/$defs/MlflowDatasetFacet"

    return _Classes(
        event_v2,
        base,
        source_code_location_job,
        nominal_time_run,
        schema_dataset,
        dataset_version_dataset,
        dataset_type_dataset,
        Serde,
        MlflowRunFacet,
        MlflowDatasetFacet,
    )


@dataclass(frozen=True)
class _Classes:
    event_v2: Any
    base: Any
    source_code: Any
    nominal_time: Any
    schema: Any
    version: Any
    dataset_type: Any
    serde: Any
    MlflowRunFacet: Any
    MlflowDatasetFacet: Any


def available() -> bool:
    try:
        _ol()
    except MissingExtra:
        return False
    return True


def _source_code_facet(ol: _Classes, facts: RunFacts) -> Optional[Any]:
    git = T.git_from_run_tags(facts.tags)
    repo = normalize_remote(git.repo_url) or git.repo_url
    if not git.commit or not repo:
        return None
    url = git.source_url or source_web_url(repo, git.commit, git.path) or repo
    return ol.source_code.SourceCodeLocationJobFacet(
        type="git",
        url=url,
        repoUrl=repo,
        path=git.path,
        version=git.commit,
        branch=git.branch,
        producer=PRODUCER,
    )


def _input(ol: _Classes, d: DatasetRef) -> Any:
    facets: dict[str, Any] = {}
    if d.schema:
        facets["schema"] = ol.schema.SchemaDatasetFacet(
            fields=[ol.schema.SchemaDatasetFacetFields(name=n, type=t or None) for n, t in d.schema],
            producer=PRODUCER,
        )
    if d.version or d.digest:
        facets["version"] = ol.version.DatasetVersionDatasetFacet(
            datasetVersion=d.version or d.digest, producer=PRODUCER
        )
    input_facets = {
        DATASET_INPUT_FACET: ol.MlflowDatasetFacet(
            name=d.name, digest=d.digest, sourceType=d.source_type, context=d.context, producer=PRODUCER
        )
    }
    return ol.event_v2.InputDataset(namespace=d.namespace, name=d.ol_name, facets=facets, inputFacets=input_facets)


def _output(ol: _Classes, namespace: str, name: str, version: str) -> Any:
    facets = {
        "datasetType": ol.dataset_type.DatasetTypeDatasetFacet(datasetType=MODEL, producer=PRODUCER),
        "version": ol.version.DatasetVersionDatasetFacet(datasetVersion=str(version), producer=PRODUCER),
    }
    return ol.event_v2.OutputDataset(namespace=namespace, name=f"{name}/{version}", facets=facets)


def run_events(facts: RunFacts) -> list[Any]:
    """The run's ``START`` (at its start time) and, once it has ended, its terminal event (at its end time).

    Pure: the same run gives the same events every time, so re-sending them is harmless."""
    kind = event_type(facts.status)
    events = [run_event(facts, START)] if facts.start_time else []
    if kind in TERMINAL or not events:
        events.append(run_event(facts, kind))
    return events


def run_event(facts: RunFacts, kind: Optional[str] = None) -> Any:
    """One ``RunEvent`` of the run (``kind``: ``START``, else the run's state), built with the client's own
    (validating) classes. The two events of a run differ only in type and time."""
    ol = _ol()
    kind = kind or event_type(facts.status)
    tags = facts.tags
    nb = T.notebook_from_run_tags(tags)
    git = T.git_from_run_tags(tags)
    job_facets: dict[str, Any] = {}
    scl = _source_code_facet(ol, facts)
    if scl is not None:
        job_facets["sourceCodeLocation"] = scl
    run_facets: dict[str, Any] = {}
    start, end = _iso(facts.start_time), _iso(facts.end_time)
    scheduled = scheduled_time(tags)
    if scheduled:
        run_facets["nominalTime"] = ol.nominal_time.NominalTimeRunFacet(nominalStartTime=scheduled, producer=PRODUCER)
    run_facets[RUN_FACET] = ol.MlflowRunFacet(
        runId=facts.run_id,
        experimentId=facts.experiment_id,
        workspaceUri=facts.workspace_uri,
        experimentName=facts.experiment_name,
        runName=tags.get(T.MLFLOW_RUN_NAME),
        status=facts.status,
        user=tags.get(T.MLFLOW_USER),
        runUrl=run_page_url(facts.workspace_uri, facts.experiment_id, facts.run_id),
        gitDirty=git.dirty if git.commit else None,
        notebookPath=nb.path,
        notebookId=nb.id,
        uncommittedChanges=git.diff.state if git.diff else None,
        uncommittedChangesSha256=git.diff.sha256 if git.diff else None,
        uncommittedChangesFiles=git.diff.files if git.diff else None,
        notebookRevisionId=nb.revision_id,
        registeredModelVersions=[{"name": n, "version": v} for n, v in facts.versions] or None,
        producer=PRODUCER,
    )
    outputs = (
        [_output(ol, facts.registry_namespace, n, v) for n, v in facts.versions] if facts.registry_namespace else []
    )
    return ol.event_v2.RunEvent(
        eventType=ol.event_v2.RunState(kind),
        eventTime=(start if kind == START else end or start) or _iso(int(time.time() * 1000)),
        run=ol.event_v2.Run(runId=ol_run_id(facts.run_id), facets=run_facets),
        job=ol.event_v2.Job(namespace=facts.workspace_uri, name=job_name(facts), facets=job_facets),
        inputs=[_input(ol, d) for d in facts.datasets],
        outputs=outputs,
        producer=PRODUCER,
    )


def to_dict(event: Any) -> dict[str, Any]:
    return _ol().serde.to_dict(event)


def to_json(event: Any) -> str:
    """One line of JSON, exactly what the client's transports send."""
    return _ol().serde.to_json(event)


# --- reading runs for targets, through the resolver -----------------------------------------------------


@dataclass
class Gathered:
    facts: list[RunFacts]
    problems: list[str]  # runs reached but not readable, one sentence each


def _versions_by_run(lineage: Any) -> dict[str, set[tuple[str, str]]]:
    """Which model versions of the graph were made from which run (directly or via a LoggedModel)."""
    kind = {nid: n.kind for nid, n in lineage.nodes.items()}
    runs_of_model: dict[str, set[str]] = defaultdict(set)
    for e in lineage.edges:
        if kind.get(e.source) == "logged_model" and kind.get(e.target) == "run":
            runs_of_model[e.source].add(e.target)
    out: dict[str, set[tuple[str, str]]] = defaultdict(set)

    def add(run_node: str, version_node: str) -> None:
        v = lineage.nodes[version_node].attrs
        out[lineage.nodes[run_node].attrs["run_id"]].add((str(v["name"]), str(v["version"])))

    for e in lineage.edges:
        src, dst = kind.get(e.source), kind.get(e.target)
        if src == "model_version" and dst == "run":
            add(e.target, e.source)
        elif src == "run" and dst == "model_version":
            add(e.source, e.target)
        elif src == "model_version" and dst == "logged_model":
            for r in runs_of_model.get(e.target, ()):
                add(r, e.source)
        elif src == "logged_model" and dst == "model_version":
            for r in runs_of_model.get(e.source, ()):
                add(r, e.target)
    return out


def gather(targets: Sequence[Any], clients: Any) -> Gathered:
    """The runs reached from ``targets`` (resolved with the resolver), read in batches with their inputs."""
    from concurrent.futures import ThreadPoolExecutor

    from mlflow_lineage_plugin.resolve import resolve
    from mlflow_lineage_plugin.resolve.fetch import Fetcher

    runs: dict[str, dict[str, Any]] = {}
    versions: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for target in targets:
        lineage = resolve(target, clients=clients)
        exp_names = {}
        for e in lineage.edges:
            a, b = lineage.nodes.get(e.source), lineage.nodes.get(e.target)
            if a is not None and b is not None and a.kind == "run" and b.kind == "experiment":
                exp_names[a.attrs.get("run_id")] = b.attrs.get("name")
        for node in lineage.of_kind("run"):
            rid = node.attrs.get("run_id")
            if rid and rid not in runs:
                runs[rid] = {
                    "workspace_uri": node.workspace_uri,
                    "experiment_id": node.attrs.get("experiment_id"),
                    "experiment_name": exp_names.get(rid),
                }
            elif rid and not runs[rid].get("experiment_name"):
                runs[rid]["experiment_name"] = exp_names.get(rid)
        for rid, vs in _versions_by_run(lineage).items():
            versions[rid] |= vs

    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="lineage-ol") as pool:
        fetcher = Fetcher(clients, functools.partial(pmap, pool))
        wanted: dict[Any, dict[str, Optional[str]]] = defaultdict(dict)
        endpoints = {}
        for rid, r in runs.items():
            ep = clients.endpoint(r["workspace_uri"])
            endpoints[rid] = ep
            wanted[ep][rid] = r["experiment_id"]
        fetcher.fetch_runs(wanted)

    reg_ns = registry_namespace(clients.registry_uri)
    facts, problems = [], []
    for rid in sorted(runs):
        ep, r = endpoints[rid], runs[rid]
        run = fetcher.runs.get((ep.workspace_uri, rid))
        if run is None:
            why = fetcher.run_errors.get((ep.workspace_uri, rid)) or ep.reason or "not read"
            problems.append(f"run {rid}: no event: {'not found' if why == 'not_found' else why}")
            continue
        facts.append(
            facts_from_run(
                run,
                experiment_name=r["experiment_name"],
                workspace_uri=r["workspace_uri"],
                versions=versions.get(rid, ()),
                registry_namespace=reg_ns,
            )
        )
    return Gathered(facts, problems)


# --- sending --------------------------------------------------------------------------------------------


def client() -> Any:
    """An ``OpenLineageClient`` configured as its users configure it; ``NotConfigured`` if it found nothing.

    The client would otherwise add a ``sourceCodeLocation`` facet from the git checkout of the process
    that sends, which is not the code that ran: that is switched off here, the run's own is used.
    """
    _ol()
    from openlineage.client import OpenLineageClient
    from openlineage.client.facets import FacetsConfig

    overrides: dict[str, Any] = {}
    if hasattr(FacetsConfig(), "source_code_location"):
        overrides = {"facets": {"source_code_location": {"disabled": True}}}
    quiet = logging.getLogger("openlineage.client.client")  # it logs "will print to console" when unconfigured
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        c = OpenLineageClient(config=overrides)
    finally:
        quiet.setLevel(level)
    transport = c.config.transport or {}
    if not (
        transport.get("type")
        or os.environ.get("OPENLINEAGE_URL")
        or os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true"
    ):
        raise NotConfigured(NOT_CONFIGURED)
    return c


def transport_kind(c: Any) -> str:
    return str(getattr(c.transport, "kind", None) or type(c.transport).__name__)


def emit(events: Sequence[Any], c: Any = None) -> int:
    """Send ``events`` through the client's transport, in order; returns how many were sent.

    Raises the transport's own exception at the first event it could not deliver.
    """
    c = c or client()
    sent = 0
    for ev in events:
        c.emit(ev)
        sent += 1
    return sent


def events_for(
    targets: Sequence[Any],
    clients: Any = None,
    *,
    tracking_uri: Optional[str] = None,
    registry_uri: Optional[str] = None,
    timeout: Optional[float] = None,
) -> tuple[list[Any], list[str]]:
    """(events, problems) for the runs reached from ``targets`` (model or run URIs, as ``resolve`` takes):
    the Python API of ``mlflow-lineage openlineage``. ``problems`` names each run that could not be read."""
    if clients is None:
        from mlflow_lineage_plugin.resolve.endpoints import Clients

        clients = Clients(tracking_uri, registry_uri, timeout)
    got = gather(targets, clients)
    return [ev for f in got.facts for ev in run_events(f)], got.problems


# --- live: one event per new model version, in the background --------------------------------------------


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
        run_id = getattr(mv, "run_id", None) or _tags(mv).get(T.RUN_ID)
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
        ws = _tags(mv).get(T.WORKSPACE_URI)
        name, version = str(mv.name), str(mv.version)
        ctx = contextvars.copy_context()  # inside mlflow server: the request's MLflow workspace

        def job() -> None:
            ctx.run(_send_version, run_id, name, version, ws, tracking_uri, reg_ns, server)

        _worker.submit(job)
    except Exception as exc:
        _warn(f"mlflow-lineage: OpenLineage event not queued: {error_line(exc)}", key="openlineage-queue")
        debug_traceback(_logger, "OpenLineage event not queued")


def _tags(mv: Any) -> dict[str, str]:
    raw = getattr(mv, "tags", None) or {}
    return dict(raw) if isinstance(raw, dict) else {t.key: t.value for t in raw}


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
