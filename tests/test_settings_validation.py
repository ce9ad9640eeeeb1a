"""Settings that will not do what their names promise: ``config.problems()``, which the hooks and
``mlflow-lineage doctor`` share, and doctor's exit status (a bad ``MLFLOW_LINEAGE_REQUIRE`` refuses
every registration on that host, so doctor must not call it healthy)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlflow_lineage_plugin import config

DOCTOR = Path(sys.executable).with_name("mlflow-lineage")


@pytest.fixture(autouse=True)
def _no_settings(monkeypatch):
    for name in [n for n in os.environ if n.startswith(config.ENV_PREFIX)]:
        monkeypatch.delenv(name)


def test_valid_settings_have_no_problems(monkeypatch, tmp_path):
    mapping = tmp_path / "ws.json"
    mapping.write_text('{"workspaces": {"https://ws.example": "http://127.0.0.1:5000"}}')
    good = {
        config.DISABLE: "false", config.GIT_COMMIT: "a" * 40, config.GIT_BRANCH: "main",
        config.GIT_REPO_URL: "git@github.com:acme/x.git", config.GIT_PATH: "train.py", config.GIT_DIRTY: "unknown",
        config.GIT_TIMEOUT: "2", config.DIRTY_TIMEOUT: "0.5", config.DATABRICKS_TIMEOUT: "3",
        config.REGISTRY_TIMEOUT: "5", config.WORKSPACE_URI: "https://mlflow.example.com",
        config.REQUIRE: "commit, clean", config.WORKSPACES: "https://a.example=http://127.0.0.1:5000",
        config.CONFIG_FILE: str(mapping), config.RESOLVE_TIMEOUT: "30",
    }  # fmt: skip
    for k, v in good.items():
        monkeypatch.setenv(k, v)
    assert config.problems() == []


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (config.REQUIRE, "bogus", "MLFLOW_LINEAGE_REQUIRE='bogus': unknown requirement(s) bogus; every model "
                                  "version registration will be refused; use a comma-separated subset of: "
                                  "clean, commit"),
        (config.DISABLE, "maybe", "MLFLOW_LINEAGE_DISABLE='maybe' is neither true nor false "
                                  "(use true/1/yes/on or false/0/no/off)"),
        (config.GIT_COMMIT, "main", "MLFLOW_LINEAGE_GIT_COMMIT is not a commit hash (4 to 64 hex characters); "
                                    "it is ignored"),
        (config.GIT_DIRTY, "perhaps", "MLFLOW_LINEAGE_GIT_DIRTY='perhaps' is not true/false/unknown; it is ignored"),
        (config.GIT_REPO_URL, "nonsense@", "MLFLOW_LINEAGE_GIT_REPO_URL is not a git remote URL; it is ignored"),
        (config.REGISTRY_TIMEOUT, "-1", "MLFLOW_LINEAGE_REGISTRY_TIMEOUT='-1' is not a positive number of "
                                        "seconds; the default 5 is used"),
        (config.GIT_TIMEOUT, "two", "MLFLOW_LINEAGE_GIT_TIMEOUT='two' is not a positive number of seconds; "
                                    "the default 2 is used"),
        (config.WORKSPACE_URI, "mlflow.example.com", "MLFLOW_LINEAGE_WORKSPACE_URI is not a URI (expected "
                                                     "scheme://host..., e.g. https://mlflow.example.com)"),
        (config.WORKSPACES, "just-a-name", "MLFLOW_LINEAGE_WORKSPACES: entry 'just-a-name' is not "
                                           "'workspace_uri=tracking_uri'"),
        (config.CONFIG_FILE, "/nonexistent/ws.toml", "MLFLOW_LINEAGE_CONFIG: no such file: /nonexistent/ws.toml"),
        ("MLFLOW_LINEAGE_REQUIRED", "commit", "MLFLOW_LINEAGE_REQUIRED is not a setting of mlflow-lineage "
                                              "(did you mean MLFLOW_LINEAGE_REQUIRE?); it is ignored"),
    ],
)  # fmt: skip
def test_each_bad_setting_is_one_line(monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)
    assert config.problems() == [expected]


def test_a_url_in_the_wrong_setting_is_never_echoed(monkeypatch):
    monkeypatch.setenv(config.GIT_REPO_URL, "bob@s3cret")
    monkeypatch.setenv(config.WORKSPACE_URI, "bob:s3cret")
    lines = config.problems()
    assert len(lines) == 2 and not any("s3cret" in line for line in lines)


def _doctor(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTHONPATH"))}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env.update(settings)
    return subprocess.run([str(DOCTOR), "doctor"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_doctor_fails_on_bad_settings_with_one_line_each(tmp_path):
    out = _doctor(tmp_path, MLFLOW_LINEAGE_REQUIRE="bogus", MLFLOW_LINEAGE_REGISTRY_TIMEOUT="soon")
    assert out.returncode == 1, out.stdout + out.stderr
    lines = [line for line in out.stdout.splitlines() if line.startswith("FAIL  settings")]
    assert len(lines) == 2, out.stdout
    assert "MLFLOW_LINEAGE_REGISTRY_TIMEOUT='soon' is not a positive number of seconds" in lines[0]
    assert "MLFLOW_LINEAGE_REQUIRE='bogus': unknown requirement(s) bogus" in lines[1]
    assert "2 problem(s)" in out.stdout
