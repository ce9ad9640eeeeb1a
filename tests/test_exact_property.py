"""Property (issue 22): whatever a user did to a checkout (edits, commits, stages, deletes, modes) and
whatever git tags they passed to `start_run`, when `checkout` says exact the rebuilt directory is the
run's real working tree (one git tree id). Bounded: a few examples, one run and one checkout each."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import mlflow
import pytest
from conftest import RepoFactory, git
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_checkout import start_run, tree_id

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.checkout import CheckoutError, checkout

pytestmark = pytest.mark.usefixtures("git_available")

FILES = ("a.py", "b.py", "lib/c.py")
step = st.one_of(
    st.tuples(st.just("edit"), st.sampled_from(FILES), st.text("xyz\n", max_size=12)),
    st.tuples(st.just("commit"), st.just(""), st.just("")),
    st.tuples(st.just("stage"), st.sampled_from(FILES), st.just("")),
    st.tuples(st.just("delete"), st.sampled_from(FILES), st.just("")),
    st.tuples(st.just("chmod"), st.sampled_from(FILES), st.just("")),
)
callers = st.sampled_from(["none", "first-commit", "unknown-commit", "clean", "dirty"])


def apply(repo: Path, op: str, name: str, text: str) -> None:
    path = repo / name
    if op == "edit":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    elif op == "commit":
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "--allow-empty", "-m", "step")
    elif op == "stage" and path.exists():
        git(repo, "add", "--", name)
    elif op == "delete" and path.exists():
        path.unlink()
    elif op == "chmod" and path.exists():
        os.chmod(path, path.stat().st_mode ^ 0o111)


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(steps=st.lists(step, max_size=6), who=callers)
@example(steps=[("edit", "b.py", "x"), ("commit", "", ""), ("edit", "a.py", "y")], who="first-commit")
def test_exit_0_means_the_trees_are_equal(steps, who, provider_for, sqlite_uri):
    with tempfile.TemporaryDirectory(prefix="exact-property-") as tmp:
        repo = RepoFactory(Path(tmp)).make("project", files={n: f"{n}\n" for n in FILES})
        first = git(repo, "rev-parse", "HEAD")
        for op in steps:
            apply(repo, *op)
        provider_for(repo / "a.py")
        tags = {
            "none": {},
            "first-commit": {T.MLFLOW_GIT_COMMIT: first},
            "unknown-commit": {T.MLFLOW_GIT_COMMIT: "1" * 40},
            "clean": {T.MLFLOW_GIT_DIRTY: "false"},
            "dirty": {T.MLFLOW_GIT_DIRTY: "true"},
        }[who]
        real = tree_id(repo)
        run_id = start_run(tags=tags)
        try:
            restored = checkout(run_id, str(Path(tmp) / "rebuilt"), repo=str(repo))
        except CheckoutError:
            return  # exit 2: nothing claimed
        if restored.exact:
            assert tree_id(Path(tmp) / "rebuilt") == real, (steps, who, mlflow.get_run(run_id).data.tags)
