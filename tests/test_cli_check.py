"""``mlflow-lineage check`` as a deployment gate over several targets: one bad target anywhere in the list
fails the whole gate (exit 1), whatever comes before or after it, in text and in JSON."""

from __future__ import annotations

import itertools
import json

import pytest
from click.testing import CliRunner
from fixtures.sqlite_store import sqlite_store

from mlflow_lineage_plugin.cli import main

COMMIT = "0123456789abcdef0123456789abcdef01234567"
GOOD, BAD = "models:/good/1", "models:/bare/1"
# Every sequence of good and bad targets up to three long: a bad one first, last, in the middle, alone.
NO_GIT = (
    "version 1 of 'bare' has no git reference: its entry script /tmp/scratch.py was not in a git repository "
    "when the run started"
)
SEQUENCES = [seq for n in (1, 2, 3) for seq in itertools.product((GOOD, BAD), repeat=n)]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A SQLite store: 'good' v1 has its commit, 'bare' v1 comes from a run without any git reference."""
    from mlflow import MlflowClient

    uri = sqlite_store(tmp_path_factory.mktemp("check") / "mlflow.db")
    c = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = c.create_experiment("check")
    good = c.create_run(
        exp,
        tags={
            "mlflow.source.git.commit": COMMIT,
            "mlflow.source.git.dirty": "false",
            "mlflow.source.git.repoURL": "https://github.com/acme/check",
            "mlflow.source.name": "train.py",
            "mlflow.source.type": "LOCAL",
        },
    ).info.run_id
    bare = c.create_run(exp, tags={"mlflow.source.name": "/tmp/scratch.py", "mlflow.source.type": "LOCAL"}).info.run_id
    for name, rid in (("good", good), ("bare", bare)):
        c.create_registered_model(name)
        c.create_model_version(name, f"runs:/{rid}/model", rid)
    return uri


@pytest.fixture
def check(store, monkeypatch):
    import mlflow

    mlflow.set_tracking_uri(None)  # the environment decides, as in a CI job's shell
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)  # MLFLOW_LINEAGE_*: conftest clears them all

    def run(*args: str):
        return CliRunner().invoke(main, ["check", *args], catch_exceptions=False)

    return run


def _ids(seq: tuple[str, ...]) -> str:
    return "-".join("good" if t == GOOD else "bad" for t in seq)


@pytest.mark.parametrize("targets", SEQUENCES, ids=[_ids(s) for s in SEQUENCES])
def test_any_bad_target_fails_the_gate_in_text(check, targets):
    r = check(*targets)
    assert r.exit_code == (1 if BAD in targets else 0), r.output
    expected: list[str] = []
    for t in targets:
        if t == GOOD:
            expected.append(f"OK    {GOOD} (commit {COMMIT[:12]})")
        else:
            expected += [f"FAIL  {BAD}", f"        [commit] {NO_GIT}"]
    assert r.stdout.splitlines() == expected


@pytest.mark.parametrize("targets", SEQUENCES, ids=[_ids(s) for s in SEQUENCES])
def test_any_bad_target_fails_the_gate_in_json(check, targets):
    r = check(*targets, "--format", "json")
    assert r.exit_code == (1 if BAD in targets else 0), r.output
    data = json.loads(r.stdout)
    assert data["require"] == ["commit", "reachable"]
    assert [(x["target"], x["ok"]) for x in data["results"]] == [(t, t == GOOD) for t in targets]
    for x in data["results"]:
        assert x["commits"] == ([COMMIT[:12]] if x["target"] == GOOD else [])
        want = [] if x["target"] == GOOD else [("commit", NO_GIT)]
        assert [(f["requirement"], f["message"]) for f in x["findings"]] == want


# --- MLFLOW_LINEAGE_REQUIRE: the same gate as --require (issue 31 items 1 and 2) ---------------------


@pytest.mark.parametrize("value", ["comit", "claen", "commit,reachabel", " , "])
def test_a_misspelt_requirement_in_the_environment_is_bad_input_like_the_flag(check, monkeypatch, value):
    monkeypatch.setenv("MLFLOW_LINEAGE_REQUIRE", value)
    r = check(BAD)
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    (line,) = r.stderr.splitlines()
    assert line.startswith("mlflow-lineage: error: MLFLOW_LINEAGE_REQUIRE: ")
    assert "use a comma-separated subset of: commit, clean, reachable, exact" in line
    assert value.strip(" ,") == "" or value.split(",")[-1] not in line, "a variable's value is never echoed"
    flag = check(BAD, "--require", value)
    assert flag.exit_code == 2 and flag.stderr.startswith("mlflow-lineage: error: --require: ")


def test_a_misspelt_requirement_in_the_environment_suggests_the_word(check, monkeypatch):
    monkeypatch.setenv("MLFLOW_LINEAGE_REQUIRE", "comit")
    assert "(did you mean commit?)" in check(GOOD).stderr


@pytest.mark.parametrize(("value", "code"), [("commit,reachable", 1), ("exact", 1), ("clean", 0), ("REACHABLE", 0)])
def test_the_environment_sets_the_gate_when_the_flag_is_absent(check, monkeypatch, value, code):
    monkeypatch.setenv("MLFLOW_LINEAGE_REQUIRE", value)
    r = check(BAD, "--format", "json")
    assert r.exit_code == code, r.output
    assert json.loads(r.stdout)["require"] == sorted(value.lower().split(","))
