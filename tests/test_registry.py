"""The registry wrapper against real local stores (SQLite, file), MLflow's real registry plumbing
and the pure source-run reading. Server, cross-workspace and Unity Catalog cases live in
test_registry_server.py and test_registry_uc.py."""

from __future__ import annotations

import copy
import logging
import pickle

import pytest
from fixtures import models
from fixtures.sqlite_store import sqlite_store

from mlflow_lineage_plugin import errors, registry, source, source_readers
from mlflow_lineage_plugin import tags as T

COMMIT = "0123456789abcdef0123456789abcdef01234567"
GIT_TAGS = {
    T.MLFLOW_GIT_COMMIT: COMMIT,
    T.MLFLOW_GIT_BRANCH: "main",
    T.MLFLOW_GIT_REPO_URL: "https://github.com/acme/models",
    T.MLFLOW_GIT_DIRTY: "false",
    T.GIT_PATH: "train/train.py",
    T.SOURCE_URL: f"https://github.com/acme/models/blob/{COMMIT}/train/train.py",
}


@pytest.fixture(scope="module")
def _module_db(tmp_path_factory):
    """One migrated SQLite store for the module: creating one costs seconds, a model name nothing."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    path = tmp_path_factory.mktemp("registry") / "mlflow.db"
    uri = sqlite_store(path)
    SqlAlchemyStore(uri, str(path.parent / "artifacts"))
    return uri


@pytest.fixture
def shared_uri(_module_db, monkeypatch):
    """The module's shared store, active for the test (unlike conftest's ``sqlite_uri``, a fresh store in
    the test's own working directory): the tests here tell their models apart by ``name``."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", _module_db)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    mlflow.set_tracking_uri(_module_db)
    yield _module_db
    while mlflow.active_run():
        mlflow.end_run()


@pytest.fixture
def name(request) -> str:
    """A registered-model name of this test's own, so tests share the module's store safely."""
    return "m_" + request.node.name.replace("[", "_").replace("]", "").replace("-", "_").replace(",", "_")[:80]


def _registry_store(uri: str, tracking_uri: str | None = None):
    from mlflow.tracking._model_registry import utils

    return utils._get_store(uri, tracking_uri)


def _tagged_run(client, extra: dict | None = None):
    run = client.create_run("0")
    for k, v in {**GIT_TAGS, **(extra or {})}.items():
        client.set_tag(run.info.run_id, k, v)
    return run


# --- pure: source.py ---------------------------------------------------------------------------------


def test_model_id_is_parsed_only_from_logged_model_uris():
    mid = "m-" + "a1" * 16
    assert source.model_id_from_source(f"models:/{mid}") == mid
    assert source.model_id_from_source(f"models:/{mid}/") == mid
    assert source.model_id_from_source(f"s3://bucket/1/models/{mid}/artifacts") == mid
    assert source.model_id_from_source(f"s3://bucket/1/models/{mid}/artifacts/extra") is None
    assert source.model_id_from_source("models:/my-model/3") is None
    assert source.model_id_from_source("runs:/abc/model") is None
    assert source.model_id_from_source(None) is None


def test_run_workspace_tag_beats_databricks_tags_beats_tracking_uri():
    ours = {T.WORKSPACE_URI: "https://ws-a.example/?o=1", T.MLFLOW_DATABRICKS_WORKSPACE_URL: "ws-b.example"}
    dbx = {
        T.MLFLOW_DATABRICKS_WORKSPACE_URL: "https://ws-b.cloud.databricks.com",
        T.MLFLOW_DATABRICKS_WORKSPACE_ID: "42",
    }
    run = source.RunFacts("r1", "7", ours)
    assert (
        source.source_run(run_id="r1", model_id=None, run=run, fallback_workspace_uri="http://x").workspace_uri
        == "https://ws-a.example/?o=1"
    )
    src = source.source_run(
        run_id="r1", model_id=None, run=source.RunFacts("r1", "7", dbx), fallback_workspace_uri="http://x"
    )
    assert src.workspace_uri == "https://ws-b.cloud.databricks.com/?o=42"
    assert src.run_url == "https://ws-b.cloud.databricks.com/?o=42#mlflow/experiments/7/runs/r1"
    src = source.source_run(
        run_id="r1", model_id=None, run=source.RunFacts("r1", "7", {}), fallback_workspace_uri="http://tracking:5000"
    )
    assert src.workspace_uri == "http://tracking:5000"
    assert src.run_url == "http://tracking:5000/#/experiments/7/runs/r1"


def test_logged_model_leads_to_its_run_and_a_runless_model_keeps_its_own_lineage():
    model = source.ModelFacts("m-1", "5", "r9", {})
    src = source.source_run(
        run_id=None,
        model_id="m-1",
        model=model,
        run=source.RunFacts("r9", "5", GIT_TAGS),
        fallback_workspace_uri="http://t",
    )
    assert (src.run_id, src.model_id, src.git.commit) == ("r9", "m-1", COMMIT)
    runless = source.ModelFacts("m-2", "6", None, {**GIT_TAGS, T.WORKSPACE_URI: "http://ws"})
    src = source.source_run(run_id=None, model_id="m-2", model=runless, fallback_workspace_uri="http://t")
    assert (src.run_id, src.experiment_id, src.workspace_uri, src.git.commit) == (None, "6", "http://ws", COMMIT)
    assert src.run_url is None


def test_nothing_read_still_names_what_is_known():
    src = source.source_run(run_id="r1", model_id=None, fallback_workspace_uri="http://t")
    assert (src.run_id, src.workspace_uri, src.experiment_id, src.run_url) == ("r1", "http://t", None, None)


def test_error_descriptions_carry_no_credentials():
    text = errors.error_line(RuntimeError("cannot reach https://bob:s3cret@host:5000/api\nmore"))
    assert "s3cret" not in text and "bob" not in text and "\n" not in text
    assert text.startswith("RuntimeError: cannot reach https://host:5000/api")


def test_fetch_is_bounded_in_time():
    import time

    class Hung:
        def get_run(self, run_id):
            time.sleep(5)

        def get_logged_model(self, model_id):
            time.sleep(5)

    t0 = time.monotonic()
    got = source_readers.fetch(Hung, run_id="r1", model_id=None, timeout=0.3)
    assert time.monotonic() - t0 < 1.5
    assert got.run is None and "not read within 0.3s" in got.problems[0]


# --- builders: pinned to MLflow's own per scheme ---------------------------------------------------


def test_every_builtin_scheme_builds_mlflows_own_store_inside_the_wrapper(tmp_path, monkeypatch, _module_db):
    from mlflow.store._unity_catalog.registry.uc_oss_rest_store import UnityCatalogOssStore
    from mlflow.store._unity_catalog.registry.utils import get_uc_model_registry_store_class
    from mlflow.store.model_registry.databricks_workspace_model_registry_rest_store import (
        DatabricksWorkspaceModelRegistryRestStore,
    )
    from mlflow.store.model_registry.file_store import FileStore
    from mlflow.store.model_registry.rest_store import RestStore
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("DATABRICKS_HOST", "http://127.0.0.1:9")
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-test")
    cases = {
        _module_db: (SqlAlchemyStore, False),
        f"file://{tmp_path / 'mlruns'}": (FileStore, False),
        str(tmp_path / "bare-path-mlruns"): (FileStore, False),
        "http://127.0.0.1:1": (RestStore, False),
        "https://127.0.0.1:1": (RestStore, False),
        "databricks": (DatabricksWorkspaceModelRegistryRestStore, False),
        "databricks-uc": (get_uc_model_registry_store_class(), True),
        "uc:http://127.0.0.1:1": (UnityCatalogOssStore, True),
    }
    tracking = _module_db
    for uri, (cls, uc) in cases.items():
        store = _registry_store(uri, tracking)
        assert isinstance(store, registry.LineageRegistryStore), uri
        assert type(store.unwrap()) is cls, uri
        assert store._unity_catalog is uc, uri


def test_builder_never_reenters_the_registry_lock(_module_db):
    """A builder that called get_store() would deadlock here; this returns in well under a second."""
    import threading

    from mlflow.tracking._model_registry.registry import ModelRegistryStoreRegistry

    reg = ModelRegistryStoreRegistry()
    reg.register_entrypoints()
    out = []
    t = threading.Thread(target=lambda: out.append(reg.get_store(_module_db, _module_db)), daemon=True)
    t.start()
    t.join(30)
    assert out and isinstance(out[0], registry.LineageRegistryStore)


def test_bare_paths_are_claimed_through_the_frame_of_mlflows_own_registry(tmp_path, monkeypatch):
    """``stores.claim_scheme_less_paths`` finds the registry loading the ``file`` entry point by
    walking the call stack to MLflow's ``register_entrypoints``; this pins that against the MLflow
    in use: a fresh registry, loaded the way MLflow loads it, maps a scheme-less path to the wrapper."""
    from mlflow.store.model_registry.file_store import FileStore
    from mlflow.tracking._model_registry import utils
    from mlflow.tracking._model_registry.registry import ModelRegistryStoreRegistry

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    reg = ModelRegistryStoreRegistry()
    reg.register("", lambda store_uri, tracking_uri=None: None)  # not MLflow's file builder: left alone
    reg.register_entrypoints()
    assert reg._registry[""] is not registry.build_file
    reg = ModelRegistryStoreRegistry()
    reg.register("", utils._get_file_store)  # what MLflow registers for scheme-less paths
    reg.register_entrypoints()
    assert reg._registry[""] is registry.build_file
    store = reg.get_store(str(tmp_path / "mlruns"), None)
    assert isinstance(store, registry.LineageRegistryStore) and type(store.unwrap()) is FileStore


def test_mysql_and_mssql_driver_uris_map_to_the_sql_builder():
    from mlflow.tracking._model_registry import utils

    reg = utils._get_store_registry()
    for uri in ("mysql+pymysql://u@h/db", "postgresql+psycopg2://u@h/db", "mssql+pyodbc://u@h/db", "sqlite://"):
        assert reg.get_store_builder(uri) is registry.build_sql, uri


# --- the wrapper object ------------------------------------------------------------------------------


def test_wrapper_pickles_copies_and_never_recurses(shared_uri):
    store = _registry_store("http://127.0.0.1:1")
    clone = pickle.loads(pickle.dumps(store))
    assert type(clone.unwrap()) is type(store.unwrap())
    assert copy.copy(store).unwrap() is store.unwrap()
    half_built = registry.LineageRegistryStore.__new__(registry.LineageRegistryStore)
    with pytest.raises(AttributeError):
        getattr(half_built, "anything")  # noqa: B009 - the look-up itself is what is tested
    with pytest.raises(AttributeError):
        getattr(half_built, "__deepcopy__")  # noqa: B009
    assert store.get_registered_model.__self__ is store.unwrap()  # everything else is delegated


def test_signature_matches_what_mlflow_client_inspects():
    import inspect

    from mlflow.store.model_registry.abstract_store import AbstractStore

    ours = list(inspect.signature(registry.LineageRegistryStore.create_model_version).parameters)
    theirs = list(inspect.signature(AbstractStore.create_model_version).parameters)
    assert ours == theirs


# --- client-side on SQLite ----------------------------------------------------------------------------


def test_version_carries_the_runs_lineage_and_user_tags_win(name, shared_uri):
    from mlflow import MlflowClient

    client = MlflowClient()
    run = _tagged_run(client)
    client.create_registered_model(name)
    mv = client.create_model_version(
        name, f"runs:/{run.info.run_id}/model", run.info.run_id, tags={"team": "a", T.GIT_BRANCH: "release-override"}
    )
    got = client.get_model_version(name, mv.version).tags
    assert got["team"] == "a"
    assert got[T.GIT_BRANCH] == "release-override"
    assert got[T.RUN_ID] == run.info.run_id
    assert got[T.EXPERIMENT_ID] == "0"
    assert got[T.GIT_COMMIT] == COMMIT
    assert got[T.GIT_REPO_URL] == "https://github.com/acme/models"
    assert got[T.GIT_DIRTY] == "false"
    assert got[T.GIT_PATH] == "train/train.py"
    assert got[T.SOURCE_URL] == GIT_TAGS[T.SOURCE_URL]
    assert got[T.WORKSPACE_URI] == shared_uri
    assert got[T.SCHEMA] == T.SCHEMA_VERSION
    assert T.RUN_URL not in got  # a local SQLite store has no web page
    assert client.get_model_version(name, mv.version).run_link in (None, "")


def test_databricks_run_tags_become_workspace_and_notebook_lineage(name, shared_uri):
    from mlflow import MlflowClient

    client = MlflowClient()
    run = _tagged_run(
        client,
        {
            T.MLFLOW_DATABRICKS_WORKSPACE_URL: "https://adb-1.azuredatabricks.net",
            T.MLFLOW_DATABRICKS_WORKSPACE_ID: "1234",
            T.MLFLOW_DATABRICKS_NOTEBOOK_PATH: "/Users/a@b.c/train",
            T.MLFLOW_DATABRICKS_NOTEBOOK_ID: "99",
            T.MLFLOW_DATABRICKS_NOTEBOOK_REVISION_ID: "1700000000000",
        },
    )
    client.create_registered_model(name)
    mv = client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id)
    got = client.get_model_version(name, mv.version)
    rid = run.info.run_id
    assert got.tags[T.WORKSPACE_URI] == "https://adb-1.azuredatabricks.net/?o=1234"
    assert got.tags[T.RUN_URL] == f"https://adb-1.azuredatabricks.net/?o=1234#mlflow/experiments/0/runs/{rid}"
    assert got.run_link == got.tags[T.RUN_URL]
    assert got.tags[T.NOTEBOOK_PATH] == "/Users/a@b.c/train"
    assert got.tags[T.NOTEBOOK_ID] == "99"
    assert got.tags[T.NOTEBOOK_REVISION_ID] == "1700000000000"


def test_user_run_link_is_kept(name, shared_uri):
    from mlflow import MlflowClient

    client = MlflowClient()
    run = _tagged_run(client, {T.WORKSPACE_URI: "http://tracking.example:5000"})
    client.create_registered_model(name)
    mv = client.create_model_version(name, "s3://b/m", run.info.run_id, run_link="http://mine/run")
    got = client.get_model_version(name, mv.version)
    assert got.run_link == "http://mine/run"
    assert got.tags[T.RUN_URL] == f"http://tracking.example:5000/#/experiments/0/runs/{run.info.run_id}"


def test_disabled_is_pure_pass_through(name, shared_uri, monkeypatch):
    from mlflow import MlflowClient

    client = MlflowClient()
    run = _tagged_run(client)
    client.create_registered_model(name)
    monkeypatch.setenv("MLFLOW_LINEAGE_DISABLE", "true")
    mv = client.create_model_version(name, "s3://b/m", run.info.run_id, tags={"k": "v"})
    assert client.get_model_version(name, mv.version).tags == {"k": "v"}


def test_version_without_any_source_is_passed_through(name, shared_uri):
    from mlflow import MlflowClient

    client = MlflowClient()
    client.create_registered_model(name)
    mv = client.create_model_version(name, "s3://bucket/model")
    assert client.get_model_version(name, mv.version).tags == {}


def test_deleted_source_run_still_gives_lineage_and_one_warning(name, shared_uri, caplog):
    from mlflow import MlflowClient

    client = MlflowClient()
    run = _tagged_run(client)
    client.delete_run(run.info.run_id)
    client.create_registered_model(name)
    with caplog.at_level(logging.WARNING, logger="mlflow_lineage_plugin"):
        mv = client.create_model_version(name, "s3://b/m", run.info.run_id)
    assert client.get_model_version(name, mv.version).tags[T.GIT_COMMIT] == COMMIT
    ours = [r for r in caplog.records if r.name.startswith("mlflow_lineage_plugin")]
    assert len(ours) == 1 and "is deleted" in ours[0].getMessage()


def test_run_gone_for_good_still_creates_the_version_with_what_is_known(name, shared_uri, caplog):
    from mlflow import MlflowClient

    client = MlflowClient()
    client.create_registered_model(name)
    missing = "f" * 32
    with caplog.at_level(logging.WARNING, logger="mlflow_lineage_plugin"):
        mv = client.create_model_version(name, "s3://b/m", missing)
    got = client.get_model_version(name, mv.version).tags
    assert got[T.RUN_ID] == missing and got[T.WORKSPACE_URI] == shared_uri
    assert T.GIT_COMMIT not in got
    ours = [r for r in caplog.records if r.name.startswith("mlflow_lineage_plugin")]
    assert len(ours) == 1 and f"run {missing} could not be read" in ours[0].getMessage()
    # the description says only what is known: the id it was given, and that the run is not there
    description = client.get_model_version(name, mv.version).description
    assert description == f"Registered from run `{missing}` (not found in `{shared_uri}`)"


# --- strict mode ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("run_tags", "require", "fragment"),
    [
        ({}, "commit", "records no git commit"),
        ({**GIT_TAGS, T.MLFLOW_GIT_DIRTY: "true"}, "commit,clean", "uncommitted changes"),
        ({T.MLFLOW_GIT_COMMIT: COMMIT}, "clean", "cannot be confirmed clean"),
        # check's vocabulary, honoured by strict mode too (issue 31 item 2)
        ({**GIT_TAGS, T.MLFLOW_GIT_DIRTY: "true"}, "exact", "exact code of its source run cannot be rebuilt"),
        ({**GIT_TAGS, T.MLFLOW_GIT_DIRTY: "true", T.GIT_DIFF: "too_large"}, "commit,exact", "cannot be rebuilt"),
        ({}, "exact", "records no git commit"),
    ],
)
def test_strict_mode_refuses_and_creates_nothing(name, shared_uri, monkeypatch, run_tags, require, fragment):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    run = client.create_run("0")
    for k, v in run_tags.items():
        client.set_tag(run.info.run_id, k, v)
    client.create_registered_model(name)
    monkeypatch.setenv("MLFLOW_LINEAGE_REQUIRE", require)
    with pytest.raises(MlflowException) as err:
        client.create_model_version(name, "s3://b/m", run.info.run_id)
    assert type(err.value) is registry.LineageRefusal  # a named type, not a flag on the exception
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert fragment in err.value.message and f"'{name}'" in err.value.message
    assert client.search_model_versions(f"name = '{name}'") == []


def test_strict_mode_lets_a_clean_commit_through(name, shared_uri, monkeypatch):
    from mlflow import MlflowClient

    client = MlflowClient()
    run = _tagged_run(client)
    client.create_registered_model(name)
    monkeypatch.setenv("MLFLOW_LINEAGE_REQUIRE", "commit, clean")
    mv = client.create_model_version(name, "s3://b/m", run.info.run_id)
    assert client.get_model_version(name, mv.version).tags[T.GIT_COMMIT] == COMMIT


@pytest.mark.parametrize("require", ["commit,reachable", "reachable", "exact", "commit,clean,reachable,exact"])
def test_strict_mode_honours_checks_whole_vocabulary(name, shared_uri, monkeypatch, require):
    """One variable, one vocabulary: what ``check`` accepts in MLFLOW_LINEAGE_REQUIRE, registration accepts."""
    from mlflow import MlflowClient

    client = MlflowClient()
    run = _tagged_run(client)
    client.create_registered_model(name)
    monkeypatch.setenv("MLFLOW_LINEAGE_REQUIRE", require)
    mv = client.create_model_version(name, "s3://b/m", run.info.run_id)
    assert client.get_model_version(name, mv.version).tags[T.GIT_COMMIT] == COMMIT


def test_strict_mode_exact_lets_kept_changes_through_and_reachable_refuses_a_deleted_run(name, shared_uri, monkeypatch):
    from mlflow import MlflowClient

    client = MlflowClient()
    kept = _tagged_run(client, {T.MLFLOW_GIT_DIRTY: "true", T.GIT_DIFF: "captured", T.GIT_DIFF_SHA256: "a" * 64})
    deleted = _tagged_run(client)
    client.delete_run(deleted.info.run_id)
    client.create_registered_model(name)
    monkeypatch.setenv("MLFLOW_LINEAGE_REQUIRE", "exact")
    assert str(client.create_model_version(name, "s3://b/m", kept.info.run_id).version) == "1"
    monkeypatch.setenv("MLFLOW_LINEAGE_REQUIRE", "commit,reachable")
    with pytest.raises(registry.LineageRefusal, match="source run is deleted.*MLFLOW_LINEAGE_REQUIRE=commit,reachable"):
        client.create_model_version(name, "s3://b/m", deleted.info.run_id)


def test_strict_mode_with_a_typo_says_so(name, shared_uri, monkeypatch):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    run = _tagged_run(client)
    client.create_registered_model(name)
    monkeypatch.setenv("MLFLOW_LINEAGE_REQUIRE", "comit")
    with pytest.raises(MlflowException, match=r"1 unknown requirement \(did you mean commit\?\).*commit, clean"):
        client.create_model_version(name, "s3://b/m", run.info.run_id)


def test_strict_mode_says_when_the_run_could_not_be_read(name, shared_uri, monkeypatch):
    """A run that cannot be read may well have a commit: the refusal must not say it has none."""
    from mlflow import MlflowClient

    client = MlflowClient()
    client.create_registered_model(name)
    monkeypatch.setenv("MLFLOW_LINEAGE_REQUIRE", "commit")
    missing = "e" * 32
    with pytest.raises(registry.LineageRefusal) as err:
        client.create_model_version(name, "s3://b/m", missing)
    msg = err.value.message
    assert "its source could not be read, so its commit cannot be confirmed" in msg
    assert f"run {missing} could not be read" in msg
    assert "records no git commit" not in msg
    assert client.search_model_versions(f"name = '{name}'") == []


def test_prompts_are_exempt_from_strict_mode(shared_uri, monkeypatch):
    """Prompts have no source run; strict mode is about models, so it must not refuse them."""
    import mlflow.genai

    monkeypatch.setenv("MLFLOW_LINEAGE_REQUIRE", "commit,clean")
    mlflow.genai.register_prompt(name="strict_greet", template="Hello {{name}}")
    mlflow.genai.register_prompt(name="strict_greet", template="Hi {{name}}")
    assert mlflow.genai.load_prompt("prompts:/strict_greet/2").template == "Hi {{name}}"


# --- one spelling per repository --------------------------------------------------------------------


@pytest.mark.parametrize("key", [T.MLFLOW_GIT_REPO_URL, T.MLFLOW_GIT_REPO_URL_LEGACY, T.MLFLOW_DATABRICKS_GIT_REPO_URL])
def test_a_repository_has_one_spelling_whichever_tag_names_it(name, shared_uri, key):
    """A plugin run writes ``https://github.com/acme/churn``; MLflow alone writes the remote as git
    has it (``.git``, credentials, scp form). A search by repository must find the versions of both."""
    from mlflow import MlflowClient

    client = MlflowClient()
    plugin_run = _tagged_run(client, {T.MLFLOW_GIT_REPO_URL: "https://github.com/acme/churn"})
    plain_run = client.create_run("0")
    client.set_tag(plain_run.info.run_id, T.MLFLOW_GIT_COMMIT, COMMIT)
    client.set_tag(plain_run.info.run_id, key, "https://ci:s3cret@github.com/acme/churn.git")
    scp_run = client.create_run("0")
    client.set_tag(scp_run.info.run_id, key, "git@github.com:acme/churn.git")
    client.create_registered_model(name)
    for run in (plugin_run, plain_run, scp_run):
        client.create_model_version(name, "s3://b/m", run.info.run_id)
    found = client.search_model_versions(f"name = '{name}' and tags.{T.GIT_REPO_URL} = 'https://github.com/acme/churn'")
    assert sorted(mv.run_id for mv in found) == sorted(r.info.run_id for r in (plugin_run, plain_run, scp_run))
    assert not any("s3cret" in v for mv in found for v in mv.tags.values())


# --- MLflow's file store -------------------------------------------------------------------------------


def _rename_on_a_file_store(tmp_path, tracking_uri: str, plugin: bool, monkeypatch):
    """The same steps plugin on and off: three versions of a model from a tagged run (one deleted), a
    model tag, an alias, then a rename. Returns what a user reads back under the new name."""
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    if plugin:
        monkeypatch.delenv("MLFLOW_LINEAGE_DISABLE", raising=False)
    else:
        monkeypatch.setenv("MLFLOW_LINEAGE_DISABLE", "true")
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=f"file://{tmp_path / ('on' if plugin else 'off')}")
    run = _tagged_run(client)
    client.create_registered_model("before", tags={"owner": "ml"})
    for _ in range(3):
        client.create_model_version("before", f"runs:/{run.info.run_id}/model", run.info.run_id)
    client.delete_model_version("before", "3")  # the file store keeps it, soft-deleted, tags and all
    client.set_registered_model_alias("before", "champion", "2")
    client.rename_registered_model("before", "after")
    model = client.get_registered_model("after")
    versions = sorted(client.search_model_versions("name = 'after'"), key=lambda mv: int(mv.version))
    assert client.search_registered_models("name = 'before'") == []
    return run, model, versions


def test_file_store_rename_keeps_every_tag(tmp_path, shared_uri, monkeypatch):
    """MLflow's file store cannot rename a model whose versions carry tags ('str' object has no
    attribute 'key'); the plugin tags every version, so the wrapper renames it itself."""
    run, model, versions = _rename_on_a_file_store(tmp_path, shared_uri, True, monkeypatch)
    assert [str(mv.version) for mv in versions] == ["1", "2"]
    for mv in versions:
        assert mv.name == "after" and mv.run_id == run.info.run_id
        assert mv.tags[T.GIT_COMMIT] == COMMIT and mv.tags[T.RUN_ID] == run.info.run_id
    assert model.tags == {"owner": "ml"}
    assert model.aliases == {"champion": "2"}

    off_run, _, off_versions = _rename_on_a_file_store(tmp_path, shared_uri, False, monkeypatch)

    # Plugin off, MLflow's own rename: the same versions, none of them tagged (so MLflow manages).
    def seen(vs, rid):
        return [(mv.name, str(mv.version), mv.source.replace(rid, "R"), mv.run_id == rid) for mv in vs]

    assert seen(off_versions, off_run.info.run_id) == seen(versions, run.info.run_id)
    assert all(mv.tags == {} for mv in off_versions)


def test_file_store_rename_to_a_taken_name_changes_nothing(tmp_path, shared_uri, monkeypatch):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=shared_uri, registry_uri=f"file://{tmp_path / 'taken'}")
    run = _tagged_run(client)
    for model in ("a", "b"):
        client.create_registered_model(model)
    client.create_model_version("a", "s3://b/m", run.info.run_id, tags={"k": "v"})
    with pytest.raises(MlflowException, match="already exists"):
        client.rename_registered_model("a", "b")
    assert client.get_model_version("a", "1").tags[T.GIT_COMMIT] == COMMIT
    assert client.get_model_version("a", "1").tags["k"] == "v"


# --- MLflow 3 LoggedModels ------------------------------------------------------------------------------


def _sk_model():
    from sklearn.linear_model import LinearRegression

    return LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])


def test_log_model_with_registered_model_name_goes_through_the_logged_model(name, shared_uri):
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient

    with mlflow.start_run(tags=GIT_TAGS) as run:
        info = mlflow.sklearn.log_model(_sk_model(), name="model", registered_model_name=name, **models.SKLEARN)
    mv = MlflowClient().get_model_version(name, info.registered_model_version)
    assert mv.tags[T.MODEL_ID] == info.model_id
    assert mv.tags[T.RUN_ID] == run.info.run_id
    assert mv.tags[T.GIT_COMMIT] == COMMIT
    assert mv.tags[T.EXPERIMENT_ID] == run.info.experiment_id


def test_a_commit_set_during_the_run_wins_over_the_one_detected_at_its_start(name, shared_uri):
    """A build without .git sets the commit from CI mid-run; ``log_model(registered_model_name=)``
    in that run must copy it, not the start-of-run tags the active run object still holds."""
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient

    with mlflow.start_run(tags=GIT_TAGS):
        mlflow.set_tags({T.MLFLOW_GIT_COMMIT: "c" * 40, T.MLFLOW_GIT_DIRTY: "true"})
        info = mlflow.sklearn.log_model(_sk_model(), name="model", registered_model_name=name, **models.SKLEARN)
    mv = MlflowClient().get_model_version(name, info.registered_model_version)
    assert (mv.tags[T.GIT_COMMIT], mv.tags[T.GIT_DIRTY]) == ("c" * 40, "true")


def test_model_logged_outside_any_run_takes_lineage_from_the_logged_model(name, shared_uri):
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient

    info = mlflow.sklearn.log_model(_sk_model(), name="runless", **models.SKLEARN)
    client = MlflowClient()
    client.set_logged_model_tags(info.model_id, GIT_TAGS)
    assert not client.get_logged_model(info.model_id).source_run_id
    client.create_registered_model(name)
    mv = client.create_model_version(name, f"models:/{info.model_id}")
    got = client.get_model_version(name, mv.version).tags
    assert got[T.MODEL_ID] == info.model_id
    assert got[T.GIT_COMMIT] == COMMIT
    assert got[T.EXPERIMENT_ID] == client.get_logged_model(info.model_id).experiment_id
    assert T.RUN_ID not in got


def test_prompts_are_left_alone(name, shared_uri):
    import mlflow
    from fixtures.services import need_module

    need_module("mlflow.genai", "prompts are registered through mlflow.genai (MLflow 3)")
    mlflow.genai.register_prompt(name="greet", template="Hello {{name}}")
    prompt = mlflow.genai.load_prompt("prompts:/greet/1")
    assert not any(k.startswith(T.PREFIX) for k in prompt.tags)


def test_the_fast_sql_reader_reads_exactly_what_get_run_reads(shared_uri):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from mlflow.tracking._tracking_service.utils import _get_store

    store = _get_store(shared_uri)
    fast = source_readers.store_reader(store)
    assert isinstance(fast, source_readers.SqlTagsReader)
    client = MlflowClient()
    run = _tagged_run(client, {T.WORKSPACE_URI: "http://ws"})
    client.log_param(run.info.run_id, "alpha", "1")
    assert fast.get_run(run.info.run_id) == source_readers.StoreReader(store).get_run(run.info.run_id)
    client.delete_run(run.info.run_id)
    assert fast.get_run(run.info.run_id).deleted
    with pytest.raises(MlflowException, match="not found|does not exist|No run"):
        fast.get_run("0" * 32)


def test_the_fast_sql_reader_gives_up_on_a_locked_sqlite_file_and_puts_the_busy_timeout_back(shared_uri):
    """The read's limit lives in the database connection (SQLite: its busy timeout); MLflow's own
    writes on the same pooled connection must get their own limit back afterwards."""
    import sqlite3

    from mlflow import MlflowClient
    from mlflow.tracking._tracking_service.utils import _get_store
    from sqlalchemy.exc import OperationalError

    store = _get_store(shared_uri)
    run = _tagged_run(MlflowClient())
    reader = source_readers.SqlTagsReader(store, timeout=0.3)
    with store.engine.connect() as conn:
        before = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
    assert before != 300
    locker = sqlite3.connect(shared_uri[len("sqlite:///") :], isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(OperationalError, match="locked"):
            reader.get_run(run.info.run_id)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == before
    assert reader.get_run(run.info.run_id).tags[T.MLFLOW_GIT_COMMIT] == COMMIT


def test_end_to_end_from_a_real_git_checkout(name, shared_uri, repos, git_available):
    """A training script in a real repository: the run provider tags the run, log_model registers
    the model, and the version carries the checkout's commit without any test-made tags."""
    import os
    import subprocess
    import sys

    from mlflow import MlflowClient

    script = (
        "import mlflow, mlflow.sklearn\n"
        "from sklearn.linear_model import LinearRegression\n"
        "with mlflow.start_run() as run:\n"
        "    m = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])\n"
        f"    info = mlflow.sklearn.log_model(m, name='model', registered_model_name={name!r},\n"
        "                                pip_requirements=['scikit-learn'], serialization_format='cloudpickle')\n"
        "print(info.registered_model_version, run.info.run_id)\n"
    )
    repo = repos.make("training", files={"train.py": script}, remote="https://bob:tok@github.com/acme/training.git")
    from conftest import git

    head = git(repo, "rev-parse", "HEAD")
    env = {**os.environ, "MLFLOW_TRACKING_URI": shared_uri}
    out = subprocess.run([sys.executable, "train.py"], cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    version, run_id = out.stdout.split()[-2:]
    tags = MlflowClient().get_model_version(name, version).tags
    assert tags[T.GIT_COMMIT] == head
    assert tags[T.RUN_ID] == run_id
    assert tags[T.GIT_PATH] == "train.py"
    assert tags[T.GIT_REPO_URL] == "https://github.com/acme/training"
    assert tags[T.GIT_DIRTY] == "false"
    assert tags[T.WORKSPACE_URI] == shared_uri
    assert tags[T.MODEL_ID].startswith("m-")
    assert "tok" not in "".join(tags.values())


def test_a_bug_in_the_plugin_never_costs_the_registration(name, shared_uri, monkeypatch, caplog):
    from mlflow import MlflowClient

    def broken(**_):
        raise KeyError("boom")

    client = MlflowClient()
    run = _tagged_run(client)
    client.create_registered_model(name)
    monkeypatch.setattr(source, "source_run", broken)  # fault injection: a defect of ours
    with caplog.at_level(logging.WARNING, logger="mlflow_lineage_plugin"):
        mv = client.create_model_version(name, "s3://b/m", run.info.run_id, tags={"k": "v"})
    assert client.get_model_version(name, mv.version).tags == {"k": "v"}
    msgs = [r.getMessage() for r in caplog.records if r.name.startswith("mlflow_lineage")]
    assert len(msgs) == 1 and "without lineage: KeyError" in msgs[0]


def test_a_server_names_the_operators_workspace_uri_without_its_credentials(name, shared_uri, monkeypatch):
    """Inside ``mlflow server`` (detected as the real builders detect it), a run that does not say its
    workspace gets ``MLFLOW_LINEAGE_WORKSPACE_URI`` read as the run provider and backfill read it:
    credentials removed. The server used to write the setting as given."""
    from mlflow import MlflowClient
    from mlflow.server import handlers
    from mlflow.tracking._tracking_service import utils as tracking_utils

    monkeypatch.setenv("_MLFLOW_SERVER_FILE_STORE", shared_uri)  # what `mlflow server` sets for its workers
    monkeypatch.setattr(handlers, "_tracking_store", tracking_utils._get_store(shared_uri))
    monkeypatch.setenv("MLFLOW_LINEAGE_WORKSPACE_URI", "https://user:s3cret@mlflow.example.com/")
    store = registry.build_sql(store_uri=shared_uri)
    assert store._server
    run = _tagged_run(MlflowClient())
    store.create_registered_model(name)
    mv = store.create_model_version(name, "s3://b/m", run.info.run_id)
    got = MlflowClient().get_model_version(name, mv.version)
    assert got.tags[T.WORKSPACE_URI] == "https://mlflow.example.com" and got.tags[T.RUN_ID] == run.info.run_id
    assert "s3cret" not in "".join(got.tags.values()) + (got.description or "")
