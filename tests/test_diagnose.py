"""A guarded failure keeps the user's run alive with one warning, and leaves its traceback at DEBUG
for the bug report; the CLI prints tracebacks when asked (``-v``, ``MLFLOW_LINEAGE_DEBUG``)."""

from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner

from mlflow_lineage_plugin import context
from mlflow_lineage_plugin.cli import main

SECRET = "hunter2"


def _bug(*_args, **_kwargs):
    raise RuntimeError(f"lineage bug near https://alice:{SECRET}@git.example/x")


def test_a_guarded_failure_warns_once_and_leaves_its_traceback_at_debug(monkeypatch, caplog):
    monkeypatch.setattr(context, "collect", _bug)
    context._warnings.clear()
    with caplog.at_level(logging.DEBUG, logger="mlflow_lineage_plugin"):
        assert context._Provider().tags() == {}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["mlflow-lineage: lineage tags not recorded (RuntimeError)"]
    debug = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)
    assert "Traceback (most recent call last)" in debug and "in _bug" in debug and "RuntimeError" in debug
    assert SECRET not in debug


@pytest.mark.parametrize(("args", "env"), [(["-v"], {}), ([], {"MLFLOW_LINEAGE_DEBUG": "true"})])
def test_the_cli_prints_the_traceback_when_asked(args, env):
    result = CliRunner().invoke(main, [*args, "show", "models:/m/1", "--tracking-uri", "foo://bar"], env=env)
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("mlflow-lineage: error: unsupported URI scheme 'foo'")


def test_without_it_the_cli_error_stays_one_line(monkeypatch):
    monkeypatch.delenv("MLFLOW_LINEAGE_DEBUG", raising=False)
    result = CliRunner().invoke(main, ["show", "models:/m/1", "--tracking-uri", "foo://bar"])
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
