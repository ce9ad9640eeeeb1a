"""The traversal: target → model versions → LoggedModels → runs → experiments → code, in batches.

The walk gathers first and builds after: versions come from one search (or one get), runs from
``search_runs`` with ``attributes.run_id IN (...)`` per workspace, experiments from a cache, each
stage's independent requests concurrently. So a registered model with a thousand versions costs
tens of requests, not thousands. Every failure becomes a finding on the graph; only a target that
cannot be found at all raises (``ResolveError``).
"""

from __future__ import annotations

import functools
import json
import re
import warnings
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional, Union

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.resolve import graph as G
from mlflow_lineage_plugin.resolve.clients import (
    SERVER_ERROR,
    Clients,
    Endpoint,
    ResolveError,
    bounded,
    describe_error,
    is_not_found,
    is_unreachable,
    show_workspace,
    uc_source_workspace,
)
from mlflow_lineage_plugin.resolve.mlmodel import fetch_mlmodel_pair, native_artifacts
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
from mlflow_lineage_plugin.urls import normalize_remote, redact, same_repo, source_web_url
from mlflow_lineage_plugin.workspace import databricks_profile, parse_workspace_uri, run_page_url

RUN_BATCH = 100  # run ids per search_runs filter: well under every store's filter-length limit
SCAN_PAGE = 1000  # LoggedModels per page when scanning experiments instead of getting one by one
MAX_WORKERS = 8
_MODEL_ID_IN_SOURCE = re.compile(r"^models:/(m-[0-9a-f]{32})(?:/|$)")
_INTERACTIVE = ("ipykernel_launcher", "ipykernel", "<stdin>", "-c", "ipython")


def short(run_id: Optional[str]) -> str:
    return f"{run_id[:8]}…" if run_id and len(run_id) > 8 else str(run_id)


def _ms_to_iso(ms: Optional[int]) -> Optional[str]:
    if not ms:
        return None
    try:
        return datetime.fromtimestamp(int(ms) / 1000, tz=timezone.utc).isoformat(timespec="seconds")
    except (TypeError, ValueError, OverflowError):
        return None


def model_id_of(version: Any) -> Optional[str]:
    mid = getattr(version, "model_id", None)
    if mid:
        return mid
    m = _MODEL_ID_IN_SOURCE.match(getattr(version, "source", "") or "")
    return m.group(1) if m else None


@dataclass
class _VersionWork:
    """What one version needs from the tracking side, filled in as the batches come back."""

    version: Any
    node_id: str
    src: T.SourceRun
    run_id: Optional[str]
    model_id: Optional[str]
    endpoint: Endpoint
    uc_note: Optional[str] = None
    logged_model: Any = None
    run: Any = None
    run_error: Optional[str] = None  # "not_found" or a reason


@dataclass
class _Fetched:
    runs: dict[tuple[str, str], Any] = field(default_factory=dict)
    run_errors: dict[tuple[str, str], str] = field(default_factory=dict)
    models: dict[tuple[str, str], Any] = field(default_factory=dict)
    model_errors: dict[tuple[str, str], str] = field(default_factory=dict)
    experiments: dict[tuple[str, str], Any] = field(default_factory=dict)
    experiment_errors: dict[tuple[str, str], str] = field(default_factory=dict)


NOT_FOUND = "not_found"
_parsed_ws = functools.lru_cache(maxsize=512)(parse_workspace_uri)  # pure; called for every node


class Walker:
    def __init__(self, clients: Clients, lineage: G.Lineage, *, fetch_mlmodel: bool = False,
                 max_workers: int = MAX_WORKERS):
        self.c = clients
        self.g = lineage
        self.fetch_mlmodel = fetch_mlmodel
        self.pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="lineage")
        self.f = _Fetched()

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def pmap(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[tuple[Any, Any, Optional[BaseException]]]:
        items = list(items)
        if not items:
            return []

        def safe(item):
            try:
                return item, fn(item), None
            except Exception as exc:  # every failure becomes a finding, never a crash
                return item, None, exc

        if len(items) == 1:
            return [safe(items[0])]
        return list(self.pool.map(safe, items))

    # --- registry side -----------------------------------------------------------------------
    def _registry_call(self, what: str, fn: Callable[[], Any], not_found: Callable[[], str]) -> Any:
        """One registry read; "not found" becomes the sentence ``not_found`` builds (only then: it may
        cost another request to tell an unknown model from an unknown version)."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return fn()
        except Exception as exc:
            if is_not_found(exc) or "not found" in str(exc).lower():
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
            out, token = [], None
            page = 1000 if self.c.is_unity_catalog() else 10000
            while True:
                got = reg.search_model_versions(f"name = '{name}'", max_results=page, page_token=token)
                out.extend(got)
                token = getattr(got, "token", None)
                if not token:
                    return out

        (_, rm, rm_exc), (_, mvs, mv_exc) = self.pmap(lambda f: f(), [model, versions])
        for exc in (rm_exc, mv_exc):
            if exc is not None:
                if is_not_found(exc):
                    raise ResolveError(f"no registered model named {name!r} in {redact(self.c.registry_uri)}")
                raise ResolveError(f"model {name!r}: registry {redact(self.c.registry_uri)}: "
                                   f"{describe_error(exc, self.c.timeout)}")
        self._registered_model_node(name, rm)
        if not mvs:
            self.g.note(G.Finding(G.WARNING, "no_versions", f"registered model {name!r} has no versions",
                                  self._rm_id(name)))
        return sorted(mvs, key=lambda v: int(v.version))

    # --- nodes -----------------------------------------------------------------------------
    def _rm_id(self, name: str) -> str:
        return f"registered_model:{name}"

    def _registered_model_node(self, name: str, rm: Any = None) -> G.Node:
        have = self.g.nodes.get(self._rm_id(name))
        if have is not None and rm is None:
            return have
        aliases = None
        if rm is not None:
            raw = getattr(rm, "aliases", None) or {}
            pairs = raw.items() if isinstance(raw, dict) else ((a.alias, a.version) for a in raw)
            aliases = {k: str(v) for k, v in pairs}
        return self.g.add(G.Node(
            self._rm_id(name), G.REGISTERED_MODEL, f"registered model {name}",
            attrs={"name": name, "registry": redact(self.c.registry_uri), "aliases": aliases or None,
                   "description": getattr(rm, "description", None) or None},
        ))  # fmt: skip

    def _registry_ui(self, name: str, version: str) -> Optional[str]:
        p = _parsed_ws(self.c.registry_uri)
        if p.kind == "http":
            return f"{p.base}/#/models/{name}/versions/{version}"
        return None

    def version_node(self, mv: Any, with_model: bool = True) -> G.Node:
        name, version = mv.name, str(mv.version)
        aliases = list(getattr(mv, "aliases", None) or []) or None
        node = self.g.add(G.Node(
            f"model_version:{name}/{version}", G.MODEL_VERSION, f"{name} version {version}",
            url=self._registry_ui(name, version),
            attrs={
                "name": name, "version": version, "source": mv.source, "status": getattr(mv, "status", None),
                "stage": getattr(mv, "current_stage", None) or None, "aliases": aliases,
                "run_id": getattr(mv, "run_id", None) or None, "model_id": model_id_of(mv),
                "created": _ms_to_iso(getattr(mv, "creation_timestamp", None)),
                "user": getattr(mv, "user_id", None) or None, "run_link": getattr(mv, "run_link", None) or None,
                "lineage_schema": (mv.tags or {}).get(T.SCHEMA),
            },
        ))  # fmt: skip
        if with_model:
            self._registered_model_node(name)
            self.g.link(self._rm_id(name), node.id, "version")
        return node

    def _workspace_node(self, uri: Optional[str]) -> Optional[str]:
        if not uri:
            return None
        shown = show_workspace(uri) or uri
        p = _parsed_ws(uri)
        url = p.base + "/" if p.kind in ("databricks", "http") else None
        if p.kind == "databricks" and p.workspace_id:
            url = f"{p.base}/?o={p.workspace_id}"
        node = self.g.add(G.Node(f"workspace:{shown}", G.WORKSPACE, f"workspace {shown}", workspace_uri=shown,
                                 url=url, attrs={"kind": p.kind}))
        return node.id

    def run_node(self, run: Any, ws_uri: Optional[str]) -> G.Node:
        info, data = run.info, run.data
        rtags = dict(data.tags or {})
        ws = rtags.get(T.WORKSPACE_URI) or ws_uri
        node = self.g.add(G.Node(
            f"run:{info.run_id}", G.RUN, f"run {rtags.get(T.MLFLOW_RUN_NAME) or info.run_id}",
            workspace_uri=show_workspace(ws) if ws else None,
            url=run_page_url(ws, info.experiment_id, info.run_id),
            attrs={
                "run_id": info.run_id, "experiment_id": info.experiment_id, "status": info.status,
                "lifecycle_stage": info.lifecycle_stage, "user": rtags.get(T.MLFLOW_USER) or info.user_id or None,
                "started": _ms_to_iso(info.start_time), "source_name": rtags.get(T.MLFLOW_SOURCE_NAME),
                "source_type": rtags.get(T.MLFLOW_SOURCE_TYPE),
                "job_id": rtags.get(T.MLFLOW_DATABRICKS_JOB_ID),
                "job_run_id": rtags.get(T.MLFLOW_DATABRICKS_JOB_RUN_ID),
            },
        ))  # fmt: skip
        return node

    def experiment_node(self, exp: Any, ws_uri: Optional[str]) -> G.Node:
        etags = dict(getattr(exp, "tags", None) or {})
        kind = etags.get("mlflow.experimentType") or etags.get("mlflow.experiment.sourceType")
        p = _parsed_ws(ws_uri) if ws_uri else None
        url = None
        if p and p.kind == "http":
            url = f"{p.base}/#/experiments/{exp.experiment_id}"
        elif p and p.kind == "databricks":
            q = f"?o={p.workspace_id}" if p.workspace_id else ""
            url = f"{p.base}/{q}#mlflow/experiments/{exp.experiment_id}"
        node = self.g.add(G.Node(
            f"experiment:{show_workspace(ws_uri) or ''}#{exp.experiment_id}", G.EXPERIMENT, f"experiment {exp.name}",
            workspace_uri=show_workspace(ws_uri) if ws_uri else None, url=url,
            attrs={"experiment_id": exp.experiment_id, "name": exp.name, "lifecycle_stage": exp.lifecycle_stage,
                   "type": "notebook experiment" if (kind or "").upper() == "NOTEBOOK" else (kind or None),
                   "artifact_location": redact(getattr(exp, "artifact_location", None))},
        ))  # fmt: skip
        ws_id = self._workspace_node(ws_uri)
        if ws_id:
            self.g.link(node.id, ws_id, "in workspace")
        if exp.lifecycle_stage == "deleted":
            self.g.note(G.Finding(G.WARNING, "experiment_deleted", f"experiment {exp.name!r} ({exp.experiment_id}) "
                                  "was deleted", node.id, G.REQ_REACHABLE))
        return node

    def code_nodes(self, parent_id: str, git: T.GitRef, notebook: T.Notebook, entry: Optional[str],
                   ws_uri: Optional[str], origin: str) -> Optional[str]:
        """Notebook / entry script → commit → repository under ``parent_id``; returns the commit node id."""
        code_id = None
        if notebook.path or notebook.id:
            p = _parsed_ws(ws_uri) if ws_uri else None
            url = None
            if p and p.kind == "databricks" and notebook.id:
                q = f"?o={p.workspace_id}" if p.workspace_id else ""
                rev = f"/revision/{notebook.revision_id}" if notebook.revision_id else ""
                url = f"{p.base}/{q}#notebook/{notebook.id}{rev}"
            label = f"notebook {notebook.path or notebook.id}"
            if notebook.revision_id:
                label += f" (revision {notebook.revision_id})"
            node = self.g.add(G.Node(
                f"notebook:{show_workspace(ws_uri) or ''}:{notebook.id or notebook.path}:{notebook.revision_id or ''}",
                G.NOTEBOOK, label, workspace_uri=show_workspace(ws_uri) if ws_uri else None, url=url,
                attrs={"path": notebook.path, "notebook_id": notebook.id, "revision_id": notebook.revision_id,
                       "from": origin},
            ))  # fmt: skip
            code_id = node.id
            self.g.link(parent_id, code_id, "from notebook")
        elif git.path or entry:
            path = git.path or entry
            node = self.g.add(G.Node(
                f"script:{git.commit or parent_id}:{path}", G.ENTRY_SCRIPT, f"entry script {path}",
                url=git.source_url or source_web_url(normalize_remote(git.repo_url), git.commit, git.path),
                attrs={"path": git.path, "source_name": entry if entry != git.path else None, "from": origin},
            ))  # fmt: skip
            code_id = node.id
            self.g.link(parent_id, code_id, "entry point")
        if not git.commit:
            return None
        repo = normalize_remote(git.repo_url)
        commit = self.g.add(G.Node(
            f"commit:{(repo or '').lower()}@{git.commit}", G.GIT_COMMIT, f"commit {git.commit[:12]}"
            + (f" on {git.branch}" if git.branch else "") + (" (dirty)" if git.dirty else ""),
            url=source_web_url(repo, git.commit),
            attrs={"commit": git.commit, "branch": git.branch, "dirty": git.dirty, "repo_url": repo,
                   "from": origin},
        ))  # fmt: skip
        self.g.link(code_id or parent_id, commit.id, "at commit")
        if repo:
            rnode = self.g.add(G.Node(
                f"repository:{repo.lower()}", G.REPOSITORY, f"repository {repo}",
                url=repo if repo.startswith(("http://", "https://")) else None, attrs={"url": repo},
            ))  # fmt: skip
            self.g.link(commit.id, rnode.id, "in repository")
        return commit.id

    def logged_model_node(self, lm: Any, ws_uri: Optional[str]) -> G.Node:
        return self.g.add(G.Node(
            f"logged_model:{lm.model_id}", G.LOGGED_MODEL, f"LoggedModel {lm.name} ({lm.model_id})",
            workspace_uri=show_workspace(ws_uri) if ws_uri else None,
            attrs={"model_id": lm.model_id, "name": lm.name, "experiment_id": lm.experiment_id,
                   "source_run_id": lm.source_run_id or None, "model_type": getattr(lm, "model_type", None),
                   "status": str(getattr(lm, "status", "") or "") or None,
                   "artifact_location": redact(lm.artifact_location),
                   "created": _ms_to_iso(getattr(lm, "creation_timestamp", None))},
        ))  # fmt: skip

    def mlflow_model_node(self, parent_id: str, uri: str, ws_uri: Optional[str]) -> G.Node:
        node = self.g.add(G.Node(f"mlflow_model:{redact(uri)}", G.MLFLOW_MODEL, f"MLflow model {redact(uri)}",
                                 workspace_uri=show_workspace(ws_uri) if ws_uri else None, attrs={"uri": redact(uri)}))
        self.g.link(parent_id, node.id, "MLflow model")
        return node

    # --- tracking side: gather ------------------------------------------------------------------
    def _client_for(self, ep: Endpoint):
        return self.c.tracking(ep.tracking_uri)

    def _fail_endpoint(self, ep: Endpoint, exc: BaseException) -> str:
        reason = describe_error(exc, self.c.timeout)
        if is_unreachable(exc):
            self.c.mark_down(ep.workspace_uri, reason)
        return reason

    def fetch_logged_models(self, wanted: dict[tuple[Endpoint, str], Optional[str]]) -> None:
        """LoggedModels by id. MLflow search cannot ask for a list of ids, so where many are wanted
        from known experiments, a paged scan of those experiments replaces the single gets, capped
        at a quarter as many pages as ids (a scan never costs more than it can save)."""
        todo = {(ep, mid): e for (ep, mid), e in wanted.items()
                if ep.tracking_uri and (ep.workspace_uri, mid) not in self.f.models}  # fmt: skip
        groups: dict[Endpoint, dict[str, str]] = defaultdict(dict)
        for (ep, mid), exp in todo.items():
            if exp:
                groups[ep][mid] = exp
        scans = [(ep, ids) for ep, ids in groups.items() if len(ids) >= 8]

        def scan(job):
            ep, ids = job
            client, found, token, pages = self._client_for(ep), {}, None, 0
            exps = sorted(set(ids.values()))
            while pages < max(1, len(ids) // 4):
                page = client.search_logged_models(experiment_ids=exps, max_results=SCAN_PAGE, page_token=token)
                pages += 1
                found.update({lm.model_id: lm for lm in page if lm.model_id in ids})
                token = getattr(page, "token", None)
                if not token or len(found) == len(ids):
                    break
            return found

        for (ep, _), found, exc in self.pmap(scan, scans):
            if exc is None:
                for mid, lm in found.items():
                    self.f.models[(ep.workspace_uri, mid)] = lm
        singles = [k for k in todo if (k[0].workspace_uri, k[1]) not in self.f.models]

        def get(item):
            ep, mid = item
            if self.c.down_reason(ep.workspace_uri):
                raise _Down(self.c.down_reason(ep.workspace_uri))
            return self._client_for(ep).get_logged_model(mid)

        for (ep, mid), lm, exc in self.pmap(get, singles):
            key = (ep.workspace_uri, mid)
            if exc is None:
                self.f.models[key] = lm
            elif isinstance(exc, _Down):
                self.f.model_errors[key] = str(exc)
            elif is_not_found(exc):
                self.f.model_errors[key] = NOT_FOUND
            else:
                self.f.model_errors[key] = self._fail_endpoint(ep, exc)

    def fetch_runs(self, wanted: dict[Endpoint, dict[str, Optional[str]]]) -> None:
        """Runs by workspace: batched searches where experiment ids are known, single gets elsewhere."""
        jobs: list[tuple[Endpoint, list[str], list[str]]] = []
        singles: list[tuple[Endpoint, str]] = []
        for ep, runs in wanted.items():
            if not ep.tracking_uri:
                continue
            runs = {r: e for r, e in runs.items() if (ep.workspace_uri, r) not in self.f.runs}
            hinted = sorted(r for r, e in runs.items() if e)
            singles += [(ep, r) for r, e in runs.items() if not e]
            if len(hinted) <= 2:
                singles += [(ep, r) for r in hinted]
                continue
            for i in range(0, len(hinted), RUN_BATCH):
                chunk = hinted[i:i + RUN_BATCH]
                jobs.append((ep, chunk, sorted({runs[r] for r in chunk})))  # type: ignore[misc]

        def search(job):
            ep, chunk, exps = job
            if self.c.down_reason(ep.workspace_uri):
                raise _Down(self.c.down_reason(ep.workspace_uri))
            from mlflow.entities import ViewType

            ids = ", ".join(f"'{r}'" for r in chunk)
            return self._client_for(ep).search_runs(
                experiment_ids=exps, filter_string=f"attributes.run_id IN ({ids})",
                run_view_type=ViewType.ALL, max_results=len(chunk),
            )  # fmt: skip

        for (ep, chunk, _), runs, exc in self.pmap(search, jobs):
            if exc is not None:
                reason = str(exc) if isinstance(exc, _Down) else self._fail_endpoint(ep, exc)
                if self.c.down_reason(ep.workspace_uri):
                    for r in chunk:
                        self.f.run_errors[(ep.workspace_uri, r)] = reason
                    continue
                singles += [(ep, r) for r in chunk]  # a store that rejects the filter: one by one
                continue
            found = {run.info.run_id: run for run in runs}
            for r in chunk:
                if r in found:
                    self.f.runs[(ep.workspace_uri, r)] = found[r]
                else:
                    singles.append((ep, r))  # wrong experiment hint, or gone: ask directly

        def get(item):
            ep, rid = item
            if self.c.down_reason(ep.workspace_uri):
                raise _Down(self.c.down_reason(ep.workspace_uri))
            return self._client_for(ep).get_run(rid)

        for (ep, rid), run, exc in self.pmap(get, singles):
            key = (ep.workspace_uri, rid)
            if exc is None:
                self.f.runs[key] = run
            elif isinstance(exc, _Down):
                self.f.run_errors[key] = str(exc)
            elif is_not_found(exc):
                self.f.run_errors[key] = NOT_FOUND
            else:
                self.f.run_errors[key] = self._fail_endpoint(ep, exc)

    def fetch_experiments(self, wanted: set[tuple[Endpoint, str]]) -> None:
        todo = {(ep, e) for ep, e in wanted if ep.tracking_uri and (ep.workspace_uri, e) not in self.f.experiments}

        def get(item):
            ep, eid = item
            if self.c.down_reason(ep.workspace_uri):
                raise _Down(self.c.down_reason(ep.workspace_uri))
            return self._client_for(ep).get_experiment(eid)

        for (ep, eid), exp, exc in self.pmap(get, sorted(todo, key=lambda x: (x[0].workspace_uri, x[1]))):
            key = (ep.workspace_uri, eid)
            if exc is None:
                self.f.experiments[key] = exp
            elif is_not_found(exc):
                self.f.experiment_errors[key] = NOT_FOUND
            else:
                self.f.experiment_errors[key] = str(exc) if isinstance(exc, _Down) else self._fail_endpoint(ep, exc)

    # --- versions ---------------------------------------------------------------------------------
    def walk_versions(self, versions: list[Any]) -> None:
        works: list[_VersionWork] = []
        uc_missing = []
        for mv in versions:
            vtags = dict(mv.tags or {})
            src = T.source_from_version_tags(vtags)
            node = self.version_node(mv)
            w = _VersionWork(mv, node.id, src, getattr(mv, "run_id", None) or src.run_id,
                             model_id_of(mv) or src.model_id, self.c.endpoint(src.workspace_uri))
            works.append(w)
            if not src.workspace_uri and self.c.is_unity_catalog():
                uc_missing.append(w)
        if uc_missing:
            self._uc_fallback(uc_missing)

        self.fetch_logged_models({(w.endpoint, w.model_id): w.src.experiment_id for w in works if w.model_id})
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
            runs_done = phases.submit(self.fetch_runs, wanted)
            exps_done = phases.submit(self.fetch_experiments, hinted)
            runs_done.result()
            exps_done.result()
        exps = set()
        for w in works:
            key = (w.endpoint.workspace_uri, w.run_id)
            w.run = self.f.runs.get(key) if w.run_id else None
            w.run_error = self.f.run_errors.get(key) if w.run_id else None
            if w.run is not None:
                exps.add((w.endpoint, w.run.info.experiment_id))
            elif w.logged_model is not None:
                exps.add((w.endpoint, w.logged_model.experiment_id))
        self.fetch_experiments(exps)

        mlmodels = self._fetch_mlmodels(works) if self.fetch_mlmodel else {}
        for w in works:
            self._build_version(w, mlmodels.get(w.node_id))

    def _build_version(self, w: _VersionWork, mlmodel: Optional[dict]) -> None:
        mv, src = w.version, w.src
        vname = f"version {mv.version} of {mv.name!r}"
        ws_uri = src.workspace_uri or w.endpoint.workspace_uri
        shown_ws = show_workspace(ws_uri)
        predates = T.SCHEMA not in (mv.tags or {})
        if not src.workspace_uri and not w.uc_note and predates and (w.run_id or w.model_id):
            self.g.note(G.Finding(
                G.INFO, "no_workspace_recorded",
                f"{vname} does not record its run's workspace (created without the plugin); "
                f"looked in this client's workspace {shown_ws}", w.node_id))  # fmt: skip
        if w.uc_note:
            self.g.note(G.Finding(G.INFO, "uc_run_workspace", w.uc_note, w.node_id))

        parent = w.node_id
        if w.model_id:
            if w.logged_model is not None:
                lm_node = self.logged_model_node(w.logged_model, ws_uri)
                self.g.link(w.node_id, lm_node.id, "LoggedModel")
                parent = lm_node.id
            else:
                err = self.f.model_errors.get((w.endpoint.workspace_uri, w.model_id))
                lm_node = self.g.add(G.Node(f"logged_model:{w.model_id}", G.LOGGED_MODEL,
                                            f"LoggedModel {w.model_id}", workspace_uri=shown_ws,
                                            attrs={"model_id": w.model_id}))
                self.g.link(w.node_id, lm_node.id, "LoggedModel")
                parent = lm_node.id
                if err == NOT_FOUND:
                    self.g.note(G.Finding(G.WARNING, "logged_model_missing",
                                          f"LoggedModel {w.model_id} of {vname} was not found in workspace "
                                          f"{shown_ws} (deleted?)", lm_node.id, G.REQ_REACHABLE))
        mm = self.mlflow_model_node(parent, mv.source, ws_uri)
        if mlmodel:
            self._apply_mlmodel(mm, mlmodel, vname)

        run_ok = False
        run_git, run_nb, entry, source_type = T.GitRef(), T.Notebook(), None, None
        if not w.endpoint.tracking_uri and (w.run_id or w.model_id):
            reason = w.endpoint.reason or self.c.down_reason(w.endpoint.workspace_uri) or "no client for it"
            what = f"run {short(w.run_id)}" if w.run_id else f"LoggedModel {w.model_id}"
            self.g.note(G.Finding(G.ERROR, "workspace_unreachable",
                                  f"{what} is in workspace {shown_ws}, which this client cannot reach: {reason}",
                                  w.node_id, G.REQ_REACHABLE))
            if w.run_id:
                self._unread_run(parent, w.run_id, ws_uri, src.experiment_id)
        elif w.run_id and w.run is None:
            err = w.run_error or "not looked up"
            if err == NOT_FOUND:
                self.g.note(G.Finding(G.ERROR, "run_not_found",
                                      f"run {w.run_id} of {vname} was not found in workspace {shown_ws}: "
                                      "deleted permanently, or the version points at another workspace",
                                      w.node_id, G.REQ_REACHABLE))
            elif str(err).startswith(SERVER_ERROR):
                self.g.note(G.Finding(G.ERROR, "workspace_error",
                                      f"run {short(w.run_id)} in workspace {shown_ws} could not be read: {err}; "
                                      "try again, or see that server's log", w.node_id, G.REQ_REACHABLE))
            else:
                self.g.note(G.Finding(G.ERROR, "workspace_unreachable",
                                      f"run {short(w.run_id)} is in workspace {shown_ws}, which this client "
                                      f"cannot reach: {err}", w.node_id, G.REQ_REACHABLE))
            self._unread_run(parent, w.run_id, ws_uri, src.experiment_id)
        elif w.run is not None:
            run_ok = True
            rnode = self.run_node(w.run, ws_uri)
            self.g.link(parent, rnode.id, "run")
            rtags = dict(w.run.data.tags or {})
            run_git = T.git_from_run_tags(rtags)
            run_nb = T.notebook_from_run_tags(rtags)
            entry = rtags.get(T.MLFLOW_SOURCE_NAME)
            source_type = rtags.get(T.MLFLOW_SOURCE_TYPE)
            self._attach_experiment(rnode.id, w.endpoint, w.run.info.experiment_id, ws_uri)
            if w.run.info.lifecycle_stage == "deleted":
                self.g.note(G.Finding(G.ERROR, "run_deleted",
                                      f"run {w.run_id} of {vname} was deleted (it is in the trash and will be "
                                      "purged); its record is still readable", rnode.id, G.REQ_REACHABLE))
            self.code_nodes(rnode.id, run_git, run_nb, None if run_git.path else _script_path(entry, source_type),
                            ws_uri, "run tags")
        elif w.logged_model is not None:
            # A model logged outside any run: its lineage lives on the LoggedModel itself.
            ltags = dict(getattr(w.logged_model, "tags", None) or {})
            run_git, run_nb = T.git_from_run_tags(ltags), T.notebook_from_run_tags(ltags)
            entry, source_type = ltags.get(T.MLFLOW_SOURCE_NAME), ltags.get(T.MLFLOW_SOURCE_TYPE)
            run_ok = True
            self._attach_experiment(parent, w.endpoint, w.logged_model.experiment_id, ws_uri)
            self.g.note(G.Finding(G.INFO, "no_run", f"{vname} comes from LoggedModel {w.model_id}, "
                                  "which was logged outside any run", parent))
            self.code_nodes(parent, run_git, run_nb, None if run_git.path else _script_path(entry, source_type),
                            ws_uri, "LoggedModel tags")
        elif not w.run_id and not w.model_id:
            self.g.note(G.Finding(G.ERROR, "no_source_run",
                                  f"{vname} has no source run: it was registered from {redact(mv.source)}",
                                  w.node_id, G.REQ_REACHABLE))

        ver_git, ver_nb = src.git, src.notebook
        git = run_git if run_git.commit else ver_git
        if ver_git.commit and not run_git.commit:
            self.code_nodes(w.node_id if not run_ok else parent, ver_git, ver_nb if not run_nb.path else T.Notebook(),
                            None, ws_uri, "version tags")
        if ver_git.commit and run_git.commit and ver_git.commit != run_git.commit:
            self.g.note(G.Finding(G.WARNING, "commit_mismatch",
                                  f"{vname} records commit {ver_git.commit[:12]} but its run records "
                                  f"{run_git.commit[:12]}", w.node_id))
        if ver_git.repo_url and run_git.repo_url and not same_repo(ver_git.repo_url, run_git.repo_url):
            self.g.note(G.Finding(G.WARNING, "repo_mismatch", f"{vname} and its run name different repositories",
                                  w.node_id))
        if not git.commit:
            reason = _no_git_reason(run_ok, w, run_nb if run_ok else ver_nb, entry, source_type, predates)
            self.g.note(G.Finding(G.ERROR, "no_git_reference", f"version {mv.version} of {mv.name!r} has no git "
                                  f"reference: {reason}", w.node_id, G.REQ_COMMIT))
        else:
            self._dirty_finding(git, f"version {mv.version} of {mv.name!r}", w.node_id)

    def _unread_run(self, parent: str, run_id: str, ws_uri: Optional[str], experiment_id: Optional[str]) -> None:
        """The run as the version describes it: where it is and its link, even though it was not read."""
        node = self.g.add(G.Node(f"run:{run_id}", G.RUN, f"run {run_id} (not read)",
                                 workspace_uri=show_workspace(ws_uri), url=run_page_url(ws_uri, experiment_id, run_id),
                                 attrs={"run_id": run_id, "experiment_id": experiment_id}))  # fmt: skip
        self.g.link(parent, node.id, "run")

    def _attach_experiment(self, parent_id: str, ep: Endpoint, exp_id: str, ws_uri: Optional[str]) -> None:
        exp = self.f.experiments.get((ep.workspace_uri, exp_id))
        if exp is not None:
            enode = self.experiment_node(exp, ws_uri)
            self.g.link(parent_id, enode.id, "experiment")
            return
        err = self.f.experiment_errors.get((ep.workspace_uri, exp_id))
        enode = self.g.add(G.Node(f"experiment:{show_workspace(ws_uri) or ''}#{exp_id}", G.EXPERIMENT,
                                  f"experiment {exp_id}", workspace_uri=show_workspace(ws_uri),
                                  attrs={"experiment_id": exp_id}))
        self.g.link(parent_id, enode.id, "experiment")
        ws_id = self._workspace_node(ws_uri)
        if ws_id:
            self.g.link(enode.id, ws_id, "in workspace")
        if err:
            why = "not found" if err == NOT_FOUND else err
            self.g.note(G.Finding(G.WARNING, "experiment_unreadable", f"experiment {exp_id}: {why}", enode.id,
                                  G.REQ_REACHABLE))

    def _dirty_finding(self, git: T.GitRef, what: str, node_id: str) -> None:
        if git.dirty is True:
            self.g.note(G.Finding(G.WARNING, "dirty", f"{what}: commit {git.commit[:12]} had uncommitted changes "
                                  "when the run started, so the code that ran is not exactly that commit",
                                  node_id, G.REQ_CLEAN))
        elif git.dirty is None:
            self.g.note(G.Finding(G.WARNING, "dirty_unknown", f"{what}: whether the working tree of commit "
                                  f"{git.commit[:12]} was clean is not recorded", node_id, G.REQ_CLEAN))

    # --- Unity Catalog fallback --------------------------------------------------------------------
    def _uc_fallback(self, works: list[_VersionWork]) -> None:
        """UC versions made without the plugin: UC records the run's workspace id itself."""
        profile = databricks_profile(self.c.registry_uri)

        def ask(w: _VersionWork):
            return uc_source_workspace(profile, w.version.name, str(w.version.version), self.c.timeout)

        for w, info, exc in self.pmap(ask, works):
            if exc is not None:
                w.uc_note = f"Unity Catalog could not say where run {short(w.run_id)} lives: " \
                            f"{describe_error(exc, self.c.timeout)}"
                continue
            ws_id, home_id, host = info
            if not ws_id:
                continue
            if home_id and ws_id == home_id:
                w.uc_note = f"Unity Catalog records that run {short(w.run_id)} lives in this workspace (id {ws_id})"
                continue
            uri = self._uri_for_workspace_id(ws_id)
            if uri:
                w.endpoint = self.c.endpoint(uri)
                w.src = _with_workspace(w.src, uri)
                w.uc_note = f"Unity Catalog records that run {short(w.run_id)} lives in workspace id {ws_id}"
            else:
                w.endpoint = Endpoint(f"?o={ws_id}", None, "none",
                                      f"no profile or {_mapping_name()} entry names workspace id {ws_id}")
                w.src = _with_workspace(w.src, f"databricks workspace id {ws_id}")
                w.uc_note = f"Unity Catalog records that run {short(w.run_id)} lives in workspace id {ws_id}"

    def _uri_for_workspace_id(self, ws_id: str) -> Optional[str]:
        for uri in self.c.mapping:
            p = _parsed_ws(uri)
            if p.workspace_id == ws_id:
                return uri
        return None

    # --- MLmodel -------------------------------------------------------------------------------------
    def _fetch_mlmodels(self, works: list[_VersionWork]) -> dict[str, dict]:
        def one(w: _VersionWork) -> dict:
            return fetch_mlmodel_pair(self.c, w.version, w.endpoint, w.logged_model)

        return {w.node_id: res for w, res, exc in self.pmap(one, works) if exc is None}

    def _apply_mlmodel(self, mm: G.Node, info: dict, vname: str) -> None:
        reg, run = info.get("registry"), info.get("run")
        same = info.get("same_location")
        doc = (reg or {}).get("doc") or (run or {}).get("doc")
        if doc:
            flavors = sorted((doc.get("flavors") or {}).keys())
            mm.attrs["flavors"] = flavors
            mm.label = f"MLflow model ({', '.join(flavors)})" if flavors else mm.label
            for key in ("model_uuid", "utc_time_created", "mlflow_version"):
                if doc.get(key):
                    mm.attrs[key] = doc.get(key)
            for flavor, path, cfg in native_artifacts(doc):
                n = self.g.add(G.Node(f"native:{mm.id}:{path}", G.NATIVE_ARTIFACT, f"{flavor} artifact {path}",
                                      attrs={"flavor": flavor, "path": path, **cfg}))
                self.g.link(mm.id, n.id, "native artifact")
        mm.attrs["registry_copy"] = redact((reg or {}).get("uri"))
        mm.attrs["run_copy"] = redact((run or {}).get("uri"))
        mm.attrs["same_location"] = same
        if run and run.get("error"):
            gone = run["error"] == NOT_FOUND
            self.g.note(G.Finding(
                G.ERROR if gone else G.WARNING, "run_copy_gone" if gone else "run_copy_unreadable",
                f"{vname}: the run's copy of the model at {redact(run.get('uri'))} "
                + ("is gone" if gone else f"cannot be read: {run['error']}")
                + ("" if same or not (reg and reg.get("doc")) else "; the registry's copy still serves it"),
                mm.id, G.REQ_REACHABLE))  # fmt: skip
        if reg and reg.get("error") and not same:
            self.g.note(G.Finding(G.ERROR, "registry_copy_unreadable",
                                  f"{vname}: the registry's copy of MLmodel cannot be read: {reg['error']}",
                                  mm.id, G.REQ_REACHABLE))
        if reg and run and reg.get("doc") and run.get("doc") and not same:
            diff = sorted(k for k in set(reg["doc"]) | set(run["doc"]) if reg["doc"].get(k) != run["doc"].get(k))
            mm.attrs["copies_match"] = not diff
            if diff:
                self.g.note(G.Finding(G.WARNING, "copies_differ", f"{vname}: the registry's MLmodel differs from the "
                                      f"run's copy in {', '.join(diff)}", mm.id))

    # --- runs and LoggedModels as targets ------------------------------------------------------------
    def walk_run(self, run_id: str) -> None:
        ep = self.c.endpoint(None)
        try:
            run = self.c.tracking().get_run(run_id)
        except Exception as exc:
            if is_not_found(exc):
                raise ResolveError(f"run {run_id} not found in {redact(self.c.tracking_uri)}") from None
            raise ResolveError(f"run {run_id}: {redact(self.c.tracking_uri)}: "
                               f"{describe_error(exc, self.c.timeout)}") from None
        self.f.runs[(ep.workspace_uri, run_id)] = run
        rtags = dict(run.data.tags or {})
        ws_uri = rtags.get(T.WORKSPACE_URI) or ep.workspace_uri
        rnode = self.run_node(run, ws_uri)
        self.g.roots.append(rnode.id)

        def versions():
            return self.c.registry().search_model_versions(f"run_id = '{run_id}'")

        def models():
            return self.c.tracking().search_logged_models(
                experiment_ids=[run.info.experiment_id], filter_string=f"source_run_id = '{run_id}'")

        def experiment():
            return self.c.tracking().get_experiment(run.info.experiment_id)

        calls = [experiment, versions] + ([models] if hasattr(self.c.tracking(), "search_logged_models") else [])
        results = {fn.__name__: (res, exc) for fn, res, exc in self.pmap(lambda f: f(), calls)}
        exp, exc = results["experiment"]
        if exc is None:
            self.f.experiments[(ep.workspace_uri, run.info.experiment_id)] = exp
        else:
            self.f.experiment_errors[(ep.workspace_uri, run.info.experiment_id)] = (
                NOT_FOUND if is_not_found(exc) else describe_error(exc, self.c.timeout))
        self._attach_experiment(rnode.id, ep, run.info.experiment_id, ws_uri)
        for lm in (results.get("models", (None, None))[0] or []):
            lnode = self.logged_model_node(lm, ws_uri)
            self.g.link(rnode.id, lnode.id, "logged model")
            self.mlflow_model_node(lnode.id, lm.artifact_location, ws_uri)
        for mv in (results["versions"][0] or []):
            self.g.link(rnode.id, self.version_node(mv, with_model=False).id, "registered as")
        git = T.git_from_run_tags(rtags)
        nb = T.notebook_from_run_tags(rtags)
        entry, stype = rtags.get(T.MLFLOW_SOURCE_NAME), rtags.get(T.MLFLOW_SOURCE_TYPE)
        self.code_nodes(rnode.id, git, nb, None if git.path else _script_path(entry, stype), ws_uri, "run tags")
        if run.info.lifecycle_stage == "deleted":
            self.g.note(G.Finding(G.ERROR, "run_deleted", f"run {run_id} was deleted (it is in the trash and will "
                                  "be purged); its record is still readable", rnode.id, G.REQ_REACHABLE))
        if not git.commit:
            reason = _run_no_git_reason(nb, entry, stype)
            self.g.note(G.Finding(G.ERROR, "no_git_reference", f"run {short(run_id)} has no git reference: {reason}",
                                  rnode.id, G.REQ_COMMIT))
        else:
            self._dirty_finding(git, f"run {short(run_id)}", rnode.id)

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
        lnode = self.logged_model_node(lm, ws_uri)
        self.g.roots.append(lnode.id)
        self.mlflow_model_node(lnode.id, lm.artifact_location, ws_uri)
        for ref in _model_version_refs(ltags.get(T.MLFLOW_MODEL_VERSIONS)):
            vid = f"model_version:{ref[0]}/{ref[1]}"
            self.g.add(G.Node(vid, G.MODEL_VERSION, f"{ref[0]} version {ref[1]}",
                              attrs={"name": ref[0], "version": ref[1]}))
            self.g.link(lnode.id, vid, "registered as")
        if lm.source_run_id:
            self.fetch_runs({ep: {lm.source_run_id: lm.experiment_id}})
            run = self.f.runs.get((ep.workspace_uri, lm.source_run_id))
            if run is not None:
                self.fetch_experiments({(ep, run.info.experiment_id)})
                rnode = self.run_node(run, ws_uri)
                self.g.link(lnode.id, rnode.id, "run")
                self._attach_experiment(rnode.id, ep, run.info.experiment_id, ws_uri)
                rtags = dict(run.data.tags or {})
                git = T.git_from_run_tags(rtags) if T.git_from_run_tags(rtags).commit else T.git_from_run_tags(ltags)
                nb = T.notebook_from_run_tags(rtags)
                entry, stype = rtags.get(T.MLFLOW_SOURCE_NAME), rtags.get(T.MLFLOW_SOURCE_TYPE)
                self.code_nodes(rnode.id, git, nb, None if git.path else _script_path(entry, stype), ws_uri,
                                "run tags")
            else:
                err = self.f.run_errors.get((ep.workspace_uri, lm.source_run_id), NOT_FOUND)
                self.g.note(G.Finding(G.ERROR, "run_not_found" if err == NOT_FOUND else "workspace_unreachable",
                                      f"run {lm.source_run_id} of LoggedModel {model_id}: "
                                      + ("not found" if err == NOT_FOUND else err), lnode.id, G.REQ_REACHABLE))
                git = T.git_from_run_tags(ltags)
                nb = T.notebook_from_run_tags(ltags)
                self.code_nodes(lnode.id, git, nb, None, ws_uri, "LoggedModel tags")
        else:
            self.fetch_experiments({(ep, lm.experiment_id)})
            self._attach_experiment(lnode.id, ep, lm.experiment_id, ws_uri)
            git, nb = T.git_from_run_tags(ltags), T.notebook_from_run_tags(ltags)
            entry, stype = ltags.get(T.MLFLOW_SOURCE_NAME), ltags.get(T.MLFLOW_SOURCE_TYPE)
            self.code_nodes(lnode.id, git, nb, None if git.path else _script_path(entry, stype), ws_uri,
                            "LoggedModel tags")
            self.g.note(G.Finding(G.INFO, "no_run", f"LoggedModel {model_id} was logged outside any run", lnode.id))
        if not git.commit:
            self.g.note(G.Finding(G.ERROR, "no_git_reference", f"LoggedModel {model_id} has no git reference",
                                  lnode.id, G.REQ_COMMIT))
        else:
            self._dirty_finding(git, f"LoggedModel {model_id}", lnode.id)


class _Down(Exception):
    pass


def _mapping_name() -> str:
    from mlflow_lineage_plugin import config

    return config.WORKSPACES


def _with_workspace(src: T.SourceRun, uri: str) -> T.SourceRun:
    from dataclasses import replace

    return replace(src, workspace_uri=uri)


def _script_path(entry: Optional[str], source_type: Optional[str]) -> Optional[str]:
    if not entry or (source_type or "").upper() == "NOTEBOOK":
        return None
    return entry


def _is_interactive(entry: Optional[str]) -> bool:
    return bool(entry) and any(k in Path(entry).name.lower() for k in _INTERACTIVE)  # type: ignore[arg-type]


def _run_no_git_reason(nb: T.Notebook, entry: Optional[str], source_type: Optional[str]) -> str:
    if nb.path or (source_type or "").upper() == "NOTEBOOK":
        return "the run was started from an uncommitted notebook (not in a Git folder)"
    if _is_interactive(entry):
        return "the run was started from an interactive session (Jupyter/IPython) outside a git repository"
    if entry:
        return f"its entry script {entry} was not in a git repository when the run started"
    return "the run records no source at all"


def _no_git_reason(run_ok: bool, w: _VersionWork, nb: T.Notebook, entry: Optional[str],
                   source_type: Optional[str], predates: bool) -> str:
    if not w.run_id and not w.model_id:
        return "it has no source run to read one from"
    if not run_ok:
        return "the version carries no copy and its run cannot be read"
    reason = _run_no_git_reason(nb, entry, source_type)
    if predates:
        reason += " (and the version was created without the plugin)"
    return reason


def _model_version_refs(raw: Optional[str]) -> list[tuple[str, str]]:
    try:
        data = json.loads(raw) if raw else []
    except (TypeError, ValueError):
        return []
    out = []
    for item in data if isinstance(data, list) else []:
        if isinstance(item, dict) and item.get("name") and item.get("version") is not None:
            out.append((str(item["name"]), str(item["version"])))
    return out


# --- entry points ----------------------------------------------------------------------------------


def resolve(
    target: Union[str, Target],
    *,
    tracking_uri: Optional[str] = None,
    registry_uri: Optional[str] = None,
    timeout: Optional[float] = None,
    fetch_mlmodel: bool = False,
    clients: Optional[Clients] = None,
) -> G.Lineage:
    """The lineage graph of ``target`` (see ``target.parse_target`` for the forms).

    Raises ``TargetError`` for a malformed target and ``ResolveError`` when the target itself
    cannot be found or read; everything after that is a finding on the returned graph.
    """
    t = parse_target(target) if isinstance(target, str) else target
    clients = clients or Clients(tracking_uri, registry_uri, timeout)
    lineage = G.Lineage(target=t.text)
    with bounded(clients.timeout):
        walker = Walker(clients, lineage, fetch_mlmodel=fetch_mlmodel)
        try:
            if t.kind in (VERSION, ALIAS, STAGE, MODEL):
                versions = walker.load_versions(t)
                lineage.roots.append(walker._rm_id(t.name or ""))
                walker.walk_versions(versions)
            elif t.kind == LOGGED_MODEL:
                walker.walk_logged_model(t.model_id or "")
            elif t.kind == RUN:
                walker.walk_run(t.run_id or "")
        finally:
            walker.close()
    return lineage
