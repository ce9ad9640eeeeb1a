"""One model version's part of the graph, built once every batch of reads is back.

This is where a version's findings are decided: which copy of the git reference counts, why there
is none, which workspace could not be read. It asks no server; it reads the version's
``VersionWork`` and what the ``fetch.Fetcher`` returned, so it can be built in any order.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.errors import NOT_FOUND, SERVER_ERROR
from mlflow_lineage_plugin.resolve import graph as G
from mlflow_lineage_plugin.resolve import nodes as N
from mlflow_lineage_plugin.urls import redact, same_repo
from mlflow_lineage_plugin.workspace import show_workspace

if TYPE_CHECKING:
    from mlflow_lineage_plugin.resolve.fetch import Fetcher
    from mlflow_lineage_plugin.workspace_routes import Endpoint


@dataclass
class VersionWork:
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


def build_version(
    g: G.Lineage, w: VersionWork, f: Fetcher, mlmodel: Optional[dict], down_reason: Callable[[str], Optional[str]]
) -> None:
    mv, src = w.version, w.src
    vname = f"version {mv.version} of {mv.name!r}"
    ws_uri = src.workspace_uri or w.endpoint.workspace_uri
    shown_ws = show_workspace(ws_uri)
    predates = T.SCHEMA not in (mv.tags or {})
    if not src.workspace_uri and not w.uc_note and predates and (w.run_id or w.model_id):
        g.note(
            G.finding(
                G.FindingCode.NO_WORKSPACE_RECORDED,
                f"{vname} does not record its run's workspace (created without the plugin); "
                f"looked in this client's workspace {shown_ws}",
                w.node_id,
            )
        )
    if w.uc_note:
        g.note(G.finding(G.FindingCode.UC_RUN_WORKSPACE, w.uc_note, w.node_id))
    if src.partial:
        fix = f"mlflow-lineage backfill --model {shlex.quote(mv.name)} --apply"
        g.note(
            G.finding(
                G.FindingCode.PARTIAL_LINEAGE,
                f"{vname} was registered while its source could not be read, so its lineage tags are partial; "
                f"{fix} completes them",
                w.node_id,
            )
        )

    parent = w.node_id
    if w.model_id:
        if w.logged_model is not None:
            lm_node = N.logged_model_node(g, w.logged_model, ws_uri)
            g.link(w.node_id, lm_node.id, "LoggedModel")
            parent = lm_node.id
        else:
            err = f.model_errors.get((w.endpoint.workspace_uri, w.model_id))
            lm_node = N.unread_logged_model(g, w.model_id, shown_ws)
            g.link(w.node_id, lm_node.id, "LoggedModel")
            parent = lm_node.id
            if err == NOT_FOUND:
                g.note(
                    G.finding(
                        G.FindingCode.LOGGED_MODEL_MISSING,
                        f"LoggedModel {w.model_id} of {vname} was not found in workspace {shown_ws} (deleted?)",
                        lm_node.id,
                    )
                )
    mm = N.mlflow_model_node(g, parent, mv.source, ws_uri)
    if mlmodel:
        N.apply_mlmodel(g, mm, mlmodel, vname)

    run_ok = False
    run_git, run_nb, entry, source_type = T.GitRef(), T.Notebook(), None, None
    if not w.endpoint.tracking_uri and (w.run_id or w.model_id):
        reason = w.endpoint.reason or down_reason(w.endpoint.workspace_uri) or "no client for it"
        what = f"run {N.short(w.run_id)}" if w.run_id else f"LoggedModel {w.model_id}"
        g.note(
            G.finding(
                G.FindingCode.WORKSPACE_UNREACHABLE,
                f"{what} is in workspace {shown_ws}, which this client cannot reach: {reason}",
                w.node_id,
            )
        )
        if w.run_id:
            N.unread_run(g, parent, w.run_id, ws_uri, src.experiment_id)
    elif w.run_id and w.run is None:
        err = w.run_error or "not looked up"
        if err == NOT_FOUND:
            g.note(
                G.finding(
                    G.FindingCode.RUN_NOT_FOUND,
                    f"run {w.run_id} of {vname} was not found in workspace {shown_ws}: "
                    "deleted permanently, or the version points at another workspace",
                    w.node_id,
                )
            )
        elif str(err).startswith(SERVER_ERROR):
            g.note(
                G.finding(
                    G.FindingCode.WORKSPACE_ERROR,
                    f"run {N.short(w.run_id)} in workspace {shown_ws} could not be read: {err}; "
                    "try again, or see that server's log",
                    w.node_id,
                )
            )
        else:
            g.note(
                G.finding(
                    G.FindingCode.WORKSPACE_UNREACHABLE,
                    f"run {N.short(w.run_id)} is in workspace {shown_ws}, which this client cannot reach: {err}",
                    w.node_id,
                )
            )
        N.unread_run(g, parent, w.run_id, ws_uri, src.experiment_id)
    elif w.run is not None:
        run_ok = True
        experiment = f.experiment(w.endpoint, w.run.info.experiment_id)
        rnode = N.read_run(g, w.run, ws_uri, experiment, parent, deleted=f"run {w.run_id} of {vname}")
        code = N.code_from_tags(g, rnode.id, dict(w.run.data.tags or {}), ws_uri, "run tags")
        run_git, run_nb, entry, source_type = code.git, code.notebook, code.entry, code.source_type
    elif w.logged_model is not None:
        # A model logged outside any run: its lineage lives on the LoggedModel itself.
        run_ok = True
        exp_id = w.logged_model.experiment_id
        N.attach_experiment(g, parent, exp_id, ws_uri, *f.experiment(w.endpoint, exp_id))
        g.note(
            G.finding(
                G.FindingCode.NO_RUN,
                f"{vname} comes from LoggedModel {w.model_id}, which was logged outside any run",
                parent,
            )
        )
        code = N.code_from_tags(
            g, parent, dict(getattr(w.logged_model, "tags", None) or {}), ws_uri, "LoggedModel tags"
        )
        run_git, run_nb, entry, source_type = code.git, code.notebook, code.entry, code.source_type
    elif not w.run_id and not w.model_id:
        g.note(
            G.finding(
                G.FindingCode.NO_SOURCE_RUN,
                f"{vname} has no source run: it was registered from {redact(mv.source)}",
                w.node_id,
            )
        )

    ver_git, ver_nb = src.git, src.notebook
    git = run_git if run_git.commit else ver_git
    if ver_git.commit and not run_git.commit:
        N.code_nodes(
            g,
            w.node_id if not run_ok else parent,
            ver_git,
            ver_nb if not run_nb.path else T.Notebook(),
            None,
            ws_uri,
            "version tags",
        )
    if ver_git.commit and run_git.commit and ver_git.commit != run_git.commit:
        g.note(
            G.finding(
                G.FindingCode.COMMIT_MISMATCH,
                f"{vname} records commit {ver_git.commit[:12]} but its run records {run_git.commit[:12]}",
                w.node_id,
            )
        )
    if ver_git.repo_url and run_git.repo_url and not same_repo(ver_git.repo_url, run_git.repo_url):
        g.note(G.finding(G.FindingCode.REPO_MISMATCH, f"{vname} and its run name different repositories", w.node_id))
    if not git.commit:
        reason = _no_git_reason(run_ok, w, run_nb if run_ok else ver_nb, entry, source_type, predates)
        g.note(
            G.finding(
                G.FindingCode.NO_GIT_REFERENCE,
                f"version {mv.version} of {mv.name!r} has no git reference: {reason}",
                w.node_id,
            )
        )
    else:
        N.dirty_finding(g, git, f"version {mv.version} of {mv.name!r}", w.node_id)


def _no_git_reason(
    run_ok: bool, w: VersionWork, nb: T.Notebook, entry: Optional[str], source_type: Optional[str], predates: bool
) -> str:
    if not w.run_id and not w.model_id:
        return "it has no source run to read one from"
    if not run_ok:
        return "the version carries no copy and its run cannot be read"
    reason = N.run_no_git_reason(nb, entry, source_type)
    if predates:
        reason += " (and the version was created without the plugin)"
    return reason
