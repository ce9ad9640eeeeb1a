"""Unity Catalog: MLflow's real ``UcModelRegistryStore`` (``databricks-uc`` registry URI), wrapped by
the plugin, talking to a local stand-in for the UC REST endpoints; the tracking store is real SQLite.

What is checked is what UC would reject: more than 50 tags, unsafe keys, values over 1,000
characters, and any ``run_link`` (MLflow's UC store itself refuses one before sending anything).
"""

from __future__ import annotations

import pytest
from fixtures import models
from fixtures.sqlite_store import sqlite_store
from fixtures.uc_server import TOKEN, UcStandIn

from mlflow_lineage_plugin import tags as T

COMMIT = "fedcba9876543210fedcba9876543210fedcba98"
RUN_TAGS = {
    T.MLFLOW_GIT_COMMIT: COMMIT,
    T.MLFLOW_GIT_BRANCH: "main",
    T.MLFLOW_GIT_REPO_URL: "https://github.com/acme/models",
    T.MLFLOW_GIT_DIRTY: "false",
    T.GIT_PATH: "train.py",
    T.MLFLOW_DATABRICKS_WORKSPACE_URL: "https://adb-11.azuredatabricks.net",
    T.MLFLOW_DATABRICKS_WORKSPACE_ID: "11",
    T.MLFLOW_DATABRICKS_NOTEBOOK_PATH: "/Repos/acme/models/train",
    T.MLFLOW_DATABRICKS_NOTEBOOK_ID: "77",
    # As the run provider writes it on Databricks (here it would otherwise name the SQLite store).
    T.WORKSPACE_URI: "https://adb-11.azuredatabricks.net/?o=11",
}
UC_KEY_FORBIDDEN = set(".,-=/:")


@pytest.fixture(scope="module")
def uc():
    server = UcStandIn().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def world(uc, tmp_path_factory):
    """A SQLite tracking store holding one run with a logged model (with a signature, as UC demands)."""
    import mlflow
    import mlflow.sklearn
    import numpy as np
    from mlflow.models import infer_signature
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from sklearn.linear_model import LinearRegression

    mp = pytest.MonkeyPatch()
    base = tmp_path_factory.mktemp("uc")
    db = sqlite_store(base / "mlflow.db")
    SqlAlchemyStore(db, str(base / "artifacts"))  # experiment 0 keeps its artifacts in the tmp dir
    mp.setenv("MLFLOW_TRACKING_URI", db)
    mp.setenv("DATABRICKS_HOST", uc.url)
    mp.setenv("DATABRICKS_TOKEN", TOKEN)
    mp.setenv("MLFLOW_USE_DATABRICKS_SDK_MODEL_ARTIFACTS_REPO_FOR_UC", "false")
    for name in ("MLFLOW_LINEAGE_DISABLE", "MLFLOW_LINEAGE_REQUIRE", "MLFLOW_REGISTRY_URI"):
        mp.delenv(name, raising=False)
    mlflow.set_tracking_uri(db)
    mlflow.set_registry_uri("databricks-uc")
    with mlflow.start_run(tags=RUN_TAGS) as run:
        X, y = np.array([[0.0], [1.0], [2.0]]), np.array([0.0, 1.0, 2.0])
        info = mlflow.sklearn.log_model(
            LinearRegression().fit(X, y), name="model", signature=infer_signature(X, y), **models.SKLEARN
        )
    artifacts = mlflow.MlflowClient(tracking_uri=db).get_logged_model(info.model_id).artifact_location
    yield {"db": db, "run": run, "info": info, "artifacts": artifacts}
    import mlflow.tracking._model_registry.utils as reg_utils

    reg_utils._registry_uri = None
    mlflow.set_tracking_uri(None)
    mp.undo()


def _uc_client(world):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=world["db"], registry_uri="databricks-uc")


def _assert_uc_safe(tags: list[dict]) -> None:
    assert len(tags) <= T.UC_MAX_TAGS
    for t in tags:
        assert not UC_KEY_FORBIDDEN & set(t["key"]), t["key"]
        assert len(t["key"]) <= T.UC_TAG_KEY_MAX
        assert len(t["value"]) <= T.UC_TAG_VALUE_MAX, t["key"]


def test_register_model_into_uc_gets_lineage_and_no_run_link(uc, world):
    import mlflow

    run, info = world["run"], world["info"]
    mv = mlflow.register_model(info.model_uri, "main.default.uc_model", tags={"team": "risk"})
    body = uc.creates()[-1]
    assert "run_link" not in body
    _assert_uc_safe(body["tags"])
    sent = {t["key"]: t["value"] for t in body["tags"]}
    rid = run.info.run_id
    assert sent["team"] == "risk"
    assert sent[T.RUN_ID] == rid
    assert sent[T.MODEL_ID] == info.model_id
    assert sent[T.GIT_COMMIT] == COMMIT
    assert sent[T.WORKSPACE_URI] == "https://adb-11.azuredatabricks.net/?o=11"
    assert sent[T.RUN_URL] == f"https://adb-11.azuredatabricks.net/?o=11#mlflow/experiments/0/runs/{rid}"
    assert sent[T.NOTEBOOK_ID] == "77"
    got = _uc_client(world).get_model_version("main.default.uc_model", mv.version)
    assert got.tags[T.GIT_COMMIT] == COMMIT and got.status == "READY"
    assert any(path.startswith("/upload/") for path in uc.uploads)  # the model files went up too


def test_uc_cap_counts_the_users_tags_and_keeps_the_most_important(uc, world):
    run = world["run"]
    user = {f"user_tag_{i}": str(i) for i in range(46)}
    client = _uc_client(world)
    client.create_registered_model("main.default.crowded")
    client.create_model_version("main.default.crowded", world["artifacts"], run.info.run_id, tags=user)
    body = uc.creates()[-1]
    _assert_uc_safe(body["tags"])
    keys = [t["key"] for t in body["tags"]]
    assert len(keys) == 50
    assert set(user) <= set(keys)
    assert [k for k in keys if k.startswith(T.PREFIX)] == [T.WORKSPACE_URI, T.RUN_ID, T.GIT_COMMIT, T.GIT_REPO_URL]


def test_uc_long_values_are_cut_or_dropped_never_rejected(uc, world):
    from mlflow import MlflowClient

    tracking = MlflowClient(tracking_uri=world["db"])
    long_run = tracking.create_run("0")
    long_path = "deep/" * 300 + "train.py"
    for k, v in {
        **RUN_TAGS,
        T.GIT_PATH: long_path,
        T.SOURCE_URL: "https://github.com/acme/models/blob/x/" + long_path,
    }.items():
        tracking.set_tag(long_run.info.run_id, k, v)
    client = _uc_client(world)
    client.create_registered_model("main.default.long")
    client.create_model_version("main.default.long", world["artifacts"], long_run.info.run_id)
    body = uc.creates()[-1]
    _assert_uc_safe(body["tags"])
    sent = {t["key"]: t["value"] for t in body["tags"]}
    assert sent[T.GIT_PATH].endswith("...") and long_path.startswith(sent[T.GIT_PATH][:-3])
    assert T.SOURCE_URL not in sent  # a cut URL would point somewhere wrong: dropped
    assert sent[T.GIT_COMMIT] == COMMIT


def test_the_stand_in_rejects_what_uc_rejects(uc, world):
    """The checks above mean something: the same store refuses a run_link and unsafe tags."""
    from mlflow.exceptions import MlflowException

    client = _uc_client(world)
    client.create_registered_model("main.default.bad")
    src, rid = world["artifacts"], world["run"].info.run_id
    with pytest.raises(MlflowException, match="run_link"):
        client.create_model_version("main.default.bad", src, rid, run_link="https://x/run")
    with pytest.raises(MlflowException, match="Invalid tag key"):
        client.create_model_version("main.default.bad", src, rid, tags={"mlflow.bad-key": "v"})
