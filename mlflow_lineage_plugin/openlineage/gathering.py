"""The runs an OpenLineage export covers: reached from targets with the resolver, read in batches with
their inputs and the model versions made from them, as ``RunFacts``; and their events.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

from mlflow_lineage_plugin.openlineage.events import run_events
from mlflow_lineage_plugin.openlineage.facts import RunFacts, facts_from_run, registry_namespace
from mlflow_lineage_plugin.parallel import pmap


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
