"""The tag contract: every key the plugin writes or reads, and the only place that encodes or
decodes lineage facts to and from tags.

Plugin-owned keys start with ``lineage_`` and use underscores only, so one key is valid on a run,
a LoggedModel, a workspace model version and a Unity Catalog model version (UC keys may not contain
``. , - = / :``) and can be used in MLflow search filters without back-ticks. Standard MLflow keys
are written too, so MLflow's own UI and search see the git reference.

Bump ``SCHEMA_VERSION`` when the meaning of a key changes; readers keep decoding older versions.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Optional

SCHEMA_VERSION = "1"
PREFIX = "lineage_"

# --- standard MLflow keys the plugin writes on runs (and LoggedModels) -------------------------
MLFLOW_GIT_COMMIT = "mlflow.source.git.commit"
MLFLOW_GIT_BRANCH = "mlflow.source.git.branch"
MLFLOW_GIT_REPO_URL = "mlflow.source.git.repoURL"
MLFLOW_GIT_REPO_URL_LEGACY = "mlflow.gitRepoURL"
MLFLOW_GIT_DIRTY = "mlflow.source.git.dirty"

# Written only for a Jupyter notebook whose file is known: MLflow itself records the kernel
# launcher there, so the UI's "Source" would read ``ipykernel_launcher.py``.
MLFLOW_SOURCE_NAME = "mlflow.source.name"
MLFLOW_SOURCE_TYPE = "mlflow.source.type"
SOURCE_TYPE_NOTEBOOK = "NOTEBOOK"

# --- standard MLflow keys the plugin only reads (MLflow or the Databricks backend sets them) ----
MLFLOW_USER = "mlflow.user"
MLFLOW_RUN_NAME = "mlflow.runName"
MLFLOW_DATABRICKS_WORKSPACE_URL = "mlflow.databricks.workspaceURL"
MLFLOW_DATABRICKS_WORKSPACE_ID = "mlflow.databricks.workspaceID"
MLFLOW_DATABRICKS_NOTEBOOK_PATH = "mlflow.databricks.notebookPath"
MLFLOW_DATABRICKS_NOTEBOOK_ID = "mlflow.databricks.notebookID"
MLFLOW_DATABRICKS_NOTEBOOK_REVISION_ID = "mlflow.databricks.notebookRevisionID"
MLFLOW_DATABRICKS_WEBAPP_URL = "mlflow.databricks.webappURL"
MLFLOW_DATABRICKS_JOB_ID = "mlflow.databricks.jobID"
MLFLOW_DATABRICKS_JOB_RUN_ID = "mlflow.databricks.jobRunID"
MLFLOW_DATABRICKS_GIT_REPO_URL = "mlflow.databricks.gitRepoUrl"
MLFLOW_DATABRICKS_GIT_REPO_COMMIT = "mlflow.databricks.gitRepoCommit"
MLFLOW_DATABRICKS_GIT_REPO_REFERENCE = "mlflow.databricks.gitRepoReference"
MLFLOW_DATABRICKS_GIT_REPO_REFERENCE_TYPE = "mlflow.databricks.gitRepoReferenceType"
MLFLOW_DATABRICKS_GIT_REPO_RELATIVE_PATH = "mlflow.databricks.gitRepoRelativePath"
MLFLOW_DATABRICKS_GIT_REPO_STATUS = "mlflow.databricks.gitRepoStatus"
MLFLOW_MODEL_VERSIONS = "mlflow.modelVersions"  # LoggedModel back-link, JSON list
MLFLOW_DATASET_CONTEXT = "mlflow.data.context"  # on a run's dataset input: training, eval, ...
MLFLOW_PROMPT = "mlflow.prompt.is_prompt"  # on a registered model that is an MLflow prompt: never enriched
MLFLOW_EXPERIMENT_TYPE = "mlflow.experimentType"  # Databricks: NOTEBOOK or MLFLOW_EXPERIMENT
MLFLOW_EXPERIMENT_SOURCE_TYPE = "mlflow.experiment.sourceType"  # Databricks: where the experiment lives

# --- plugin keys on runs and LoggedModels ------------------------------------------------------
SCHEMA = "lineage_schema"
WORKSPACE_URI = "lineage_workspace_uri"
GIT_PATH = "lineage_git_path"
SOURCE_URL = "lineage_source_url"
# Read only, never written by the plugin: when the run was scheduled for (set by whoever schedules it).
SCHEDULED_TIME = "lineage_scheduled_time"

# --- plugin keys on model versions (copied from the source run at creation) --------------------
RUN_ID = "lineage_run_id"
EXPERIMENT_ID = "lineage_experiment_id"
MODEL_ID = "lineage_model_id"
RUN_URL = "lineage_run_url"
GIT_COMMIT = "lineage_git_commit"
GIT_BRANCH = "lineage_git_branch"
GIT_REPO_URL = "lineage_git_repo_url"
GIT_DIRTY = "lineage_git_dirty"
NOTEBOOK_PATH = "lineage_notebook_path"
NOTEBOOK_ID = "lineage_notebook_id"
NOTEBOOK_REVISION_ID = "lineage_notebook_revision_id"

# Uncommitted changes of a dirty run (issue 11): on the run, its LoggedModel and its model versions.
GIT_DIFF = (
    "lineage_git_diff"  # captured | too_large | excluded_only | failed | off | unavailable | other_commit | overridden
)
GIT_DIFF_SHA256 = "lineage_git_diff_sha256"  # of the stored patch
GIT_DIFF_BYTES = "lineage_git_diff_bytes"  # size of the whole patch, stored or not
GIT_DIFF_FILES = "lineage_git_diff_files"  # files the patch changes
GIT_DIFF_EXCLUDED = "lineage_git_diff_excluded"  # changed files left out as likely secrets (a count)
#: A patch over the cap cut down to fit: "nb/a.ipynb: 20 outputs; nb/b.ipynb: all changes" (what is not in it)
GIT_DIFF_LEFT_OUT = "lineage_git_diff_left_out"
GIT_DIFF_CAPTURED = "captured"
GIT_DIFF_TOO_LARGE = "too_large"
GIT_DIFF_EXCLUDED_ONLY = "excluded_only"
GIT_DIFF_FAILED = "failed"
GIT_DIFF_OFF = "off"
GIT_DIFF_UNAVAILABLE = "unavailable"  # no local checkout to read (Databricks Git folders)
GIT_DIFF_OTHER_COMMIT = "other_commit"  # the recorded commit or repository is not the checkout's, nor in it
GIT_DIFF_OVERRIDDEN = "overridden"  # the caller's dirty=false stands over a dirty checkout's changes
GIT_DIFF_STATES = (
    GIT_DIFF_CAPTURED,
    GIT_DIFF_TOO_LARGE,
    GIT_DIFF_EXCLUDED_ONLY,
    GIT_DIFF_FAILED,
    GIT_DIFF_OFF,
    GIT_DIFF_UNAVAILABLE,
    GIT_DIFF_OTHER_COMMIT,
    GIT_DIFF_OVERRIDDEN,
)
DIFF_KEYS = (GIT_DIFF, GIT_DIFF_SHA256, GIT_DIFF_BYTES, GIT_DIFF_FILES, GIT_DIFF_EXCLUDED, GIT_DIFF_LEFT_OUT)
#: Where the patch is stored, relative to the run's artifact root.
DIFF_ARTIFACT_DIR = "lineage"
DIFF_ARTIFACT_NAME = "uncommitted.patch"
DIFF_ARTIFACT_PATH = f"{DIFF_ARTIFACT_DIR}/{DIFF_ARTIFACT_NAME}"
#: What MLflow's own GenAI git versioning writes on a LoggedModel: the diff text itself, no cap.
MLFLOW_GIT_DIFF = "mlflow.source.git.diff"
# --- plugin key written by `mlflow-lineage backfill` on versions and runs it enriched afterwards ---
# The run's tags at backfill time may differ from what they were when the version was created, so
# a reader can tell copied-at-creation lineage from lineage added later.
ORIGIN = "lineage_origin"
ORIGIN_BACKFILL = "backfill"
# --- plugin key on a version registered while its source run (or LoggedModel) could not be read ---
# (server down, no answer in time, table locked): what the version records is partial. `backfill`
# completes such a version without --overwrite and then removes the key; `show`/`check` report it.
PARTIAL = "lineage_partial"
PARTIAL_SOURCE_UNREAD = "source_unread"

#: Every plugin-owned key, for the tag reference (docs/tags.md) and the doctor.
PLUGIN_KEYS = (
    SCHEMA,
    WORKSPACE_URI,
    GIT_PATH,
    SOURCE_URL,
    RUN_ID,
    EXPERIMENT_ID,
    MODEL_ID,
    RUN_URL,
    GIT_COMMIT,
    GIT_BRANCH,
    GIT_REPO_URL,
    GIT_DIRTY,
    NOTEBOOK_PATH,
    NOTEBOOK_ID,
    NOTEBOOK_REVISION_ID,
    ORIGIN,
    PARTIAL,
    *DIFF_KEYS,
)

#: Keys on a model version, most important first: a registry that caps the number of tags
#: (Unity Catalog: 50) keeps the head of this list and drops the tail.
VERSION_KEY_PRIORITY = (
    WORKSPACE_URI,
    RUN_ID,
    GIT_COMMIT,
    GIT_REPO_URL,
    SCHEMA,
    PARTIAL,
    MODEL_ID,
    EXPERIMENT_ID,
    RUN_URL,
    GIT_PATH,
    GIT_DIRTY,
    GIT_DIFF,
    GIT_DIFF_SHA256,
    GIT_BRANCH,
    SOURCE_URL,
    NOTEBOOK_PATH,
    NOTEBOOK_REVISION_ID,
    NOTEBOOK_ID,
    GIT_DIFF_BYTES,
    GIT_DIFF_FILES,
    GIT_DIFF_EXCLUDED,
    GIT_DIFF_LEFT_OUT,
)

# --- value limits -------------------------------------------------------------------------------
RUN_TAG_VALUE_MAX = 5000  # MLflow 3: 8,000; MLflow 2.x releases: 5,000. The smaller fits both.
REGISTRY_TAG_VALUE_MAX = 5000  # MLflow 3.17: 100,000; older releases: 5,000.
UC_TAG_VALUE_MAX = 1000
UC_TAG_KEY_MAX = 255
UC_MAX_TAGS = 50

DIRTY_TRUE = "true"
DIRTY_FALSE = "false"
DIRTY_UNKNOWN = "unknown"
# Every word the dirty flag is read in: the plugin and MLflow write true/false, a person writing the tag or
# MLFLOW_LINEAGE_GIT_DIRTY by hand may write the others. Any other value reads as unknown.
DIRTY_WORDS: Mapping[str, Optional[bool]] = {
    DIRTY_TRUE: True,
    "1": True,
    "yes": True,
    DIRTY_FALSE: False,
    "0": False,
    "no": False,
    DIRTY_UNKNOWN: None,
}

# Values that must be whole to be useful: a cut URL or id points somewhere wrong, so it is dropped.
_ATOMIC_KEYS = frozenset(
    {
        SOURCE_URL,
        RUN_URL,
        WORKSPACE_URI,
        GIT_REPO_URL,
        MLFLOW_GIT_REPO_URL,
        MLFLOW_GIT_REPO_URL_LEGACY,
        GIT_COMMIT,
        MLFLOW_GIT_COMMIT,
        RUN_ID,
        MODEL_ID,
        GIT_DIFF_SHA256,
    }
)


@dataclass(frozen=True)
class GitDiff:
    """What became of a dirty run's uncommitted changes (``lineage/uncommitted.patch``)."""

    state: str  # one of GIT_DIFF_STATES (or a newer writer's value, kept as read)
    sha256: Optional[str] = None
    size: Optional[int] = None
    files: Optional[int] = None
    excluded: Optional[int] = None
    inline: bool = False  # the text is the tag itself (MLflow's ``mlflow.source.git.diff``), no artifact
    left_out: Optional[str] = None  # what a patch cut down to fit the cap lacks (``GIT_DIFF_LEFT_OUT``)

    @property
    def captured(self) -> bool:
        return self.state == GIT_DIFF_CAPTURED


@dataclass(frozen=True)
class GitRef:
    """The code a run came from. ``dirty`` is None when it could not be checked in time; ``diff`` is
    what became of the uncommitted changes (None for a clean run or one recorded before issue 11)."""

    commit: Optional[str] = None
    branch: Optional[str] = None
    repo_url: Optional[str] = None
    dirty: Optional[bool] = None
    path: Optional[str] = None
    source_url: Optional[str] = None
    diff: Optional[GitDiff] = None
    entry_untracked: bool = False  # the entry file is not in the commit (a new, untracked script)

    def is_empty(self) -> bool:
        return not any((self.commit, self.branch, self.repo_url, self.path))

    def rebuildable(self) -> bool:
        """The exact code can be rebuilt: a commit, and a clean tree or all its uncommitted changes kept."""
        kept = self.diff is not None and self.diff.captured and not self.diff.excluded and not self.diff.left_out
        return bool(self.commit) and (self.dirty is False or kept)


@dataclass(frozen=True)
class Notebook:
    """A Databricks notebook; the revision id is set by the Databricks backend, never by us."""

    path: Optional[str] = None
    id: Optional[str] = None
    revision_id: Optional[str] = None


@dataclass(frozen=True)
class Workspace:
    """Where a run can be found again: a Databricks workspace or an MLflow tracking server/store."""

    uri: str
    host: Optional[str] = None  # base URL (scheme://host[:port]), None for local stores
    workspace_id: Optional[str] = None
    name: Optional[str] = None  # MLflow OSS workspace name, when not the default


@dataclass(frozen=True)
class SourceRun:
    """What a model version copies from the run (or LoggedModel) that produced it."""

    run_id: Optional[str] = None
    experiment_id: Optional[str] = None
    model_id: Optional[str] = None
    workspace_uri: Optional[str] = None
    run_url: Optional[str] = None
    git: GitRef = field(default_factory=GitRef)
    notebook: Notebook = field(default_factory=Notebook)
    partial: bool = False  # the source could not be read when the version was registered


def dirty_to_tag(dirty: Optional[bool]) -> str:
    if dirty is None:
        return DIRTY_UNKNOWN
    return DIRTY_TRUE if dirty else DIRTY_FALSE


def dirty_from_tag(value: Optional[str]) -> Optional[bool]:
    return DIRTY_WORDS.get((value or "").strip().lower())


def is_prompt(tags: Mapping[str, str]) -> bool:
    """Whether a registered model's (or a new version's) tags mark an MLflow prompt, which is text, not a
    model of a run: the registry wrapper and backfill leave it alone."""
    return str(tags.get(MLFLOW_PROMPT, "")).strip().lower() == "true"


def _count(value: Optional[str]) -> Optional[int]:
    v = (value or "").strip()
    return int(v) if v.isdigit() else None


def diff_tags(diff: Optional[GitDiff]) -> dict[str, str]:
    """The ``lineage_git_diff*`` tags of a dirty run; none without a state."""
    if diff is None or not diff.state:
        return {}
    out = {GIT_DIFF: diff.state}
    if diff.sha256:
        out[GIT_DIFF_SHA256] = diff.sha256
    for key, n in ((GIT_DIFF_BYTES, diff.size), (GIT_DIFF_FILES, diff.files), (GIT_DIFF_EXCLUDED, diff.excluded)):
        if n is not None and (n > 0 or key != GIT_DIFF_EXCLUDED):
            out[key] = str(n)
    if diff.left_out:
        out[GIT_DIFF_LEFT_OUT] = diff.left_out
    return out


def left_out_text(outputs: Mapping[str, int], notebooks: Sequence[str]) -> Optional[str]:
    """``GIT_DIFF_LEFT_OUT``'s value: per notebook, the outputs not kept, or ``all changes``."""
    parts = [f"{path}: {n} output{'' if n == 1 else 's'}" for path, n in sorted(outputs.items())]
    parts += [f"{path}: all changes" for path in sorted(notebooks)]
    return "; ".join(parts) or None


def left_out_notebooks(value: Optional[str]) -> list[str]:
    """The notebooks a ``GIT_DIFF_LEFT_OUT`` value names (a cut value names those before the cut)."""
    return [part.rsplit(": ", 1)[0] for part in (value or "").split("; ") if ": " in part]


def diff_from_tags(tags: Mapping[str, str]) -> Optional[GitDiff]:
    """Ours, or MLflow's own ``mlflow.source.git.diff`` (the text itself, on GenAI LoggedModels): kept too."""
    state = (tags.get(GIT_DIFF) or "").strip().lower()
    if not state:
        text = tags.get(MLFLOW_GIT_DIFF)
        if not text or not text.strip():
            return None
        data = text.encode("utf-8")
        return GitDiff(
            GIT_DIFF_CAPTURED,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            files=len(re.findall(r"^diff --git ", text, re.M)),
            inline=True,
        )
    sha = (tags.get(GIT_DIFF_SHA256) or "").strip().lower()
    return GitDiff(
        state=state,
        sha256=sha or None,
        size=_count(tags.get(GIT_DIFF_BYTES)),
        files=_count(tags.get(GIT_DIFF_FILES)),
        excluded=_count(tags.get(GIT_DIFF_EXCLUDED)),
        left_out=(tags.get(GIT_DIFF_LEFT_OUT) or "").strip() or None,
    )


def fit_value(key: str, value: str, limit: int) -> Optional[str]:
    """Make a value fit a store's limit: atomic values (URLs, ids) are dropped rather than cut."""
    if len(value) <= limit:
        return value
    if key in _ATOMIC_KEYS:
        return None
    return value[: limit - 3] + "..."


def _put(out: dict[str, str], key: str, value: object, limit: int) -> None:
    if value is None or value == "":
        return
    fitted = fit_value(key, str(value), limit)
    if fitted is not None:
        out[key] = fitted


def run_tags(
    git: Optional[GitRef], workspace: Optional[Workspace], notebook_file: Optional[str] = None
) -> dict[str, str]:
    """Tags for a run or LoggedModel. Databricks' own ``mlflow.databricks.*`` tags are left alone."""
    out: dict[str, str] = {}
    lim = RUN_TAG_VALUE_MAX
    if notebook_file:
        _put(out, MLFLOW_SOURCE_NAME, notebook_file, lim)
        if MLFLOW_SOURCE_NAME in out:
            out[MLFLOW_SOURCE_TYPE] = SOURCE_TYPE_NOTEBOOK
    if git is not None and not git.is_empty():
        _put(out, MLFLOW_GIT_COMMIT, git.commit, lim)
        _put(out, MLFLOW_GIT_BRANCH, git.branch, lim)
        _put(out, MLFLOW_GIT_REPO_URL, git.repo_url, lim)
        _put(out, MLFLOW_GIT_REPO_URL_LEGACY, git.repo_url, lim)
        if git.commit:
            out[MLFLOW_GIT_DIRTY] = dirty_to_tag(git.dirty)
        _put(out, GIT_PATH, git.path, lim)
        _put(out, SOURCE_URL, git.source_url, lim)
    if workspace is not None:
        _put(out, WORKSPACE_URI, workspace.uri, lim)
    if any(k.startswith(PREFIX) or k.startswith("mlflow.source.git") for k in out):
        out[SCHEMA] = SCHEMA_VERSION
    return out


def git_from_run_tags(tags: Mapping[str, str]) -> GitRef:
    """Read the git reference a run carries: ours, MLflow's, or what Databricks Repos recorded."""
    commit = tags.get(MLFLOW_GIT_COMMIT) or tags.get(MLFLOW_DATABRICKS_GIT_REPO_COMMIT)
    repo_url = (
        tags.get(MLFLOW_GIT_REPO_URL)
        or tags.get(MLFLOW_GIT_REPO_URL_LEGACY)
        or tags.get(MLFLOW_DATABRICKS_GIT_REPO_URL)
    )
    branch = tags.get(MLFLOW_GIT_BRANCH)
    if not branch and tags.get(MLFLOW_DATABRICKS_GIT_REPO_REFERENCE_TYPE, "").lower() == "branch":
        branch = tags.get(MLFLOW_DATABRICKS_GIT_REPO_REFERENCE)
    path = tags.get(GIT_PATH) or tags.get(MLFLOW_DATABRICKS_GIT_REPO_RELATIVE_PATH)
    return GitRef(
        commit=commit or None,
        branch=branch or None,
        repo_url=repo_url or None,
        dirty=dirty_from_tag(tags.get(MLFLOW_GIT_DIRTY)),
        path=path or None,
        source_url=tags.get(SOURCE_URL) or None,
        diff=diff_from_tags(tags),
    )


def notebook_from_run_tags(tags: Mapping[str, str]) -> Notebook:
    return Notebook(
        path=tags.get(MLFLOW_DATABRICKS_NOTEBOOK_PATH) or None,
        id=tags.get(MLFLOW_DATABRICKS_NOTEBOOK_ID) or None,
        revision_id=tags.get(MLFLOW_DATABRICKS_NOTEBOOK_REVISION_ID) or None,
    )


def version_tags(src: SourceRun, *, unity_catalog: bool = False) -> dict[str, str]:
    """Tags for a model version, most important first (see ``VERSION_KEY_PRIORITY``)."""
    lim = UC_TAG_VALUE_MAX if unity_catalog else REGISTRY_TAG_VALUE_MAX
    raw = {
        WORKSPACE_URI: src.workspace_uri,
        RUN_ID: src.run_id,
        GIT_COMMIT: src.git.commit,
        GIT_REPO_URL: src.git.repo_url,
        MODEL_ID: src.model_id,
        EXPERIMENT_ID: src.experiment_id,
        RUN_URL: src.run_url,
        GIT_PATH: src.git.path,
        GIT_DIRTY: dirty_to_tag(src.git.dirty) if src.git.commit else None,
        GIT_BRANCH: src.git.branch,
        SOURCE_URL: src.git.source_url,
        NOTEBOOK_PATH: src.notebook.path,
        NOTEBOOK_REVISION_ID: src.notebook.revision_id,
        NOTEBOOK_ID: src.notebook.id,
        PARTIAL: PARTIAL_SOURCE_UNREAD if src.partial else None,
        **(diff_tags(src.git.diff) if src.git.commit else {}),
    }
    out: dict[str, str] = {}
    for key in VERSION_KEY_PRIORITY:
        if key == SCHEMA:
            continue
        _put(out, key, raw.get(key), lim)
    if out:
        out = {SCHEMA: SCHEMA_VERSION, **out}
    return {k: out[k] for k in VERSION_KEY_PRIORITY if k in out}


def source_from_version_tags(tags: Mapping[str, str]) -> SourceRun:
    """Read back what ``version_tags`` wrote; absent keys stay None (older or foreign versions)."""
    return SourceRun(
        run_id=tags.get(RUN_ID) or None,
        experiment_id=tags.get(EXPERIMENT_ID) or None,
        model_id=tags.get(MODEL_ID) or None,
        workspace_uri=tags.get(WORKSPACE_URI) or None,
        run_url=tags.get(RUN_URL) or None,
        git=GitRef(
            commit=tags.get(GIT_COMMIT) or None,
            branch=tags.get(GIT_BRANCH) or None,
            repo_url=tags.get(GIT_REPO_URL) or None,
            dirty=dirty_from_tag(tags.get(GIT_DIRTY)),
            path=tags.get(GIT_PATH) or None,
            source_url=tags.get(SOURCE_URL) or None,
            diff=diff_from_tags(tags),
        ),
        notebook=Notebook(
            path=tags.get(NOTEBOOK_PATH) or None,
            id=tags.get(NOTEBOOK_ID) or None,
            revision_id=tags.get(NOTEBOOK_REVISION_ID) or None,
        ),
        partial=bool(tags.get(PARTIAL)),
    )


def cap_for_registry(ours: Mapping[str, str], user_tag_count: int, max_tags: Optional[int]) -> dict[str, str]:
    """Keep the most important of our tags that fit beside the user's under a tag-count cap."""
    if max_tags is None:
        return dict(ours)
    room = max(0, max_tags - user_tag_count)
    ordered = [k for k in VERSION_KEY_PRIORITY if k in ours]
    ordered += [k for k in ours if k not in ordered]
    return {k: ours[k] for k in ordered[:room]}
