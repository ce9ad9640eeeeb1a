"""The tracking-side reads, in batches, and what they returned.

A thousand versions must cost tens of requests, so runs are searched a hundred ids at a time and
LoggedModels are scanned by experiment when that is cheaper than getting them one by one. The
answers, or the reason there is none, are kept by (workspace, id): the building stage reads these
dicts instead of servers, and a workspace found down is not asked again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from mlflow_lineage_plugin.errors import NOT_FOUND, describe_error, is_not_found, is_unreachable
from mlflow_lineage_plugin.paging import pages
from mlflow_lineage_plugin.parallel import Outcome
from mlflow_lineage_plugin.resolve.endpoints import Clients
from mlflow_lineage_plugin.workspace_routes import Endpoint

RUN_BATCH = 100  # run ids per search_runs filter: well under every store's filter-length limit
SCAN_PAGE = 1000  # LoggedModels per page when scanning experiments instead of getting one by one

PMap = Callable[[Callable[[Any], Any], Iterable[Any]], list[Outcome]]  # parallel.pmap over one pool


class _Down(Exception):
    pass


@dataclass
class Fetcher:
    c: Clients
    pmap: PMap  # the walk's thread pool, so fetches and the walk's own requests share one bound
    runs: dict[tuple[str, str], Any] = field(default_factory=dict)
    run_errors: dict[tuple[str, str], str] = field(default_factory=dict)
    models: dict[tuple[str, str], Any] = field(default_factory=dict)
    model_errors: dict[tuple[str, str], str] = field(default_factory=dict)
    experiments: dict[tuple[str, str], Any] = field(default_factory=dict)
    experiment_errors: dict[tuple[str, str], str] = field(default_factory=dict)

    def experiment(self, ep: Endpoint, exp_id: str) -> tuple[Any, Optional[str]]:
        key = (ep.workspace_uri, exp_id)
        return self.experiments.get(key), self.experiment_errors.get(key)

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
        todo = {
            (ep, mid): e
            for (ep, mid), e in wanted.items()
            if ep.tracking_uri and (ep.workspace_uri, mid) not in self.models
        }
        groups: dict[Endpoint, dict[str, str]] = defaultdict(dict)
        for (ep, mid), exp in todo.items():
            if exp:
                groups[ep][mid] = exp
        scans = [(ep, ids) for ep, ids in groups.items() if len(ids) >= 8]

        def scan(job):
            ep, ids = job
            client, found = self._client_for(ep), {}
            exps = sorted(set(ids.values()))
            scanned = pages(client.search_logged_models, experiment_ids=exps, max_results=SCAN_PAGE)
            for read, page in enumerate(scanned, 1):
                found.update({lm.model_id: lm for lm in page if lm.model_id in ids})
                if len(found) == len(ids) or read >= max(1, len(ids) // 4):
                    break
            return found

        for (ep, _), found, exc in self.pmap(scan, scans):
            if exc is None:
                for mid, lm in found.items():
                    self.models[(ep.workspace_uri, mid)] = lm
        singles = [k for k in todo if (k[0].workspace_uri, k[1]) not in self.models]

        def get(item):
            ep, mid = item
            if self.c.down_reason(ep.workspace_uri):
                raise _Down(self.c.down_reason(ep.workspace_uri))
            return self._client_for(ep).get_logged_model(mid)

        for (ep, mid), lm, exc in self.pmap(get, singles):
            key = (ep.workspace_uri, mid)
            if exc is None:
                self.models[key] = lm
            elif isinstance(exc, _Down):
                self.model_errors[key] = str(exc)
            elif is_not_found(exc):
                self.model_errors[key] = NOT_FOUND
            else:
                self.model_errors[key] = self._fail_endpoint(ep, exc)

    def fetch_runs(self, wanted: dict[Endpoint, dict[str, Optional[str]]]) -> None:
        """Runs by workspace: batched searches where experiment ids are known, single gets elsewhere."""
        jobs: list[tuple[Endpoint, list[str], list[str]]] = []
        singles: list[tuple[Endpoint, str]] = []
        for ep, runs in wanted.items():
            if not ep.tracking_uri:
                continue
            runs = {r: e for r, e in runs.items() if (ep.workspace_uri, r) not in self.runs}
            hinted = sorted(r for r, e in runs.items() if e)
            singles += [(ep, r) for r, e in runs.items() if not e]
            if len(hinted) <= 2:
                singles += [(ep, r) for r in hinted]
                continue
            for i in range(0, len(hinted), RUN_BATCH):
                chunk = hinted[i : i + RUN_BATCH]
                jobs.append((ep, chunk, sorted({runs[r] for r in chunk})))  # type: ignore[misc]

        def search(job):
            ep, chunk, exps = job
            if self.c.down_reason(ep.workspace_uri):
                raise _Down(self.c.down_reason(ep.workspace_uri))
            from mlflow.entities import ViewType

            ids = ", ".join(f"'{r}'" for r in chunk)
            return self._client_for(ep).search_runs(
                experiment_ids=exps,
                filter_string=f"attributes.run_id IN ({ids})",
                run_view_type=ViewType.ALL,
                max_results=len(chunk),
            )

        for (ep, chunk, _), runs, exc in self.pmap(search, jobs):
            if exc is not None:
                reason = str(exc) if isinstance(exc, _Down) else self._fail_endpoint(ep, exc)
                if self.c.down_reason(ep.workspace_uri):
                    for r in chunk:
                        self.run_errors[(ep.workspace_uri, r)] = reason
                    continue
                singles += [(ep, r) for r in chunk]  # a store that rejects the filter: one by one
                continue
            found = {run.info.run_id: run for run in runs}
            for r in chunk:
                if r in found:
                    self.runs[(ep.workspace_uri, r)] = found[r]
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
                self.runs[key] = run
            elif isinstance(exc, _Down):
                self.run_errors[key] = str(exc)
            elif is_not_found(exc):
                self.run_errors[key] = NOT_FOUND
            else:
                self.run_errors[key] = self._fail_endpoint(ep, exc)

    def fetch_experiments(self, wanted: set[tuple[Endpoint, str]]) -> None:
        todo = {(ep, e) for ep, e in wanted if ep.tracking_uri and (ep.workspace_uri, e) not in self.experiments}

        def get(item):
            ep, eid = item
            if self.c.down_reason(ep.workspace_uri):
                raise _Down(self.c.down_reason(ep.workspace_uri))
            return self._client_for(ep).get_experiment(eid)

        for (ep, eid), exp, exc in self.pmap(get, sorted(todo, key=lambda x: (x[0].workspace_uri, x[1]))):
            key = (ep.workspace_uri, eid)
            if exc is None:
                self.experiments[key] = exp
            elif is_not_found(exc):
                self.experiment_errors[key] = NOT_FOUND
            else:
                self.experiment_errors[key] = str(exc) if isinstance(exc, _Down) else self._fail_endpoint(ep, exc)
