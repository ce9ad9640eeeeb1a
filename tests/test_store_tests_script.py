"""scripts/run_mlflow_store_tests.py on a stand-in for MLflow's source tree: a store test file of our own
in MLflow's layout, run plain, wrapped with the plugin off, and on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "run_mlflow_store_tests.py"
STAND_IN = """
import pytest
from mlflow.store.tracking.file_store import FileStore


@pytest.fixture
def store(tmp_path):
    return FileStore(str(tmp_path / "mlruns"))


def test_exact_type(store):
    assert type(store) is FileStore


def test_mlflows_type_check(store):
    assert isinstance(store, FileStore)


def test_logged_model_in_the_default_experiment(store):
    assert store.create_logged_model(name="m").experiment_id == "0"
"""


def test_the_script_wraps_fixture_stores_and_lists_what_differs(tmp_path, monkeypatch):
    rel = "tests/store/tracking/test_file_store.py"
    (tmp_path / rel).parent.mkdir(parents=True)
    (tmp_path / rel).write_text(STAND_IN)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    out = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path), "--files", rel], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-2000:]
    summary = out.stdout.split("== summary\n", 1)[1]
    assert summary.splitlines() == [
        "plain: 3 tests, 3 passed",
        "off: 3 tests, 1 failure, 2 passed",
        "on: 3 tests, 1 failure, 2 passed",
        "off differs from plain in 1 test(s)",
        "  tests.store.tracking.test_file_store::test_exact_type: plain passed, off failure",
        "on differs from plain in 1 test(s)",
        "  tests.store.tracking.test_file_store::test_exact_type: plain passed, on failure",
    ], out.stdout[-3000:]


def test_bad_input_is_one_line(tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "give a checkout of MLflow's source" in out.stderr
    assert "Traceback" not in out.stderr
