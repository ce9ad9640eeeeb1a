"""``mlflow_http.bounded_http``: the one place MLflow's HTTP retries and timeout are set. MLflow reads
them from ``os.environ`` per request, so they are set for a while and put back exactly as found."""

from __future__ import annotations

import ast
import os
import threading
from pathlib import Path

import pytest

from mlflow_lineage_plugin import mlflow_http as H

KEYS = (H.TIMEOUT, H.MAX_RETRIES, H.BACKOFF_FACTOR, H.DATABRICKS_RETRY_TIMEOUT)


@pytest.fixture(autouse=True)
def _no_http_settings(monkeypatch):
    for key in KEYS:
        monkeypatch.delenv(key, raising=False)


def _now() -> dict:
    return {k: os.environ.get(k) for k in KEYS}


def test_bounds_for_a_while_and_restores_the_users_values_exactly_even_on_exception(monkeypatch):
    monkeypatch.setenv(H.TIMEOUT, "300")  # the user's own: overridden meanwhile, then back
    monkeypatch.setenv(H.BACKOFF_FACTOR, "7")  # not one this use sets: never touched
    before = _now()
    with pytest.raises(RuntimeError), H.bounded_http(2.6):
        assert os.environ[H.TIMEOUT] == "3" and os.environ[H.MAX_RETRIES] == "0"
        assert os.environ[H.DATABRICKS_RETRY_TIMEOUT] == "3"  # no retries: the SDK's window is one timeout
        assert os.environ[H.BACKOFF_FACTOR] == "7"
        raise RuntimeError("a read failed")
    assert _now() == before and H.MAX_RETRIES not in os.environ and H.DATABRICKS_RETRY_TIMEOUT not in os.environ


def test_users_win_leaves_what_the_user_set_and_sets_only_the_rest(monkeypatch):
    monkeypatch.setenv(H.MAX_RETRIES, "0")
    with H.bounded_http(0.2, 5, 1, users_win=True):
        assert os.environ[H.MAX_RETRIES] == "0"  # the user's
        assert os.environ[H.TIMEOUT] == "1" and os.environ[H.BACKOFF_FACTOR] == "1"  # at least a second
        assert H.DATABRICKS_RETRY_TIMEOUT not in os.environ  # with retries, MLflow's own window stays
    assert _now() == {H.TIMEOUT: None, H.MAX_RETRIES: "0", H.BACKOFF_FACTOR: None, H.DATABRICKS_RETRY_TIMEOUT: None}


def test_each_use_sets_its_own_values_and_the_last_one_out_restores(monkeypatch):
    monkeypatch.setenv(H.MAX_RETRIES, "9")
    before = _now()
    inside, leave = threading.Event(), threading.Event()

    def other():
        with H.bounded_http(50):
            inside.set()
            leave.wait(10)

    t = threading.Thread(target=other)
    with H.bounded_http(5):
        t.start()
        assert inside.wait(10)
        assert os.environ[H.TIMEOUT] == "50"  # the latest use's values, for every thread
        with H.bounded_http(8):
            assert os.environ[H.TIMEOUT] == "8"
    assert os.environ[H.TIMEOUT] == "8" and os.environ[H.MAX_RETRIES] == "0"  # the other is still inside
    leave.set()
    t.join(10)
    assert _now() == before


def test_a_use_left_inside_by_a_forgotten_thread_does_not_unbound_a_later_one(monkeypatch):
    """A thread still inside (a read abandoned at its deadline) while someone else changes the variables
    (a test's monkeypatch undone, a user's os.environ edit): a later backfill still gets its --retries 0."""
    inside, leave = threading.Event(), threading.Event()

    def forgotten():
        with H.bounded_http(30):
            inside.set()
            leave.wait(10)

    t = threading.Thread(target=forgotten)
    t.start()
    assert inside.wait(10)
    os.environ.pop(H.MAX_RETRIES)
    try:
        with H.bounded_http(5, 0, 2, users_win=True):
            assert os.environ[H.MAX_RETRIES] == "0" and os.environ[H.BACKOFF_FACTOR] == "2"
            assert os.environ[H.TIMEOUT] == "5"  # the forgotten use's value was ours, not the user's
    finally:
        leave.set()
        t.join(10)
    assert _now() == {k: None for k in KEYS}


def test_reads_after_the_bound_see_the_users_setting_again(monkeypatch):
    """What MLflow itself reads, not only os.environ: its own variable objects."""
    from mlflow.environment_variables import MLFLOW_HTTP_REQUEST_MAX_RETRIES, MLFLOW_HTTP_REQUEST_TIMEOUT

    monkeypatch.setenv(H.TIMEOUT, "45")
    with H.bounded_http(4):
        assert MLFLOW_HTTP_REQUEST_TIMEOUT.get() == 4 and MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() == 0
    assert MLFLOW_HTTP_REQUEST_TIMEOUT.get() == 45
    assert MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() == MLFLOW_HTTP_REQUEST_MAX_RETRIES.default


def test_no_other_module_sets_mlflows_http_settings():
    """Issue 24: one context manager; no module of the package writes these variables itself."""
    package = Path(H.__file__).parent
    for path in package.rglob("*.py"):
        if path.name == "mlflow_http.py":
            continue
        strings = {
            n.value for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(n, ast.Constant)
        }
        assert not strings & {*KEYS, "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER"}, path
