"""``workspace``: the pure functions that write, read and print workspace URIs. No I/O, no MLflow, no
databricks-sdk: the module imports neither (the look-ups live in ``tracking_workspace``/``databricks``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mlflow_lineage_plugin import workspace as W


def imported(path: str) -> set[str]:
    """Every module a source file imports, anywhere in it (``from a import b`` counts as ``a.b``)."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    out = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    out |= {f"{n.module}.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    return out


def test_imports_no_io_module():
    io = (
        "mlflow.",
        "databricks.",
        "requests.",
        "mlflow_lineage_plugin.databricks.",
        "mlflow_lineage_plugin.tracking_workspace.",
    )
    assert not {m for m in imported(W.__file__) if (m + ".").startswith(io)}


@pytest.mark.parametrize(
    "host, ws_id, uri",
    [
        ("adb-1.azuredatabricks.net", "1", "https://adb-1.azuredatabricks.net/?o=1"),
        ("https://adb-1.azuredatabricks.net/", 1, "https://adb-1.azuredatabricks.net/?o=1"),
        ("https://u:tok@dbc-a.cloud.databricks.com", None, "https://dbc-a.cloud.databricks.com/"),
        ("https://dbc-a.cloud.databricks.com", "0", "https://dbc-a.cloud.databricks.com/"),
    ],
)
def test_databricks_workspace_uri(host, ws_id, uri):
    assert W.databricks_workspace_uri(host, ws_id) == uri


def test_oss_workspace_uri_is_absolute_and_credential_free(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert W.oss_workspace_uri("sqlite:///x.db") == f"sqlite:///{tmp_path / 'x.db'}"
    assert W.oss_workspace_uri("sqlite:////abs/x.db") == "sqlite:////abs/x.db"
    assert W.oss_workspace_uri("sqlite:////abs/sub/../x.db") == "sqlite:////abs/x.db"
    assert W.oss_workspace_uri("sqlite:///sub/./../x.db") == f"sqlite:///{tmp_path / 'x.db'}"
    assert W.oss_workspace_uri("mlruns") == f"file://{tmp_path / 'mlruns'}"
    assert W.oss_workspace_uri("https://bob:pw@mlflow.example.com/") == "https://mlflow.example.com"
    assert W.oss_workspace_uri("http://h:5000", "team a") == "http://h:5000?workspace=team%20a"
    assert W.oss_workspace_uri("http://h:5000", W.DEFAULT_WORKSPACE_NAME) == "http://h:5000"


@pytest.mark.parametrize(
    "uri, kind, base, ws_id, name",
    [
        ("https://adb-1.azuredatabricks.net/?o=1", "databricks", "https://adb-1.azuredatabricks.net", "1", None),
        ("https://dbc-a.cloud.databricks.com/", "databricks", "https://dbc-a.cloud.databricks.com", None, None),
        ("http://127.0.0.1:5000", "http", "http://127.0.0.1:5000", None, None),
        ("http://h:5000?workspace=team", "http", "http://h:5000", None, "team"),
        ("sqlite:////tmp/x.db", "sqlite", "sqlite:////tmp/x.db", None, None),
        ("file:///tmp/mlruns", "file", "file:///tmp/mlruns", None, None),
        ("postgresql://db:5432/mlflow", "sql", "postgresql://db:5432/mlflow", None, None),
        ("mysql+pymysql://db/mlflow", "sql", "mysql+pymysql://db/mlflow", None, None),
        ("somewhere else", "unknown", "somewhere else", None, None),
    ],
)
def test_parse_workspace_uri(uri, kind, base, ws_id, name):
    assert W.parse_workspace_uri(uri) == W.ParsedWorkspaceUri(kind, base, workspace_id=ws_id, name=name)


def test_run_page_url_only_where_there_is_a_web_ui():
    assert (
        W.run_page_url("https://adb-1.azuredatabricks.net/?o=1", "5", "r")
        == "https://adb-1.azuredatabricks.net/?o=1#mlflow/experiments/5/runs/r"
    )
    assert (
        W.run_page_url("http://h:5000?workspace=a b", "5", "r")
        == "http://h:5000/#/experiments/5/runs/r?workspace=a%20b"
    )
    assert W.run_page_url("sqlite:////tmp/x.db", "5", "r") is None
    assert W.run_page_url("http://h:5000", None, "r") is None


def test_databricks_uri_and_profile():
    assert W.is_databricks_uri("databricks") and W.is_databricks_uri("databricks://p")
    assert W.is_databricks_uri("databricks-uc://p") and W.is_databricks_uri("uc")
    assert not W.is_databricks_uri("http://h") and not W.is_databricks_uri(None)
    assert W.databricks_profile("databricks://prod:prefix") == "prod"
    assert W.databricks_profile("databricks") is None and W.databricks_profile("databricks://") is None


def test_canonical_and_show_workspace():
    assert W.canonical("HTTPS://ADB-1.azuredatabricks.net/?o=1") == "https://adb-1.azuredatabricks.net/?o=1"
    assert W.canonical("http://H:5000/") == "http://h:5000"
    assert W.canonical("file:///") == "file:///"
    assert W.show_workspace("https://u:pw@h.example.com/?o=7&token=s3cret") == "https://h.example.com/?o=7"
    assert W.show_workspace("http://h:5000?workspace=team&sig=x") == "http://h:5000?workspace=team"
    assert W.show_workspace(None) is None


def test_base_url():
    assert W.base_url("https://adb-1.azuredatabricks.net/?o=1") == "https://adb-1.azuredatabricks.net"
    assert W.base_url("http://[::1]:5000/prefix") == "http://[::1]:5000"
    assert W.base_url("sqlite:////tmp/x.db") is None


@pytest.mark.parametrize(
    "uri, uc",
    [
        ("databricks-uc", True),
        ("databricks-uc://prof", True),
        ("DATABRICKS-UC://prof", True),  # MLflow reads a scheme in any case
        ("uc:http://127.0.0.1:8080", True),  # open-source Unity Catalog
        ("uc", True),
        ("databricks", False),
        ("databricks://prof", False),
        ("http://127.0.0.1:5000", False),
        ("sqlite:////tmp/x.db", False),
        ("/data/mlruns", False),
        ("", False),
        (None, False),
    ],
)
def test_unity_catalog_uri_as_mlflow_picks_its_store(uri, uc):
    assert W.is_unity_catalog_uri(uri) is uc
    # Databricks' own (which records a version's run workspace), not the open-source one
    assert W.is_databricks_unity_catalog_uri(uri) is (uc and "databricks" in (uri or "").lower())


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://adb-1.2.azuredatabricks.net", True),
        ("https://ADB-1.2.AzureDatabricks.NET:443/", True),
        ("https://dbc-a1b2.cloud.databricks.com/?o=7", True),
        ("https://1234.5.gcp.databricks.com/#mlflow/experiments/1", True),
        ("http://127.0.0.1:5000", False),
        ("http://mlflow.acme.org/.databricks.com/", False),  # a path that mentions one is not one
        ("https://databricks.com.evil.example", False),
        ("databricks://prod", False),
        ("", False),
        (None, False),
        ("http://[::1", False),  # malformed: no host, no exception
    ],
)
def test_is_databricks_host_judges_the_host_alone(url, expected):
    assert W.is_databricks_host(url) is expected


def test_the_databricks_host_predicate_is_written_once():
    """Issue 24: one predicate; no module of the package spells the domains again."""
    package = Path(W.__file__).parent
    for path in package.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for domain in ("databricks.com", "azuredatabricks"):
            hits = text.count(domain)
            assert path.name == "workspace.py" or hits == 0, f"{path} spells {domain}"
    assert W.parse_workspace_uri("https://adb-9.azuredatabricks.net/").kind == "databricks"
    assert W.parse_workspace_uri("http://host/.databricks.com/").kind == "http"
