"""The tracking-store wrapper: a run's git tags tell one story, the caller's tags win, and MLflow's own
tracking behaviour is unchanged with the plugin on.

The four reproductions of issue 10 happen "in one process, between two runs": MLflow's own git provider
caches its answer for the life of a process, so each runs as a user's script in its own interpreter,
against a real git repository and a real SQLite store. The rest runs in-process.
"""

from __future__ import annotations

import copy
import os
import pickle
import re
import subprocess
import sys
import textwrap
import threading

import mlflow
import pytest
from conftest import GIT_ENV, git
from fixtures.sqlite_store import sqlite_store
from mlflow import MlflowClient

from mlflow_lineage_plugin import reconcile, tracking_store
from mlflow_lineage_plugin import tags as T

REMOTE = "https://ci-bot:ghp_S3cret@github.com/acme/widgets.git"
WEB = "https://github.com/acme/widgets"
GIT_KEYS = set(reconcile.GIT_KEYS)

SCENARIOS = textwrap.dedent(
    """
    import os, subprocess
    import mlflow

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def sh(*args):
        subprocess.run(["git", *args], cwd=here, check=True, capture_output=True)

    def run(name, **kw):
        with mlflow.start_run(run_name=name, **kw) as r:
            pass
        print(f"RUN {name}={r.info.run_id}")

    run("first")  # MLflow's git provider reads git here, once for the process
    run("user_commit", tags={"mlflow.source.git.commit": "deadbeef"})
    os.environ["MLFLOW_LINEAGE_GIT_REPO_URL"] = "https://github.com/other/repo.git"
    run("other_repo")
    del os.environ["MLFLOW_LINEAGE_GIT_REPO_URL"]
    sh("checkout", "-q", "--detach", "HEAD~1")
    run("detached")
    sh("checkout", "-q", "main")
    sh("remote", "remove", "origin")
    run("no_remote")
    """
)


@pytest.fixture(scope="module")
def scenario_runs(tmp_path_factory):
    """One user script, five runs; returns ({name: tags}, repository, {name: expected commit})."""
    base = tmp_path_factory.mktemp("scenarios")
    repo = base / "widgets"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "src").mkdir()
    (repo / "src" / "train.py").write_text(SCENARIOS)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "one")
    first = git(repo, "rev-parse", "HEAD")
    (repo / "README.md").write_text("two\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "two")
    head = git(repo, "rev-parse", "HEAD")
    git(repo, "remote", "add", "origin", REMOTE)
    uri = sqlite_store(base / "mlflow.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update({"MLFLOW_TRACKING_URI": uri, **GIT_ENV, "HOME": str(repo)})
    p = subprocess.run([sys.executable, "src/train.py"], cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-4000:]
    ids = dict(re.findall(r"^RUN (\w+)=(\w+)$", p.stdout, re.M))
    client = MlflowClient(uri)
    tags = {name: client.get_run(run_id).data.tags for name, run_id in ids.items()}
    return tags, {"first": head, "detached": first, "no_remote": head}, p.stderr


def test_first_run_tells_the_checkout_story(scenario_runs):
    tags, commits, _ = scenario_runs
    t = tags["first"]
    assert t[T.MLFLOW_GIT_COMMIT] == commits["first"]
    assert t[T.MLFLOW_GIT_BRANCH] == "main"
    assert t[T.MLFLOW_GIT_REPO_URL] == t[T.MLFLOW_GIT_REPO_URL_LEGACY] == WEB
    assert t[T.SOURCE_URL] == f"{WEB}/blob/{commits['first']}/src/train.py"


def test_detached_head_records_no_branch(scenario_runs):
    tags, commits, _ = scenario_runs
    t = tags["detached"]
    assert t[T.MLFLOW_GIT_COMMIT] == commits["detached"]
    assert T.MLFLOW_GIT_BRANCH not in t, t  # MLflow's cached "main" is stale
    assert t[T.SOURCE_URL] == f"{WEB}/blob/{commits['detached']}/src/train.py"


def test_removed_remote_leaves_no_stale_repository_url(scenario_runs):
    tags, commits, _ = scenario_runs
    t = tags["no_remote"]
    assert t[T.MLFLOW_GIT_COMMIT] == commits["no_remote"]
    assert T.MLFLOW_GIT_REPO_URL not in t, t  # MLflow's cached, unnormalised URL
    assert T.MLFLOW_GIT_REPO_URL_LEGACY not in t and T.SOURCE_URL not in t
    assert t[T.MLFLOW_GIT_BRANCH] == "main"
    assert not any("ghp_S3cret" in v for v in t.values())


def test_repository_override_elsewhere_drops_the_checkouts_commit_and_branch(scenario_runs):
    tags, _, _ = scenario_runs
    t = tags["other_repo"]
    assert t[T.MLFLOW_GIT_REPO_URL] == t[T.MLFLOW_GIT_REPO_URL_LEGACY] == "https://github.com/other/repo"
    assert T.MLFLOW_GIT_COMMIT not in t and T.MLFLOW_GIT_BRANCH not in t, t
    assert T.MLFLOW_GIT_DIRTY not in t and T.SOURCE_URL not in t and T.GIT_PATH not in t


def test_callers_commit_wins_and_derived_tags_follow_it(scenario_runs):
    tags, _, _ = scenario_runs
    t = tags["user_commit"]
    assert t[T.MLFLOW_GIT_COMMIT] == "deadbeef"
    assert t[T.SOURCE_URL] == f"{WEB}/blob/deadbeef/src/train.py"
    assert T.MLFLOW_GIT_DIRTY not in t  # the checkout's dirty state says nothing about deadbeef
    assert t[T.MLFLOW_GIT_BRANCH] == "main" and t[T.MLFLOW_GIT_REPO_URL] == WEB


def test_scenarios_warn_about_nothing(scenario_runs):
    *_, stderr = scenario_runs
    assert "mlflow-lineage" not in stderr, stderr


# --- the rules, in-process ------------------------------------------------------------------------


def fresh(ours: dict, git: T.GitRef | None, mlflow_git: dict | None = None) -> reconcile.Fresh:
    return reconcile.Fresh(ours=ours, git=git, mlflow_git=mlflow_git or {})


HEAD = "0123456789abcdef0123456789abcdef01234567"
REF = T.GitRef(
    commit=HEAD,
    branch="main",
    repo_url=WEB,
    dirty=False,
    path="src/train.py",
    source_url=f"{WEB}/blob/{HEAD}/src/train.py",
)


def test_callers_repository_url_is_normalised_and_another_repository_drops_the_checkout():
    ours = T.run_tags(REF, None)
    merged = {**ours, T.MLFLOW_GIT_REPO_URL: "git@gitlab.com:team/other.git"}
    out = reconcile.reconcile(merged, fresh(ours, REF))
    assert out[T.MLFLOW_GIT_REPO_URL] == out[T.MLFLOW_GIT_REPO_URL_LEGACY] == "https://gitlab.com/team/other"
    assert not GIT_KEYS - {T.MLFLOW_GIT_REPO_URL, T.MLFLOW_GIT_REPO_URL_LEGACY} & set(out)


def test_callers_credentials_never_reach_the_run_but_their_repository_does():
    ours = T.run_tags(REF, None)
    merged = {**ours, T.MLFLOW_GIT_REPO_URL: "https://bot:tok3n@github.com/acme/widgets.git"}
    out = reconcile.reconcile(merged, fresh(ours, REF))
    assert out[T.MLFLOW_GIT_REPO_URL] == WEB
    assert out[T.MLFLOW_GIT_COMMIT] == HEAD  # the same repository: the checkout still describes it
    assert "tok3n" not in repr(out)


def test_mlflows_values_alone_are_kept_with_their_url_normalised():
    """No answer from the plugin (not a repository, or its look-up failed): nothing is dropped."""
    mlflow_git = {
        T.MLFLOW_GIT_COMMIT: HEAD,
        T.MLFLOW_GIT_BRANCH: "main",
        T.MLFLOW_GIT_REPO_URL: "git@github.com:acme/widgets.git",
    }
    ours = {T.WORKSPACE_URI: "sqlite:///x.db", T.SCHEMA: "1"}
    out = reconcile.reconcile({**mlflow_git, **ours}, fresh(ours, None, mlflow_git))
    assert out == {**mlflow_git, T.MLFLOW_GIT_REPO_URL: WEB, **ours}


def test_known_callers_tags_are_the_callers_whatever_their_values():
    ours = T.run_tags(REF, None)
    given = {T.MLFLOW_GIT_COMMIT: "feedface", T.MLFLOW_GIT_BRANCH: "main", T.MLFLOW_GIT_DIRTY: "false"}
    merged = {**ours, **given}
    told = reconcile.reconcile(merged, reconcile.Fresh(ours=ours, git=REF, callers=given))
    assert {k: told[k] for k in given} == given
    # Not told who gave them: equal to the plugin's values, branch and dirty state read as the plugin's.
    guessed = reconcile.reconcile(merged, fresh(ours, REF))
    assert guessed[T.MLFLOW_GIT_COMMIT] == "feedface" and T.MLFLOW_GIT_DIRTY not in guessed


def test_an_answer_left_for_another_call_does_not_apply():
    ours = T.run_tags(REF, None)
    assert not reconcile.applies(fresh(ours, REF), {"mlflow.user": "me"})
    assert reconcile.applies(fresh(ours, REF), {**ours, "mlflow.user": "me"})


@pytest.fixture
def widgets(repos):
    return repos.make("widgets", files={"src/train.py": "print('hi')\n"}, remote=REMOTE)


def test_store_is_wrapped_and_still_answers_as_mlflows_own(sqlite_uri):
    from mlflow.store.tracking.rest_store import RestStore
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from mlflow.tracking._tracking_service.utils import _get_store

    store = _get_store()
    assert type(store) is tracking_store.LineageTrackingStore
    assert isinstance(store, SqlAlchemyStore)  # MLflow picks behaviour by store type
    assert copy.copy(store).unwrap() is store.unwrap()
    rest = _get_store("http://127.0.0.1:1")  # a SQL store itself does not pickle; a REST store does
    again = pickle.loads(pickle.dumps(rest))
    assert type(again) is tracking_store.LineageTrackingStore and isinstance(again, RestStore)
    assert again.get_host_creds().host == "http://127.0.0.1:1"


def test_every_builtin_scheme_and_bare_paths_are_wrapped():
    """Pins, for the installed MLflow, the lazy ``file`` entry point's frame walk that claims ``""``."""
    from mlflow.tracking._tracking_service.utils import _tracking_store_registry as registry

    for scheme in ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks", "file", ""):
        assert registry._registry[scheme].__module__ == tracking_store.__name__, scheme
    assert registry._registry[""] is tracking_store.build_file


def test_registry_wrapper_still_reads_a_sql_source_run_with_one_query(sqlite_uri):
    """The registry wrapper's fast path for a SQL tracking store checks the store's exact type."""
    from mlflow_lineage_plugin import source_readers

    assert type(source_readers.reader_for_tracking_uri(sqlite_uri, 5.0)) is source_readers.SqlTagsReader


def test_concurrent_runs_each_get_their_own_answer(widgets, sqlite_uri, provider_for):
    provider_for(widgets / "src" / "train.py")
    client = MlflowClient()
    results: dict[str, dict] = {}

    def one(commit: str) -> None:
        from mlflow.tracking.context.registry import resolve_tags

        for _ in range(5):
            tags = resolve_tags({T.MLFLOW_GIT_COMMIT: commit})
            run = client.create_run("0", tags=tags)
            results.setdefault(commit, {})[run.info.run_id] = client.get_run(run.info.run_id).data.tags

    threads = [threading.Thread(target=one, args=(c,)) for c in ("aaaa1111", "bbbb2222", "cccc3333")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for commit, runs in results.items():
        assert len(runs) == 5
        for tags in runs.values():
            assert tags[T.MLFLOW_GIT_COMMIT] == commit
            assert tags[T.SOURCE_URL] == f"{WEB}/blob/{commit}/src/train.py"


def test_direct_client_create_run_is_left_alone(widgets, sqlite_uri, provider_for):
    provider_for(widgets / "src" / "train.py")
    from mlflow.tracking.context.registry import resolve_tags

    resolve_tags()  # e.g. a dataset source asked for context tags; no run follows
    mine = {T.MLFLOW_GIT_BRANCH: "stale", T.MLFLOW_GIT_REPO_URL: "ssh://me@host/x.git"}
    run = MlflowClient().create_run("0", tags=mine)
    tags = MlflowClient().get_run(run.info.run_id).data.tags
    assert {k: tags[k] for k in mine} == mine


def test_callers_values_win_even_where_they_equal_the_checkouts(widgets, sqlite_uri, provider_for):
    """Code of another repository, trained from this checkout: the caller names its commit and repository,
    and gives branch, path and dirty state that happen to equal this checkout's. They are the caller's
    and stay, though the checkout's own story (another repository) is dropped."""
    provider_for(widgets / "src" / "train.py")
    mine = {
        T.MLFLOW_GIT_COMMIT: "feedface" * 5,
        T.MLFLOW_GIT_REPO_URL: "https://github.com/acme/churn",
        T.MLFLOW_GIT_BRANCH: "main",
        T.MLFLOW_GIT_DIRTY: "false",
        T.GIT_PATH: "src/train.py",
    }
    with mlflow.start_run(tags=mine) as run:
        pass
    tags = MlflowClient().get_run(run.info.run_id).data.tags
    assert {k: tags.get(k) for k in mine} == mine
    assert tags[T.SOURCE_URL] == f"https://github.com/acme/churn/blob/{'feedface' * 5}/src/train.py"
    # Without the caller's branch and dirty state, the checkout's (of another repository) are not kept.
    with mlflow.start_run(tags={k: mine[k] for k in (T.MLFLOW_GIT_COMMIT, T.MLFLOW_GIT_REPO_URL)}) as bare:
        pass
    tags = MlflowClient().get_run(bare.info.run_id).data.tags
    assert T.MLFLOW_GIT_BRANCH not in tags and T.MLFLOW_GIT_DIRTY not in tags and T.GIT_PATH not in tags, tags


def test_off_switch_turns_off_the_wrapper(widgets, sqlite_uri, provider_for, monkeypatch):
    provider_for(widgets / "src" / "train.py")
    with mlflow.start_run(tags={T.MLFLOW_GIT_COMMIT: "deadbeef"}) as on:
        pass
    monkeypatch.setenv("MLFLOW_LINEAGE_DISABLE", "true")
    ours = T.run_tags(REF, None)
    reconcile.leave(fresh(ours, REF))  # even an answer left before the switch changes nothing
    run = MlflowClient().create_run("0", tags={**ours, T.MLFLOW_GIT_COMMIT: "deadbeef"})
    tags = MlflowClient().get_run(run.info.run_id).data.tags
    assert tags[T.SOURCE_URL] == REF.source_url  # as merged: not reconciled
    on_tags = MlflowClient().get_run(on.info.run_id).data.tags
    assert on_tags[T.SOURCE_URL].endswith("/blob/deadbeef/src/train.py")


def test_logged_model_tags_are_reconciled_like_a_runs(widgets, sqlite_uri, provider_for):
    if int(mlflow.__version__.split(".")[0]) < 3:
        pytest.skip("LoggedModels exist from MLflow 3 on")
    provider_for(widgets / "src" / "train.py")
    model = mlflow.initialize_logged_model(name="m", tags={T.MLFLOW_GIT_COMMIT: "cafe1234"})
    tags = MlflowClient().get_logged_model(model.model_id).tags
    assert tags[T.MLFLOW_GIT_COMMIT] == "cafe1234"
    assert tags[T.SOURCE_URL] == f"{WEB}/blob/cafe1234/src/train.py"
    assert T.MLFLOW_GIT_DIRTY not in tags


def test_a_bug_in_reconciling_costs_one_warning_not_the_run(widgets, sqlite_uri, provider_for, monkeypatch, caplog):
    provider_for(widgets / "src" / "train.py")

    def broken(tags, fresh):
        raise RuntimeError("https://bot:tok3n@example.com broke")

    monkeypatch.setattr(reconcile, "reconcile", broken)
    with mlflow.start_run() as run:
        pass
    tags = MlflowClient().get_run(run.info.run_id).data.tags
    assert tags[T.MLFLOW_GIT_REPO_URL] == WEB  # the merged tags, as MLflow would have written them
    warned = [r.getMessage() for r in caplog.records if "mlflow-lineage" in r.getMessage()]
    assert len(warned) == 1 and "not reconciled" in warned[0] and "tok3n" not in warned[0]


# --- MLflow's own behaviour, plugin on and off ------------------------------------------------------

PLUGIN_KEYS = GIT_KEYS | set(T.PLUGIN_KEYS)


def exercise(uri: str, capsys) -> dict:
    """The same tracking calls a user makes; returns what they read back, ids and times left out."""
    import pandas as pd

    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    exp_id = client.create_experiment("equivalence", tags={"team": "a"})
    mlflow.set_experiment(experiment_id=exp_id)
    names = {}
    with mlflow.start_run(run_name="train", tags={"stage": "dev"}) as run:
        names[run.info.run_id] = "train"
        mlflow.log_param("alpha", 0.5)
        mlflow.log_params({"beta": "x", "gamma": 3})
        for step in range(3):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"acc": 0.9, "f1": 0.8})
        mlflow.set_tag("note", "first")
        mlflow.set_tags({"a": "1", "b": "2"})
        mlflow.delete_tag("b")
        dataset = mlflow.data.from_pandas(pd.DataFrame({"x": [1, 2], "y": [3, 4]}), name="toy", targets="y")
        mlflow.log_input(dataset, context="training", tags={"split": "train"})
        with mlflow.start_run(run_name="child", nested=True) as child:
            names[child.info.run_id] = "child"
            mlflow.log_metric("loss", 0.1)
    view_line = [line for line in capsys.readouterr().out.splitlines() if "View run train" in line]
    other = client.create_run(exp_id, run_name="direct", tags={"k": "v"})
    names[other.info.run_id] = "direct"
    client.log_batch(other.info.run_id, params=[mlflow.entities.Param("p", "1")])
    client.set_terminated(other.info.run_id, status="FAILED")
    client.delete_run(other.info.run_id)
    deleted = [names[r.info.run_id] for r in client.search_runs([exp_id], run_view_type=2)]
    client.restore_run(other.info.run_id)

    found = client.search_runs([exp_id], "params.alpha = '0.5' and metrics.loss < 1", order_by=["start_time ASC"])
    runs = client.search_runs([exp_id], order_by=["attributes.run_name ASC"])
    out = {
        "experiment": (client.get_experiment(exp_id).name, client.get_experiment(exp_id).tags.get("team")),
        "view_line": [re.sub(r"https?://\S+", "URL", line) for line in view_line],
        "deleted_view": sorted(deleted),
        "found": [names[r.info.run_id] for r in found],
        "history": [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loss")],
        "runs": [],
        "models": [],
    }
    for r in runs:
        inputs = r.inputs.dataset_inputs if r.inputs else []
        out["runs"].append(
            {
                "name": r.info.run_name,
                "status": r.info.status,
                "lifecycle": r.info.lifecycle_stage,
                "params": r.data.params,
                "metrics": r.data.metrics,
                "tags": {k: v for k, v in r.data.tags.items() if k not in PLUGIN_KEYS and k != "mlflow.parentRunId"},
                "parent": names.get(r.data.tags.get("mlflow.parentRunId")),
                "inputs": [
                    (d.dataset.name, d.dataset.digest, d.dataset.source_type, sorted((t.key, t.value) for t in d.tags))
                    for d in inputs
                ],
            }
        )
    if int(mlflow.__version__.split(".")[0]) >= 3:
        model = mlflow.initialize_logged_model(
            name="lm", tags={"kind": "toy"}, params={"depth": "2"}, experiment_id=exp_id
        )
        mlflow.set_logged_model_tags(model.model_id, {"more": "yes"})
        client.finalize_logged_model(model.model_id, "READY")
        for m in client.search_logged_models([exp_id]):
            out["models"].append(
                {
                    "name": m.name,
                    "status": str(m.status),
                    "params": m.params,
                    "tags": {k: v for k, v in m.tags.items() if k not in PLUGIN_KEYS},
                }
            )
    mlflow.set_experiment(experiment_name="Default")
    return out


@pytest.fixture
def equivalent(monkeypatch, capsys):
    def both(uri_on: str, uri_off: str) -> tuple[dict, dict]:
        monkeypatch.delenv("MLFLOW_LINEAGE_DISABLE", raising=False)
        on = exercise(uri_on, capsys)
        monkeypatch.setenv("MLFLOW_LINEAGE_DISABLE", "true")
        off = exercise(uri_off, capsys)
        monkeypatch.delenv("MLFLOW_LINEAGE_DISABLE")
        return on, off

    yield both
    mlflow.set_tracking_uri(None)


def test_mlflow_behaviour_unchanged_on_sqlite(tmp_path, monkeypatch, equivalent):
    monkeypatch.chdir(tmp_path)
    on, off = equivalent(f"sqlite:///{tmp_path / 'on.db'}", f"sqlite:///{tmp_path / 'off.db'}")
    assert on == off
    train = next(r for r in on["runs"] if r["name"] == "train")
    assert on["found"] == ["train"] and train["inputs"] and train["metrics"] and on["deleted_view"] == ["direct"]
    assert on["models"] or int(mlflow.__version__.split(".")[0]) < 3


def test_mlflow_behaviour_unchanged_through_a_server(tmp_path, monkeypatch, mlflow_server_factory, equivalent):
    monkeypatch.chdir(tmp_path)
    with_plugin = mlflow_server_factory("on")
    without = mlflow_server_factory("off", plugin=False)
    on, off = equivalent(with_plugin.url, without.url)
    assert on == off
    assert on["view_line"], "MLflow prints the run's link for a tracking server (it checks the store's type)"
