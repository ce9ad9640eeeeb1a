"""Databricks notebook/job context and the bounded workspace look-ups behind it.

The notebook context is read through ``mlflow.utils.databricks_utils`` (which reads the runtime's
``dbruntime.databricks_repl_context``), so the plugin sees exactly what MLflow's own Databricks
providers see. The workspace API is reached through ``databricks-sdk`` and always inside a worker
thread with a deadline: the SDK's own retry loop may sleep past its ``retry_timeout_seconds``, and a
run must never wait on it.
"""

from __future__ import annotations

import configparser
import hashlib
import logging
import math
import os
import posixpath
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

from mlflow_lineage_plugin import config
from mlflow_lineage_plugin.bounded import Deadline, run_bounded
from mlflow_lineage_plugin.errors import error_line
from mlflow_lineage_plugin.tags import GitRef, Notebook, Workspace
from mlflow_lineage_plugin.urls import normalize_remote, source_web_url
from mlflow_lineage_plugin.warn_once import WarnOnce
from mlflow_lineage_plugin.workspace import base_url, databricks_workspace_uri

_logger = logging.getLogger(__name__)

PRODUCT = "mlflow-lineage-plugin"
_NEGATIVE_TTL = 60.0  # seconds a failed look-up is remembered, so a broken profile costs one wait a minute
_NO_FOLDER_TTL = 300.0  # seconds "this notebook is in no Git folder" is remembered
_MAX_PARENT_DEPTH = 16

_THREAD = "mlflow-lineage-databricks"


@dataclass(frozen=True)
class DatabricksContext:
    """What the notebook or job context says about where this process runs.

    ``api_url``/``api_token`` are the notebook's own credentials for the workspace API; the token is
    kept out of ``repr`` and equality so a logged or compared context never shows it.
    """

    workspace_url: Optional[str] = None
    workspace_id: Optional[str] = None
    notebook: Notebook = Notebook()
    job_id: Optional[str] = None
    job_run_id: Optional[str] = None
    git: GitRef = GitRef()  # from get_git_repo_*; empty when the notebook is not in a Git folder
    api_url: Optional[str] = None
    api_token: Optional[str] = field(default=None, repr=False, compare=False)


# --- the notebook / job context -----------------------------------------------------------------


def _text(value: Any) -> Optional[str]:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _ask(module: Any, name: str) -> Optional[str]:
    """One ``databricks_utils`` getter; missing on this MLflow version or failing both mean None.

    MLflow's getters fall back to dbutils when the REPL context lacks an attribute, and that fallback
    raises outside a notebook; each value is independent, so one failure must not lose the others.
    """
    fn = getattr(module, name, None)
    if fn is None:
        return None
    try:
        return _text(fn())
    except Exception:
        return None


def _notebook_token() -> Optional[str]:
    """The notebook's API token, read where MLflow's own credential provider reads it."""
    try:
        from dbruntime.databricks_repl_context import get_context

        token = _text(getattr(get_context(), "apiToken", None))
        if token:
            return token
    except Exception:
        pass
    try:
        from mlflow.utils import databricks_utils

        return _text(databricks_utils._get_command_context().apiToken().get())
    except Exception:
        return None


def _status_to_dirty(status: Optional[str]) -> Optional[bool]:
    s = (status or "").strip().lower()
    if s in ("clean", "unmodified"):
        return False
    if s in ("dirty", "modified", "uncommitted"):
        return True
    return None


def notebook_source_url(repo_url: Optional[str], commit: Optional[str], path: Optional[str]) -> Optional[str]:
    """A link to the notebook at ``commit``.

    Databricks reports a notebook's path without its file extension (``notebooks/train`` for
    ``notebooks/train.py`` or ``.ipynb``, depending on the repo's format), so a file link would 404;
    the folder that holds it, at that exact commit, is the closest link that opens.
    """
    if path and "." not in posixpath.basename(path):
        parent = posixpath.dirname(path.strip("/"))
        return source_web_url(repo_url, commit, parent or None)
    return source_web_url(repo_url, commit, path)


def git_ref_from_values(
    url: Optional[str],
    commit: Optional[str],
    reference: Optional[str] = None,
    reference_type: Optional[str] = None,
    relative_path: Optional[str] = None,
    status: Optional[str] = None,
) -> GitRef:
    """Map the Repos/Git-folder facts onto a ``GitRef`` (pure; shared by context and API paths)."""
    repo_url = normalize_remote(url) if url else None
    branch = reference if reference and (reference_type or "").strip().lower() == "branch" else None
    path = relative_path.strip("/") if relative_path else None
    return GitRef(
        commit=commit or None,
        branch=branch or None,
        repo_url=repo_url,
        dirty=_status_to_dirty(status),
        path=path or None,
        source_url=notebook_source_url(repo_url, commit, path),
    )


def current_context() -> Optional[DatabricksContext]:
    """The context of this process, or None outside a Databricks notebook or job. Never raises."""
    try:
        from mlflow.utils import databricks_utils as du
    except Exception:
        return None
    try:
        in_runtime = getattr(du, "is_in_databricks_runtime", None)
        if in_runtime is not None and not in_runtime():
            return None
        in_notebook = bool(getattr(du, "is_in_databricks_notebook", lambda: False)())
        in_job = bool(getattr(du, "is_in_databricks_job", lambda: False)())
        if not (in_notebook or in_job):
            return None
        api_url = _ask(du, "get_webapp_url")
        workspace_url = _ask(du, "get_workspace_url")
        if not workspace_url:
            browser_host = _ask(du, "get_browser_hostname")
            workspace_url = f"https://{browser_host}" if browser_host else api_url
        git = git_ref_from_values(
            url=_ask(du, "get_git_repo_url"),
            commit=_ask(du, "get_git_repo_commit"),
            reference=_ask(du, "get_git_repo_reference"),
            reference_type=_ask(du, "get_git_repo_reference_type"),
            relative_path=_ask(du, "get_git_repo_relative_path"),
            status=_ask(du, "get_git_repo_status"),
        )
        return DatabricksContext(
            workspace_url=workspace_url,
            workspace_id=_ask(du, "get_workspace_id"),
            notebook=Notebook(path=_ask(du, "get_notebook_path"), id=_ask(du, "get_notebook_id")),
            job_id=_ask(du, "get_job_id"),
            job_run_id=_ask(du, "get_job_run_id"),
            git=git,
            api_url=api_url,
            api_token=_notebook_token(),
        )
    except Exception as exc:
        _logger.debug("mlflow-lineage: could not read the Databricks context: %s", type(exc).__name__)
        return None


def workspace_from_context(ctx: Optional[DatabricksContext]) -> Optional[Workspace]:
    """The workspace of a notebook or job, from its own context (no network)."""
    if ctx is None:
        return None
    host = ctx.workspace_url or ctx.api_url
    if not host:
        return None
    uri = databricks_workspace_uri(host, ctx.workspace_id)
    return Workspace(uri=uri, host=base_url(uri), workspace_id=ctx.workspace_id)


# --- bounded SDK calls ----------------------------------------------------------------------------


def _load_sdk() -> None:
    """Import databricks-sdk before a deadline starts, not inside it.

    The import alone takes seconds on a busy machine (2.7-5 s on a loaded 2-CPU box): counted
    against the deadline, it made the first look-up of every fresh process give up, so a job's
    first run recorded no git reference. The import is local work, not a wait on the workspace,
    and MLflow's own Databricks REST client imports the same package, so a run that tracks to
    Databricks pays it once either way.
    """
    import databricks.sdk  # noqa: F401
    import databricks.sdk.core  # noqa: F401
    import databricks.sdk.errors  # noqa: F401


def sdk_kwargs(timeout: float) -> dict[str, Any]:
    """Settings of every databricks-sdk client the plugin builds: bounded retries, identified as this plugin."""
    from mlflow_lineage_plugin import __version__

    return {
        "retry_timeout_seconds": max(1, math.ceil(timeout)),
        "http_timeout_seconds": timeout,
        "product": PRODUCT,
        "product_version": __version__,
    }


def sdk_client(profile: Optional[str], timeout: float, host: Optional[str] = None) -> Any:
    """A WorkspaceClient for a ``~/.databrickscfg`` profile (or the SDK's default chain)."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config

    kwargs = sdk_kwargs(timeout)
    if profile:
        kwargs["profile"] = profile
    if host:
        kwargs["host"] = host
    return WorkspaceClient(config=Config(**kwargs))


def uc_source_workspace(
    profile: Optional[str], full_name: str, version: str, timeout: float
) -> tuple[Optional[str], Optional[str], Optional[str]]:
    """(run_workspace_id, this workspace's id, host) for a Unity Catalog model version.

    MLflow's UC client drops ``run_workspace_id`` when it converts the response, so ask UC directly.
    """
    w = sdk_client(profile, timeout)
    info = w.model_versions.get(full_name, int(version))
    ws_id = str(info.run_workspace_id) if info.run_workspace_id else None
    try:
        home = str(w.get_workspace_id())
    except Exception:
        home = None
    return ws_id, home, w.config.host


_clients: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def _client_for(host: Optional[str], token: Optional[str], timeout: float) -> Any:
    """A WorkspaceClient for the notebook's credentials, reused while they stay the same.

    Building a client probes ``/.well-known/databricks-config``, so reuse saves a round trip per run.
    With no notebook credentials the SDK's default chain decides (runtime auth, env, profile).
    """
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config

    key = (host or "", hashlib.sha256((token or "").encode()).hexdigest())
    with _lock:
        client = _clients.get(key)
    if client is not None:
        return client
    if host and token:
        cfg = Config(host=host, token=token, auth_type="pat", **sdk_kwargs(timeout))
    else:
        cfg = Config(**sdk_kwargs(timeout))
    client = WorkspaceClient(config=cfg)
    with _lock:
        _clients[key] = client
    return client


# --- the Git folder of a notebook, from the workspace API -------------------------------------


@dataclass(frozen=True)
class _Folder:
    path: str
    repo_id: Optional[int]  # None: the notebook is in no Git folder
    expires: float  # monotonic; inf for a found folder


_folders: dict[tuple[str, str], _Folder] = {}


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
    client = _client_for(host, ctx.api_token, timeout)
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
    try:
        _load_sdk()
        return run_bounded(lambda: _lookup_git(ctx, limit), limit, _THREAD).result()
    except Deadline:
        problem = f"no answer within {limit:.1f}s"
    except Exception as exc:
        problem = error_line(exc, ctx.api_token, limit=200)
    with _lock:
        _git_failures[key] = now + _NEGATIVE_TTL
    _warn_once(
        ("git", *key),
        f"mlflow-lineage: could not read the Git folder of {ctx.notebook.path} from the Databricks "
        f"workspace ({problem}); recording no git reference for it",
    )
    return None


_git_failures: dict[tuple[str, str], float] = {}
_warnings = WarnOnce(_logger)


def _warn_once(key: tuple[str, ...], message: str) -> None:
    _warnings(message, key)


# --- ~/.databrickscfg, read as databricks-sdk reads it ----------------------------------------------

_SETTINGS_SECTION = "__settings__"


def config_path() -> Path:
    return Path(os.environ.get("DATABRICKS_CONFIG_FILE") or "~/.databrickscfg").expanduser()


def norm_host(host: Optional[str]) -> Optional[str]:
    """``scheme://host[:port]`` in lower case, ``https://`` added to a bare host, credentials dropped."""
    if not host or not host.strip():
        return None
    host = host.strip()
    if not host.startswith(("http://", "https://")):
        host = "https://" + host
    parts = urlsplit(host)
    return f"{parts.scheme.lower()}://{(parts.netloc.rpartition('@')[2]).lower()}"


def read_profiles() -> tuple[dict[str, dict[str, str]], Optional[str]]:
    """Every profile of the config file with only its own keys, and the file's default profile.

    As databricks-sdk: a named profile does not inherit from ``[DEFAULT]``; ``[DEFAULT]`` is a
    profile of its own (when it holds any key); ``[__settings__] default_profile`` names the profile
    used when none is asked for, else ``DEFAULT``. An unreadable file holds no profiles.
    """
    path = config_path()
    if not path.is_file():
        return {}, None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return {}, None
    profiles = {name: dict(values) for name, values in parser._sections.items()}  # type: ignore[attr-defined]
    settings = profiles.pop(_SETTINGS_SECTION, {})
    if parser.defaults():
        profiles["DEFAULT"] = dict(parser.defaults())
    default = (settings.get("default_profile") or "").strip() or "DEFAULT"
    return profiles, default


def profile_host(profile: Optional[str]) -> Optional[str]:
    """The host databricks-sdk connects to for ``profile`` (None: its default chain), without I/O.

    The SDK takes ``DATABRICKS_HOST`` before any file; without a profile it reads
    ``DATABRICKS_CONFIG_PROFILE``, then the file's default profile.
    """
    env_host = norm_host(os.environ.get("DATABRICKS_HOST"))
    if env_host:
        return env_host
    profiles, default = read_profiles()
    name = profile or (os.environ.get("DATABRICKS_CONFIG_PROFILE") or "").strip() or default
    return norm_host(profiles.get(name or "", {}).get("host"))


def profiles_for_host(host: str, workspace_id: Optional[str] = None) -> list[str]:
    """Profiles whose own host is ``host``; those naming the same workspace id (when the file
    records one) first, those naming another id left out."""
    want = norm_host(host)
    if not want:
        return []
    exact, same_host = [], []
    for name, values in read_profiles()[0].items():
        if norm_host(values.get("host")) != want:
            continue
        ws = (values.get("workspace_id") or "").strip()
        if workspace_id and ws == str(workspace_id):
            exact.append(name)
        elif not (workspace_id and ws):
            same_host.append(name)
    return exact + same_host


# --- the workspace of a `databricks` / `databricks://profile` tracking URI -------------------------


@dataclass(frozen=True)
class _Known:
    workspace: Optional[Workspace]
    expires: float


_profiles: dict[tuple[str, str], _Known] = {}


def _lookup_profile(profile: Optional[str], timeout: float) -> Workspace:
    client = sdk_client(profile, timeout)
    if not client.config.host:
        raise ValueError("no Databricks host configured")
    workspace_id = str(client.get_workspace_id())
    uri = databricks_workspace_uri(client.config.host, workspace_id)
    return Workspace(uri=uri, host=base_url(uri), workspace_id=workspace_id)


def workspace_for_profile(profile: Optional[str], *, timeout: Optional[float] = None) -> Optional[Workspace]:
    """Host and workspace id of a `databricks` / `databricks://profile` tracking URI; bounded.

    Remembered per (profile, host) for the process once found: the id of a host never changes. A
    failure (no token, host unreachable) is remembered for a minute and warned about once, so a
    broken profile does not stall every run. Returns None on any failure; never raises.
    """
    try:
        key = (profile or "", profile_host(profile) or "")
    except Exception:
        key = (profile or "", "")
    now = time.monotonic()
    with _lock:
        known = _profiles.get(key)
    if known is not None and (known.workspace is not None or now < known.expires):
        return known.workspace
    limit = config.seconds(config.DATABRICKS_TIMEOUT, timeout)
    problem: Optional[str] = None
    workspace: Optional[Workspace] = None
    try:
        _load_sdk()
        workspace = run_bounded(lambda: _lookup_profile(profile, limit), limit, _THREAD).result()
    except Deadline:
        problem = f"no answer within {limit:.1f}s"
    except Exception as exc:
        problem = error_line(exc, limit=200)
    with _lock:
        _profiles[key] = _Known(workspace, math.inf if workspace else now + _NEGATIVE_TTL)
    if problem is not None:
        _warn_once(
            ("profile", *key),
            f"mlflow-lineage: could not identify the Databricks workspace of profile {profile or 'DEFAULT'} "
            f"({problem}); recording no workspace URI",
        )
    return workspace


def clear_caches() -> None:
    """Forget clients, Git-folder locations and profile workspaces (tests; credential changes)."""
    with _lock:
        _clients.clear()
        _folders.clear()
        _profiles.clear()
        _git_failures.clear()
        _warnings.clear()
