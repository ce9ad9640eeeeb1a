"""The code a resolved target was made from, as its record says: the one run (or runless LoggedModel)
whose tags name the commit and the kept patch, that patch read once, and what a kept patch's state says
is missing. ``checkout`` rebuilds from it; ``diff`` compares two."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.resolve import graph as G
from mlflow_lineage_plugin.resolve.changes import Read, read_patch


@dataclass(frozen=True)
class Source:
    """Where the code of a target is recorded: the run (or runless LoggedModel) and its tags."""

    tags: Mapping[str, str]
    run_id: Optional[str] = None
    client: Any = None  # an MlflowClient that reaches the run's workspace
    mlflow_diff: Optional[str] = None  # MLflow's own ``mlflow.source.git.diff`` text, when that is all
    walked: Mapping[tuple[str, str], tuple[bytes, Optional[str]]] = field(default_factory=dict)  # ``changes.Read``


def source_of(
    target: str,
    lineage: G.Lineage,
    clients: Any,
    runs: Optional[Mapping[str, Any]] = None,
    patches: Optional[Read] = None,
) -> tuple[Optional[Source], Optional[str]]:
    """The run behind an already resolved ``lineage``, or None and why there is none to use. ``runs``
    and ``patches`` hold what the walk already read (``resolve(runs=..., patches=...)``): read again
    only when absent."""
    runs_found = [n for n in lineage.of_kind(G.RUN) if n.attrs.get("run_id")]
    if len({n.attrs["run_id"] for n in runs_found}) > 1:
        return None, f"{target} names {len(runs_found)} runs; name one model version, LoggedModel or run"
    models = lineage.of_kind(G.LOGGED_MODEL)
    if runs_found:
        node = runs_found[0]
        endpoint = clients.endpoint(node.workspace_uri)
        if not endpoint.tracking_uri:
            reason = f": {endpoint.reason}" if endpoint.reason else ""
            return None, f"the workspace of run {node.attrs['run_id']} cannot be reached{reason}"
        client = clients.tracking(endpoint.tracking_uri)
        run = (runs or {}).get(node.attrs["run_id"]) or client.get_run(node.attrs["run_id"])
        tags = dict(run.data.tags or {})
        if not T.git_from_run_tags(tags).commit and len(models) == 1:
            return _logged_model_source(client, models[0].attrs["model_id"], run.info.run_id), None
        return Source(tags=tags, run_id=run.info.run_id, client=client, walked=patches or {}), None
    if len(models) == 1:  # a model logged outside any run: its own tags are all there is
        return _logged_model_source(clients.tracking(), models[0].attrs["model_id"], None), None
    return None, f"{target} leads to no run"


def _logged_model_source(client: Any, model_id: str, run_id: Optional[str]) -> Source:
    tags = dict(client.get_logged_model(model_id).tags or {})
    return Source(tags=tags, run_id=run_id, client=client, mlflow_diff=tags.get(T.MLFLOW_GIT_DIFF))


def kept_patch(src: Source, sha256: str) -> tuple[bytes, Optional[str]]:
    """The source's kept patch and None, or ``b""`` and why it cannot be used: what the walk found when it
    read this very patch, else one download (``changes.read_patch``)."""
    found = src.walked.get((src.run_id or "", sha256))
    return found if found is not None else read_patch(src.client, src.run_id or "", sha256)


def kept_patch_gap(diff: T.GitDiff) -> Optional[str]:
    """What a kept patch, verified and applied, still lacks of the run's code (None: nothing); ``diff`` says
    the same of its trees."""
    if diff.excluded:
        n = diff.excluded
        why = "left out as likely secrets (named like one, or renamed or copied from one)"
        return f"{n} changed file{'' if n == 1 else 's'} {why}"
    if diff.left_out and "all changes" in diff.left_out:
        return f"to fit the size cap, these were not kept: {diff.left_out}"
    if diff.left_out:
        return f"exact except the outputs of these notebooks: {', '.join(T.left_out_notebooks(diff.left_out))}"
    return None


STATE_REASONS = {
    T.GIT_DIFF_TOO_LARGE: "the uncommitted changes were larger than the capture limit and not kept",
    T.GIT_DIFF_EXCLUDED_ONLY: "every changed file was left out as a likely secret",
    T.GIT_DIFF_FAILED: "the uncommitted changes could not be captured or stored",
    T.GIT_DIFF_OFF: "the capture of uncommitted changes was turned off for this run",
    T.GIT_DIFF_UNAVAILABLE: "the run's checkout had no local copy to read changes from (Databricks Git folder)",
    T.GIT_DIFF_OTHER_COMMIT: "the run records a commit or repository other than its checkout's: changes not kept",
    T.GIT_DIFF_OVERRIDDEN: "the run's own tags say it was clean, but its checkout had uncommitted changes (not kept)",
}
