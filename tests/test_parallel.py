"""parallel.pmap: every item's result or exception, in order, the others unaffected by one failure."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from mlflow_lineage_plugin.parallel import pmap


def _half(n: int) -> int:
    if n % 2:
        raise ValueError(f"odd {n}")
    return n // 2


def test_results_and_exceptions_in_order():
    with ThreadPoolExecutor(max_workers=3) as pool:
        got = pmap(pool, _half, range(6))
    assert [(i, r) for i, r, _ in got] == [(0, 0), (1, None), (2, 1), (3, None), (4, 2), (5, None)]
    assert [str(e) if e else None for _, _, e in got] == [None, "odd 1", None, "odd 3", None, "odd 5"]


@pytest.mark.parametrize("items", [[], [4]])
def test_nothing_or_one_item_runs_in_the_callers_thread(items):
    threads = []

    def fn(n):
        threads.append(threading.current_thread())
        return n

    with ThreadPoolExecutor(max_workers=2) as pool:
        assert pmap(pool, fn, items) == [(n, n, None) for n in items]
    assert threads == [threading.current_thread()] * len(items)
