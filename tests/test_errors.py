"""``errors``: every exception leaves the process as one line without credentials, and a failure is
classified (no answer, refused, server error, not found) the same way everywhere."""

from __future__ import annotations

import pytest

from mlflow_lineage_plugin import errors as E


def test_one_line_without_userinfo():
    line = E.error_line(RuntimeError("cannot reach https://bob:s3cret@host:5000/api?token=t0k\nsecond line"))
    assert line == "RuntimeError: cannot reach https://host:5000/api"


def test_redaction_comes_before_the_cut():
    """Cut first, a URL split inside its userinfo would no longer look like one and keep its user."""
    exc = RuntimeError("x" * 280 + " https://bob-the-user:s3cret-password@host/")
    for limit in range(281, 320):
        line = E.message_line(exc, limit=limit)
        assert "bob" not in line and "s3cret" not in line, limit


def test_the_callers_secret_and_the_sdks_settings_dump_are_dropped():
    exc = ValueError(
        "default auth: cannot configure default credentials tok-123. Config: host=https://h, token=***, profile=p"
    )
    assert E.error_line(exc) == "ValueError: default auth: cannot configure default credentials tok-123"
    assert E.error_line(exc, secret="tok-123") == "ValueError: default auth: cannot configure default credentials ***"
    assert len(E.error_line(RuntimeError("y" * 500), limit=200)) == len("RuntimeError: ") + 200


def test_an_empty_message_is_the_type():
    assert E.error_line(TimeoutError()) == "TimeoutError"
    assert E.describe_error(KeyError()) == "KeyError"


@pytest.mark.parametrize(
    "text, says",
    [
        ("HTTPConnectionPool: Read timed out. (read timeout=3)", "no answer within 3 s"),
        ("Failed to establish a new connection: [Errno 111] Connection refused", "connection refused"),
        ("[Errno -2] Name or service not known", "host name does not resolve"),
        (
            "API request to endpoint /x failed with error code 503 != 200",
            "the server answered with an error (HTTP 503)",
        ),
        ("API request failed with error code 403 != 200. Response body: 'denied'", "credentials refused (HTTP 403)"),
        ("INVALID_PARAMETER_VALUE: bad https://u:p@h/x", "INVALID_PARAMETER_VALUE: bad https://h/x"),
        # databricks-sdk's errors end with its settings: their timeouts are no timeout of the request
        (
            "Invalid access token. Config: host=http://h, token=***, profile=uc, auth_type=pat, "
            "http_timeout_seconds=5.0, retry_timeout_seconds=5",
            "credentials refused",
        ),
        ("Model version not found. Config: host=http://h, http_timeout_seconds=5.0", "Model version not found"),
    ],
)
def test_describe_error(text, says):
    assert E.describe_error(RuntimeError(text), timeout=3) == says


def test_mlflows_unsupported_uri_is_one_sentence():
    from mlflow.tracking.registry import UnsupportedModelRegistryStoreURIException

    exc = UnsupportedModelRegistryStoreURIException("htp://u:pw@h", ["", "file", "sqlite", "http"])
    assert E.describe_error(exc) == "unsupported URI scheme 'htp' in htp://h; MLflow supports file, sqlite, http"
    assert E.unsupported_scheme(RuntimeError("unsupported URI 'x'")) is None


def test_not_found_and_unreachable():
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST

    gone = MlflowException("Run 'x' not found", error_code=RESOURCE_DOES_NOT_EXIST)
    assert E.is_not_found(gone) and not E.is_unreachable(gone)
    assert E.is_unreachable(RuntimeError("Connection refused"))
    assert not E.is_unreachable(RuntimeError("error code 500 != 200"))
    assert not E.is_unreachable(MlflowException("bad", error_code=INVALID_PARAMETER_VALUE))


def test_not_found_is_one_answer_for_every_caller(sqlite_uri):
    """The cases where the four copies this predicate replaced disagreed: the registration's reader (code
    ``RESOURCE_DOES_NOT_EXIST`` only), the resolver's registry reads (any "not found" in the text), its
    MLmodel reads (also "does not exist" and "no such file" anywhere) and this module's own (a 404 in
    words). Each exception below is what MLflow, a server or a store really raises."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException, RestException
    from mlflow.protos.databricks_pb2 import ENDPOINT_NOT_FOUND, INTERNAL_ERROR

    client = MlflowClient()
    client.create_registered_model("m")
    with pytest.raises(MlflowException) as alias:  # MLflow's stores: INVALID_PARAMETER_VALUE, "... not found."
        client.get_model_version_by_alias("m", "nope")
    assert alias.value.error_code == "INVALID_PARAMETER_VALUE"
    assert E.is_not_found(alias.value)  # the registration's reader and this module said no
    assert E.is_not_found(RestException({"error_code": "NOT_FOUND", "message": "not here"}))  # Databricks, UC
    html_404 = (  # what MLflow's REST client raises for a server without the API: the question was not answered
        "API request to endpoint /api/2.0/mlflow/logged-models/m-1 failed with error code 404 != 200. "
        "Response body: '<!doctype html>\n<title>404 Not Found</title>\n<h1>Not Found</h1>'"
    )
    assert not E.is_not_found(MlflowException(html_404, error_code=ENDPOINT_NOT_FOUND))  # this module said yes
    # a store that cannot be opened is no missing run (the MLmodel reads said yes: "does not exist")
    assert not E.is_not_found(RuntimeError('(psycopg2.OperationalError) FATAL:  database "mlflow" does not exist'))
    assert not E.is_not_found(MlflowException("Parameter 'version' is bad"))
    assert E.is_not_found(FileNotFoundError(2, "No such file or directory"))
    listed = "The following failures occurred while downloading one or more artifacts from s3://b/m:\n"
    assert E.is_not_found(
        MlflowException(f"{listed}##### File MLmodel #####\nThe specified blob does not exist.", INTERNAL_ERROR)
    )
    assert not E.is_not_found(MlflowException(f"{listed}##### File MLmodel #####\nRead timed out.", INTERNAL_ERROR))
    assert E.is_not_found(RuntimeError("404 Client Error: NOT FOUND for url: http://h/api/2.0/mlflow-artifacts/x"))
