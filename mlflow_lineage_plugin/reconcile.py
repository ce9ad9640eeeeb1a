"""The last word on a new run's git tags: one checkout state, the caller's values on top.

A RunContextProvider can only add keys before the run exists; it cannot take back a key MLflow's own
git provider set (which reads git once per process) and never sees the caller's tags. The tracking-store
wrapper sees all of them merged in ``create_run``; this module decides, as a pure function, what they
become. The provider leaves its fresh answer here (a context variable: per thread and per asyncio task,
so concurrent runs never see each other's answer) and the wrapper takes it, once.

Whose value is a tag? The merged tags do not say. The provider, asked from MLflow's ``resolve_tags``,
reads the caller's explicit tags there and leaves them with its answer: a key the caller gave is the
caller's, whatever its value. When they could not be read (another MLflow call path), it is told from
the values: a key the plugin answered holds the plugin's value unless someone later (the caller)
replaced it; a key the plugin did not answer holds MLflow's git provider's cached value, or else the
caller's. There, a caller who passes exactly the value the plugin or MLflow would have written cannot be
told from them, and is treated like them.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Optional

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.urls import normalize_remote, same_repo, source_web_url

#: The keys that describe one checkout state, in the order they are written.
GIT_KEYS = (
    T.MLFLOW_GIT_COMMIT, T.MLFLOW_GIT_BRANCH, T.MLFLOW_GIT_REPO_URL, T.MLFLOW_GIT_REPO_URL_LEGACY,
    T.MLFLOW_GIT_DIRTY, T.GIT_PATH, T.SOURCE_URL,
)  # fmt: skip
REPO_URL_KEYS = (T.MLFLOW_GIT_REPO_URL, T.MLFLOW_GIT_REPO_URL_LEGACY)


@dataclass(frozen=True)
class Fresh:
    """The plugin provider's answer for the run (or LoggedModel) about to be created."""

    ours: Mapping[str, str]  # the tags the provider returned to MLflow
    git: Optional[T.GitRef] = None  # its git reference, overrides applied; None: it could not tell
    mlflow_git: Mapping[str, str] = field(default_factory=dict)  # MLflow's own git provider's values
    callers: Optional[Mapping[str, str]] = None  # the caller's explicit tags; None: not known


_fresh: ContextVar[Optional[Fresh]] = ContextVar("mlflow_lineage_fresh", default=None)


def leave(fresh: Optional[Fresh]) -> None:
    """Called by the provider: the answer for the next creation in this thread or task."""
    _fresh.set(fresh)


def take() -> Optional[Fresh]:
    """Called by the store wrapper: the provider's last answer, used at most once."""
    fresh = _fresh.get()
    if fresh is not None:
        _fresh.set(None)
    return fresh


def applies(fresh: Optional[Fresh], tags: Mapping[str, str]) -> bool:
    """Whether ``tags`` are the merge the provider answered for: MLflow merges every provider key into
    them (the caller can change values, not remove keys). A direct ``MlflowClient().create_run`` after an
    unrelated ``resolve_tags`` (datasets and autologging call it too) carries none of them."""
    return fresh is not None and bool(fresh.ours) and all(k in tags for k in fresh.ours)


def _callers(key: str, value: str, fresh: Fresh) -> bool:
    if fresh.callers is not None:
        return key in fresh.callers
    if key in fresh.ours:
        return value != fresh.ours[key]
    return value != fresh.mlflow_git.get(key)


def _repo_url_value(value: str, caller: bool) -> Optional[str]:
    """Every repository URL in one credential-free normal form. A caller's value that is no git URL
    at all is kept as given (explicit tags win) but nothing is derived from it; a provider's is dropped."""
    normal = normalize_remote(value) if value else None
    if normal:
        return normal
    return value if caller else None


def reconcile(tags: Mapping[str, str], fresh: Fresh) -> dict[str, str]:
    """The tags to create the run with. Keys outside ``GIT_KEYS`` pass through untouched."""
    caller = {k: tags[k] for k in GIT_KEYS if k in tags and _callers(k, tags[k], fresh)}
    git = fresh.git if fresh.git is not None and not fresh.git.is_empty() else None
    if git is None:
        # The plugin could not tell (no repository, or its look-up failed): MLflow's values stand as
        # one story of their own; only their repository URL takes the normal form.
        out = dict(tags)
        for key in REPO_URL_KEYS:
            if key in out:
                value = _repo_url_value(out[key], key in caller)
                if value is None:
                    del out[key]
                else:
                    out[key] = value
        return out

    commit, branch, path, repo = git.commit, git.branch, git.path, git.repo_url
    dirty: Optional[str] = T.dirty_to_tag(git.dirty) if git.commit else None
    raw_repo = caller.get(T.MLFLOW_GIT_REPO_URL) or caller.get(T.MLFLOW_GIT_REPO_URL_LEGACY)
    if raw_repo is not None:
        callers_repo = normalize_remote(raw_repo)
        if repo and not same_repo(callers_repo, repo):
            # The checkout is of another repository: its commit, branch and path say nothing here.
            commit = branch = path = dirty = None
        repo = callers_repo
    if T.MLFLOW_GIT_COMMIT in caller:
        if caller[T.MLFLOW_GIT_COMMIT].lower() != (commit or "").lower():
            dirty = None  # read for another commit
        commit = caller[T.MLFLOW_GIT_COMMIT]
    branch = caller.get(T.MLFLOW_GIT_BRANCH, branch)
    path = caller.get(T.GIT_PATH, path)
    if not commit:
        dirty = None
    dirty = caller.get(T.MLFLOW_GIT_DIRTY, dirty)
    values: dict[str, Optional[str]] = {
        T.MLFLOW_GIT_COMMIT: commit,
        T.MLFLOW_GIT_BRANCH: branch,
        T.MLFLOW_GIT_REPO_URL: repo,
        T.MLFLOW_GIT_REPO_URL_LEGACY: repo,
        T.MLFLOW_GIT_DIRTY: dirty,
        T.GIT_PATH: path,
        T.SOURCE_URL: caller.get(T.SOURCE_URL) or source_web_url(repo, commit, path),
    }
    for key in REPO_URL_KEYS:
        if key in caller:
            values[key] = _repo_url_value(caller[key], True)

    out = {k: v for k, v in tags.items() if k not in GIT_KEYS}
    for key in GIT_KEYS:
        value = values[key]
        if key in caller and key not in REPO_URL_KEYS and key != T.SOURCE_URL:
            out[key] = caller[key]
        elif value:
            fitted = value if key in caller else T.fit_value(key, value, T.RUN_TAG_VALUE_MAX)
            if fitted is not None:
                out[key] = fitted
    return out
