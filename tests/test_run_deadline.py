"""One deadline per run (issue 23.5) and a hanging git hook costs one wait (issue 29.4): the status read
and the capture of uncommitted changes share the run's deadline; after a time-out the capture is skipped
for that checkout until its HEAD or index changes, and one cause gives one warning."""

from __future__ import annotations

import logging
import time

import pytest
from conftest import git

from mlflow_lineage_plugin import context
from mlflow_lineage_plugin import tags as T

pytestmark = pytest.mark.usefixtures("git_available")


@pytest.fixture
def warnings_seen(caplog):
    caplog.set_level(logging.WARNING, logger="mlflow_lineage_plugin")

    def seen() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name.startswith("mlflow_lineage_plugin")]

    return seen


def timed_tags(entry) -> tuple[float, dict[str, str]]:
    started = time.monotonic()
    tags = context.LineageRunContext(str(entry)).tags()
    return time.monotonic() - started, tags


def test_a_hanging_fsmonitor_hook_costs_one_wait_and_one_warning(repos, tmp_path, monkeypatch, warnings_seen):
    repo = repos.make("hooked", files={"train.py": "print(1)\n", "lib.py": "x = 1\n"})
    hook = tmp_path / "fsmonitor.sh"
    hook.write_text("#!/bin/sh\nexec sleep 30\n")
    hook.chmod(0o755)
    git(repo, "config", "core.fsmonitor", str(hook))
    (repo / "train.py").write_text("print(2)\n")
    monkeypatch.setenv("MLFLOW_LINEAGE_DIRTY_TIMEOUT", "1")
    monkeypatch.setenv("MLFLOW_LINEAGE_GIT_TIMEOUT", "4")
    monkeypatch.setenv("MLFLOW_LINEAGE_DIFF_TIMEOUT", "5")

    first, tags = timed_tags(repo / "train.py")
    assert tags[T.MLFLOW_GIT_DIRTY] == "unknown" and tags[T.GIT_DIFF] == T.GIT_DIFF_FAILED
    assert first < 1 + 1.5  # the dirty check's second, not that plus the capture's own wait
    second, tags = timed_tags(repo / "train.py")
    assert tags[T.GIT_DIFF] == T.GIT_DIFF_FAILED
    assert second < 1.0  # nothing waits again while HEAD and index are unchanged
    said = warnings_seen()
    assert len(said) == 1, said
    assert "dirty state is recorded as unknown and uncommitted changes are not kept" in said[0]
    assert "until its HEAD or index changes" in said[0]

    hook.write_text("#!/bin/sh\nexit 1\n")  # the hook is fixed, and the index changes: captured again
    git(repo, "add", "lib.py")
    third, tags = timed_tags(repo / "train.py")
    assert tags[T.MLFLOW_GIT_DIRTY] == "true" and tags[T.GIT_DIFF] == T.GIT_DIFF_CAPTURED
    assert len(warnings_seen()) == 1


def test_the_capture_ends_by_the_runs_deadline(repos, monkeypatch, warnings_seen):
    """A clean filter that hangs: `git status` answers (the file's size changed, it reads no content), the
    patch would wait. The capture gets what is left of the run's one deadline (MLFLOW_LINEAGE_GIT_TIMEOUT),
    not its own MLFLOW_LINEAGE_DIFF_TIMEOUT on top, says so once, and is not tried again."""
    repo = repos.make("filtered", files={"train.py": "print(1)\n", ".gitattributes": "*.py filter=slow\n"})
    git(repo, "config", "filter.slow.clean", "sleep 30")
    (repo / "train.py").write_text("print('a longer line')\n")
    monkeypatch.setenv("MLFLOW_LINEAGE_GIT_TIMEOUT", "1.5")
    monkeypatch.setenv("MLFLOW_LINEAGE_DIFF_TIMEOUT", "10")
    took, tags = timed_tags(repo / "train.py")
    assert tags[T.MLFLOW_GIT_DIRTY] == "true" and tags[T.GIT_DIFF] == T.GIT_DIFF_FAILED
    assert took < 1.5 + 1.5
    again, tags = timed_tags(repo / "train.py")
    assert tags[T.GIT_DIFF] == T.GIT_DIFF_FAILED and again < 1.0
    said = warnings_seen()
    assert len(said) == 1 and "git diff did not finish in time; not tried again" in said[0], said
