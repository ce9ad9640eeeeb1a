"""``tags``: the one place a tag key is written or read. Values round-trip, limits drop atomic values
rather than cut them, version keys come in priority order, and a registry's tag cap keeps the head."""

from __future__ import annotations

import dataclasses

import pytest

from mlflow_lineage_plugin import tags as T

COMMIT = "0123456789abcdef0123456789abcdef01234567"
GIT = T.GitRef(
    commit=COMMIT,
    branch="main",
    repo_url="https://github.com/acme/m",
    dirty=False,
    path="train.py",
    source_url=f"https://github.com/acme/m/blob/{COMMIT}/train.py",
)


@pytest.mark.parametrize("dirty, tag", [(True, "true"), (False, "false"), (None, "unknown")])
def test_dirty_round_trip(dirty, tag):
    assert T.dirty_to_tag(dirty) == tag
    assert T.dirty_from_tag(tag) is dirty


@pytest.mark.parametrize(
    "value, dirty", [("TRUE", True), (" 1 ", True), ("no", False), ("", None), (None, None), ("perhaps", None)]
)
def test_dirty_from_foreign_spellings(value, dirty):
    assert T.dirty_from_tag(value) is dirty


def test_run_tags_and_back():
    ws = T.Workspace(uri="https://adb-1.azuredatabricks.net/?o=1")
    tags = T.run_tags(GIT, ws, notebook_file="/Repos/a/m/train")
    assert tags[T.MLFLOW_GIT_COMMIT] == COMMIT and tags[T.MLFLOW_GIT_DIRTY] == "false"
    assert tags[T.MLFLOW_GIT_REPO_URL] == tags[T.MLFLOW_GIT_REPO_URL_LEGACY] == GIT.repo_url
    assert tags[T.MLFLOW_SOURCE_TYPE] == T.SOURCE_TYPE_NOTEBOOK
    assert tags[T.WORKSPACE_URI] == ws.uri and tags[T.SCHEMA] == T.SCHEMA_VERSION
    assert T.git_from_run_tags(tags) == GIT


def test_run_tags_of_nothing_are_empty():
    assert T.run_tags(None, None) == {}
    assert T.run_tags(T.GitRef(), None) == {}


def test_git_from_databricks_repo_tags():
    tags = {
        T.MLFLOW_DATABRICKS_GIT_REPO_COMMIT: COMMIT,
        T.MLFLOW_DATABRICKS_GIT_REPO_URL: "https://github.com/a/b",
        T.MLFLOW_DATABRICKS_GIT_REPO_REFERENCE: "dev",
        T.MLFLOW_DATABRICKS_GIT_REPO_REFERENCE_TYPE: "BRANCH",
        T.MLFLOW_DATABRICKS_GIT_REPO_RELATIVE_PATH: "nb/train",
    }
    git = T.git_from_run_tags(tags)
    assert (git.commit, git.branch, git.repo_url, git.path, git.dirty) == (
        COMMIT,
        "dev",
        "https://github.com/a/b",
        "nb/train",
        None,
    )
    tag_ref = {**tags, T.MLFLOW_DATABRICKS_GIT_REPO_REFERENCE_TYPE: "tag"}
    assert T.git_from_run_tags(tag_ref).branch is None


def test_notebook_from_run_tags():
    nb = T.notebook_from_run_tags(
        {
            T.MLFLOW_DATABRICKS_NOTEBOOK_PATH: "/Users/a/nb",
            T.MLFLOW_DATABRICKS_NOTEBOOK_ID: "42",
            T.MLFLOW_DATABRICKS_NOTEBOOK_REVISION_ID: "",
        }
    )
    assert nb == T.Notebook(path="/Users/a/nb", id="42", revision_id=None)


def test_version_tags_round_trip_in_priority_order():
    src = T.SourceRun(
        run_id="r" * 32,
        experiment_id="5",
        model_id="m-" + "a" * 32,
        workspace_uri="http://h:5000",
        run_url="http://h:5000/#/experiments/5/runs/r",
        git=GIT,
        notebook=T.Notebook(path="/nb", id="7", revision_id="9"),
    )
    diff = T.GitDiff(T.GIT_DIFF_CAPTURED, "ab" * 32, 120, 2, 1, left_out="nb/a.ipynb: 3 outputs")
    src = dataclasses.replace(src, git=dataclasses.replace(GIT, diff=diff), partial=True)
    tags = T.version_tags(src)
    assert list(tags) == [k for k in T.VERSION_KEY_PRIORITY if k in tags]
    assert set(tags) == set(T.PLUGIN_KEYS) - {T.ORIGIN}  # lineage_origin is written by backfill alone
    assert T.source_from_version_tags(tags) == src


def test_version_tags_of_nothing_are_empty():
    assert T.version_tags(T.SourceRun()) == {}
    assert T.source_from_version_tags({}) == T.SourceRun()


def test_atomic_values_are_dropped_not_cut():
    long_url = "https://github.com/acme/" + "x" * 2000
    assert T.fit_value(T.GIT_REPO_URL, long_url, 1000) is None
    assert T.fit_value(T.GIT_BRANCH, "b" * 2000, 1000) == "b" * 997 + "..."
    assert T.fit_value(T.GIT_BRANCH, "main", 1000) == "main"
    tags = T.version_tags(T.SourceRun(run_id="r", git=T.GitRef(commit=COMMIT, repo_url=long_url)), unity_catalog=True)
    assert T.GIT_REPO_URL not in tags and tags[T.GIT_COMMIT] == COMMIT


def test_uc_safe_keys():
    """Unity Catalog keys may not contain . , - = / : and stay short."""
    for key in T.PLUGIN_KEYS:
        assert not set(key) & set(".,-=/:") and len(key) <= T.UC_TAG_KEY_MAX, key


def test_cap_keeps_the_most_important_keys():
    ours = T.version_tags(T.SourceRun(run_id="r", workspace_uri="http://h", git=GIT))
    assert T.cap_for_registry(ours, 0, None) == ours
    kept = T.cap_for_registry(ours, user_tag_count=T.UC_MAX_TAGS - 2, max_tags=T.UC_MAX_TAGS)
    assert list(kept) == [T.WORKSPACE_URI, T.RUN_ID]
    assert T.cap_for_registry(ours, user_tag_count=60, max_tags=T.UC_MAX_TAGS) == {}
