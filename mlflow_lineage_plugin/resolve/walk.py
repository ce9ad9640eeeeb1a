"""The traversal: target → model versions → LoggedModels → runs → experiments → code, in batches.

The walk gathers first and builds after: versions come from one search (or one get), runs from
``search_runs`` with ``attributes.run_id IN (...)`` per workspace, experiments from a cache, each
stage's independent requests concurrently. So a registered model with a thousand versions costs
tens of requests, not thousands. Every failure becomes a finding on the graph; only a target that
cannot be found at all raises (``ResolveError``). The batched reads are in ``fetch``; turning what
they returned into nodes is in ``nodes`` and ``versions``.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional, Union

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.databricks.unity_catalog import registry_workspace_id, run_workspace_id
from mlflow_lineage_plugin.errors import NOT_FOUND, ResolveError, describe_error, is_not_found
from mlflow_lineage_plugin.mlflow_http import bounded_http
from mlflow_lineage_plugin.paging import pages
from mlflow_lineage_plugin.parallel import pmap
from mlflow_lineage_plugin.resolve import changes
from mlflow_lineage_plugin.resolve import graph as G
from mlflow_lineage_plugin.resolve import nodes as N
from mlflow_lineage_plugin.resolve.endpoints import Clients
from mlflow_lineage_plugin.resolve.fetch import Fetcher
from mlflow_lineage_plugin.resolve.mlmodel import fetch_mlmodel_pair
from mlflow_lineage_plugin.resolve.target import (
    ALIAS,
    LATEST,
    LOGGED_MODEL,
    MODEL,
    RUN,
    STAGE,
    VERSION,
    Target,
    parse_target,
)
from mlflow_lineage_plugin.resolve.versions import VersionWork, build_version
from mlflow_lineage_plugin.urls import redact
from mlflow_lineage_plugin.workspace_routes import Endpoint

MAX_WORKERS = 8


class Walker:
    """One resolve call: the graph being built, the pool every request shares, and what was fetched."""

    def __init__(
        self, clients: Clients, lineage: G.Lineage, *, fetch_mlmodel: bool = False, max_workers: int = MAX_WORKERS
    ):
        self.c = clients
        self.g = lineage
        self.fetch_mlmodel = fetch_mlmodel
        self.pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="lineage")
        self.f = Fetcher(clients, self.pmap)

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def pmap(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[tuple[Any, Any, Optional[BaseException]]]:
        """Every failure becomes a finding, never a crash."""
        return pmap(self.pool, fn, items)

    # --- registry side -----------------------------------------------------------------------
    def _registry_call(self, what: str, fn: Callable[[], Any], not_found: Callable[[], str]) -> Any:
        """One registry read; "not found" becomes the sentence ``not_found`` builds (only then: it may
        cost another request to tell an unknown model from an unknown version)."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return fn()
        except Exception as exc:
            if is_not_found(exc):
                raise ResolveError(not_found()) from None
            where = redact(self.c.registry_uri) or self.c.registry_uri
            raise ResolveError(f"{what}: registry {where}: {describe_error(exc, self.c.timeout)}") from None

    def _missing(self, name: str, missing: str) -> Callable[[], str]:
        def message() -> str:
            try:
                self.c.registry().get_registered_model(name)
            except Exception as exc:
                if is_not_found(exc):
                    return f"no registered model named {name!r} in {redact(self.c.registry_uri)}"
            return missing

        return message

    def load_versions(self, t: Target) -> list[Any]:
        reg = self.c.registry()
        name = t.name or ""
        if t.kind == VERSION:
            mv = self._registry_call(
                f"model {name!r} version {t.version}",
                lambda: reg.get_model_version(name, t.version),
                self._missing(name, f"registered model {name!r} has no version {t.version}"),
            )
            return [mv]
        if t.kind == ALIAS:
            mv = self._registry_call(
                f"model {name!r} alias {t.alias!r}",
                lambda: reg.get_model_version_by_alias(name, t.alias),
                self._missing(name, f"registered model {name!r} has no alias {t.alias!r}"),
            )
            return [mv]
        if t.kind == STAGE:
            if self.c.is_unity_catalog() and t.stage != LATEST:
                raise ResolveError(f"{t.text}: Unity Catalog has no stages; use an alias (models:/{name}@alias)")
            versions = self._all_versions(name)
            if t.stage == LATEST:
                chosen = max(versions, key=lambda v: int(v.version), default=None)
            else:
                staged = [v for v in versions if (getattr(v, "current_stage", None) or "None") == t.stage]
                chosen = max(staged, key=lambda v: int(v.version), default=None)
            if chosen is None:
                where = "versions" if t.stage == LATEST else f"version in stage {t.stage}"
                raise ResolveError(f"registered model {name!r} has no {where}")
            return [chosen]
        if t.kind == MODEL:
            return self._all_versions(name)
        raise ResolveError(f"{t.text}: not a model version target")

    def _all_versions(self, name: str) -> list[Any]:
        reg = self.c.registry()

        def model():
            return reg.get_registered_model(name)

        def versions():
            size = 1000 if self.c.is_unity_catalog() else 10000
            return [v for page in pages(reg.search_model_versions, f"name = '{name}'", max_results=size) for v in page]

        (_, rm, rm_exc), (_, mvs, mv_exc) = self.pmap(lambda f: f(), [model, versions])
        for exc in (rm_exc, mv_exc):
            if exc is not None:
                if is_not_found(exc):
                    raise ResolveError(f"no registered model named {name!r} in {redact(self.c.registry_uri)}")
                raise ResolveError(
                    f"model {name!r}: registry {redact(self.c.registry_uri)}: {describe_error(exc, self.c.timeout)}"
                )
        N.registered_model_node(self.g, name, self.c.registry_uri, rm)
        if not mvs:
            self.g.note(
                G.finding(
                    G.FindingCode.NO_VERSIONS, f"registered model {name!r} has no versions", N.registered_model_id(name)
                )
            )
        return sorted(mvs, key=lambda v: int(v.version))

    # --- versions ---------------------------------------------------------------------------------
    def walk_versions(self, versions: list[Any]) -> None:
        works: list[VersionWork] = []
        uc_missing = []
        for mv in versions:
            vtags = dict(mv.tags or {})
            src = T.source_from_version_tags(vtags)
            node = N.version_node(self.g, mv, self.c.registry_uri)
            w = VersionWork(
                mv,
                node.id,
                src,
                getattr(mv, "run_id", None) or src.run_id,
                N.model_id_of(mv) or src.model_id,
                self.c.endpoint(src.workspace_uri),
            )
            works.append(w)
            if not src.workspace_uri and self.c.is_unity_catalog():
                uc_missing.append(w)
        if uc_missing:
            self._uc_fallback(uc_missing)

        self.f.fetch_logged_models({(w.endpoint, w.model_id): w.src.experiment_id for w in works if w.model_id})
        for w in works:
            if w.model_id:
                w.logged_model = self.f.models.get((w.endpoint.workspace_uri, w.model_id))
                if not w.run_id and w.logged_model is not None:
                    w.run_id = w.logged_model.source_run_id or None

        wanted: dict[Endpoint, dict[str, Optional[str]]] = defaultdict(dict)
        for w in works:
            if w.run_id:
                hint = w.src.experiment_id or (w.logged_model.experiment_id if w.logged_model is not None else None)
                wanted[w.endpoint][w.run_id] = hint
        # Experiments named by the versions' tags are fetched while the runs are searched.
        hinted = {(w.endpoint, w.src.experiment_id) for w in works if w.src.experiment_id}
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="lineage-phase") as phases:
            runs_done = phases.submit(self.f.fetch_runs, wanted)
            exps_done = phases.submit(self.f.fetch_experiments, hinted)
            runs_done.result()
            exps_done.result()
        exps = set()
        for w in works:
            key = (w.endpoint.workspace_uri, w.run_id or "")
            w.run = self.f.runs.get(key) if w.run_id else None
            w.run_error = self.f.run_errors.get(key) if w.run_id else None
            if w.run is not None:
                exps.add((w.endpoint, w.run.info.experiment_id))
            elif w.logged_model is not None:
                exps.add((w.endpoint, w.logged_model.experiment_id))
        self.f.fetch_experiments(exps)

        mlmodels = self._fetch_mlmodels(works) if self.fetch_mlmodel else {}
        for w in works:
            build_version(self.g, w, self.f, mlmodels.get(w.node_id), self.c.down_reason)

    def _attach_experiment(self, parent_id: str, ep: Endpoint, exp_id: str, ws_uri: Optional[str]) -> None:
        N.attach_experiment(self.g, parent_id, exp_id, ws_uri, *self.f.experiment(ep, exp_id))

    # --- Unity Catalog fallback --------------------------------------------------------------------
    def _uc_fallback(self, works: list[VersionWork]) -> None:
        """UC versions made without the plugin: UC records the run's workspace id itself."""
        uri, timeout = self.c.registry_uri, self.c.timeout

        def ask(w: VersionWork):
            return run_workspace_id(uri, w.version.name, str(w.version.version), timeout)

        answers = self.pmap(ask, works)
        named = any(exc is None and uc.workspace_id for _, uc, exc in answers)
        home_id = registry_workspace_id(uri, timeout) if named else None  # one request, not one per version
        for w, uc, exc in answers:
            problem = describe_error(exc, timeout) if exc is not None else uc.problem
            if problem:
                w.uc_note = f"Unity Catalog could not say where run {N.short(w.run_id)} lives: {problem}"
                continue
            ws_id = uc.workspace_id
            if not ws_id:
                continue
            ep = self.c.endpoint_for_workspace_id(ws_id, home_id)
            if ep.via == "home":
                w.uc_note = f"Unity Catalog records that run {N.short(w.run_id)} lives in this workspace (id {ws_id})"
                continue
            w.endpoint = ep
            w.src = _with_workspace(w.src, ep.workspace_uri if ep.tracking_uri else f"databricks workspace id {ws_id}")
            w.uc_note = f"Unity Catalog records that run {N.short(w.run_id)} lives in workspace id {ws_id}"

    # --- MLmodel -------------------------------------------------------------------------------------
    def _fetch_mlmodels(self, works: list[VersionWork]) -> dict[str, dict]:
        def one(w: VersionWork) -> dict:
            return fetch_mlmodel_pair(self.c, w.version, w.endpoint, w.logged_model)

        return {w.node_id: res for w, res, exc in self.pmap(one, works) if exc is None}

    # --- runs and LoggedModels as targets ------------------------------------------------------------
    def walk_run(self, run_id: str) -> None:
        ep = self.c.endpoint(None)
        try:
            run = self.c.tracking().get_run(run_id)
        except Exception as exc:
            if is_not_found(exc):
                raise ResolveError(f"run {run_id} not found in {redact(self.c.tracking_uri)}") from None
            raise ResolveError(
                f"run {run_id}: {redact(self.c.tracking_uri)}: {describe_error(exc, self.c.timeout)}"
            ) from None
        self.f.runs[(ep.workspace_uri, run_id)] = run
        rtags = dict(run.data.tags or {})
        ws_uri = rtags.get(T.WORKSPACE_URI) or ep.workspace_uri

        def versions():
            return self.c.registry().search_model_versions(f"run_id = '{run_id}'")

        def models():
            return self.c.tracking().search_logged_models(
                experiment_ids=[run.info.experiment_id], filter_string=f"source_run_id = '{run_id}'"
            )

        def experiment():
            return self.c.tracking().get_experiment(run.info.experiment_id)

        calls = [experiment, versions] + ([models] if hasattr(self.c.tracking(), "search_logged_models") else [])
        results = {fn.__name__: (res, exc) for fn, res, exc in self.pmap(lambda f: f(), calls)}
        exp, err = results["experiment"]
        if err is None:
            self.f.experiments[(ep.workspace_uri, run.info.experiment_id)] = exp
        else:
            self.f.experiment_errors[(ep.workspace_uri, run.info.experiment_id)] = (
                NOT_FOUND if is_not_found(err) else describe_error(err, self.c.timeout)
            )
        exp_read = self.f.experiment(ep, run.info.experiment_id)
        rnode = N.read_run(self.g, run, ws_uri, exp_read, deleted=f"run {run_id}")
        self.g.roots.append(rnode.id)
        for lm in results.get("models", (None, None))[0] or []:
            lnode = N.logged_model_node(self.g, lm, ws_uri)
            self.g.link(rnode.id, lnode.id, "logged model")
            N.mlflow_model_node(self.g, lnode.id, lm.artifact_location, ws_uri)
        for mv in results["versions"][0] or []:
            vnode = N.version_node(self.g, mv, self.c.registry_uri, with_model=False)
            self.g.link(rnode.id, vnode.id, "registered as")
        code = N.code_from_tags(self.g, rnode.id, rtags, ws_uri, "run tags")
        git = code.git
        if not git.commit:
            reason = N.run_no_git_reason(code.notebook, code.entry, code.source_type)
            self.g.note(
                G.finding(
                    G.FindingCode.NO_GIT_REFERENCE, f"run {N.short(run_id)} has no git reference: {reason}", rnode.id
                )
            )
        else:
            N.dirty_finding(self.g, git, f"run {N.short(run_id)}", rnode.id)

    def walk_logged_model(self, model_id: str) -> None:
        ep = self.c.endpoint(None)
        client = self.c.tracking()
        if not hasattr(client, "get_logged_model"):
            raise ResolveError("LoggedModels (models:/m-...) need MLflow 3")
        try:
            lm = client.get_logged_model(model_id)
        except Exception as exc:
            if is_not_found(exc):
                raise ResolveError(f"LoggedModel {model_id} not found in {redact(self.c.tracking_uri)}") from None
            raise ResolveError(f"LoggedModel {model_id}: {describe_error(exc, self.c.timeout)}") from None
        ltags = dict(lm.tags or {})
        ws_uri = ltags.get(T.WORKSPACE_URI) or ep.workspace_uri
        lnode = N.logged_model_node(self.g, lm, ws_uri)
        self.g.roots.append(lnode.id)
        N.mlflow_model_node(self.g, lnode.id, lm.artifact_location, ws_uri)
        for ref in N.model_version_refs(ltags.get(T.MLFLOW_MODEL_VERSIONS)):
            vid = f"model_version:{ref[0]}/{ref[1]}"
            self.g.add(
                G.Node(vid, G.MODEL_VERSION, f"{ref[0]} version {ref[1]}", attrs={"name": ref[0], "version": ref[1]})
            )
            self.g.link(lnode.id, vid, "registered as")
        if lm.source_run_id:
            self.f.fetch_runs({ep: {lm.source_run_id: lm.experiment_id}})
            run = self.f.runs.get((ep.workspace_uri, lm.source_run_id))
            if run is not None:
                self.f.fetch_experiments({(ep, run.info.experiment_id)})
                experiment = self.f.experiment(ep, run.info.experiment_id)
                rnode = N.read_run(self.g, run, ws_uri, experiment, lnode.id, deleted=f"run {lm.source_run_id}")
                git = N.code_from_tags(
                    self.g,
                    rnode.id,
                    dict(run.data.tags or {}),
                    ws_uri,
                    "run tags",
                    fallback_git=T.git_from_run_tags(ltags),
                ).git
            else:
                err = self.f.run_errors.get((ep.workspace_uri, lm.source_run_id), NOT_FOUND)
                self.g.note(
                    G.finding(
                        G.FindingCode.RUN_NOT_FOUND if err == NOT_FOUND else G.FindingCode.WORKSPACE_UNREACHABLE,
                        f"run {lm.source_run_id} of LoggedModel {model_id}: "
                        + ("not found" if err == NOT_FOUND else err),
                        lnode.id,
                    )
                )
                git = N.code_from_tags(self.g, lnode.id, ltags, ws_uri, "LoggedModel tags", with_entry=False).git
        else:
            self.f.fetch_experiments({(ep, lm.experiment_id)})
            self._attach_experiment(lnode.id, ep, lm.experiment_id, ws_uri)
            git = N.code_from_tags(self.g, lnode.id, ltags, ws_uri, "LoggedModel tags").git
            self.g.note(G.finding(G.FindingCode.NO_RUN, f"LoggedModel {model_id} was logged outside any run", lnode.id))
        if not git.commit:
            self.g.note(
                G.finding(G.FindingCode.NO_GIT_REFERENCE, f"LoggedModel {model_id} has no git reference", lnode.id)
            )
        else:
            N.dirty_finding(self.g, git, f"LoggedModel {model_id}", lnode.id)


def _with_workspace(src: T.SourceRun, uri: str) -> T.SourceRun:
    from dataclasses import replace

    return replace(src, workspace_uri=uri)


# --- entry points ----------------------------------------------------------------------------------


def resolve(
    target: Union[str, Target],
    *,
    tracking_uri: Optional[str] = None,
    registry_uri: Optional[str] = None,
    timeout: Optional[float] = None,
    fetch_mlmodel: bool = False,
    clients: Optional[Clients] = None,
    runs: Optional[dict[str, Any]] = None,
    patches: Optional[changes.Read] = None,
) -> G.Lineage:
    """The lineage graph of ``target`` (see ``target.parse_target`` for the forms).

    Raises ``TargetError`` for a malformed target and ``ResolveError`` when the target itself
    cannot be found or read; everything after that is a finding on the returned graph. ``runs``, when
    given, receives the run entities the walk read (by run id: params, metrics, tags), and ``patches`` the
    kept patches it read and whether each is intact (``changes.verify``), so a caller that needs them reads
    nothing twice.
    """
    t = parse_target(target) if isinstance(target, str) else target
    clients = clients or Clients(tracking_uri, registry_uri, timeout)
    lineage = G.Lineage(target=t.text)
    with bounded_http(clients.timeout):
        walker = Walker(clients, lineage, fetch_mlmodel=fetch_mlmodel)
        try:
            if t.kind in (VERSION, ALIAS, STAGE, MODEL):
                versions = walker.load_versions(t)
                lineage.roots.append(N.registered_model_id(t.name or ""))
                walker.walk_versions(versions)
            elif t.kind == LOGGED_MODEL:
                walker.walk_logged_model(t.model_id or "")
            elif t.kind == RUN:
                walker.walk_run(t.run_id or "")
        finally:
            walker.close()
        if runs is not None:
            runs.update({run_id: run for (_, run_id), run in walker.f.runs.items()})
        changes.verify(lineage, clients, patches)
    return lineage
