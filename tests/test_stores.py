"""Both store wrappers against MLflow's own stores: everyone but the plugin takes them for MLflow's store
(isinstance, attribute patching, signatures, pickling), and MLflow's server treats a wrapped file
registry as the file registry it is."""

from __future__ import annotations

import copy
import inspect
import pickle
import time
from unittest import mock

import pytest
import requests
from fixtures.mlflow_server import start_mlflow_server

from mlflow_lineage_plugin import registry, stores, tracking_store


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("DATABRICKS_HOST", "http://127.0.0.1:9")
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-test")
    monkeypatch.delenv("MLFLOW_LINEAGE_DISABLE", raising=False)
    # MLflow's file registry reads a version's run through the global tracking URI: give it the test's own.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'tracking.db'}")
    return tmp_path


def _tracking_stores(tmp_path):
    """Every built-in tracking scheme, built by the plugin's builders: {uri: wrapper}."""
    db = f"sqlite:///{tmp_path / 't.db'}"
    built = {
        db: tracking_store.build_sql(db, str(tmp_path / "artifacts")),
        f"file://{tmp_path / 'mlruns'}": tracking_store.build_file(f"file://{tmp_path / 'mlruns'}"),
        "http://127.0.0.1:1": tracking_store.build_rest("http://127.0.0.1:1"),
        "databricks": tracking_store.build_databricks("databricks"),
    }
    return built


def _registry_stores(tmp_path):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    return {
        db: registry.build_sqlite(db, db),
        f"file://{tmp_path / 'models'}": registry.build_file(f"file://{tmp_path / 'models'}"),
        "http://127.0.0.1:1": registry.build_rest("http://127.0.0.1:1"),
        "databricks": registry.build_databricks("databricks"),
        "databricks-uc": registry.build_databricks_uc("databricks-uc", "databricks"),
        "uc:http://127.0.0.1:1": registry.build_uc_oss("uc:http://127.0.0.1:1"),
    }


def _all_stores(tmp_path):
    return {**_tracking_stores(tmp_path), **{f"registry {k}": v for k, v in _registry_stores(tmp_path).items()}}


# --- identity -------------------------------------------------------------------------------------------


def test_every_wrapped_store_is_an_instance_of_mlflows_store_class_and_only_of_it(env):
    wrapped = _all_stores(env)
    classes = {type(s.unwrap()) for s in wrapped.values()}
    assert len(classes) == len(wrapped), classes  # one MLflow class per built-in scheme
    for uri, store in wrapped.items():
        inner = store.unwrap()
        assert type(store) in (tracking_store.LineageTrackingStore, registry.LineageRegistryStore), uri
        assert store.__class__ is type(inner), uri
        for cls in classes:
            assert isinstance(store, cls) is isinstance(inner, cls), (uri, cls)
        assert isinstance(store, stores.StoreWrapper) and stores.unwrap(store) is inner
        assert stores.unwrap(inner) is inner
        assert repr(store) == f"{type(store).__name__}({inner!r})"


def test_mlflows_webhook_delivery_skips_a_wrapped_file_registry(env):
    """MLflow's own check, on the wrapper: a file registry has no webhooks to deliver."""
    from mlflow.store.model_registry.file_store import FileStore

    store = registry.build_file(f"file://{env / 'models'}")
    assert isinstance(store, FileStore)


# --- attributes: set and delete reach the inner store -----------------------------------------------------


def test_patching_a_delegated_method_reaches_the_inner_stores_own_calls(env):
    store = tracking_store.build_sql(f"sqlite:///{env / 't.db'}", str(env / "artifacts"))
    inner = store.unwrap()
    with mock.patch.object(store, "get_experiment", wraps=inner.get_experiment) as spy:
        store.create_run("0", "me", 0, [], "r")  # MLflow's create_run asks self.get_experiment
    assert spy.call_args.args == ("0",)
    assert "get_experiment" not in vars(inner) and "get_experiment" not in vars(store)
    assert store.get_experiment.__self__ is inner


def test_patching_reaches_the_inner_registry_store_and_the_wrappers_own_methods(env):
    store = registry.build_file(f"file://{env / 'models'}")
    inner = store.unwrap()
    store.create_registered_model("m")
    with mock.patch.object(store, "_get_registered_model_path", wraps=inner._get_registered_model_path) as spy:
        store.create_model_version("m", "s3://bucket/model")  # MLflow numbers the version through it
    assert spy.called
    with mock.patch.object(store, "create_model_version", return_value="patched"):
        assert store.create_model_version("m", "s3://bucket/model") == "patched"
    assert store.create_model_version("m", "s3://bucket/model").version == 2
    assert vars(inner).keys().isdisjoint({"create_model_version", "_get_registered_model_path"})


def test_setting_and_deleting_act_on_the_inner_store_except_for_the_wrappers_own(env):
    store = tracking_store.build_rest("http://127.0.0.1:1")
    inner = store.unwrap()
    store.get_run = "patched"  # an attribute of MLflow's store
    assert inner.get_run == "patched" and "get_run" not in vars(store)
    del store.get_run
    assert "get_run" not in vars(inner) and store.get_run.__self__ is inner
    with pytest.raises(AttributeError):
        del store.get_run
    store._store_uri = "http://other"  # the wrapper's own
    assert vars(store)["_store_uri"] == "http://other" and "_store_uri" not in vars(inner)
    store._lineage_later = 1  # one the inner store lacks: a wrapper attribute added later stays the wrapper's
    assert vars(store)["_lineage_later"] == 1 and not hasattr(inner, "_lineage_later")


# --- pickling and copying ---------------------------------------------------------------------------------


def test_both_wrappers_pickle_copy_and_never_recurse(env):
    for store in (tracking_store.build_rest("http://127.0.0.1:1"), registry.build_rest("http://127.0.0.1:1")):
        for clone in (pickle.loads(pickle.dumps(store)), copy.deepcopy(store), copy.copy(store)):
            assert type(clone) is type(store) and type(clone.unwrap()) is type(store.unwrap())
            assert clone.get_host_creds().host == "http://127.0.0.1:1"
        assert copy.copy(store).unwrap() is store.unwrap()
        half_built = object.__new__(type(store))
        with pytest.raises(AttributeError):
            getattr(half_built, "anything")  # noqa: B009 - the look-up itself is what is tested


# --- signatures ---------------------------------------------------------------------------------------------


def _changed_methods(cls):
    return [n for n, v in vars(cls).items() if inspect.isfunction(v) and not n.startswith("_")]


def test_every_changed_method_keeps_mlflows_signature_defaults_included(env):
    wrapped = _all_stores(env)
    checked = 0
    for uri, store in wrapped.items():
        inner_cls = type(store.unwrap())
        for name in _changed_methods(type(store)):
            if not hasattr(inner_cls, name):  # e.g. create_logged_model before MLflow 3
                continue
            theirs = inspect.signature(getattr(inner_cls, name)).parameters
            ours = inspect.signature(getattr(type(store), name)).parameters
            assert [(p.name, p.kind) for p in ours.values()] == [(p.name, p.kind) for p in theirs.values()], (
                uri,
                name,
            )
            for p in theirs.values():
                if p.default is not p.empty:
                    assert ours[p.name].default in (p.default, stores.INNER_DEFAULT), (uri, name, p.name)
            checked += 1
    assert checked >= 10


def test_a_logged_model_is_created_without_an_experiment_id_where_mlflows_store_allows_it(env):
    store = tracking_store.build_file(f"file://{env / 'mlruns'}")
    model = store.create_logged_model(name="m")
    assert model.experiment_id == "0"
    sql = tracking_store.build_sql(f"sqlite:///{env / 't.db'}", str(env / "artifacts"))
    with pytest.raises(TypeError, match="experiment_id"):
        sql.create_logged_model(name="m")  # as MLflow's SQL store itself answers


# --- mlflow server with a file registry ----------------------------------------------------------------------


def test_a_file_registry_server_logs_no_webhook_error_on_registry_events(tmp_path):
    server = start_mlflow_server(
        tmp_path / "server",
        backend=f"file://{tmp_path / 'server' / 'mlruns'}",
        env={"MLFLOW_ALLOW_FILE_STORE": "true"},
        timeout=240,
    )
    try:
        api = f"{server.url}/api/2.0/mlflow"
        for path, body in (
            ("registered-models/create", {"name": "m"}),
            ("model-versions/create", {"name": "m", "source": "s3://bucket/model"}),
            ("registered-models/set-tag", {"name": "m", "key": "k", "value": "v"}),
        ):
            r = requests.post(f"{api}/{path}", json=body, timeout=60)
            assert r.status_code == 200, r.text
        time.sleep(1)  # deliveries run on a thread pool
    finally:
        server.stop()
    log = server.log.read_text(errors="replace")
    assert "webhook" not in log.lower(), log[-3000:]
