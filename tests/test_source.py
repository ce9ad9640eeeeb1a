"""``source``: the pure reading of a model version's source (model id from a source URI, workspace from
tags, the merged ``SourceRun``) and the bounded fetch around a reader."""

from __future__ import annotations

import threading

import pytest

from mlflow_lineage_plugin import source as S
from mlflow_lineage_plugin import source_readers as SR
from mlflow_lineage_plugin import tags as T

MID = "m-" + "0123456789abcdef" * 2
COMMIT = "c" * 40


@pytest.mark.parametrize(
    "src, mid",
    [
        (f"models:/{MID}", MID),
        (f" models:/{MID}/ ", MID),
        (f"models:/{MID}/sub/path", MID),
        (f"s3://bucket/1/models/{MID}/artifacts", MID),
        (f"file:///mlruns/1/models/{MID}/artifacts/", MID),
        (f"s3://bucket/1/models/{MID}/artifacts/extra", None),
        ("models:/my-model/3", None),
        ("models:/m-XYZ", None),
        ("runs:/abc/model", None),
        ("", None),
        (None, None),
    ],
)
def test_model_id_from_source(src, mid):
    assert S.model_id_from_source(src) == mid


def test_tag_dict_reads_every_shape_mlflow_hands_tags_over_in():
    """The one reading of tags, for the registry wrapper (client entities; protobufs inside ``mlflow
    server``), backfill (a version's dict) and the REST readers (a JSON list): the same dict from each."""
    from mlflow.entities import RunTag
    from mlflow.entities.model_registry import ModelVersion, ModelVersionTag

    want = {"a": "1", T.GIT_COMMIT: COMMIT}
    entities = [ModelVersionTag("a", "1"), ModelVersionTag(T.GIT_COMMIT, COMMIT)]
    assert S.tag_dict(entities) == want
    assert S.tag_dict([t.to_proto() for t in entities]) == want  # what the server hands its store
    assert S.tag_dict([RunTag("a", "1"), RunTag(T.GIT_COMMIT, COMMIT)]) == want
    assert S.tag_dict(ModelVersion("m", "1", 0, tags=entities).tags) == want  # the entity's own dict
    assert S.tag_dict([{"key": "a", "value": "1"}, {"key": T.GIT_COMMIT, "value": COMMIT}]) == want  # REST
    assert S.tag_dict({"n": 3}) == {"n": "3"} and S.tag_dict([{"key": "k"}]) == {"k": ""}
    assert S.tag_dict(None) == {} and S.tag_dict([]) == {}
    assert S.tag_dict([ModelVersionTag("a", "1"), ModelVersionTag("a", "2")]) == {"a": "2"}  # as the SQL store


def test_workspace_from_tags_ours_first_then_databricks():
    assert (
        S.workspace_uri_from_tags(
            {T.WORKSPACE_URI: "http://h:5000", T.MLFLOW_DATABRICKS_WORKSPACE_URL: "adb-1.azuredatabricks.net"}
        )
        == "http://h:5000"
    )
    assert (
        S.workspace_uri_from_tags(
            {T.MLFLOW_DATABRICKS_WORKSPACE_URL: "adb-1.azuredatabricks.net", T.MLFLOW_DATABRICKS_WORKSPACE_ID: "1"}
        )
        == "https://adb-1.azuredatabricks.net/?o=1"
    )
    assert S.workspace_uri_from_tags({}) is None


def test_source_run_prefers_the_runs_tags_over_the_logged_models():
    run = S.RunFacts("r1", "5", {T.MLFLOW_GIT_COMMIT: COMMIT, T.WORKSPACE_URI: "http://run:5000"})
    model = S.ModelFacts(MID, "6", "r1", {T.MLFLOW_GIT_COMMIT: "d" * 40, T.MLFLOW_GIT_BRANCH: "main"})
    src = S.source_run(run_id=None, model_id=None, run=run, model=model, fallback_workspace_uri="http://client")
    assert (src.run_id, src.model_id, src.experiment_id) == ("r1", MID, "5")
    assert src.git.commit == COMMIT and src.git.branch == "main"
    assert src.workspace_uri == "http://run:5000"
    assert src.run_url == "http://run:5000/#/experiments/5/runs/r1"


def test_source_run_of_a_model_outside_any_run_and_of_nothing():
    model = S.ModelFacts(MID, "6", None, {T.MLFLOW_GIT_COMMIT: COMMIT})
    src = S.source_run(run_id=None, model_id=None, model=model, fallback_workspace_uri="sqlite:////x.db")
    assert (src.run_id, src.model_id, src.experiment_id, src.workspace_uri) == (None, MID, "6", "sqlite:////x.db")
    assert src.run_url is None and src.git.commit == COMMIT
    assert S.source_run(run_id=None, model_id=None) == T.SourceRun()


class _Reader:
    def __init__(self, fail: bool = False, hang: threading.Event | None = None):
        self.fail, self.hang = fail, hang

    def get_run(self, run_id):
        if self.hang is not None:
            self.hang.wait(30)
        if self.fail:
            raise RuntimeError("cannot reach https://bob:s3cret@h:5000/api")
        return S.RunFacts(run_id, "1", {})

    def get_logged_model(self, model_id):
        return S.ModelFacts(model_id, "1", "r9", {})


def test_fetch_reads_the_logged_models_run():
    got = SR.fetch(_Reader, run_id=None, model_id=MID, timeout=10)
    assert got.model.model_id == MID and got.run.run_id == "r9" and got.problems == ()


def test_fetch_problems_are_one_credential_free_line():
    got = SR.fetch(lambda: _Reader(fail=True), run_id="r1", model_id=None, timeout=10)
    assert got.run is None
    [problem] = got.problems
    assert problem.startswith("run r1 could not be read (RuntimeError: cannot reach https://h:5000/api")
    assert "s3cret" not in problem


def test_fetch_is_bounded():
    hang = threading.Event()
    try:
        got = SR.fetch(lambda: _Reader(hang=hang), run_id="r1", model_id=None, timeout=0.2)
    finally:
        hang.set()
    assert got.problems == ("run r1 not read within 0.2s",)


def test_a_server_that_never_answers_reads_as_the_deadline_whichever_bound_fires_first():
    """The REST reader's socket timeout and the caller's deadline are the same number in a registration, so
    either may fire first; the user reads the same line. Here only the socket's can (0.2 s against 5 s), on a
    real listener that accepts and never answers."""
    import socket

    from mlflow.utils.rest_utils import MlflowHostCreds

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        creds = MlflowHostCreds(f"http://127.0.0.1:{sock.getsockname()[1]}")
        got = SR.fetch(lambda: SR.RestReader(creds, 0.2), run_id="r1", model_id=None, timeout=5)
    assert got.problems == ("run r1 not read within 5s",) and got.run is None and not got.missing


def test_fetch_of_nothing_reads_nothing():
    assert SR.fetch(lambda: pytest.fail("no reader wanted"), run_id=None, model_id=None, timeout=1) == SR.Fetched()


def test_a_server_that_says_not_found_and_one_without_the_api():
    """Over REST the reader's "missing" is ``errors.is_not_found``'s answer: Databricks' and Unity Catalog's
    ``NOT_FOUND`` is a missing run (the reader's own copy knew only ``RESOURCE_DOES_NOT_EXIST``), while a
    server without the LoggedModel API (an HTML 404) has not said the model is missing."""
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from mlflow.utils.credentials import get_default_host_creds

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith("/api/2.0/mlflow/runs/get"):
                body, kind = json.dumps({"error_code": "NOT_FOUND", "message": "Run not here"}), "application/json"
            else:
                body, kind = "<!doctype html>\n<title>404 Not Found</title>\n<h1>Not Found</h1>", "text/html"
            self.send_response(404)
            self.send_header("Content-Type", kind)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        creds = get_default_host_creds(f"http://127.0.0.1:{server.server_address[1]}")
        run = SR.fetch(lambda: SR.RestReader(creds, 5), run_id="r1", model_id=None, timeout=10)
        model = SR.fetch(lambda: SR.RestReader(creds, 5), run_id=None, model_id=MID, timeout=10)
    finally:
        server.shutdown()
        server.server_close()
    assert run.missing and run.problems
    assert not model.missing and model.problems
