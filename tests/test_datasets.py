"""Dataset inputs as MLflow records them, named by OpenLineage's naming conventions (pure functions:
the values are what MLflow's own dataset sources write, see mlflow/data/*_dataset_source.py)."""

from __future__ import annotations

import json

import pytest

from mlflow_lineage_plugin.datasets import (
    EVALUATED_ON,
    INPUT,
    TRAINED_ON,
    UNKNOWN_METASTORE,
    dataset_ref,
    name_dataset,
    schema_columns,
)

DBX = "https://adb-42.azuredatabricks.net/?o=42"
LOCAL = "sqlite:////data/mlflow.db"


@pytest.mark.parametrize(
    ("source_type", "source", "workspace", "expected"),
    [
        ("s3", {"uri": "s3://bucket/data/train.parquet"}, LOCAL, ("s3://bucket", "data/train.parquet", None)),
        ("gs", {"uri": "gs://bkt/x/y.csv"}, LOCAL, ("gs://bkt", "x/y.csv", None)),
        ("local", {"uri": "/data/train.csv"}, LOCAL, ("file", "/data/train.csv", None)),
        ("local", {"uri": "file:///data/train.csv"}, LOCAL, ("file", "/data/train.csv", None)),
        (
            "http",
            {"url": "https://user:pw@example.com/d/train.csv?sig=secret"},
            LOCAL,
            ("https://example.com", "d/train.csv", None),
        ),
        (
            "delta_table",
            {"delta_table_name": "main.sales.churn", "delta_table_version": 7},
            DBX,
            ("databricks://adb-42.azuredatabricks.net", "main.sales.churn", "7"),
        ),
        ("delta_table", {"delta_table_name": "main.sales.churn"}, LOCAL, (UNKNOWN_METASTORE, "main.sales.churn", None)),
        (
            "delta_table",
            {"delta_table_name": "main.sales.churn", "delta_table_version": 2},
            "http://127.0.0.1:5000",
            (UNKNOWN_METASTORE, "main.sales.churn", "2"),
        ),
        (
            "delta_table",
            {"delta_table_name": "sales.churn", "path": "s3://lake/tables/churn"},
            LOCAL,
            ("s3://lake", "tables/churn", None),
        ),
        (
            "delta_table",
            {"delta_table_name": "sales.churn", "path": "abfss://c@acct.dfs.core.windows.net/t/churn"},
            LOCAL,
            ("abfss://c@acct.dfs.core.windows.net", "t/churn", None),
        ),
        (
            "delta_table",
            {"path": "s3://lake/tables/churn", "delta_table_version": 3},
            DBX,
            ("s3://lake", "tables/churn", "3"),
        ),
        ("delta_table", {"path": "/dbfs/tables/churn"}, DBX, ("file", "/dbfs/tables/churn", None)),
        # a URI without an authority is named by its scheme, and its query (a token) is no part of the name
        ("delta_table", {"path": "dbfs:/mnt/lake/churn?token=secret"}, DBX, ("dbfs", "/mnt/lake/churn", None)),
        ("dbfs", {"uri": "dbfs:/mnt/raw/churn.csv#secret"}, LOCAL, ("dbfs", "/mnt/raw/churn.csv", None)),
        ("delta_table", {"path": "file:///srv/lake/churn"}, LOCAL, ("file", "/srv/lake/churn", None)),
        (
            "hugging_face",
            {"path": "acme/reviews", "revision": "abc123"},
            LOCAL,
            ("hf://datasets", "acme/reviews", "abc123"),
        ),
        ("code", {"tags": {"mlflow.user": "me"}}, LOCAL, (LOCAL, "frame", None)),
        ("something_new", {}, DBX, (DBX, "frame", None)),
    ],
)
def test_names_follow_openlineage_conventions(source_type, source, workspace, expected):
    ns, name, version, _ = name_dataset(source_type, source, "frame", workspace)
    assert (ns, name, version) == expected
    assert "pw" not in ns + name and "secret" not in ns + name


def test_a_delta_table_known_by_name_is_one_dataset_from_every_store():
    """Not named under the store's URI: the same table read through two stores is one dataset."""
    stores = [LOCAL, "sqlite:////home/me/other.db", "http://127.0.0.1:5000", "postgresql://db.example.com/mlflow"]
    refs = [
        dataset_ref(
            _Dataset(
                name="churn",
                digest="d",
                source_type="delta_table",
                source=json.dumps({"delta_table_name": "main.sales.churn"}),
                schema=None,
            ),
            (),
            ws,
        )
        for ws in stores
    ]
    assert {(d.namespace, d.ol_name, d.location) for d in refs} == {
        (UNKNOWN_METASTORE, "main.sales.churn", "main.sales.churn")
    }


def test_a_unity_catalog_table_links_to_catalog_explorer():
    *_, link = name_dataset("delta_table", {"delta_table_name": "main.sales.churn"}, "frame", DBX)
    assert link == "https://adb-42.azuredatabricks.net/explore/data/main/sales/churn?o=42"


class _Tag:
    def __init__(self, key, value):
        self.key, self.value = key, value


class _Dataset:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def test_dataset_ref_reads_context_schema_and_relation():
    schema = json.dumps({"mlflow_colspec": [{"type": "double", "name": "tenure"}, {"type": "long", "name": "y"}]})
    ds = _Dataset(
        name="train", digest="4fb5574f", source_type="local", source=json.dumps({"uri": "/d/t.csv"}), schema=schema
    )
    ref = dataset_ref(ds, [_Tag("mlflow.data.context", "training")], LOCAL)
    assert (ref.namespace, ref.ol_name, ref.location) == ("file", "/d/t.csv", "/d/t.csv")
    assert ref.schema == (("tenure", "double"), ("y", "long")) and ref.relation == TRAINED_ON
    assert dataset_ref(ds, [_Tag("mlflow.data.context", "eval")], LOCAL).relation == EVALUATED_ON
    assert dataset_ref(ds, [], LOCAL).relation == INPUT


def test_broken_source_or_schema_json_is_not_an_error():
    ds = _Dataset(name="x", digest=None, source_type="s3", source="{not json", schema="[]")
    ref = dataset_ref(ds, None, LOCAL)
    assert (ref.namespace, ref.ol_name, ref.schema) == (LOCAL, "x", ())
    assert schema_columns(None) == ()
