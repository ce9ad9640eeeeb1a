"""paging.pages: every page of an MLflow search, and no page after the one a caller stops at."""

from __future__ import annotations

from mlflow.store.entities.paged_list import PagedList

from mlflow_lineage_plugin.paging import pages


def _search(calls: list, items: list[int], size: int):
    def search(prefix: str, *, max_results: int, page_token=None):
        calls.append((prefix, max_results, page_token))
        start = int(page_token or 0)
        end = start + size
        return PagedList(items[start:end], str(end) if end < len(items) else None)

    return search


def test_pages_follow_the_token_to_the_last_page():
    calls: list = []
    got = list(pages(_search(calls, list(range(7)), 3), "f", max_results=3))
    assert [list(p) for p in got] == [[0, 1, 2], [3, 4, 5], [6]]
    assert calls == [("f", 3, None), ("f", 3, "3"), ("f", 3, "6")]


def test_a_caller_that_stops_asks_for_no_further_page():
    calls: list = []
    for page in pages(_search(calls, list(range(10)), 2), "f", max_results=2):
        if 3 in page:
            break
    assert [c[2] for c in calls] == [None, "2"]


def test_one_empty_page():
    calls: list = []
    assert [list(p) for p in pages(_search(calls, [], 5), "f", max_results=5)] == [[]]
    assert len(calls) == 1
