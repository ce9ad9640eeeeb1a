"""What backfill would write on one version or one run: pure functions from tags to tags.

Versions get exactly what the registry wrapper writes at creation (``registry.missing_version_tags``
over ``source.source_run``), so there is one implementation of version lineage. Runs get the standard
keys derived from equivalent facts they already carry; nothing is ever guessed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Optional

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.registry import missing_version_tags
from mlflow_lineage_plugin.source import workspace_uri_from_tags
from mlflow_lineage_plugin.urls import normalize_remote

#: A write whose value is None removes the tag (``lineage_partial`` once the lineage is complete).
Writes = dict[str, Optional[str]]


def write_order(writes: Mapping[str, Optional[str]]) -> Writes:
    """``lineage_origin`` first, ``lineage_schema`` and the removal of ``lineage_partial`` last.

    Tags are written one request each; a job stopped between two of them leaves a version without
    ``lineage_schema`` or still marked partial, which is what marks it as not yet enriched, so a rerun
    completes it.
    """
    last = (T.SCHEMA, T.PARTIAL)
    head = {k: v for k, v in writes.items() if k == T.ORIGIN}
    body = {k: v for k, v in writes.items() if k != T.ORIGIN and k not in last}
    tail = {k: writes[k] for k in last if k in writes}
    return {**head, **body, **tail}


def _with_origin(writes: Writes, present: Mapping[str, str], max_tags: Optional[int]) -> Writes:
    if not writes or present.get(T.ORIGIN) == T.ORIGIN_BACKFILL:
        return writes
    if max_tags is not None and len(set(present) | set(writes) | {T.ORIGIN}) > max_tags:
        return writes  # lineage itself matters more than saying where it came from
    return {T.ORIGIN: T.ORIGIN_BACKFILL, **writes}


def version_writes(
    present: Mapping[str, str], src: T.SourceRun, *, unity_catalog: bool, overwrite: bool = False
) -> Writes:
    """The tags to write on a version that has ``present``, in write order; empty when none.

    A version that already has ``lineage_schema`` was enriched (at creation or by an earlier
    backfill) and is left alone, as the registry wrapper does, unless it is marked partial (its source
    could not be read then): it gets the keys it lacks and loses the mark. ``overwrite`` rewrites
    plugin keys whose value differs from what the source says now.
    """
    max_tags = T.UC_MAX_TAGS if unity_catalog else None
    writes: Writes
    if overwrite:
        kept = {k: v for k, v in present.items() if k not in T.VERSION_KEY_PRIORITY}
        computed = missing_version_tags(src, kept, unity_catalog=unity_catalog)
        writes = {k: v for k, v in computed.items() if present.get(k) != v}
    elif T.SCHEMA in present and T.PARTIAL not in present:
        return {}
    else:
        writes = dict(missing_version_tags(src, present, unity_catalog=unity_catalog))
    if T.PARTIAL in present and not src.partial:
        writes[T.PARTIAL] = None
    return write_order(_with_origin(writes, present, max_tags))


def derived_run_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The standard and ``lineage_*`` run keys that follow from facts the run already records.

    Databricks Repos' ``mlflow.databricks.gitRepo*``, MLflow Projects' ``mlflow.gitRepoURL`` and
    ``mlflow.databricks.workspaceURL``/``workspaceID`` are read by ``tags.git_from_run_tags`` and
    ``source.workspace_uri_from_tags``, the same readers version creation uses; empty when the run
    records no git fact at all.
    """
    git = T.git_from_run_tags(tags)
    if git.is_empty():
        return {}
    # Credential-free, one spelling per repository, like the run-context provider writes it.
    git = dataclasses.replace(git, repo_url=normalize_remote(git.repo_url) if git.repo_url else None)
    ws = workspace_uri_from_tags(tags)
    return T.run_tags(git, T.Workspace(uri=ws) if ws else None)


def run_writes(tags: Mapping[str, str], *, overwrite: bool = False) -> Writes:
    """The derived run tags the run lacks (or, with ``overwrite``, that differ), in write order."""
    if T.SCHEMA in tags and not overwrite:
        return {}
    derived = derived_run_tags(tags)
    writes: Writes
    if overwrite:
        writes = {k: v for k, v in derived.items() if tags.get(k) != v}
    else:
        writes = {k: v for k, v in derived.items() if k not in tags}
        for key in (T.MLFLOW_GIT_REPO_URL, T.MLFLOW_GIT_REPO_URL_LEGACY):
            # one spelling per run, as the run provider writes: a raw git URL (scp form, ``.git``) takes
            # the normal form; a value that is no git URL is kept as given, like a caller's at creation
            normal = normalize_remote(tags[key]) if derived and tags.get(key) else None
            if normal and normal != tags[key]:
                writes[key] = normal
    return write_order(_with_origin(writes, tags, None))


def run_has_git_fact(tags: Mapping[str, str]) -> bool:
    return not T.git_from_run_tags(tags).is_empty()
