"""`mlflow-lineage backfill` against real SQLite stores, in-process: the plan, --apply, idempotence,
selectors, runs, interruption and resume. Server backends, HTTP faults and Ctrl-C of a real process
live in test_backfill_server.py; the pure tag planning is tested first."""

from __future__ import annotations

import contextlib
import json
import re
import time

import pytest
from click.testing import CliRunner
from fixtures.sqlite_store import sqlite_store

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.backfill import Backfill, Options, Selection, State
from mlflow_lineage_plugin.backfill.plan import derived_run_tags, run_writes, version_writes
from mlflow_lineage_plugin.cli import main
from mlflow_lineage_plugin.registry import missing_version_tags

COMMIT = "0123456789abcdef0123456789abcdef01234567"
GIT_TAGS = {
    T.MLFLOW_GIT_COMMIT: COMMIT,
    T.MLFLOW_GIT_BRANCH: "main",
    T.MLFLOW_GIT_REPO_URL: "https://github.com/acme/models",
    T.MLFLOW_GIT_DIRTY: "false",
    T.GIT_PATH: "train/train.py",
}
UC_KEY = re.compile(r"^[^.,\-=/:]{1,255}$")


def _src(**kw) -> T.SourceRun:
    git = T.GitRef(
        commit=COMMIT, branch="main", repo_url="https://github.com/acme/models", dirty=False, path="train.py"
    )
    return T.SourceRun(
        run_id="r" * 32,
        experiment_id="1",
        workspace_uri="http://127.0.0.1:5000",
        run_url="http://127.0.0.1:5000/#/experiments/1/runs/" + "r" * 32,
        git=git,
        **kw,
    )


# --- the plan: pure ------------------------------------------------------------------------------


def test_version_writes_are_the_wrappers_tags_plus_origin_in_resumable_order():
    writes = version_writes({}, _src(), unity_catalog=False)
    assert list(writes)[0] == T.ORIGIN and writes[T.ORIGIN] == T.ORIGIN_BACKFILL
    assert list(writes)[-1] == T.SCHEMA  # written last: its absence marks a version as unfinished
    assert {k: v for k, v in writes.items() if k != T.ORIGIN} == missing_version_tags(_src(), {}, unity_catalog=False)


def test_version_writes_keep_present_tags_unless_overwrite():
    present = {T.GIT_BRANCH: "users-own-branch", "team": "fraud"}
    writes = version_writes(present, _src(), unity_catalog=False)
    assert T.GIT_BRANCH not in writes and "team" not in writes and T.RUN_ID in writes
    over = version_writes(present, _src(), unity_catalog=False, overwrite=True)
    assert over[T.GIT_BRANCH] == "main" and "team" not in over


def test_enriched_version_is_left_alone_and_overwrite_writes_only_differences():
    done = missing_version_tags(_src(), {}, unity_catalog=False)
    assert version_writes(done, _src(), unity_catalog=False) == {}
    assert version_writes(done, _src(), unity_catalog=False, overwrite=True) == {}
    changed = {**done, T.GIT_COMMIT: "f" * 40}
    assert version_writes(changed, _src(), unity_catalog=False, overwrite=True) == {
        T.ORIGIN: T.ORIGIN_BACKFILL,
        T.GIT_COMMIT: COMMIT,
    }


def test_unity_catalog_limits_hold():
    long_path = "p/" * 700  # 1,400 characters
    src = _src()
    src = T.SourceRun(**{**src.__dict__, "git": T.GitRef(**{**src.git.__dict__, "path": long_path})})
    writes = version_writes({}, src, unity_catalog=True)
    assert all(len(v) <= T.UC_TAG_VALUE_MAX for v in writes.values())
    assert all(UC_KEY.match(k) for k in writes)
    crowded = {f"user_{i}": "x" for i in range(T.UC_MAX_TAGS - 3)}
    writes = version_writes(crowded, src, unity_catalog=True)
    assert len(crowded) + len(writes) <= T.UC_MAX_TAGS
    assert set(writes) == {T.WORKSPACE_URI, T.RUN_ID, T.GIT_COMMIT}  # the most important first, no origin


def test_runs_get_standard_keys_from_databricks_repo_facts():
    tags = {
        T.MLFLOW_DATABRICKS_GIT_REPO_URL: "https://token:secret@github.com/acme/models.git",
        T.MLFLOW_DATABRICKS_GIT_REPO_COMMIT: COMMIT,
        T.MLFLOW_DATABRICKS_GIT_REPO_REFERENCE: "main",
        T.MLFLOW_DATABRICKS_GIT_REPO_REFERENCE_TYPE: "branch",
        T.MLFLOW_DATABRICKS_GIT_REPO_RELATIVE_PATH: "notebooks/train",
        T.MLFLOW_DATABRICKS_WORKSPACE_URL: "adb-1.2.azuredatabricks.net",
        T.MLFLOW_DATABRICKS_WORKSPACE_ID: "1234",
    }
    d = derived_run_tags(tags)
    assert d[T.MLFLOW_GIT_COMMIT] == COMMIT
    assert d[T.MLFLOW_GIT_BRANCH] == "main"
    assert d[T.MLFLOW_GIT_REPO_URL] == "https://github.com/acme/models"  # credential-free, one spelling
    assert "secret" not in json.dumps(d)
    assert d[T.GIT_PATH] == "notebooks/train"
    assert d[T.WORKSPACE_URI] == "https://adb-1.2.azuredatabricks.net/?o=1234"
    assert d[T.SCHEMA] == T.SCHEMA_VERSION
    writes = run_writes(tags)
    assert writes[T.ORIGIN] == T.ORIGIN_BACKFILL and not set(writes) & set(tags)


def test_a_runs_raw_repository_url_takes_the_one_spelling_new_runs_get():
    tags = {T.MLFLOW_GIT_COMMIT: COMMIT, T.MLFLOW_GIT_REPO_URL: "git@github.com:acme/churn.git"}
    writes = run_writes(tags)
    assert writes[T.MLFLOW_GIT_REPO_URL] == writes[T.MLFLOW_GIT_REPO_URL_LEGACY] == "https://github.com/acme/churn"
    odd = {T.MLFLOW_GIT_COMMIT: COMMIT, T.MLFLOW_GIT_REPO_URL: "svn://acme/churn"}  # no git URL: kept as given
    assert T.MLFLOW_GIT_REPO_URL not in run_writes(odd)


def test_a_relative_repository_path_is_kept_not_placed_under_the_backfills_directory(tmp_path, monkeypatch):
    # MLflow's own git context records the remote as git prints it; "../churn.git" was relative to
    # the run's checkout, which backfill cannot know, so it must not become a path where backfill runs
    monkeypatch.chdir(tmp_path)
    tags = {T.MLFLOW_GIT_COMMIT: COMMIT, T.MLFLOW_GIT_REPO_URL: "../churn.git"}
    writes = run_writes(tags)
    assert T.MLFLOW_GIT_REPO_URL not in writes and T.MLFLOW_GIT_REPO_URL_LEGACY not in writes
    assert str(tmp_path.parent) not in repr(writes), writes
    assert writes[T.SCHEMA] == T.SCHEMA_VERSION  # the commit is still recorded the one way


def test_runs_never_get_an_invented_commit():
    tags = {
        T.MLFLOW_GIT_REPO_URL_LEGACY: "git@github.com:acme/models.git",
        T.MLFLOW_DATABRICKS_GIT_REPO_REFERENCE: "v1.2",
        T.MLFLOW_DATABRICKS_GIT_REPO_REFERENCE_TYPE: "tag",
    }
    d = derived_run_tags(tags)
    assert d[T.MLFLOW_GIT_REPO_URL] == "https://github.com/acme/models"  # MLflow Projects' key → standard
    assert T.MLFLOW_GIT_COMMIT not in d and T.MLFLOW_GIT_DIRTY not in d and T.MLFLOW_GIT_BRANCH not in d
    assert derived_run_tags({T.MLFLOW_DATABRICKS_WORKSPACE_URL: "adb-1.2.azuredatabricks.net"}) == {}
    assert run_writes({T.MLFLOW_USER: "ann"}) == {}


# --- real SQLite stores -----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)


@pytest.fixture(scope="module")
def _module_db(tmp_path_factory):
    """One migrated SQLite store for the module; each test uses model names of its own."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    path = tmp_path_factory.mktemp("backfill") / "mlflow.db"
    uri = sqlite_store(path)
    SqlAlchemyStore(uri, str(path.parent / "artifacts"))
    return uri


@pytest.fixture
def uri(_module_db, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", _module_db)
    mlflow.set_tracking_uri(_module_db)
    yield _module_db
    while mlflow.active_run():
        mlflow.end_run()


@pytest.fixture
def prefix(request) -> str:
    return "bf_" + re.sub(r"\W", "_", request.node.name)[:60] + "_"


def make_run(uri: str, tags: dict, experiment: str | None = None) -> str:
    from mlflow import MlflowClient

    c = MlflowClient(uri)
    exp = "0"
    if experiment:
        found = c.get_experiment_by_name(experiment)
        exp = found.experiment_id if found else c.create_experiment(experiment)
    run = c.create_run(exp, tags=tags)
    c.set_terminated(run.info.run_id)
    return run.info.run_id


def register(
    uri: str,
    name: str,
    run_id: str | None,
    monkeypatch,
    plugin: bool = False,
    tags: dict | None = None,
    source: str | None = None,
):
    """A version as a registry without the plugin made it (or with it, ``plugin=True``)."""
    from mlflow import MlflowClient

    c = MlflowClient(uri)
    with contextlib.suppress(Exception):  # already there
        c.create_registered_model(name)
    if not plugin:
        monkeypatch.setenv("MLFLOW_LINEAGE_DISABLE", "true")
    try:
        return c.create_model_version(name, source or f"runs:/{run_id}/model", run_id, tags=tags)
    finally:
        monkeypatch.delenv("MLFLOW_LINEAGE_DISABLE", raising=False)


def tags_of(uri: str, name: str, version) -> dict:
    from mlflow import MlflowClient

    return dict(MlflowClient(uri).get_model_version(name, str(version)).tags)


def cli(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, ["backfill", *args])
    return r.exit_code, r.output


def test_dry_run_plans_per_model_and_writes_nothing(uri, prefix, monkeypatch):
    run = make_run(uri, GIT_TAGS)
    done = register(uri, prefix + "a", run, monkeypatch, plugin=True)
    old = register(uri, prefix + "a", run, monkeypatch)
    nowhere = register(uri, prefix + "b", None, monkeypatch, source="/data/model-without-run")
    before = tags_of(uri, prefix + "a", old.version)

    code, out = cli("--model", prefix + "*")
    assert code == 1, out  # one version cannot be enriched
    assert f"model {prefix}a: 2 versions: 1 already enriched, 1 would enrich" in out
    assert f"would enrich: {old.version} (" in out
    assert f"model {prefix}b: 1 version: 1 cannot" in out
    assert f"version {nowhere.version}: cannot: registered from /data/model-without-run without a source run" in out
    assert "dry run: nothing written" in out
    assert tags_of(uri, prefix + "a", old.version) == before
    assert T.SCHEMA in tags_of(uri, prefix + "a", done.version)

    code, out = cli("--model", prefix + "a", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["applied"] is False
    assert data["totals"]["version"] == {"already enriched": 1, "would enrich": 1}
    (item,) = data["items"]
    assert item["version"] == str(old.version) and item["tags"][T.RUN_ID] == run


def test_apply_writes_what_creation_writes_once(uri, prefix, monkeypatch):
    run = make_run(uri, GIT_TAGS)
    created = register(uri, prefix + "m", run, monkeypatch, plugin=True)  # what the wrapper writes
    old = register(uri, prefix + "m", run, monkeypatch, tags={"team": "fraud"})

    code, out = cli("--model", prefix + "m", "--apply")
    assert code == 0, out
    assert f"enriched: {old.version} (" in out
    got = tags_of(uri, prefix + "m", old.version)
    assert got.pop(T.ORIGIN) == T.ORIGIN_BACKFILL
    assert got.pop("team") == "fraud"
    assert got == tags_of(uri, prefix + "m", created.version)
    assert T.ORIGIN not in tags_of(uri, prefix + "m", created.version)

    before = tags_of(uri, prefix + "m", old.version)
    code, out = cli("--model", prefix + "m", "--apply", "--format", "json")
    assert code == 0 and json.loads(out)["tags_written"] == 0
    assert json.loads(out)["totals"]["version"] == {"already enriched": 2}
    assert tags_of(uri, prefix + "m", old.version) == before


def test_a_present_tag_is_overwritten_only_with_overwrite(uri, prefix, monkeypatch):
    run = make_run(uri, GIT_TAGS)
    v = register(uri, prefix + "m", run, monkeypatch, tags={T.GIT_BRANCH: "mine"})
    assert cli("--model", prefix + "m", "--apply")[0] == 0
    assert tags_of(uri, prefix + "m", v.version)[T.GIT_BRANCH] == "mine"
    code, out = cli("--model", prefix + "m", "--apply", "--overwrite")
    assert code == 0, out
    assert tags_of(uri, prefix + "m", v.version)[T.GIT_BRANCH] == "main"


def test_selectors_glob_since_and_experiment(uri, prefix, monkeypatch):
    run_a = make_run(uri, GIT_TAGS, experiment=prefix + "exp_a")
    run_b = make_run(uri, GIT_TAGS, experiment=prefix + "exp_b")
    register(uri, prefix + "fraud_1", run_a, monkeypatch)
    register(uri, prefix + "fraud_2", run_b, monkeypatch)
    register(uri, prefix + "churn", run_a, monkeypatch)

    data = json.loads(cli("--model", prefix + "fraud_*", "--format", "json")[1])
    assert sorted(i["model"] for i in data["items"]) == [prefix + "fraud_1", prefix + "fraud_2"]

    from mlflow import MlflowClient

    exp_a = MlflowClient(uri).get_experiment_by_name(prefix + "exp_a").experiment_id
    code, out = cli("--model", prefix + "fraud_*", "--experiment", exp_a, "--format", "json")
    states = {i["model"]: i["state"] for i in json.loads(out)["items"]}
    assert code == 0 and states == {prefix + "fraud_1": "would enrich", prefix + "fraud_2": "not selected"}

    time.sleep(0.01)
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 3600))
    data = json.loads(cli("--model", prefix + "fraud_*", "--since", since, "--format", "json")[1])
    assert data["items"] == [] and data["totals"] == {}


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "--model NAME"),
        (("--model", "a", "--all-models"), "exclude each other"),
        (("--model", "a", "--since", "yesterday"), "--since"),
        (("--model", "a", "--workers", "0"), "--workers"),
    ],
)
def test_bad_usage_exits_2_with_one_line(uri, args, message):
    code, out = cli(*args)
    assert code == 2 and message in out and "Traceback" not in out


def test_runs_get_standard_keys_and_runs_without_git_are_reported_untouched(uri, prefix, monkeypatch):
    repo_tags = {
        T.MLFLOW_DATABRICKS_GIT_REPO_URL: "https://github.com/acme/models",
        T.MLFLOW_DATABRICKS_GIT_REPO_COMMIT: COMMIT,
        T.MLFLOW_DATABRICKS_GIT_REPO_REFERENCE: "main",
        T.MLFLOW_DATABRICKS_GIT_REPO_REFERENCE_TYPE: "branch",
        T.MLFLOW_DATABRICKS_WORKSPACE_URL: "https://adb-1.2.azuredatabricks.net",
        T.MLFLOW_DATABRICKS_WORKSPACE_ID: "1234",
    }
    repo_run = make_run(uri, repo_tags, experiment=prefix + "exp")
    scp_run = make_run(
        uri, {T.MLFLOW_GIT_COMMIT: COMMIT, T.MLFLOW_GIT_REPO_URL: "git@github.com:acme/churn.git"}, prefix + "exp"
    )
    bare_run = make_run(uri, {"note": "no git here"}, experiment=prefix + "exp")
    from mlflow import MlflowClient

    c = MlflowClient(uri)
    exp = c.get_experiment_by_name(prefix + "exp").experiment_id
    bare_before = c.get_run(bare_run).data.tags
    code, out = cli("--runs", "--experiment", exp, "--apply")
    assert code == 1, out
    assert f"run {bare_run}: cannot: records no git fact" in out
    tags = c.get_run(repo_run).data.tags
    assert tags[T.MLFLOW_GIT_COMMIT] == COMMIT and tags[T.MLFLOW_GIT_BRANCH] == "main"
    assert tags[T.WORKSPACE_URI] == "https://adb-1.2.azuredatabricks.net/?o=1234"
    assert tags[T.ORIGIN] == T.ORIGIN_BACKFILL
    assert c.get_run(bare_run).data.tags == bare_before
    scp = c.get_run(scp_run).data.tags  # one spelling per run, as for new runs
    assert scp[T.MLFLOW_GIT_REPO_URL] == scp[T.MLFLOW_GIT_REPO_URL_LEGACY] == "https://github.com/acme/churn"
    data = json.loads(cli("--runs", "--experiment", exp, "--apply", "--format", "json")[1])
    assert data["tags_written"] == 0 and data["totals"]["run"] == {"already enriched": 2, "cannot": 1}


def test_interrupted_apply_resumes_to_the_same_result(uri, prefix, monkeypatch):
    run = make_run(uri, GIT_TAGS)
    reference = register(uri, prefix + "ref", run, monkeypatch, plugin=True)
    versions = [register(uri, prefix + "m", run, monkeypatch) for _ in range(6)]

    job = Backfill(uri, options=Options(apply=True, workers=2))
    real = job._set_version_tag
    count = {"n": 0}

    def set_tag_then_press_ctrl_c(*args):
        real(*args)
        count["n"] += 1
        if count["n"] == 4:  # mid-way through the first version
            job.stop()

    monkeypatch.setattr(job, "_set_version_tag", set_tag_then_press_ctrl_c)
    report = job.run(Selection(models=(prefix + "m",)))
    assert report.interrupted and not report.complete
    assert any(i.state is State.STOPPED for i in report.items)
    assert "interrupted: run the same command again to continue" in report.to_text()
    partial = [tags_of(uri, prefix + "m", v.version) for v in versions]
    assert any(T.RUN_ID in t and T.SCHEMA not in t for t in partial) or any(not t for t in partial)

    code, out = cli("--model", prefix + "m", "--apply")
    assert code == 0, out
    want = {**tags_of(uri, prefix + "ref", reference.version), T.ORIGIN: T.ORIGIN_BACKFILL}
    assert all(tags_of(uri, prefix + "m", v.version) == want for v in versions)


def test_copy_model_version_keeps_lineage_and_backfill_repairs_a_copy_that_lost_it(uri, prefix, monkeypatch):
    from mlflow import MlflowClient

    run = make_run(uri, GIT_TAGS)
    src = register(uri, prefix + "src", run, monkeypatch, plugin=True)
    original = tags_of(uri, prefix + "src", src.version)
    monkeypatch.setenv("MLFLOW_LINEAGE_DISABLE", "true")  # a copy made where the plugin is not installed
    copied = MlflowClient(uri).copy_model_version(f"models:/{prefix}src/{src.version}", prefix + "copy")
    monkeypatch.delenv("MLFLOW_LINEAGE_DISABLE")
    assert tags_of(uri, prefix + "copy", copied.version) == original  # still the original run and workspace
    # a tool that copied the model but not its tags (what export-import users report)
    lost = register(uri, prefix + "lost", run, monkeypatch, source=f"models:/{prefix}src/{src.version}")
    assert T.RUN_ID not in tags_of(uri, prefix + "lost", lost.version)

    code, out = cli("--model", prefix + "copy", "--model", prefix + "lost", "--apply")
    assert code == 0, out
    assert f"model {prefix}copy: 1 version: 1 already enriched" in out
    assert tags_of(uri, prefix + "lost", lost.version) == {**original, T.ORIGIN: T.ORIGIN_BACKFILL}
    assert original[T.RUN_ID] == run


def test_a_progress_bar_on_a_terminal_and_only_the_summary_elsewhere(uri, prefix, monkeypatch, tmp_path):
    import os
    import pty
    import subprocess
    import sys
    from pathlib import Path

    run = make_run(uri, GIT_TAGS)
    for _ in range(3):
        register(uri, prefix + "m", run, monkeypatch)
    cmd = [
        str(Path(sys.executable).parent / "mlflow-lineage"),
        "backfill",
        "--tracking-uri",
        uri,
        "--model",
        prefix + "*",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_LINEAGE_")}
    master, slave = pty.openpty()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=slave, text=True, env=env, cwd=tmp_path, timeout=180)
        os.close(slave)
        shown = b""
        with contextlib.suppress(OSError):
            while chunk := os.read(master, 65536):
                shown += chunk
    finally:
        os.close(master)
    assert p.returncode == 0, p.stdout
    assert "versions" in shown.decode() and "3/3" in shown.decode()  # click's bar with its position
    assert "total versions: 3: 3 would enrich" in p.stdout and "3/3" not in p.stdout
    code, out = cli("--model", prefix + "*")  # not a terminal: the summary alone
    assert code == 0 and "3/3" not in out and out.startswith(f"model {prefix}m: 3 versions")


def test_workspace_override_names_runs_that_do_not_say_without_its_credentials(uri, prefix, monkeypatch):
    run = make_run(uri, GIT_TAGS)
    v = register(uri, prefix + "m", run, monkeypatch)
    monkeypatch.setenv("MLFLOW_LINEAGE_WORKSPACE_URI", "https://user:s3cret@mlflow.example.com/")
    code, out = cli("--model", prefix + "m", "--apply")
    assert code == 0, out
    got = tags_of(uri, prefix + "m", v.version)
    assert got[T.WORKSPACE_URI] == "https://mlflow.example.com"
    assert "s3cret" not in json.dumps(got)


def test_an_override_that_is_no_uri_is_ignored_as_the_run_provider_ignores_it(uri, prefix, monkeypatch):
    """A token pasted into MLFLOW_LINEAGE_WORKSPACE_URI is never recorded and does not hide the tracking
    URI's workspace: the run provider, the server and backfill all read the setting through one function."""
    from mlflow_lineage_plugin.tracking_workspace import workspace_for_tracking_uri

    run = make_run(uri, GIT_TAGS)
    v = register(uri, prefix + "m", run, monkeypatch)
    monkeypatch.setenv("MLFLOW_LINEAGE_WORKSPACE_URI", "ghp_notaurlbutatoken")
    code, out = cli("--model", prefix + "m", "--apply")
    assert code == 0, out
    got = tags_of(uri, prefix + "m", v.version)
    expected = workspace_for_tracking_uri(uri)
    assert expected is not None and got[T.WORKSPACE_URI] == expected.uri
    assert "ghp_" not in json.dumps(got) + out


def test_a_version_of_a_logged_model_made_outside_any_run_gets_the_models_lineage(uri, prefix, monkeypatch):
    from mlflow import MlflowClient

    c = MlflowClient(uri)
    model = c.create_logged_model("0", tags=GIT_TAGS)
    assert not model.source_run_id
    ref = register(uri, prefix + "ref", None, monkeypatch, plugin=True, source=f"models:/{model.model_id}")
    old = register(uri, prefix + "m", None, monkeypatch, source=f"models:/{model.model_id}")
    want = tags_of(uri, prefix + "ref", ref.version)
    assert want[T.MODEL_ID] == model.model_id and want[T.GIT_COMMIT] == COMMIT  # what creation writes

    code, out = cli("--model", prefix + "m", "--apply")
    assert code == 0, out
    assert tags_of(uri, prefix + "m", old.version) == {**want, T.ORIGIN: T.ORIGIN_BACKFILL}


def test_runs_and_versions_in_one_job(uri, prefix, monkeypatch):
    from mlflow import MlflowClient

    dbx = {
        T.MLFLOW_DATABRICKS_GIT_REPO_URL: "https://github.com/acme/models",
        T.MLFLOW_DATABRICKS_GIT_REPO_COMMIT: COMMIT,
        T.MLFLOW_DATABRICKS_WORKSPACE_URL: "https://adb-1.2.azuredatabricks.net",
        T.MLFLOW_DATABRICKS_WORKSPACE_ID: "1234",
    }
    run = make_run(uri, dbx, experiment=prefix + "exp")
    v = register(uri, prefix + "m", run, monkeypatch)
    exp = MlflowClient(uri).get_experiment_by_name(prefix + "exp").experiment_id
    code, out = cli("--runs", "--versions", "--experiment", exp, "--model", prefix + "m", "--apply")
    assert code == 0, out
    assert f"experiment {exp}: 1 run: 1 enriched" in out and f"model {prefix}m: 1 version: 1 enriched" in out
    assert MlflowClient(uri).get_run(run).data.tags[T.MLFLOW_GIT_COMMIT] == COMMIT
    got = tags_of(uri, prefix + "m", v.version)
    assert got[T.GIT_COMMIT] == COMMIT and got[T.WORKSPACE_URI] == "https://adb-1.2.azuredatabricks.net/?o=1234"


def test_a_prompts_name_is_left_alone_with_a_word_and_exit_0(uri, prefix):
    import mlflow

    mlflow.genai.register_prompt(name=prefix + "qa", template="Answer {{question}}")
    code, out = cli("--model", prefix + "qa", "--apply")
    assert code == 0, out
    assert f"{prefix}qa is a prompt: prompts are left alone by design, nothing to do" in out
    assert "no versions found" not in out
    code, out = cli("--model", prefix + "nothing_here")
    assert code == 1 and f"model {prefix}nothing_here: no versions found (no such model?)" in out


@pytest.mark.parametrize("registry_uri", ["uc:http://127.0.0.1:1", "DATABRICKS-UC://prof", "databricks-uc"])
def test_unity_catalog_is_the_same_answer_for_backfill_and_the_resolver(registry_uri, monkeypatch):
    """Both used to split the URI at "://", so an open-source ``uc:http://...`` registry was no Unity
    Catalog to either (the registry wrapper said it was), and only backfill read the scheme in any case."""
    from mlflow_lineage_plugin.resolve.endpoints import Clients

    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    tracking = "http://127.0.0.1:1"  # nothing is read: both only name their stores here
    assert Backfill(tracking, registry_uri).unity_catalog
    assert Clients(tracking, registry_uri).is_unity_catalog()
    assert not Backfill(tracking, "databricks://prof").unity_catalog
    assert not Clients(tracking, "databricks://prof").is_unity_catalog()
