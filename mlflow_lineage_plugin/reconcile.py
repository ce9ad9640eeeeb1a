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
from dataclasses import dataclass, field, replace
from typing import Optional

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.urls import normalize_remote, remote_from_setting, same_repo, source_web_url

#: The keys that describe one checkout state, in the order they are written.
GIT_KEYS = (
    T.MLFLOW_GIT_COMMIT,
    T.MLFLOW_GIT_BRANCH,
    T.MLFLOW_GIT_REPO_URL,
    T.MLFLOW_GIT_REPO_URL_LEGACY,
    T.MLFLOW_GIT_DIRTY,
    T.GIT_PATH,
    T.SOURCE_URL,
)
REPO_URL_KEYS = (T.MLFLOW_GIT_REPO_URL, T.MLFLOW_GIT_REPO_URL_LEGACY)


@dataclass(frozen=True)
class Fresh:
    """The plugin provider's answer for the run (or LoggedModel) about to be created."""

    ours: Mapping[str, str]  # the tags the provider returned to MLflow
    git: Optional[T.GitRef] = None  # its git reference (its commit: the patch's base); None: it could not tell
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


def described(git: Optional[T.GitRef], callers: Optional[Mapping[str, str]]) -> Optional[T.GitRef]:
    """The git reference the run will record, as far as the caller's explicit tags are known before
    the run exists: the checkout's, with the caller's commit in place of its own (its dirty state then
    unknown until measured against that commit). None when the caller names another repository: the
    checkout's state then describes nothing the run records."""
    if git is None or not callers:
        return git
    raw_repo = callers.get(T.MLFLOW_GIT_REPO_URL) or callers.get(T.MLFLOW_GIT_REPO_URL_LEGACY)
    if raw_repo is not None and git.repo_url and not same_repo(remote_from_setting(raw_repo), git.repo_url):
        return None
    commit = callers.get(T.MLFLOW_GIT_COMMIT)
    if commit is None or commit.lower() == (git.commit or "").lower():
        return git
    return replace(git, commit=commit, dirty=None, source_url=source_web_url(git.repo_url, commit, git.path))


def _diff_story(out: dict[str, str], fresh: Fresh) -> None:
    """The ``lineage_git_diff*`` tags tell one story with the commit and dirty flag recorded: a patch
    is kept only beside the commit it was made against; a caller who says ``dirty=false`` is taken at
    their word, and the changes their checkout had are said not to be kept (``overridden``)."""
    state = out.get(T.GIT_DIFF)
    if state is None or fresh.ours.get(T.GIT_DIFF) != state or T.GIT_DIFF in (fresh.callers or {}):
        return
    base = fresh.git.commit if fresh.git is not None else None  # what the patch was made against
    commit = out.get(T.MLFLOW_GIT_COMMIT)
    if not commit or not base or commit.lower() != base.lower():
        replaced = T.GIT_DIFF_OTHER_COMMIT
    elif out.get(T.MLFLOW_GIT_DIRTY) == T.DIRTY_FALSE:
        replaced = T.GIT_DIFF_OVERRIDDEN
    else:
        return
    for key in T.DIFF_KEYS:
        out.pop(key, None)
    out[T.GIT_DIFF] = replaced


def _callers(key: str, value: str, fresh: Fresh) -> bool:
    if fresh.callers is not None:
        return key in fresh.callers
    if key in fresh.ours:
        return value != fresh.ours[key]
    return value != fresh.mlflow_git.get(key)


def _repo_url_value(value: str, caller: bool) -> Optional[str]:
    """Every repository URL in one credential-free normal form. A caller's value that is no git URL
    at all is kept as given (explicit tags win) but nothing is derived from it; a provider's is dropped."""
    normal = (remote_from_setting(value) if caller else normalize_remote(value)) if value else None
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
        callers_repo = remote_from_setting(raw_repo)  # None: no URL at all, kept as given, nothing derived
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
        T.SOURCE_URL: caller.get(T.SOURCE_URL) or (None if git.entry_untracked else source_web_url(repo, commit, path)),
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
    _diff_story(out, fresh)
    return out
