"""Datasets in the lineage graph and the reverse look-up by data, on runs a real training script made:
a pandas frame built in code, a CSV file by path and a Delta-table stand-in source (MLflow's own
``DeltaDatasetSource``, version 7), logged with ``mlflow.log_input``; a model registered from the run;
an evaluation run that takes the model as an MLflow 3 model input and a second Delta version."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner
from conftest import RepoFactory
from fixtures.sqlite_store import sqlite_store

from mlflow_lineage_plugin.cli import main
from mlflow_lineage_plugin.datasets import UNKNOWN_METASTORE
from mlflow_lineage_plugin.resolve import find, resolve
from mlflow_lineage_plugin.resolve import graph as G

TRAIN = textwrap.dedent(
    """
    import json, sys
    import mlflow
    import pandas as pd
    from mlflow.data.delta_dataset_source import DeltaDatasetSource
    from mlflow.entities import LoggedModelInput
    from sklearn.linear_model import LogisticRegression

    uri, out_path, csv_path = sys.argv[1:4]
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("churn")
    df = pd.DataFrame({"tenure": [1.0, 9.0, 3.0, 7.0], "churned": [1, 0, 1, 0]})
    df.to_csv(csv_path, index=False)

    def delta(version):
        # MLflow keeps one dataset per (name, digest) in an experiment: a name per version
        return mlflow.data.from_pandas(df, name=f"churn-delta-v{version}", source=DeltaDatasetSource(
            delta_table_name="main.sales.churn", delta_table_version=version, delta_table_id="tbl-1"))

    with mlflow.start_run(run_name="fit") as run:
        mlflow.log_input(mlflow.data.from_pandas(df, name="churn-frame"), context="training")
        mlflow.log_input(mlflow.data.from_pandas(df, source=csv_path, name="churn-csv"), context="training")
        mlflow.log_input(delta(7), context="eval")
        model = LogisticRegression().fit(df[["tenure"]], df["churned"])
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name="churn",
                                        pip_requirements=["scikit-learn"], serialization_format="cloudpickle")
    with mlflow.start_run(run_name="evaluate") as ev:
        mlflow.log_input(delta(8), context="eval")
    mlflow.MlflowClient().log_inputs(ev.info.run_id, models=[LoggedModelInput(info.model_id)])
    json.dump({"run_id": run.info.run_id, "eval_run_id": ev.info.run_id, "model_id": info.model_id,
               "version": str(info.registered_model_version)}, open(out_path, "w"))
    """
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("data")
    uri = sqlite_store(base / "mlflow.db")
    repo = RepoFactory(base).make("churn", files={"train.py": TRAIN}, remote="https://github.com/acme/churn")
    csv = base / "train.csv"
    proc = subprocess.run(
        [sys.executable, "train.py", uri, str(base / "out.json"), str(csv)],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return {"uri": uri, "csv": str(csv), **json.loads((base / "out.json").read_text())}


@pytest.fixture
def env(world, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", world["uri"])
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    return world


def edges_from(g: G.Lineage, node_id: str) -> dict[str, str]:
    """target label -> relation, for the edges leaving ``node_id``."""
    return {g.nodes[e.target].label: e.relation for e in g.edges if e.source == node_id}


def test_the_runs_datasets_are_nodes_with_their_relation(env):
    g = resolve("models:/churn/1")
    run_id = f"run:{env['run_id']}"
    got = edges_from(g, run_id)
    expected = {
        "dataset churn-frame": "trained on",
        f"dataset churn-csv ({env['csv']})": "trained on",
        "dataset churn-delta-v7 (main.sales.churn v7)": "evaluated on",
    }
    assert {k: got.get(k) for k in expected} == expected, got
    assert len(g.of_kind(G.DATASET)) == 3
    (delta,) = [n for n in g.of_kind(G.DATASET) if n.attrs.get("table")]
    assert delta.attrs["table"] == "main.sales.churn" and delta.attrs["version"] == "7"
    assert delta.attrs["source_type"] == "delta_table" and delta.attrs["context"] == "eval"
    assert delta.attrs["schema"] == "tenure double, churned long" and delta.attrs["digest"]
    # Known by name only, outside Databricks: the table, not a path under this store's URI.
    assert (delta.attrs["source"], delta.attrs["namespace"]) == ("main.sales.churn", UNKNOWN_METASTORE)
    assert "mlflow.db/main.sales.churn" not in g.render("text") + g.render("json")
    (csv,) = [n for n in g.of_kind(G.DATASET) if n.attrs["source_type"] == "local"]
    assert csv.attrs["source"] == env["csv"] and csv.attrs["namespace"] == "file"
    assert g.ok


def test_a_model_input_is_an_edge_to_the_logged_model(env):
    g = resolve(env["eval_run_id"])  # a run target is read with get_run, which carries model inputs
    assert edges_from(g, f"run:{env['eval_run_id']}")[f"LoggedModel {env['model_id']}"] == "model input"
    assert edges_from(g, f"run:{env['eval_run_id']}")["dataset churn-delta-v8 (main.sales.churn v8)"] == "evaluated on"


@pytest.mark.parametrize("fmt", ["text", "json", "mermaid", "dot", "html"])
def test_datasets_are_rendered_in_every_format(env, fmt):
    out = resolve("models:/churn/1").render(fmt)
    csv_label = f"dataset churn-csv ({env['csv']})"
    if fmt == "text":
        assert f"trained on: {csv_label}  local · digest " in out
        assert "evaluated on: dataset churn-delta-v7 (main.sales.churn v7)  delta_table" in out
    elif fmt == "json":
        data = json.loads(out)
        kinds = {n["label"]: n["kind"] for n in data["nodes"]}
        assert kinds[csv_label] == "dataset"
        ids = {n["label"]: n["id"] for n in data["nodes"]}
        assert {"source": f"run:{env['run_id']}", "target": ids[csv_label], "relation": "trained on"} in data["edges"]
    elif fmt == "mermaid":
        assert f'[\\"{csv_label}"\\]' in out and "-->|evaluated on|" in out
    elif fmt == "dot":
        assert f'label="{csv_label}", shape=cylinder' in out and 'label="evaluated on"' in out
    else:
        assert 'data-kind="dataset"' in out and '<span class="rel">trained on</span>dataset churn-frame' in out


@pytest.mark.parametrize(
    ("query", "runs"),
    [
        ("churn-csv", {"run_id"}),  # name
        ("main.sales.churn", {"run_id", "eval_run_id"}),  # a Delta table: every version
        ("main.sales.churn@7", {"run_id"}),
        ("main.sales.churn@v8", {"eval_run_id"}),
        ("main.sales.churn@9", set()),
        ("{csv}", {"run_id"}),  # the file's path, filled in below
        ("file://{csv}", {"run_id"}),  # the same path as a file URI (issue 23 item 7)
        ("file://localhost{csv}", {"run_id"}),
        ("file:{csv}", {"run_id"}),
    ],
)
def test_find_by_dataset(env, query, runs):
    query = query.replace("{csv}", env["csv"])
    result = find(dataset=query)
    assert {r.run_id for r in result.runs} == {env[k] for k in runs}
    if "run_id" in runs:
        assert [(v.name, v.version, v.matched_by) for v in result.versions] == [("churn", env["version"], "run")]
    else:
        assert result.versions == []


def test_find_by_digest_and_on_the_command_line(env):
    g = resolve("models:/churn/1")
    digest = next(n.attrs["digest"] for n in g.of_kind(G.DATASET) if n.attrs["source_type"] == "local")
    res = CliRunner().invoke(main, ["find", "--dataset", digest, "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["query"] == {"dataset": digest}
    found = {r["run_id"]: r["datasets"] for r in data["runs"]}
    assert env["run_id"] in found and any("churn-csv" in d for d in found[env["run_id"]])
    res = CliRunner().invoke(main, ["find", "--dataset", "no-such-data"])
    assert res.exit_code == 1 and "runs (0)" in res.stdout
