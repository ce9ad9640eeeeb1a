"""Reading, planning and writing one backfill: batched reads, bounded concurrency, clean stops.

Reads are batched: versions one page per model (``search_model_versions``), runs 100 ids per
``search_runs`` over all experiments of a workspace, so a registry of 10,000 versions costs a few dozen
reads. Writes are one request per tag (MLflow has no batch write for version tags; runs get one
``log_batch`` each). HTTP retries with back-off on 429 and 5xx, honouring ``Retry-After``, are MLflow's
own client's: the job only bounds their number, and a request that still fails is that version's
failure, never the job's.
"""

from __future__ import annotations

import fnmatch
import functools
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from mlflow_lineage_plugin import config
from mlflow_lineage_plugin import source as S
from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.backfill.plan import run_has_git_fact, run_writes, version_writes
from mlflow_lineage_plugin.backfill.report import Item, Report, State
from mlflow_lineage_plugin.databricks.unity_catalog import run_workspace_id
from mlflow_lineage_plugin.errors import ResolveError, describe_error, error_line, is_unreachable
from mlflow_lineage_plugin.mlflow_http import bounded_http
from mlflow_lineage_plugin.paging import pages
from mlflow_lineage_plugin.parallel import pmap
from mlflow_lineage_plugin.resolve.store_check import check_stores
from mlflow_lineage_plugin.tracking_workspace import registry_uri_for
from mlflow_lineage_plugin.urls import redact
from mlflow_lineage_plugin.workspace import is_unity_catalog_uri

VERSION_PAGE = 1000  # versions per search_model_versions request
RUN_PAGE = 1000  # runs per search_runs request in --runs
RUN_BATCH = 100  # run ids per `attributes.run_id IN (...)` search
EXPERIMENT_CHUNK = 200  # experiment ids per search_runs request
RUN_CACHE = 20_000  # runs kept for versions that share a run; older ones are read again if needed
DEFAULT_RETRIES = 5
DEFAULT_BACKOFF = 1  # seconds, an int for MLflow; doubled per retry by urllib3 unless Retry-After says
#: Write failures in a row (each after its own retries) after which the job stops: the server is refusing
#: writes, and going on would cost every remaining version its retries and back-off (docs/backfill.md).
BREAKER = 10


@dataclass(frozen=True)
class Selection:
    models: tuple[str, ...] = ()  # names or globs (``fraud-*``)
    all_models: bool = False
    experiments: tuple[str, ...] = ()
    since_ms: Optional[int] = None  # versions created / runs started at or after this time
    versions: bool = True
    runs: bool = False


@dataclass(frozen=True)
class Options:
    apply: bool = False
    overwrite: bool = False
    workers: int = 4
    retries: int = DEFAULT_RETRIES
    timeout: Optional[float] = None  # seconds per request; None: MLFLOW_LINEAGE_RESOLVE_TIMEOUT's


class _Tripped(BaseException):
    """The circuit breaker opened: unwinds the listing like Ctrl-C does, past its per-model handlers."""


class Progress:
    """What the job tells a progress display; the default shows nothing."""

    enabled = False  # a display that shows a bar wants a length: the job may spend a listing on it

    def begin(self, label: str, length: int) -> None: ...

    def advance(self, n: int = 1) -> None: ...

    def end(self) -> None: ...


# --- where runs are read ---------------------------------------------------------------------------


class Place:
    """A workspace whose runs can be searched: this client's own, or one of the resolver's mapping."""

    def __init__(self, workspace_uri: Optional[str], tracking_uri: str, client_factory: Callable[[str], Any]):
        self.workspace_uri = workspace_uri
        self.tracking_uri = tracking_uri
        self._factory = client_factory
        self._client = None
        self._experiments: Optional[list[str]] = None
        self.down: Optional[str] = None
        self._lock = threading.Lock()

    @property
    def client(self):
        with self._lock:
            if self._client is None:
                self._client = self._factory(self.tracking_uri)
            return self._client

    def shown(self) -> str:
        return redact(self.workspace_uri or self.tracking_uri) or "?"

    def experiment_ids(self) -> list[str]:
        with self._lock:
            if self._experiments is not None:
                return self._experiments
        from mlflow.entities import ViewType

        ids = [
            str(e.experiment_id)
            for page in pages(self.client.search_experiments, view_type=ViewType.ALL, max_results=1000)
            for e in page
        ]
        with self._lock:
            self._experiments = ids
        return ids

    def search_runs(self, run_ids: list[str]) -> list[S.RunFacts]:
        """The runs among ``run_ids`` that live here, deleted ones included (as version creation reads them)."""
        from mlflow.entities import ViewType

        found: list[S.RunFacts] = []
        quoted = ",".join(f"'{r}'" for r in run_ids if _is_run_id(r))
        if not quoted:
            return found
        exps = self.experiment_ids()
        for i in range(0, len(exps), EXPERIMENT_CHUNK):
            runs = self.client.search_runs(
                exps[i : i + EXPERIMENT_CHUNK],
                filter_string=f"attributes.run_id IN ({quoted})",
                run_view_type=ViewType.ALL,
                max_results=len(run_ids),
            )
            found += [S.run_facts_from_entity(r) for r in runs]
        return found


def _is_run_id(value: str) -> bool:
    return bool(value) and all(c.isalnum() or c in "-_" for c in value)


Found = Union[tuple[S.RunFacts, Place], str]  # the run and where it lives, or why it was not found


class RunIndex:
    """Looks runs up in batches, home first, then the mapped workspaces; remembers a bounded number."""

    def __init__(self, places: list[Place], pool: ThreadPoolExecutor):
        self.places = places
        self.pool = pool
        self._cache: OrderedDict[str, tuple[S.RunFacts, Place]] = OrderedDict()
        self._lock = threading.Lock()

    def lookup(self, run_ids: Iterable[str], places: Optional[list[Place]] = None) -> dict[str, Found]:
        """Where each run lives: in ``places`` when given (a workspace UC named), else home, then mapped."""
        places = places or self.places
        out: dict[str, Found] = {}
        missing = []
        with self._lock:
            for rid in dict.fromkeys(run_ids):
                if rid in self._cache:
                    self._cache.move_to_end(rid)
                    out[rid] = self._cache[rid]
                else:
                    missing.append(rid)
        problems: dict[str, list[str]] = {rid: [] for rid in missing}
        for place in places:
            if not missing:
                break
            if place.down:
                for rid in missing:
                    problems[rid].append(f"{place.shown()} unreachable ({place.down})")
                continue
            batches = [missing[i : i + RUN_BATCH] for i in range(0, len(missing), RUN_BATCH)]
            futures = [(b, self.pool.submit(place.search_runs, b)) for b in batches]
            for batch, fut in futures:
                try:
                    for facts in fut.result():
                        out[facts.run_id] = (facts, place)
                except Exception as exc:
                    reason = error_line(exc)
                    if place is not self.places[0]:
                        place.down = reason  # a mapped workspace that fails is skipped from now on
                    for rid in batch:
                        problems[rid].append(f"runs could not be read from {place.shown()} ({reason})")
            missing = [rid for rid in missing if rid not in out]
        with self._lock:
            for rid, found in out.items():
                if not isinstance(found, str):
                    self._cache[rid] = found
            while len(self._cache) > RUN_CACHE:
                self._cache.popitem(last=False)
        for rid in missing:
            failed = problems[rid]
            asked = [p.shown() for p in places if not any(p.shown() in f for f in failed)]
            why = [f"source run {rid} not found in {' or '.join(asked)}"] if asked else []
            out[rid] = "; ".join(why + failed)
        return out


# --- the job ---------------------------------------------------------------------------------------


class Backfill:
    def __init__(
        self,
        tracking_uri: Optional[str] = None,
        registry_uri: Optional[str] = None,
        *,
        options: Options = Options(),
        mapping: Optional[dict[str, str]] = None,
        progress: Optional[Progress] = None,
    ):
        import mlflow

        self.tracking_uri = tracking_uri or mlflow.get_tracking_uri()
        self.registry_uri = registry_uri_for(registry_uri, tracking_uri)
        check_stores(tracking_uri, self.tracking_uri, self.registry_uri)  # a dry run creates no store either
        self.options = options
        self.timeout = config.seconds(config.RESOLVE_TIMEOUT, options.timeout)
        self.progress = progress or Progress()
        self.mapping = dict(mapping or {})
        self._stop = threading.Event()
        self._failed_in_a_row = 0
        self._failure_lock = threading.Lock()
        self._pending: list[Future] = []
        self._registry = None
        self._place_list: Optional[list[Place]] = None
        self._uc_places: dict[str, Union[Place, str]] = {}  # UC's run_workspace_id -> where its runs are
        self._uc_lock = threading.Lock()
        self._progress_lock = threading.Lock()

    # --- clients ----------------------------------------------------------------------------------

    def _client(self, tracking_uri: str):
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=tracking_uri, registry_uri=self.registry_uri)

    @property
    def registry(self):
        if self._registry is None:
            self._registry = self._client(self.tracking_uri)
        return self._registry

    @property
    def unity_catalog(self) -> bool:
        return is_unity_catalog_uri(self.registry_uri)

    def _places(self) -> list[Place]:
        if self._place_list is None:
            self._place_list = self._new_places()
        return self._place_list

    def _new_places(self) -> list[Place]:
        from mlflow_lineage_plugin.tracking_workspace import override_workspace, workspace_for_tracking_uri

        # The workspace named for runs that do not say: this process's override (a public URL behind a
        # proxy), else the tracking URI's, as the registry wrapper names it at creation.
        ws = override_workspace() or workspace_for_tracking_uri(self.tracking_uri)  # as the run provider
        home = ws.uri if ws else None
        places = [Place(home, self.tracking_uri, self._client)]
        for ws_uri, target in self.mapping.items():
            if target != self.tracking_uri:
                places.append(Place(ws_uri, target, self._client))
        return places

    # --- the run ------------------------------------------------------------------------------------

    def run(self, selection: Selection) -> Report:
        """The plan (and, with ``apply``, the writes). Raises ``ResolveError`` before anything is
        read in bulk when the store does not answer or an ``--experiment`` is not there: bad input."""
        self._first_contact(selection)
        report = Report(applied=self.options.apply)
        pool = ThreadPoolExecutor(max_workers=max(1, self.options.workers), thread_name_prefix="lineage-backfill")
        try:
            with bounded_http(self.timeout, self.options.retries, DEFAULT_BACKOFF, users_win=True):
                if selection.runs:
                    self._runs(selection, report, pool)
                if selection.versions:
                    self._versions(selection, report, RunIndex(self._places(), pool), pool)
                self._drain()
            if self._stop.is_set():
                raise KeyboardInterrupt
        except KeyboardInterrupt:
            self._stop.set()
            report.interrupted = True
        except _Tripped:
            pass
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self.progress.end()
        report.breaker = self._breaker
        if report.interrupted or report.breaker:
            for item in report.items:
                if item.state is State.ENRICH and self.options.apply:
                    item.state, item.reason = State.STOPPED, self._halted() or "not written"
        return report

    def _first_contact(self, selection: Selection) -> None:
        """One bounded read, without retries, as ``show`` makes: a server that accepts and never answers
        costs one ``--timeout``, not retries of it. The experiments it lists are the ones runs are
        searched in, so it costs no extra request; they also tell a mistyped ``--experiment``."""
        home = self._places()[0]
        with bounded_http(self.timeout):
            try:
                known = home.experiment_ids()
                if selection.versions and self.registry_uri != self.tracking_uri:
                    self.registry.search_registered_models(max_results=1)
            except Exception as exc:
                if is_unreachable(exc):
                    raise ResolveError(f"{home.shown()}: {describe_error(exc, self.timeout)}") from None
                return  # it answered: the job's own reads retry and report what fails
        unknown = [e for e in dict.fromkeys(selection.experiments) if e not in known]
        if unknown:
            raise ResolveError(f"--experiment: no experiment with id {', '.join(unknown)} in {home.shown()}")

    def stop(self) -> None:
        """Stop after the tags being written now; what is left is written by the next run."""
        self._stop.set()

    _breaker: Optional[str] = None  # why the breaker opened (the last failure), once it has

    def _count_write(self, failure: Optional[str]) -> None:
        """A write (a version's tags, a run's batch) succeeded (None) or failed for good: BREAKER
        failures in a row open the breaker, and the job writes nothing more."""
        with self._failure_lock:
            self._failed_in_a_row = 0 if failure is None else self._failed_in_a_row + 1
            if failure is not None and self._failed_in_a_row >= BREAKER and self._breaker is None:
                self._breaker = f"{BREAKER} write failures in a row (the last: {failure})"

    def _halted(self) -> Optional[str]:
        """Why nothing more is written, or None while the job goes on."""
        if self._stop.is_set():
            return "interrupted before it was written; a rerun completes it"
        if self._breaker is not None:
            return f"not written: the job stopped after {BREAKER} write failures in a row; a rerun completes it"
        return None

    def _submit(self, pool: ThreadPoolExecutor, fn: Callable, *args) -> None:
        if self._stop.is_set():
            raise KeyboardInterrupt
        if self._breaker is not None:
            raise _Tripped
        limit = max(1, self.options.workers) * 4  # bounded: a huge registry never queues everything
        while len(self._pending) >= limit:
            done, _ = wait(self._pending, return_when=FIRST_COMPLETED)
            self._pending = [f for f in self._pending if f not in done]
        self._pending.append(pool.submit(fn, *args))

    def _drain(self) -> None:
        while self._pending:
            done, _ = wait(self._pending, return_when=FIRST_COMPLETED)
            self._pending = [f for f in self._pending if f not in done]

    # --- versions -----------------------------------------------------------------------------------

    def _listed_models(self, sel: Selection, globs: list[str]) -> Iterator[Any]:
        for page in pages(self.registry.search_registered_models, max_results=1000):
            for m in page:
                if sel.all_models or any(fnmatch.fnmatchcase(m.name, g) for g in globs):
                    yield m

    def _searches(self, sel: Selection) -> tuple[list[tuple[str, Optional[Callable[[str], bool]]]], int]:
        """The version searches that cover the selection, and an estimate of the versions for progress.

        One search spans many models where the registry allows it (all models, ``name IN``, ``name
        LIKE`` for a glob, filtered exactly here): a registry of many small models then costs a page per
        1,000 versions, not a request per model. Unity Catalog searches one model at a time.
        """
        exact = list(dict.fromkeys(m for m in sel.models if not any(c in m for c in "*?[")))
        globs = [m for m in sel.models if m not in exact]
        estimate = 0
        listed: list[str] = []
        if (sel.all_models or globs) and (self.unity_catalog or self.progress.enabled):
            for m in self._listed_models(sel, globs):
                listed.append(m.name)
                estimate += max((int(v.version) for v in (m.latest_versions or [])), default=0)
        if self.unity_catalog:
            return [(f"name = {_quoted(n)}", None) for n in dict.fromkeys(exact + listed)], estimate
        if sel.all_models:
            return [("", None)], estimate
        searches: list[tuple[str, Optional[Callable[[str], bool]]]] = [
            (f"name IN ({', '.join(_quoted(n) for n in exact[i : i + 100])})", None) for i in range(0, len(exact), 100)
        ]
        for g in globs:
            like = "".join("%" if c == "*" else "_" if c == "?" else c for c in g)
            # LIKE's `_` and `%` inside a name match more, never less; the exact test is fnmatch's
            searches.append(
                ("" if "[" in g else f"name LIKE {_quoted(like)}", functools.partial(fnmatch.fnmatchcase, pat=g))
            )
        return searches, estimate

    def _version_pages(self, filter_string: str) -> Iterator[list]:
        for page in pages(self.registry.search_model_versions, filter_string=filter_string, max_results=VERSION_PAGE):
            yield list(page)

    def _versions(self, sel: Selection, report: Report, index: RunIndex, pool: ThreadPoolExecutor) -> None:
        try:
            searches, estimate = self._searches(sel)
        except Exception as exc:
            report.error(f"registered models could not be listed: {error_line(exc)}")
            return
        self.progress.begin("versions", estimate)
        seen: set[tuple[str, str]] = set()
        names_seen: set[str] = set()
        for filter_string, keep in searches:
            try:
                for page in self._version_pages(filter_string):
                    page = [
                        v
                        for v in page
                        if (keep is None or keep(v.name))
                        and (v.name, str(v.version)) not in seen
                        and (sel.since_ms is None or (v.creation_timestamp or 0) >= sel.since_ms)
                    ]
                    seen.update((v.name, str(v.version)) for v in page)
                    names_seen.update(v.name for v in page)
                    self._version_page(page, sel, report, index, pool)
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                report.error(f"versions could not be listed ({filter_string or 'all models'}): {error_line(exc)}")
        for name in dict.fromkeys(sel.models):
            if not any(c in name for c in "*?[") and name not in names_seen and sel.since_ms is None:
                if self._is_prompt(name):  # MLflow's version search leaves prompts out
                    report.note(f"{name} is a prompt: prompts are left alone by design, nothing to do")
                else:
                    report.error(f"model {name}: no versions found (no such model?)")

    def _is_prompt(self, name: str) -> bool:
        """MlflowClient answers "not found" for a prompt's name; its registry client reads it whole."""
        inner = getattr(self.registry, "_get_registry_client", None)
        try:
            model = (inner() if inner is not None else self.registry).get_registered_model(name)
        except Exception:
            return False
        tags = getattr(model, "_tags", None) or getattr(model, "tags", None) or {}
        return T.is_prompt(dict(tags))

    def _present_tags(self, page: list, pool: ThreadPoolExecutor) -> list[Union[dict, str]]:
        """Each version's tags. Unity Catalog's search answers without tags, so UC asks per version."""
        if not self.unity_catalog:
            return [S.tag_dict(v.tags) for v in page]

        def get(v):
            full = self.registry.get_model_version(v.name, v.version)
            return S.tag_dict(full.tags)

        return [
            tags if exc is None else f"its tags could not be read ({error_line(exc)})"
            for _, tags, exc in pmap(pool, get, page)
        ]

    def _version_page(
        self, page: list, sel: Selection, report: Report, index: RunIndex, pool: ThreadPoolExecutor
    ) -> None:
        presents = self._present_tags(page, pool)
        todo = []
        for v, present in zip(page, presents):
            name, version = v.name, str(v.version)
            if isinstance(present, str):
                report.add(Item("version", name, version, State.CANNOT, present))
            elif T.is_prompt(present):
                report.add(Item("version", name, version, State.SKIPPED, "a prompt: the plugin never enriches prompts"))
            elif T.SCHEMA in present and T.PARTIAL not in present and not self.options.overwrite:
                report.add(Item("version", name, version, State.ENRICHED))
            else:
                todo.append((v, present))
                continue
            self._advance()
        models = self._logged_models([S.model_id_from_source(v.source) for v, _ in todo if not v.run_id], pool)
        run_ids = [
            v.run_id or (models.get(S.model_id_from_source(v.source) or "") or _NO).source_run_id for v, _ in todo
        ]
        where = self._run_workspaces([v for v, _ in todo], index, pool) if self.unity_catalog else [None] * len(todo)
        found = index.lookup([r for r, w in zip(run_ids, where) if r and not isinstance(w, Place)])
        named: dict[int, tuple[Place, list[str]]] = {}
        for r, w in zip(run_ids, where):
            if r and isinstance(w, Place):
                named.setdefault(id(w), (w, []))[1].append(r)
        for place, ids in named.values():
            found.update(index.lookup(ids, [place]))
        for (v, present), run_id, w in zip(todo, run_ids, where):
            model_id = getattr(v, "model_id", None) or S.model_id_from_source(v.source)
            hit = found.get(run_id or "")
            if isinstance(w, str) and (hit is None or isinstance(hit, str)):
                hit = w  # UC named a workspace nothing here reaches, and the run is not in those that are
            elif isinstance(w, _Unsaid) and isinstance(hit, str):
                hit = f"{hit}; Unity Catalog could not say which workspace holds it: {w.problem}"
            item = self._plan_version(v.name, v, present, run_id, model_id, models.get(model_id or ""), hit, sel, index)
            report.add(item)
            if item.state is State.ENRICH and self.options.apply:
                self._submit(pool, self._write_version, item)  # advances the bar once written
            else:
                self._advance()

    # --- Unity Catalog: where a version's run lives ----------------------------------------------

    def _run_workspaces(
        self, versions: list, index: RunIndex, pool: ThreadPoolExecutor
    ) -> list[Union[Place, str, _Unsaid, None]]:
        """Per version, the place UC's ``run_workspace_id`` names: a Place, why none reaches it, or None.

        None (UC records no workspace) means: search home and the mapping; so does ``_Unsaid`` (UC could
        not be asked), whose reason is added when the run is not found there.
        """

        def one(v) -> Union[Place, str, _Unsaid, None]:
            if not v.run_id:
                return None
            uc = run_workspace_id(self.registry_uri, v.name, str(v.version), self.timeout)
            if uc.problem:
                return _Unsaid(uc.problem)
            return self._place_for_workspace_id(uc.workspace_id, index) if uc.workspace_id else None

        return list(pool.map(one, versions))

    def _place_for_workspace_id(self, ws_id: str, index: RunIndex) -> Union[Place, str]:
        """The place ``workspace_routes`` names for UC's workspace id (as the resolver reads it), or why none."""
        from mlflow_lineage_plugin.workspace import canonical
        from mlflow_lineage_plugin.workspace_routes import Endpoint, endpoint_for_workspace_id

        with self._uc_lock:
            known = self._uc_places.get(ws_id)
            if known is not None:
                return known
            home = index.places[0]
            here = Endpoint(home.workspace_uri, home.tracking_uri, "home") if home.workspace_uri else None
            ep = endpoint_for_workspace_id(ws_id, self.mapping, home=here)
            place: Union[Place, str]
            if ep.tracking_uri is None:
                place = f"Unity Catalog records that its run lives in workspace id {ws_id}, unreachable: {ep.reason}"
            else:
                same = [
                    p
                    for p in index.places
                    if p.workspace_uri and canonical(p.workspace_uri) == canonical(ep.workspace_uri)
                ]
                place = same[0] if same else Place(ep.workspace_uri, ep.tracking_uri, self._client)
            self._uc_places[ws_id] = place
            return place

    def _logged_models(self, model_ids: list[Optional[str]], pool: ThreadPoolExecutor) -> dict[str, S.ModelFacts]:
        """Only versions registered from a LoggedModel without a run id need it: rare, read one by one."""
        ids = [m for m in dict.fromkeys(model_ids) if m]

        def get(mid):
            return S.model_facts_from_entity(self.registry.get_logged_model(mid))

        return {m: f for m, f, exc in pmap(pool, get, ids) if exc is None and f is not None}

    def _plan_version(
        self,
        name: str,
        v,
        present: dict,
        run_id: Optional[str],
        model_id: Optional[str],
        model: Optional[S.ModelFacts],
        found: Optional[Found],
        sel: Selection,
        index: RunIndex,
    ) -> Item:
        version = str(v.version)
        if not run_id and not model_id:
            where = redact(v.source) or "an unknown source"
            return Item(
                "version", name, version, State.CANNOT, f"registered from {where} without a source run or LoggedModel"
            )
        if model_id and not run_id and model is None:
            return Item("version", name, version, State.CANNOT, f"LoggedModel {model_id} could not be read")
        run, place = None, index.places[0]
        if run_id:
            if isinstance(found, str) or found is None:
                return Item("version", name, version, State.CANNOT, found or f"source run {run_id} not found")
            run, place = found
        src = S.source_run(
            run_id=run_id, model_id=model_id, run=run, model=model, fallback_workspace_uri=place.workspace_uri
        )
        if sel.experiments and src.experiment_id not in sel.experiments:
            return Item(
                "version",
                name,
                version,
                State.SKIPPED,
                f"its source run is in experiment {src.experiment_id}, outside the selection",
            )
        writes = version_writes(present, src, unity_catalog=self.unity_catalog, overwrite=self.options.overwrite)
        if not writes:
            return Item("version", name, version, State.ENRICHED)
        notes = ["partial lineage: its source could not be read at registration"] if T.PARTIAL in present else []
        if run is not None and run.deleted:
            notes.append(f"source run {run.run_id} is deleted")
        if not src.git.commit:
            notes.append("its source run records no git commit")
        return Item(
            "version", name, version, State.ENRICH, "; ".join(notes) or None, writes, partial=T.PARTIAL in present
        )

    def _set_version_tag(self, name: str, version: str, key: str, value: Optional[str]) -> None:
        # MlflowClient.set_model_version_tag first reads the registered model (is it a prompt?) on every
        # call: a second request per tag. Prompts were already left out from the versions' own tags.
        inner = getattr(self.registry, "_get_registry_client", None)
        client = inner() if inner is not None else self.registry
        if value is None:
            client.delete_model_version_tag(name, version, key)
        else:
            client.set_model_version_tag(name, version, key, value)

    def _advance(self, n: int = 1) -> None:
        """The bar counts versions done: planned in a dry run, written (or failed) with ``--apply``."""
        with self._progress_lock:
            self.progress.advance(n)

    def _write_version(self, item: Item) -> None:
        try:
            self._write_version_tags(item)
        finally:
            self._advance()

    def _write_version_tags(self, item: Item) -> None:
        try:
            for key, value in item.writes.items():
                halted = self._halted()
                if halted:  # between two tags, never inside one: each is one request
                    item.state, item.reason = State.STOPPED, halted
                    return
                self._set_version_tag(item.group, item.key, key, value)
                item.written += 1
            item.state = State.WRITTEN
            self._count_write(None)
        except Exception as exc:
            item.state, item.reason = State.FAILED, f"tag could not be written: {error_line(exc)}"
            self._count_write(item.reason)

    # --- runs ---------------------------------------------------------------------------------------

    def _runs(self, sel: Selection, report: Report, pool: ThreadPoolExecutor) -> None:
        from mlflow.entities import ViewType

        home = self._places()[0]
        try:
            exps = list(sel.experiments) or home.experiment_ids()
        except Exception as exc:
            report.error(f"experiments could not be listed: {error_line(exc)}")
            return
        since = f"attributes.start_time >= {sel.since_ms}" if sel.since_ms is not None else ""
        self.progress.begin("runs", len(exps))
        for exp in exps:
            try:
                for page in pages(
                    home.client.search_runs,
                    [exp],
                    filter_string=since,
                    run_view_type=ViewType.ACTIVE_ONLY,
                    max_results=RUN_PAGE,
                ):
                    for run in page:
                        self._plan_run(exp, run, report, pool)
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                report.error(f"runs of experiment {exp} could not be listed: {error_line(exc)}")
            self.progress.advance()

    def _plan_run(self, exp: str, run, report: Report, pool: ThreadPoolExecutor) -> None:
        tags = dict(run.data.tags)
        rid = run.info.run_id
        writes = run_writes(tags, overwrite=self.options.overwrite)
        if writes:
            item = report.add(Item("run", exp, rid, State.ENRICH, None, writes))
            if self.options.apply:
                self._submit(pool, self._write_run, item)
        elif T.SCHEMA in tags or run_has_git_fact(tags):
            report.add(Item("run", exp, rid, State.ENRICHED))
        else:
            report.add(
                Item(
                    "run",
                    exp,
                    rid,
                    State.CANNOT,
                    "records no git fact (no commit, branch, repository or path): left untouched",
                )
            )

    def _write_run(self, item: Item) -> None:
        from mlflow.entities import RunTag

        halted = self._halted()
        if halted:
            item.state, item.reason = State.STOPPED, halted
            return
        try:  # one request for all of a run's tags: written together or not at all
            self.registry.log_batch(item.key, tags=[RunTag(k, v) for k, v in item.writes.items() if v is not None])
            item.written, item.state = len(item.writes), State.WRITTEN
            self._count_write(None)
        except Exception as exc:
            item.state, item.reason = State.FAILED, f"tags could not be written: {error_line(exc)}"
            self._count_write(item.reason)


def _quoted(value: str) -> str:
    return f'"{value}"' if "'" in value else f"'{value}'"


@dataclass(frozen=True)
class _Unsaid:
    """Unity Catalog could not be asked where a version's run lives (``unity_catalog.run_workspace_id``)."""

    problem: str


class _NoModel:
    source_run_id = None


_NO = _NoModel()
