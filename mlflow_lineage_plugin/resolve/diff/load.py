"""Reading one side of a diff: the resolver's walk (which also hands back the run entities and kept patches
it read), the code's source as ``checkout`` finds it (``resolve/code``), and two small downloads of the model's
files (``MLmodel``, ``requirements.txt``; ``conda.yaml`` only when there is no requirements.txt). The I/O
edge of ``diff``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from mlflow_lineage_plugin.errors import NOT_FOUND
from mlflow_lineage_plugin.resolve import graph as G
from mlflow_lineage_plugin.resolve.changes import Read
from mlflow_lineage_plugin.resolve.code import Source, source_of
from mlflow_lineage_plugin.resolve.diff.compare import Facts, conda_pip_requirements
from mlflow_lineage_plugin.resolve.diff.result import Side
from mlflow_lineage_plugin.resolve.endpoints import Clients
from mlflow_lineage_plugin.resolve.target import RUN, Target


class DiffError(Exception):
    """Bad input (exit code 2): one line meant for the user."""


@dataclass
class Loaded:
    facts: Facts
    side: Side
    source: Optional[Source] = None  # the tags that name the code, the client and the patch the walk read
    source_why: Optional[str] = None


def load(t: Target, clients: Clients) -> Loaded:
    from mlflow_lineage_plugin.resolve.walk import resolve

    runs: dict[str, Any] = {}
    patches: Read = {}
    lineage = resolve(t, clients=clients, runs=runs, patches=patches)
    versions = lineage.of_kind(G.MODEL_VERSION) if t.kind != RUN else []
    if len(versions) > 1:
        raise DiffError(f"{t.text} names {len(versions)} model versions; name one (models:/NAME/VERSION or @alias)")
    source, source_why = source_of(t.text, lineage, clients, runs, patches)
    run_nodes = [n for n in lineage.of_kind(G.RUN) if n.attrs.get("run_id")]
    run = runs.get(run_nodes[0].attrs["run_id"]) if len(run_nodes) == 1 else None
    facts = Facts(t.text, lineage, run=run, run_why=None if run is not None else _no_run(lineage, run_nodes))
    _model_files(facts, t, lineage, clients)
    return Loaded(facts, _side(t, lineage, run_nodes), source, source_why)


def _no_run(lineage: G.Lineage, run_nodes: list[G.Node]) -> str:
    if len(run_nodes) > 1:
        return f"it leads to {len(run_nodes)} runs"
    if run_nodes:
        node_id = run_nodes[0].id
        found = [f.message for f in lineage.findings if f.node_id == node_id and f.requirement == G.REQ_REACHABLE]
        return found[0] if found else f"run {run_nodes[0].attrs['run_id']} could not be read"
    return "it was logged outside any run" if lineage.of_kind(G.LOGGED_MODEL) else "it leads to no run"


def _side(t: Target, lineage: G.Lineage, run_nodes: list[G.Node]) -> Side:
    picks = lineage.of_kind(G.MODEL_VERSION) or lineage.of_kind(G.LOGGED_MODEL) or run_nodes
    pick = picks[0] if picks else None
    run = run_nodes[0] if len(run_nodes) == 1 else None
    return Side(
        target=t.text,
        label=pick.label if pick is not None else t.text,
        run_id=run.attrs.get("run_id") if run is not None else None,
        url=(pick.url if pick is not None else None) or (run.url if run is not None else None),
        workspace=run.workspace_uri if run is not None else None,
    )


def _model_location(t: Target, lineage: G.Lineage, clients: Clients, run: Any) -> tuple[Optional[dict], Optional[str]]:
    """Where the model's small files are read from (``download_artifacts`` arguments), or why nowhere: the
    run's (or LoggedModel's) own copy through its own workspace, so a version whose run lives elsewhere is
    read there; the registry's copy when that is all there is. A ``runs:/`` URI of the run already read
    becomes its artifact location, which spares MLflow's look-ups of the run on every download."""
    versions = lineage.of_kind(G.MODEL_VERSION) if t.kind != RUN else []
    runs = lineage.of_kind(G.RUN)
    run_uri = f"runs:/{t.run_id}/{t.path}" if t.kind == RUN and t.path else None
    if versions and str(versions[0].attrs.get("source") or "").startswith("runs:/"):
        run_uri = versions[0].attrs["source"]
    if run_uri:
        endpoint = clients.endpoint(runs[0].workspace_uri if runs else None)
        run_id, _, path = run_uri[len("runs:/") :].partition("/")
        info = getattr(run, "info", None)
        if info is not None and info.run_id == run_id and getattr(info, "artifact_uri", None):
            run_uri = f"{info.artifact_uri.rstrip('/')}/{path.strip('/')}"
        return {"artifact_uri": run_uri, "tracking_uri": endpoint.tracking_uri}, None
    models = [m for m in lineage.of_kind(G.LOGGED_MODEL) if m.attrs.get("artifact_location")]
    if len(models) == 1:
        endpoint = clients.endpoint(models[0].workspace_uri)
        return {"artifact_uri": models[0].attrs["artifact_location"], "tracking_uri": endpoint.tracking_uri}, None
    if versions:
        v = versions[0].attrs
        return {
            "artifact_uri": f"models:/{v['name']}/{v['version']}",
            "tracking_uri": clients.tracking_uri,
            "registry_uri": clients.registry_uri,
        }, None
    if models:
        return None, f"the run logged {len(models)} models; name one (models:/m-ID or runs:/RUN_ID/PATH)"
    return None, "it names no model (a run without a logged model)"


def _model_files(facts: Facts, t: Target, lineage: G.Lineage, clients: Clients) -> None:
    import yaml

    from mlflow_lineage_plugin.resolve.mlmodel import read_text

    where, why = _model_location(t, lineage, clients, facts.run)
    if where is None:
        facts.env_why.append(why or "no model")
        return
    base = where["artifact_uri"].rstrip("/")

    def read(name: str) -> tuple[Optional[str], Optional[str]]:
        return read_text({**where, "artifact_uri": f"{base}/{name}"}, clients.timeout)

    text, err = read("MLmodel")
    if text is not None:
        try:
            facts.mlmodel = yaml.safe_load(text) or {}
        except yaml.YAMLError:
            facts.env_why.append("its MLmodel is not valid YAML")
    else:
        facts.env_why.append(f"its MLmodel {'is not there' if err == NOT_FOUND else f'could not be read: {err}'}")
    text, err = read("requirements.txt")
    if text is None and err == NOT_FOUND:
        conda, err = read("conda.yaml")
        try:
            text = conda_pip_requirements(yaml.safe_load(conda)) if conda is not None else None
        except yaml.YAMLError:
            err = "conda.yaml is not valid YAML"
    if text is not None:
        facts.requirements = text
    else:
        gone = "has no requirements.txt or conda.yaml"
        facts.env_why.append(f"its model {gone if err == NOT_FOUND else f'requirements could not be read: {err}'}")
