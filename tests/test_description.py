"""A new model version's description: the lineage as one line of Markdown links, written by the
registry wrapper into the same create call as its tags, client-side (SQLite, REST), server-side
(`mlflow server`) and in Unity Catalog (the REST stand-in); the resolver's Markdown prints the same line.

Expected lines are spelled out here from the run's own values, never produced by the code under test.
"""

from __future__ import annotations

import concurrent.futures as cf

import pytest
import requests
from click.testing import CliRunner
from fixtures import models
from fixtures.mlflow_server import start_mlflow_server
from fixtures.sqlite_store import sqlite_store
from fixtures.uc_server import TOKEN, UcStandIn

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.resolve import markdown as M

COMMIT = "3f2a9c1d0e5b4a69788796a5b4c3d2e1f0a9b8c7"
REPO = "https://github.com/acme/churn"
FILE_URL = f"{REPO}/blob/{COMMIT}/src/train.py"
RUN_TAGS = {
    T.MLFLOW_GIT_COMMIT: COMMIT,
    T.MLFLOW_GIT_BRANCH: "main",
    T.MLFLOW_GIT_REPO_URL: REPO,
    T.MLFLOW_GIT_DIRTY: "false",
    T.GIT_PATH: "src/train.py",
    T.SOURCE_URL: FILE_URL,
    T.MLFLOW_RUN_NAME: "train-churn",
}
CODE = f"code [src/train.py @ 3f2a9c1]({FILE_URL}) on `main` in [acme/churn]({REPO})"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)


def version_tags(**over) -> dict[str, str]:
    run_id = "a" * 32
    tags = {
        T.SCHEMA: "1",
        T.WORKSPACE_URI: "http://127.0.0.1:5000",
        T.RUN_ID: run_id,
        T.EXPERIMENT_ID: "1",
        T.RUN_URL: f"http://127.0.0.1:5000/#/experiments/1/runs/{run_id}",
        T.GIT_COMMIT: COMMIT,
        T.GIT_REPO_URL: REPO,
        T.GIT_PATH: "src/train.py",
        T.GIT_DIRTY: "false",
        T.GIT_BRANCH: "main",
        T.SOURCE_URL: FILE_URL,
    }
    tags.update(over)
    return {k: v for k, v in tags.items() if v is not None}


# --- the renderer (pure) ----------------------------------------------------------------------------


def test_line_links_the_run_its_workspace_the_file_at_the_commit_and_the_repository():
    assert M.version_description(version_tags(), "train-churn") == (
        f"Trained by run [train-churn](http://127.0.0.1:5000/#/experiments/1/runs/{'a' * 32}) in "
        f"[127.0.0.1:5000](http://127.0.0.1:5000/) · {CODE} · uncommitted changes: none"
    )


def test_a_run_in_a_named_mlflow_workspace_links_that_workspace():
    run = f"http://127.0.0.1:5000/#/experiments/1/runs/{'a' * 32}?workspace=team-a"
    tags = version_tags(**{T.WORKSPACE_URI: "http://127.0.0.1:5000?workspace=team-a", T.RUN_URL: run})
    assert M.version_description(tags, "train-churn").startswith(
        f"Trained by run [train-churn]({run}) in "
        "[127.0.0.1:5000 (team-a)](http://127.0.0.1:5000/#/?workspace=team-a) · "
    )


def test_only_links_that_exist_are_drawn():
    # A local store has no web UI: no run page, no workspace link; the run is named by its id.
    tags = version_tags(**{T.WORKSPACE_URI: "sqlite:////data/mlflow.db", T.RUN_URL: None})
    assert M.version_description(tags) == (
        f"Trained by run aaaaaaaa in `sqlite:////data/mlflow.db` · {CODE} · uncommitted changes: none"
    )
    # A repository on local disk: no file link, no repository link.
    tags = version_tags(**{T.GIT_REPO_URL: "/srv/git/churn", T.SOURCE_URL: None})
    assert "code src/train.py @ 3f2a9c1 on `main` in `/srv/git/churn`" in M.version_description(tags)
    # No path recorded: the commit links to its own page.
    tags = version_tags(**{T.GIT_PATH: None, T.SOURCE_URL: None})
    assert f"code [3f2a9c1]({REPO}/commit/{COMMIT}) on `main`" in M.version_description(tags)
    assert M.version_description({T.SCHEMA: "1"}) == ""  # nothing known: no description at all


def test_a_run_that_was_not_read_is_named_by_its_id_and_no_more():
    run_only = {T.SCHEMA: "1", T.RUN_ID: "a" * 32, T.WORKSPACE_URI: "http://127.0.0.1:5000", T.RUN_URL: "http://x/r"}
    assert M.version_description(run_only, run_unread=M.RUN_NOT_READ) == (
        f"Registered from run `{'a' * 32}` (not read from [127.0.0.1:5000](http://127.0.0.1:5000/))"
    )
    assert M.version_description({T.SCHEMA: "1", T.RUN_ID: "r`1"}, run_unread=M.RUN_NOT_FOUND) == (
        "Registered from run ``r`1`` (not found)"
    )
    # A model logged outside any run: the LoggedModel names it.
    tags = version_tags(**{T.RUN_ID: None, T.RUN_URL: None, T.MODEL_ID: "m-" + "0f" * 16})
    assert M.version_description(tags).startswith(f"Logged as model `m-{'0f' * 16}` in [127.0.0.1:5000](")


def test_uncommitted_changes_none_not_captured_captured_or_unknown():
    def changes(**over) -> str:
        return M.version_description(version_tags(**over)).rsplit("uncommitted changes: ", 1)[1]

    assert changes() == "none"
    assert changes(**{T.GIT_DIRTY: "true"}) == "not captured"
    assert changes(**{T.GIT_DIRTY: "true", T.GIT_DIFF: "too_large"}) == "not captured"
    assert changes(**{T.GIT_DIRTY: "true", T.GIT_DIFF: "captured", T.GIT_DIFF_FILES: "3"}) == "captured (3 files)"
    assert changes(**{T.GIT_DIRTY: "unknown"}) == "unknown"


def test_databricks_workspace_and_notebook_links():
    ws = "https://adb-11.azuredatabricks.net/?o=11"
    tags = version_tags(
        **{
            T.WORKSPACE_URI: ws,
            T.RUN_URL: f"{ws}#mlflow/experiments/7/runs/r1",
            T.GIT_PATH: None,
            T.SOURCE_URL: None,
            T.NOTEBOOK_PATH: "/Users/me/train",
            T.NOTEBOOK_ID: "77",
            T.NOTEBOOK_REVISION_ID: "1700000000000",
        }
    )
    line = M.version_description(tags, "nightly")
    assert line.startswith(
        f"Trained by run [nightly]({ws}#mlflow/experiments/7/runs/r1) in [adb-11.azuredatabricks.net]({ws}) · "
    )
    assert f"code [/Users/me/train @ 3f2a9c1]({ws}#notebook/77/revision/1700000000000)" in line


def test_no_credential_and_no_unsafe_link_even_from_tags_the_user_set():
    tags = version_tags(
        **{
            T.GIT_REPO_URL: "https://bob:ghp_s3cret@github.com/acme/churn.git",
            T.SOURCE_URL: "javascript:alert(document.cookie)",
            T.RUN_URL: "https://alice:pw123@mlflow.example.com/#/experiments/1/runs/r",
            T.WORKSPACE_URI: "https://carol:tok456@mlflow.example.com",
        }
    )
    line = M.version_description(tags, "r")
    for secret in ("ghp_s3cret", "bob", "pw123", "alice", "tok456", "carol", "javascript"):
        assert secret not in line
    assert "[r](https://mlflow.example.com/#/experiments/1/runs/r)" in line
    assert f"in [acme/churn]({REPO})" in line
    assert "code src/train.py @ 3f2a9c1 on" in line  # the unsafe file link became plain text


def test_names_cannot_inject_markup_or_links():
    tags = version_tags(**{T.GIT_BRANCH: "we`ird", T.GIT_PATH: "a](javascript:x)<b>*.py"})
    line = M.version_description(tags, "run](https://evil.example) <img src=x>")
    assert "<img" not in line and "<b>" not in line
    assert r"[run\]\(https&#58;//evil\.example\) &lt;img src=x&gt;](http://127.0.0.1:5000/" in line
    assert r"code [a\]\(javascript:x\)&lt;b&gt;\*.py @ 3f2a9c1](https://github.com/" in line
    assert "on ``we`ird`` in" in line


def test_unity_catalog_limit_gives_up_links_before_text():
    long_path = "deep/" * 150 + "train.py"
    tags = version_tags(**{T.GIT_PATH: long_path, T.SOURCE_URL: f"{REPO}/blob/{COMMIT}/{long_path}"})
    full = M.version_description(tags, "train-churn")
    assert len(full) > M.UC_DESCRIPTION_MAX
    uc = M.version_description(tags, "train-churn", unity_catalog=True)
    assert len(uc) <= M.UC_DESCRIPTION_MAX
    assert uc.startswith("Trained by run [train-churn](http://127.0.0.1:5000/#/experiments/1/runs/")
    assert uc.endswith("uncommitted changes: none") and "…" in uc


# --- client-side: SQLite ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    path = tmp_path_factory.mktemp("describe") / "mlflow.db"
    uri = sqlite_store(path)
    SqlAlchemyStore(uri, str(path.parent / "artifacts"))
    return uri


def _run(client, tags=RUN_TAGS):
    run = client.create_run("0")
    for k, v in tags.items():
        client.set_tag(run.info.run_id, k, v)
    return run


def test_sqlite_version_gets_the_line_as_its_description(db):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=db, registry_uri=db)
    run = _run(client)
    client.create_registered_model("desc_sqlite")
    mv = client.create_model_version("desc_sqlite", "s3://b/m", run.info.run_id)
    got = client.get_model_version("desc_sqlite", mv.version).description
    assert got == f"Trained by run train-churn in `{db}` · {CODE} · uncommitted changes: none"
    dirty = _run(client, {**RUN_TAGS, T.MLFLOW_GIT_DIRTY: "true"})
    mv = client.create_model_version("desc_sqlite", "s3://b/m", dirty.info.run_id)
    assert client.get_model_version("desc_sqlite", mv.version).description.endswith("uncommitted changes: not captured")


def test_file_registry_store_takes_it_too(db, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    # MLflow's file registry reads a version's LoggedModel through the global tracking URI, not the client's.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", db)
    client = MlflowClient(tracking_uri=db, registry_uri=f"file://{tmp_path / 'registry'}")
    run = _run(client)
    client.create_registered_model("desc_file")
    mv = client.create_model_version("desc_file", "s3://b/m", run.info.run_id)
    assert client.get_model_version("desc_file", mv.version).description == (
        f"Trained by run train-churn in `{db}` · {CODE} · uncommitted changes: none"
    )


def test_the_callers_description_wins_and_the_setting_turns_it_off(db, monkeypatch):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=db, registry_uri=db)
    run = _run(client)
    client.create_registered_model("desc_wins")
    mv = client.create_model_version("desc_wins", "s3://b/m", run.info.run_id, description="Nightly retrain.")
    assert client.get_model_version("desc_wins", mv.version).description == "Nightly retrain."
    monkeypatch.setenv("MLFLOW_LINEAGE_DESCRIPTION", "false")
    mv = client.create_model_version("desc_wins", "s3://b/m", run.info.run_id)
    got = client.get_model_version("desc_wins", mv.version)
    assert not got.description and got.tags[T.GIT_COMMIT] == COMMIT  # the tags are still written


def test_resolver_markdown_prints_the_same_line(db, monkeypatch):
    from mlflow import MlflowClient

    from mlflow_lineage_plugin.cli import main

    client = MlflowClient(tracking_uri=db, registry_uri=db)
    run = _run(client)
    client.create_registered_model("desc_resolve")
    mv = client.create_model_version("desc_resolve", "s3://b/m", run.info.run_id)
    line = client.get_model_version("desc_resolve", mv.version).description
    res = CliRunner().invoke(
        main,
        [
            "show",
            f"models:/desc_resolve/{mv.version}",
            "--format",
            "markdown",
            "--tracking-uri",
            db,
            "--registry-uri",
            db,
        ],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    assert f"- desc\\_resolve version {mv.version}: {line}\n" in res.output
    assert "```mermaid\nflowchart LR" in res.output


# --- mlflow server: server-side, and client-side over REST in the same create call ----------------------


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    base = tmp_path_factory.mktemp("describe-servers")
    with cf.ThreadPoolExecutor(2) as pool:
        with_plugin = pool.submit(start_mlflow_server, base / "with", timeout=240)
        without = pool.submit(start_mlflow_server, base / "without", plugin=False, timeout=240)
        started = {"with": with_plugin.result(), "without": without.result()}
    yield started
    for s in started.values():
        s.stop()


def _api(url: str, path: str, method: str = "POST", **body) -> dict:
    full = f"{url}/api/2.0/mlflow/{path}"
    r = requests.get(full, params=body, timeout=30) if method == "GET" else requests.post(full, json=body, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_server_describes_versions_created_by_plain_clients(servers):
    url = servers["with"].url
    run = _api(url, "runs/create", experiment_id="0")["run"]["info"]
    for k, v in RUN_TAGS.items():
        _api(url, "runs/set-tag", run_id=run["run_id"], key=k, value=v)
    _api(url, "registered-models/create", name="desc_server")
    mv = _api(url, "model-versions/create", name="desc_server", source="s3://b/m", run_id=run["run_id"])
    got = _api(url, "model-versions/get", "GET", name="desc_server", version=mv["model_version"]["version"])
    assert got["model_version"]["description"] == (
        f"Trained by run [train-churn]({url}/#/experiments/0/runs/{run['run_id']}) in "
        f"[{url.split('://')[1]}]({url}/) · {CODE} · uncommitted changes: none"
    )
    mv = _api(
        url,
        "model-versions/create",
        name="desc_server",
        source="s3://b/m",
        run_id=run["run_id"],
        description="Promoted by hand.",
    )
    assert mv["model_version"]["description"] == "Promoted by hand."


def test_client_over_rest_sends_it_in_the_create_call_no_extra_request(servers, monkeypatch):
    from mlflow import MlflowClient

    server = servers["without"]  # the plugin only in this client
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    run = _run(client)
    client.create_registered_model("desc_rest")
    counts = {}
    for setting in ("false", "true", "false", "true"):
        monkeypatch.setenv("MLFLOW_LINEAGE_DESCRIPTION", setting)
        before = server.request_count()
        mv = client.create_model_version("desc_rest", "s3://b/m", run.info.run_id)
        counts.setdefault(setting, set()).add(server.request_count() - before)
        got = client.get_model_version("desc_rest", mv.version).description
        assert bool(got) is (setting == "true")
    assert counts["true"] == counts["false"] == {2}  # the run read and the create call, nothing more
    assert got == (
        f"Trained by run [train-churn]({server.url}/#/experiments/0/runs/{run.info.run_id}) in "
        f"[{server.url.split('://')[1]}]({server.url}/) · {CODE} · uncommitted changes: none"
    )


def test_a_plugin_client_decides_the_description_a_plugin_server_writes(servers, monkeypatch):
    """Issue 23 item 2: the server has the plugin (descriptions on), so has the client; the client's
    MLFLOW_LINEAGE_DESCRIPTION decides, in both directions."""
    from mlflow import MlflowClient

    server = servers["with"]
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    run = _run(client)
    client.create_registered_model("desc_decides")
    for setting in ("false", "true", "off"):
        monkeypatch.setenv("MLFLOW_LINEAGE_DESCRIPTION", setting)
        mv = client.create_model_version("desc_decides", "s3://b/m", run.info.run_id)
        got = client.get_model_version("desc_decides", mv.version)
        assert got.tags[T.RUN_ID] == run.info.run_id  # the lineage tags are there either way
        assert bool(got.description) is (setting == "true"), (setting, got.description)


# --- Unity Catalog (REST stand-in) ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def uc_world(tmp_path_factory):
    """A SQLite tracking store with one Databricks-like run and a logged model with a signature."""
    import mlflow
    import mlflow.sklearn
    import numpy as np
    from mlflow.models import infer_signature
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from sklearn.linear_model import LinearRegression

    uc = UcStandIn().start()
    mp = pytest.MonkeyPatch()
    base = tmp_path_factory.mktemp("describe-uc")
    db = sqlite_store(base / "mlflow.db")
    SqlAlchemyStore(db, str(base / "artifacts"))
    mp.setenv("MLFLOW_TRACKING_URI", db)
    mp.setenv("DATABRICKS_HOST", uc.url)
    mp.setenv("DATABRICKS_TOKEN", TOKEN)
    mp.setenv("MLFLOW_USE_DATABRICKS_SDK_MODEL_ARTIFACTS_REPO_FOR_UC", "false")
    mlflow.set_tracking_uri(db)
    mlflow.set_registry_uri("databricks-uc")
    ws = "https://adb-11.azuredatabricks.net/?o=11"
    with mlflow.start_run(tags={**RUN_TAGS, T.WORKSPACE_URI: ws}) as run:
        X, y = np.array([[0.0], [1.0], [2.0]]), np.array([0.0, 1.0, 2.0])
        info = mlflow.sklearn.log_model(
            LinearRegression().fit(X, y), name="model", signature=infer_signature(X, y), **models.SKLEARN
        )
    yield {"uc": uc, "db": db, "run": run, "info": info, "ws": ws}
    import mlflow.tracking._model_registry.utils as reg_utils

    reg_utils._registry_uri = None
    mlflow.set_tracking_uri(None)
    mp.undo()
    uc.stop()


def test_unity_catalog_gets_the_line_in_the_create_request(uc_world):
    import mlflow

    uc, ws, rid = uc_world["uc"], uc_world["ws"], uc_world["run"].info.run_id
    mlflow.register_model(uc_world["info"].model_uri, "main.default.described")
    body = uc.creates()[-1]
    assert body["description"] == (
        f"Trained by run [train-churn]({ws}#mlflow/experiments/0/runs/{rid}) in "
        f"[adb-11.azuredatabricks.net]({ws}) · {CODE} · uncommitted changes: none"
    )
    assert len(body["description"]) <= M.UC_DESCRIPTION_MAX
    paths = [r.path for r in uc.requests if r.path.startswith("/api/") and "model-versions" in r.path]
    assert not [p for p in paths if p.endswith("/update")]  # no second call to set it


def test_unity_catalog_keeps_the_callers_description(uc_world):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uc_world["db"], registry_uri="databricks-uc")
    client.create_registered_model("main.default.described_by_hand")
    artifacts = client.get_logged_model(uc_world["info"].model_id).artifact_location
    client.create_model_version(
        "main.default.described_by_hand", artifacts, uc_world["run"].info.run_id, description="Approved for staging."
    )
    assert uc_world["uc"].creates()[-1]["description"] == "Approved for staging."


@pytest.mark.parametrize(
    ("name", "written"),
    [
        ("see http://evil.example/x", r"see http&#58;//evil\.example/x"),
        ("HTTPS://Evil.Example", r"HTTPS&#58;//Evil\.Example"),
        ("www.evil.example", r"www\.evil\.example"),
        ("ftp.evil.example", r"ftp\.evil\.example"),
        ("mailto:m@evil.example", r"mailto&#58;m@evil\.example"),
        ("m@evil.example", r"m@evil\.example"),
        ("hi @mallory", r"hi \@mallory"),
        ("@mallory", r"\@mallory"),
        ("fix #123", r"fix \#123"),
        ("nice :smile: run", r"nice &#58;smile&#58; run"),
        ("~~gone~~", r"\~\~gone\~\~"),
        ("src/train.py @ 1a2b3c4", "src/train.py @ 1a2b3c4"),  # nothing that links: written as is
        ("127.0.0.1:5000", "127.0.0.1:5000"),
    ],
)
def test_text_defeats_every_autolink_shape_and_reads_as_given(name, written):
    """What GitHub-flavoured renderers (MLflow's UI: showdown, GitHub flavour) link, mention or turn into an
    emoji on their own; each escape is one both renderers undo, so the text reads as given."""
    assert M.text(name) == written
