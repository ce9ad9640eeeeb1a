"""Graph nodes, edges and findings from entities that have already been read.

Pure functions of the ``graph.Lineage`` and the values they are given, never a request: the walk
reads everything first and builds afterwards, and the node ids made here are what let the same
run, experiment or commit reached from many versions stay one node.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.datasets import DatasetRef, run_datasets, run_model_inputs
from mlflow_lineage_plugin.errors import NOT_FOUND
from mlflow_lineage_plugin.resolve import graph as G
from mlflow_lineage_plugin.resolve.mlmodel import native_artifacts
from mlflow_lineage_plugin.source import model_id_from_source
from mlflow_lineage_plugin.urls import normalize_remote, redact, source_web_url
from mlflow_lineage_plugin.workspace import parse_workspace_uri, run_page_url, show_workspace

_INTERACTIVE = ("ipykernel_launcher", "ipykernel", "<stdin>", "-c", "ipython")

parsed_ws = functools.lru_cache(maxsize=512)(parse_workspace_uri)  # pure; called for every node


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
    return model_id_from_source(getattr(version, "source", None))


# --- registry side ---------------------------------------------------------------------------------
def registered_model_id(name: str) -> str:
    return f"registered_model:{name}"


def registered_model_node(g: G.Lineage, name: str, registry_uri: Optional[str], rm: Any = None) -> G.Node:
    have = g.nodes.get(registered_model_id(name))
    if have is not None and rm is None:
        return have
    aliases = None
    if rm is not None:
        raw = getattr(rm, "aliases", None) or {}
        pairs = raw.items() if isinstance(raw, dict) else ((a.alias, a.version) for a in raw)
        aliases = {k: str(v) for k, v in pairs}
    return g.add(
        G.Node(
            registered_model_id(name),
            G.REGISTERED_MODEL,
            f"registered model {name}",
            attrs={
                "name": name,
                "registry": redact(registry_uri),
                "aliases": aliases or None,
                "description": getattr(rm, "description", None) or None,
            },
        )
    )


def _registry_ui(registry_uri: Optional[str], name: str, version: str) -> Optional[str]:
    p = parsed_ws(registry_uri)
    if p.kind == "http":
        return f"{p.base}/#/models/{name}/versions/{version}"
    return None


def version_node(g: G.Lineage, mv: Any, registry_uri: Optional[str], with_model: bool = True) -> G.Node:
    name, version = mv.name, str(mv.version)
    aliases = list(getattr(mv, "aliases", None) or []) or None
    node = g.add(
        G.Node(
            f"model_version:{name}/{version}",
            G.MODEL_VERSION,
            f"{name} version {version}",
            url=_registry_ui(registry_uri, name, version),
            attrs={
                "name": name,
                "version": version,
                "source": mv.source,
                "status": getattr(mv, "status", None),
                "stage": getattr(mv, "current_stage", None) or None,
                "aliases": aliases,
                "run_id": getattr(mv, "run_id", None) or None,
                "model_id": model_id_of(mv),
                "created": _ms_to_iso(getattr(mv, "creation_timestamp", None)),
                "user": getattr(mv, "user_id", None) or None,
                "run_link": getattr(mv, "run_link", None) or None,
                T.SCHEMA: (mv.tags or {}).get(T.SCHEMA),
            },
        )
    )
    if with_model:
        registered_model_node(g, name, registry_uri)
        g.link(registered_model_id(name), node.id, "version")
    return node


# --- tracking side ---------------------------------------------------------------------------------
def workspace_node(g: G.Lineage, uri: Optional[str]) -> Optional[str]:
    if not uri:
        return None
    shown = show_workspace(uri) or uri
    p = parsed_ws(uri)
    url = p.base + "/" if p.kind in ("databricks", "http") else None
    if p.kind == "databricks" and p.workspace_id:
        url = f"{p.base}/?o={p.workspace_id}"
    node = g.add(
        G.Node(
            f"workspace:{shown}",
            G.WORKSPACE,
            f"workspace {shown}",
            workspace_uri=shown,
            url=url,
            attrs={"kind": p.kind},
        )
    )
    return node.id


def run_node(g: G.Lineage, run: Any, ws_uri: Optional[str]) -> G.Node:
    info, data = run.info, run.data
    rtags = dict(data.tags or {})
    ws = rtags.get(T.WORKSPACE_URI) or ws_uri
    node = g.add(
        G.Node(
            f"run:{info.run_id}",
            G.RUN,
            f"run {rtags.get(T.MLFLOW_RUN_NAME) or info.run_id}",
            workspace_uri=show_workspace(ws) if ws else None,
            url=run_page_url(ws, info.experiment_id, info.run_id),
            attrs={
                "run_id": info.run_id,
                "experiment_id": info.experiment_id,
                "status": info.status,
                "lifecycle_stage": info.lifecycle_stage,
                "user": rtags.get(T.MLFLOW_USER) or info.user_id or None,
                "started": _ms_to_iso(info.start_time),
                "source_name": rtags.get(T.MLFLOW_SOURCE_NAME),
                "source_type": rtags.get(T.MLFLOW_SOURCE_TYPE),
                "job_id": rtags.get(T.MLFLOW_DATABRICKS_JOB_ID),
                "job_run_id": rtags.get(T.MLFLOW_DATABRICKS_JOB_RUN_ID),
            },
        )
    )
    input_nodes(g, node.id, run, show_workspace(ws) if ws else None)
    return node


def read_run(
    g: G.Lineage,
    run: Any,
    ws_uri: Optional[str],
    experiment: tuple[Any, Optional[str]],
    parent: Optional[str] = None,
    deleted: Optional[str] = None,
) -> G.Node:
    """A run that was read, built one way whatever reached it (a version, a LoggedModel, the target
    itself): its node with the data and models it took in, the ``run`` edge from ``parent``, its
    experiment (``experiment`` is ``fetch.Fetcher.experiment``'s pair), and, when ``deleted`` gives the
    words that name it, the finding that it is in the trash. Its code is ``code_from_tags``'s."""
    node = run_node(g, run, ws_uri)
    if parent is not None:
        g.link(parent, node.id, "run")
    attach_experiment(g, node.id, run.info.experiment_id, ws_uri, *experiment)
    if deleted is not None and run.info.lifecycle_stage == "deleted":
        g.note(
            G.finding(
                G.FindingCode.RUN_DELETED,
                f"{deleted} was deleted (it is in the trash and will be purged); its record is still readable",
                node.id,
            )
        )
    return node


# --- data ------------------------------------------------------------------------------------------
MAX_SCHEMA_COLUMNS = 8


def _schema_summary(columns: tuple[tuple[str, str], ...]) -> Optional[str]:
    if not columns:
        return None
    shown = ", ".join(f"{n} {t}".strip() for n, t in columns[:MAX_SCHEMA_COLUMNS])
    more = len(columns) - MAX_SCHEMA_COLUMNS
    return shown + (f", … ({len(columns)} columns)" if more > 0 else "")


def dataset_node(g: G.Lineage, d: DatasetRef) -> G.Node:
    """One node per data (place, version, digest): two runs trained on the same data share it."""
    return g.add(
        G.Node(
            f"dataset:{d.location}@{d.version or ''}#{d.digest or ''}",
            G.DATASET,
            f"dataset {d.label}",
            url=d.url,
            attrs={
                "name": d.name,
                "digest": d.digest,
                "source_type": d.source_type,
                "source": d.location,
                "table": d.table,
                "version": d.version,
                "context": d.context,
                "schema": _schema_summary(d.schema),
                "columns": len(d.schema) or None,
                "namespace": d.namespace,
                "ol_name": d.ol_name,
            },
        )
    )


def input_nodes(g: G.Lineage, run_node_id: str, run: Any, ws_uri: Optional[str]) -> None:
    """The run's logged datasets (``trained on`` / ``evaluated on`` / ``input``) and, in MLflow 3, the
    LoggedModels it took as inputs; both come with the run entity already read, never another request."""
    for d in run_datasets(run, ws_uri):
        g.link(run_node_id, dataset_node(g, d).id, d.relation)
    for mid in run_model_inputs(run):
        g.link(run_node_id, unread_logged_model(g, mid, ws_uri).id, "model input")


def unread_logged_model(g: G.Lineage, model_id: str, ws_uri: Optional[str]) -> G.Node:
    """A LoggedModel known by its id alone (not read, or not readable): enough to link to and to merge
    with the full node should it be read elsewhere."""
    return g.add(
        G.Node(
            f"logged_model:{model_id}",
            G.LOGGED_MODEL,
            f"LoggedModel {model_id}",
            workspace_uri=ws_uri,
            attrs={"model_id": model_id},
        )
    )


def unread_run(g: G.Lineage, parent: str, run_id: str, ws_uri: Optional[str], experiment_id: Optional[str]) -> None:
    """The run as the version describes it: where it is and its link, even though it was not read."""
    node = g.add(
        G.Node(
            f"run:{run_id}",
            G.RUN,
            f"run {run_id} (not read)",
            workspace_uri=show_workspace(ws_uri),
            url=run_page_url(ws_uri, experiment_id, run_id),
            attrs={"run_id": run_id, "experiment_id": experiment_id},
        )
    )
    g.link(parent, node.id, "run")


def experiment_node(g: G.Lineage, exp: Any, ws_uri: Optional[str]) -> G.Node:
    etags = dict(getattr(exp, "tags", None) or {})
    kind = etags.get(T.MLFLOW_EXPERIMENT_TYPE) or etags.get(T.MLFLOW_EXPERIMENT_SOURCE_TYPE)
    p = parsed_ws(ws_uri) if ws_uri else None
    url = None
    if p and p.kind == "http":
        url = f"{p.base}/#/experiments/{exp.experiment_id}"
    elif p and p.kind == "databricks":
        q = f"?o={p.workspace_id}" if p.workspace_id else ""
        url = f"{p.base}/{q}#mlflow/experiments/{exp.experiment_id}"
    node = g.add(
        G.Node(
            f"experiment:{show_workspace(ws_uri) or ''}#{exp.experiment_id}",
            G.EXPERIMENT,
            f"experiment {exp.name}",
            workspace_uri=show_workspace(ws_uri) if ws_uri else None,
            url=url,
            attrs={
                "experiment_id": exp.experiment_id,
                "name": exp.name,
                "lifecycle_stage": exp.lifecycle_stage,
                "type": "notebook experiment" if (kind or "").upper() == "NOTEBOOK" else (kind or None),
                "artifact_location": redact(getattr(exp, "artifact_location", None)),
            },
        )
    )
    ws_id = workspace_node(g, ws_uri)
    if ws_id:
        g.link(node.id, ws_id, "in workspace")
    if exp.lifecycle_stage == "deleted":
        g.note(
            G.finding(
                G.FindingCode.EXPERIMENT_DELETED, f"experiment {exp.name!r} ({exp.experiment_id}) was deleted", node.id
            )
        )
    return node


def attach_experiment(
    g: G.Lineage, parent_id: str, exp_id: str, ws_uri: Optional[str], exp: Any, err: Optional[str]
) -> None:
    """Link ``parent_id`` to its experiment; one that could not be read still shows where it is."""
    if exp is not None:
        enode = experiment_node(g, exp, ws_uri)
        g.link(parent_id, enode.id, "experiment")
        return
    enode = g.add(
        G.Node(
            f"experiment:{show_workspace(ws_uri) or ''}#{exp_id}",
            G.EXPERIMENT,
            f"experiment {exp_id}",
            workspace_uri=show_workspace(ws_uri),
            attrs={"experiment_id": exp_id},
        )
    )
    g.link(parent_id, enode.id, "experiment")
    ws_id = workspace_node(g, ws_uri)
    if ws_id:
        g.link(enode.id, ws_id, "in workspace")
    if err:
        why = "not found" if err == NOT_FOUND else err
        g.note(G.finding(G.FindingCode.EXPERIMENT_UNREADABLE, f"experiment {exp_id}: {why}", enode.id))


def logged_model_node(g: G.Lineage, lm: Any, ws_uri: Optional[str]) -> G.Node:
    return g.add(
        G.Node(
            f"logged_model:{lm.model_id}",
            G.LOGGED_MODEL,
            f"LoggedModel {lm.name} ({lm.model_id})",
            workspace_uri=show_workspace(ws_uri) if ws_uri else None,
            attrs={
                "model_id": lm.model_id,
                "name": lm.name,
                "experiment_id": lm.experiment_id,
                "source_run_id": lm.source_run_id or None,
                "model_type": getattr(lm, "model_type", None),
                "status": str(getattr(lm, "status", "") or "") or None,
                "artifact_location": redact(lm.artifact_location),
                "created": _ms_to_iso(getattr(lm, "creation_timestamp", None)),
            },
        )
    )


def mlflow_model_node(g: G.Lineage, parent_id: str, uri: str, ws_uri: Optional[str]) -> G.Node:
    node = g.add(
        G.Node(
            f"mlflow_model:{redact(uri)}",
            G.MLFLOW_MODEL,
            f"MLflow model {redact(uri)}",
            workspace_uri=show_workspace(ws_uri) if ws_uri else None,
            attrs={"uri": redact(uri)},
        )
    )
    g.link(parent_id, node.id, "MLflow model")
    return node


def apply_mlmodel(g: G.Lineage, mm: G.Node, info: dict, vname: str) -> None:
    """What the two MLmodel copies say (``mlmodel.fetch_mlmodel_pair``), onto the MLflow model node."""
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
            n = g.add(
                G.Node(
                    f"native:{mm.id}:{path}",
                    G.NATIVE_ARTIFACT,
                    f"{flavor} artifact {path}",
                    attrs={"flavor": flavor, "path": path, **cfg},
                )
            )
            g.link(mm.id, n.id, "native artifact")
    mm.attrs["registry_copy"] = redact((reg or {}).get("uri"))
    mm.attrs["run_copy"] = redact((run or {}).get("uri"))
    mm.attrs["same_location"] = same
    if run and run.get("error"):
        gone = run["error"] == NOT_FOUND
        g.note(
            G.finding(
                G.FindingCode.RUN_COPY_GONE if gone else G.FindingCode.RUN_COPY_UNREADABLE,
                f"{vname}: the run's copy of the model at {redact(run.get('uri'))} "
                + ("is gone" if gone else f"cannot be read: {run['error']}")
                + ("" if same or not (reg and reg.get("doc")) else "; the registry's copy still serves it"),
                mm.id,
            )
        )
    if reg and reg.get("error") and not same:
        g.note(
            G.finding(
                G.FindingCode.REGISTRY_COPY_UNREADABLE,
                f"{vname}: the registry's copy of MLmodel cannot be read: {reg['error']}",
                mm.id,
            )
        )
    if reg and run and reg.get("doc") and run.get("doc") and not same:
        diff = sorted(k for k in set(reg["doc"]) | set(run["doc"]) if reg["doc"].get(k) != run["doc"].get(k))
        mm.attrs["copies_match"] = not diff
        if diff:
            g.note(
                G.finding(
                    G.FindingCode.COPIES_DIFFER,
                    f"{vname}: the registry's MLmodel differs from the run's copy in {', '.join(diff)}",
                    mm.id,
                )
            )


# --- code ------------------------------------------------------------------------------------------
def code_nodes(
    g: G.Lineage,
    parent_id: str,
    git: T.GitRef,
    notebook: T.Notebook,
    entry: Optional[str],
    ws_uri: Optional[str],
    origin: str,
) -> Optional[str]:
    """Notebook / entry script → commit → repository under ``parent_id``; returns the commit node id."""
    code_id = None
    if notebook.path or notebook.id:
        p = parsed_ws(ws_uri) if ws_uri else None
        url = None
        if p and p.kind == "databricks" and notebook.id:
            q = f"?o={p.workspace_id}" if p.workspace_id else ""
            rev = f"/revision/{notebook.revision_id}" if notebook.revision_id else ""
            url = f"{p.base}/{q}#notebook/{notebook.id}{rev}"
        label = f"notebook {notebook.path or notebook.id}"
        if notebook.revision_id:
            label += f" (revision {notebook.revision_id})"
        node = g.add(
            G.Node(
                f"notebook:{show_workspace(ws_uri) or ''}:{notebook.id or notebook.path}:{notebook.revision_id or ''}",
                G.NOTEBOOK,
                label,
                workspace_uri=show_workspace(ws_uri) if ws_uri else None,
                url=url,
                attrs={
                    "path": notebook.path,
                    "notebook_id": notebook.id,
                    "revision_id": notebook.revision_id,
                    "from": origin,
                },
            )
        )
        code_id = node.id
        g.link(parent_id, code_id, "from notebook")
    elif git.path or entry:
        path = git.path or entry
        node = g.add(
            G.Node(
                f"script:{git.commit or parent_id}:{path}",
                G.ENTRY_SCRIPT,
                f"entry script {path}",
                url=git.source_url or source_web_url(normalize_remote(git.repo_url), git.commit, git.path),
                attrs={"path": git.path, "source_name": entry if entry != git.path else None, "from": origin},
            )
        )
        code_id = node.id
        g.link(parent_id, code_id, "entry point")
    if not git.commit:
        return None
    repo = normalize_remote(git.repo_url)
    commit = g.add(
        G.Node(
            f"commit:{(repo or '').lower()}@{git.commit}",
            G.GIT_COMMIT,
            f"commit {git.commit[:12]}"
            + (f" on {git.branch}" if git.branch else "")
            + (" (dirty)" if git.dirty else ""),
            url=source_web_url(repo, git.commit),
            attrs={"commit": git.commit, "branch": git.branch, "dirty": git.dirty, "repo_url": repo, "from": origin},
        )
    )
    g.link(code_id or parent_id, commit.id, "at commit")
    if git.diff is not None:
        changes = commit.attrs.setdefault("changes", [])
        kept = changes_entry(g.nodes.get(parent_id), git.diff)
        if kept not in changes:
            changes.append(kept)
    if repo:
        rnode = g.add(
            G.Node(
                f"repository:{repo.lower()}",
                G.REPOSITORY,
                f"repository {repo}",
                url=repo if repo.startswith(("http://", "https://")) else None,
                attrs={"url": repo},
            )
        )
        g.link(commit.id, rnode.id, "in repository")
    return commit.id


@dataclass(frozen=True)
class Code:
    """What a run's (or LoggedModel's) tags say about the code that ran."""

    git: T.GitRef
    notebook: T.Notebook
    entry: Optional[str]  # mlflow.source.name
    source_type: Optional[str]


def code_from_tags(
    g: G.Lineage,
    parent_id: str,
    tags: dict[str, str],
    ws_uri: Optional[str],
    origin: str,
    fallback_git: Optional[T.GitRef] = None,
    with_entry: bool = True,
) -> Code:
    """The one way tags become code nodes under ``parent_id``: notebook or entry script, commit,
    repository. ``fallback_git`` stands in when the tags name no commit (a run whose LoggedModel
    does); ``with_entry=False`` shows no entry script (the tags are not the run's)."""
    git = T.git_from_run_tags(tags)
    if not git.commit and fallback_git is not None:
        git = fallback_git
    code = Code(git, T.notebook_from_run_tags(tags), tags.get(T.MLFLOW_SOURCE_NAME), tags.get(T.MLFLOW_SOURCE_TYPE))
    entry = None if git.path or not with_entry else script_path(code.entry, code.source_type)
    code_nodes(g, parent_id, git, code.notebook, entry, ws_uri, origin)
    return code


def changes_entry(holder: Optional[G.Node], diff: T.GitDiff) -> dict:
    """The kept uncommitted changes of one run, as the commit node lists them (a link where the run
    has a web page)."""
    run_id = holder.attrs.get("run_id") if holder is not None and holder.kind == G.RUN else None
    url = None
    if run_id and holder is not None and holder.url and diff.captured and not diff.inline:
        base, sep, query = holder.url.partition("?workspace=")
        url = f"{base}/artifactPath/{T.DIFF_ARTIFACT_PATH}{sep}{query}"
    return {
        k: v
        for k, v in {
            "run_id": run_id,
            "state": diff.state,
            "files": diff.files,
            "bytes": diff.size,
            "sha256": diff.sha256,
            "excluded": diff.excluded,
            "kept_in": (T.MLFLOW_GIT_DIFF if diff.inline else T.DIFF_ARTIFACT_PATH) if diff.captured else None,
            "url": url,
        }.items()
        if v is not None
    }


def _kept(diff: Optional[T.GitDiff]) -> str:
    if diff is None:
        return "its uncommitted changes were not kept"
    if diff.captured:
        where = T.MLFLOW_GIT_DIFF if diff.inline else T.DIFF_ARTIFACT_PATH
        files = f"{diff.files} file{'' if diff.files == 1 else 's'}, " if diff.files is not None else ""
        left = f"; {diff.excluded} left out as likely secrets" if diff.excluded else ""
        left += f"; left out to fit the size cap: {diff.left_out}" if diff.left_out else ""
        return f"its uncommitted changes were kept ({files}{where}{left})"
    return f"its uncommitted changes were not kept ({T.GIT_DIFF}={diff.state})"


def dirty_finding(g: G.Lineage, git: T.GitRef, what: str, node_id: str) -> None:
    commit = (git.commit or "")[:12]  # callers pass a reference that has a commit
    if git.dirty is True:
        g.note(
            G.finding(
                G.FindingCode.DIRTY,
                f"{what}: commit {commit} had uncommitted changes "
                f"when the run started, so the code that ran is not exactly that commit; {_kept(git.diff)}",
                node_id,
            )
        )
    elif git.dirty is None:
        g.note(
            G.finding(
                G.FindingCode.DIRTY_UNKNOWN,
                f"{what}: whether the working tree of commit {commit} was clean is not recorded",
                node_id,
            )
        )
    if not git.rebuildable():
        why = _kept(git.diff) if git.dirty else "its checkout state is unknown and no changes were kept"
        g.note(G.finding(G.FindingCode.NOT_EXACT, f"{what}: the exact code cannot be rebuilt: {why}", node_id))


def script_path(entry: Optional[str], source_type: Optional[str]) -> Optional[str]:
    if not entry or (source_type or "").upper() == "NOTEBOOK":
        return None
    return entry


def _is_interactive(entry: Optional[str]) -> bool:
    return bool(entry) and any(k in Path(entry).name.lower() for k in _INTERACTIVE)  # type: ignore[arg-type]


def run_no_git_reason(nb: T.Notebook, entry: Optional[str], source_type: Optional[str]) -> str:
    if nb.path or (source_type or "").upper() == "NOTEBOOK":
        return "the run was started from an uncommitted notebook (not in a Git folder)"
    if _is_interactive(entry):
        return "the run was started from an interactive session (Jupyter/IPython) outside a git repository"
    if entry:
        return f"its entry script {entry} was not in a git repository when the run started"
    return "the run records no source at all"


def model_version_refs(raw: Optional[str]) -> list[tuple[str, str]]:
    try:
        data = json.loads(raw) if raw else []
    except (TypeError, ValueError):
        return []
    out = []
    for item in data if isinstance(data, list) else []:
        if isinstance(item, dict) and item.get("name") and item.get("version") is not None:
            out.append((str(item["name"]), str(item["version"])))
    return out
