"""The data, parameters/metrics, environment and lineage sections: pure functions of what was read
about the two sides (``Facts``), no request and no git. The code section is ``trees``'s job.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from mlflow_lineage_plugin.resolve import graph as G
from mlflow_lineage_plugin.resolve.diff.result import Change, Known, Section, SectionName


@dataclass
class Facts:
    """One side, as read: the graph, its run (params, metrics, tags), the model's files."""

    target: str
    lineage: G.Lineage
    run: Any = None  # the MLflow Run entity
    run_why: Optional[str] = None  # why there is no run
    mlmodel: Optional[dict] = None
    requirements: Optional[str] = None  # requirements.txt (or conda.yaml's pip list), as text
    env_why: list[str] = field(default_factory=list)  # what of the model's files could not be read


def _no_run(a: Facts, b: Facts, what: str) -> tuple[str, ...]:
    sides = (("A", a), ("B", b))
    return tuple(f"{n} has no run, so its {what} unknown: {f.run_why}" for n, f in sides if f.run is None)


def _diff_maps(
    group: str, a: Mapping[str, str], b: Mapping[str, str], order: Iterable[str] = ()
) -> tuple[list[Change], int]:
    """Keys in ``order`` first, then the rest sorted."""
    changes, same = [], 0
    first = [k for k in order if k in a or k in b]
    for key in first + sorted((set(a) | set(b)) - set(first)):
        va, vb = a.get(key), b.get(key)
        if va == vb:
            same += 1
        else:
            changes.append(Change(group, key, va, vb))
    return changes, same


# --- data ------------------------------------------------------------------------------------------
def _datasets(facts: Facts) -> dict[str, tuple[str, str]]:
    """``relation: name`` → (digest and version, where the data lives)."""
    run_id = getattr(getattr(facts.run, "info", None), "run_id", None)
    out: dict[str, tuple[str, str]] = {}
    for edge in facts.lineage.children(f"run:{run_id}"):
        node = facts.lineage.nodes.get(edge.target)
        if node is None or node.kind != G.DATASET:
            continue
        a = node.attrs
        what = " ".join(
            b
            for b in (
                f"digest {a['digest']}" if a.get("digest") else "",
                f"version {a['version']}" if a.get("version") else "",
            )
            if b
        )
        out[f"{edge.relation}: {a.get('name') or node.label}"] = (
            what or "(no digest)",
            a.get("table") or a.get("source") or "",
        )
    return out


def data_section(a: Facts, b: Facts) -> Section:
    if a.run is None or b.run is None:
        return Section(SectionName.DATA, Known.UNKNOWN, _no_run(a, b, "datasets are"))
    da, db = _datasets(a), _datasets(b)

    def shown(mine: dict, theirs: dict) -> dict[str, str]:  # where the data lives, only where it differs
        return {k: v[0] if k in theirs and theirs[k][1] == v[1] else f"{v[0]} at {v[1]}" for k, v in mine.items()}

    changes, same = _diff_maps("dataset", shown(da, db), shown(db, da))
    why = () if da or db else ("neither run logged a dataset (mlflow.log_input)",)
    return Section(SectionName.DATA, Known.EXACT, why, tuple(changes), same)


# --- parameters and metrics ------------------------------------------------------------------------
def _number(v: float) -> str:
    return repr(v) if isinstance(v, float) and not v.is_integer() else str(int(v)) if math.isfinite(v) else str(v)


def params_section(a: Facts, b: Facts) -> Section:
    if a.run is None or b.run is None:
        return Section(SectionName.PARAMS, Known.UNKNOWN, _no_run(a, b, "parameters and metrics are"))
    pa, pb = dict(a.run.data.params or {}), dict(b.run.data.params or {})
    changes, same = _diff_maps("param", pa, pb)
    ma, mb = dict(a.run.data.metrics or {}), dict(b.run.data.metrics or {})
    for key in sorted(set(ma) | set(mb)):
        va, vb = ma.get(key), mb.get(key)
        if va == vb or (va is not None and vb is not None and math.isnan(va) and math.isnan(vb)):
            same += 1
            continue
        delta = vb - va if va is not None and vb is not None else None
        changes.append(
            Change("metric", key, None if va is None else _number(va), None if vb is None else _number(vb), delta)
        )
    return Section(SectionName.PARAMS, Known.EXACT, (), tuple(changes), same)


# --- environment -----------------------------------------------------------------------------------
def _python_version(doc: dict) -> Optional[str]:
    pyfunc = (doc.get("flavors") or {}).get("python_function") or {}
    return str(pyfunc["python_version"]) if isinstance(pyfunc, dict) and pyfunc.get("python_version") else None


def _model_facts(doc: Optional[dict]) -> dict[str, str]:
    if not doc:
        return {}
    out = {"flavors": ", ".join(sorted((doc.get("flavors") or {}).keys())) or "(none)"}
    if doc.get("mlflow_version"):
        out["mlflow version"] = str(doc["mlflow_version"])
    if _python_version(doc):
        out["python version"] = _python_version(doc) or ""
    return out


def requirement_map(text: Optional[str]) -> dict[str, str]:
    """requirements.txt lines by canonical project name (``packaging``); lines that are not a
    requirement (``-r``, ``--index-url``, URLs) are kept whole under their own text."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    out: dict[str, str] = {}
    for raw in (text or "").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement:
            out[line] = line
            continue
        spec = "".join(
            [
                f"[{','.join(sorted(req.extras))}]" if req.extras else "",
                str(req.specifier) or "(any version)",
                f" @ {req.url}" if req.url else "",
                f"; {req.marker}" if req.marker else "",
            ]
        )
        out[canonicalize_name(req.name)] = spec
    return out


def conda_pip_requirements(doc: Any) -> Optional[str]:
    """The pip list of a conda.yaml, as requirements.txt text (conda's own packages as ``name==ver``)."""
    if not isinstance(doc, dict):
        return None
    lines: list[str] = []
    for dep in doc.get("dependencies") or []:
        if isinstance(dep, dict):
            lines.extend(str(p) for p in dep.get("pip") or [])
        elif isinstance(dep, str) and not dep.startswith("python"):
            name, _, ver = dep.partition("=")
            lines.append(f"{name}=={ver.lstrip('=')}" if ver else name)
    return "\n".join(lines)


def env_section(a: Facts, b: Facts) -> Section:
    gaps = [f"{side}: {why}" for side, f in (("A", a), ("B", b)) for why in f.env_why]
    if a.mlmodel is None and a.requirements is None or b.mlmodel is None and b.requirements is None:
        return Section(SectionName.ENV, Known.UNKNOWN, tuple(gaps) or ("the model files were not read",))
    changes, same = [], 0
    if a.mlmodel is not None and b.mlmodel is not None:
        c, s = _diff_maps("model", _model_facts(a.mlmodel), _model_facts(b.mlmodel))
        changes += c
        same += s
    if a.requirements is not None and b.requirements is not None:
        c, s = _diff_maps("requirement", requirement_map(a.requirements), requirement_map(b.requirements))
        changes += c
        same += s
    return Section(SectionName.ENV, Known.PARTLY if gaps else Known.EXACT, tuple(gaps), tuple(changes), same)


# --- lineage ---------------------------------------------------------------------------------------
def _first(nodes: Iterable[G.Node], key: str) -> Optional[str]:
    for n in nodes:
        v = n.attrs.get(key)
        if v:
            return ", ".join(sorted(map(str, v))) if isinstance(v, (list, tuple)) else str(v)
    return None


LINEAGE_FIELDS = (
    "workspace",
    "experiment",
    "run",
    "run user",
    "run started",
    "branch",
    "notebook",
    "notebook revision",
    "registered by",
    "registered at",
    "aliases",
)


def lineage_fields(g: G.Lineage) -> dict[str, str]:
    versions, runs = g.of_kind(G.MODEL_VERSION), g.of_kind(G.RUN)
    fields = {
        "workspace": next((n.workspace_uri for n in runs if n.workspace_uri), None),
        "experiment": _first(g.of_kind(G.EXPERIMENT), "name"),
        "run": _first(runs, "run_id"),
        "run user": _first(runs, "user"),
        "run started": _first(runs, "started"),
        "branch": _first(g.of_kind(G.GIT_COMMIT), "branch"),
        "notebook": _first(g.of_kind(G.NOTEBOOK), "path"),
        "notebook revision": _first(g.of_kind(G.NOTEBOOK), "revision_id"),
        "registered by": _first(versions, "user"),
        "registered at": _first(versions, "created"),
        "aliases": _first(versions, "aliases"),
    }
    return {k: v for k, v in fields.items() if v}


def lineage_section(a: Facts, b: Facts) -> Section:
    changes, same = _diff_maps("lineage", lineage_fields(a.lineage), lineage_fields(b.lineage), LINEAGE_FIELDS)
    return Section(SectionName.LINEAGE, Known.EXACT, (), tuple(changes), same)
