"""The Repos / Git folder that holds a notebook, asked of the workspace API (bounded, remembered).

For notebooks whose context carries no git facts (jobs often have none): the folder is found by
walking up from the notebook's path, once per notebook, and its HEAD is read on every run.
"""

from __future__ import annotations

import logging
import math
import posixpath
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

from mlflow_lineage_plugin import config
from mlflow_lineage_plugin.databricks import sdk
from mlflow_lineage_plugin.databricks.notebook import DatabricksContext, git_ref_from_values
from mlflow_lineage_plugin.tags import GitRef
from mlflow_lineage_plugin.warn_once import WarnOnce

_logger = logging.getLogger(__name__)

_NO_FOLDER_TTL = 300.0  # seconds "this notebook is in no Git folder" is remembered
_MAX_PARENT_DEPTH = 16


@dataclass(frozen=True)
class _Folder:
    path: str
    repo_id: Optional[int]  # None: the notebook is in no Git folder
    expires: float  # monotonic; inf for a found folder


_folders: dict[tuple[str, str], _Folder] = {}
_git_failures: dict[tuple[str, str], float] = {}
_warnings = WarnOnce(_logger)
_lock = threading.Lock()


def _parents(path: str) -> list[str]:
    """The folders above a notebook, innermost first, without the top-level ones (``/Repos``,
    ``/Users``, ``/Workspace/Users``...), which are never Git folders: one request saved per run."""
    out: list[str] = []
    p = posixpath.dirname(path.rstrip("/"))
    while len(out) < _MAX_PARENT_DEPTH:
        segments = [s for s in p.split("/") if s]
        if segments[:1] == ["Workspace"]:
            segments = segments[1:]
        if len(segments) < 2:
            break
        out.append(p)
        p = posixpath.dirname(p)
    return out


def _is_git_folder(info: Any) -> bool:
    kind = getattr(getattr(info, "object_type", None), "value", None)
    directory = getattr(info, "directory_info", None)
    return kind == "REPO" or bool(directory is not None and directory.is_git_folder)


def _find_folder(client: Any, notebook_path: str) -> tuple[Optional[str], Optional[int]]:
    from databricks.sdk.errors import NotFound

    for parent in _parents(notebook_path):
        try:
            info = client.workspace.get_status(parent)
        except NotFound:
            return None, None
        if _is_git_folder(info):
            return parent, info.object_id
    return None, None


def _lookup_git(ctx: DatabricksContext, timeout: float) -> Optional[GitRef]:
    from databricks.sdk.errors import NotFound

    path = ctx.notebook.path or ""
    host = ctx.api_url or ctx.workspace_url
    key = (host or "", path)
    client = sdk.client_for_token(host, ctx.api_token, timeout)
    with _lock:
        folder = _folders.get(key)
    if folder is not None and folder.repo_id is None and time.monotonic() >= folder.expires:
        folder = None
    if folder is None:
        found_path, repo_id = _find_folder(client, path)
        expires = math.inf if repo_id is not None else time.monotonic() + _NO_FOLDER_TTL
        folder = _Folder(path=found_path or "", repo_id=repo_id, expires=expires)
        with _lock:
            _folders[key] = folder
    if folder.repo_id is None:
        return None
    try:
        repo = client.repos.get(folder.repo_id)
    except NotFound:
        with _lock:
            _folders.pop(key, None)  # moved or deleted since it was found: walk again next time
        raise
    rel = posixpath.relpath(path, folder.path) if path.startswith(folder.path + "/") else None
    return git_ref_from_values(
        url=repo.url,
        commit=repo.head_commit_id,
        reference=repo.branch,
        reference_type="branch" if repo.branch else None,
        relative_path=rel,
    )


def git_ref_from_workspace(ctx: Optional[DatabricksContext], *, timeout: Optional[float] = None) -> Optional[GitRef]:
    """Ask the workspace for the Git folder that holds the notebook, within ``timeout`` seconds.

    For notebooks whose context carries no git facts (jobs often have none). The commit is the Git
    folder's HEAD *now*, not necessarily at the moment the run started: a pull between the two would
    show the newer commit. The folder's location is remembered per notebook, so a later run costs one
    request (``repos/{id}``), which keeps HEAD fresh. A failure is remembered for a minute and warned
    about once, so a loop of runs against a slow or refusing workspace neither stalls nor floods the
    log. Returns None on any failure; never raises.
    """
    if ctx is None or not ctx.notebook.path:
        return None
    key = (ctx.api_url or ctx.workspace_url or "", ctx.notebook.path)
    now = time.monotonic()
    with _lock:
        if _git_failures.get(key, 0.0) > now:
            return None
    limit = config.seconds(config.DATABRICKS_TIMEOUT, timeout)
    ref, problem = sdk.answer(lambda: _lookup_git(ctx, limit), limit, ctx.api_token)
    if problem is None:
        return ref
    with _lock:
        _git_failures[key] = now + sdk.FAILURE_TTL
    _warnings(
        f"mlflow-lineage: could not read the Git folder of {ctx.notebook.path} from the Databricks "
        f"workspace ({problem}); recording no git reference for it",
        ("git", *key),
    )
    return None


def clear() -> None:
    """Forget Git-folder locations and failures (tests; credential changes)."""
    with _lock:
        _folders.clear()
        _git_failures.clear()
        _warnings.clear()
