"""`mlflow-lineage backfill` against real `mlflow server` processes (SQLite, PostgreSQL, MariaDB
backends, started without the plugin, like a registry from before it), through an HTTP stand-in that
answers 429/503 where a test says so: batched reads, retries, per-version failures, Ctrl-C and resume.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from fixtures.fault_proxy import Fault, FaultProxy
from fixtures.mlflow_server import start_mlflow_server
from fixtures.services import mariadb_database, postgres_database
from fixtures.sqlite_store import sqlite_store
from test_backfill import GIT_TAGS, UC_KEY, make_run, register, tags_of

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.cli import main

SET_TAG = "/model-versions/set-tag"
CLI = str(Path(sys.executable).parent / "mlflow-lineage")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in (
        "MLFLOW_TRACKING_URI",
        "MLFLOW_REGISTRY_URI",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    ):
        monkeypatch.delenv(name, raising=False)


class _Servers:
    """Servers without the plugin, each started on first use: sqlite, pg (PostgreSQL), maria (MariaDB)."""

    def __init__(self, base, stack: contextlib.ExitStack):
        self.base, self.stack, self.started = base, stack, {}

    def __getitem__(self, kind: str):
        if kind not in self.started:
            backend = None
            if kind == "pg":
                backend = self.stack.enter_context(postgres_database("lineage_bf"))
            elif kind == "maria":
                backend = self.stack.enter_context(mariadb_database("lineage_bf"))
            server = start_mlflow_server(self.base / kind, backend=backend, plugin=False, timeout=240)
            self.stack.callback(server.stop)
            self.started[kind] = server
        return self.started[kind]


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    with contextlib.ExitStack() as stack:
        yield _Servers(tmp_path_factory.mktemp("bf_servers"), stack)


@pytest.fixture
def prefix(request) -> str:
    return "bfs_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:60] + "_"


def cli(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, ["backfill", *args])
    return r.exit_code, r.output


def expected_tags(url: str, name: str, run_id: str, monkeypatch) -> dict:
    """What the registry wrapper writes at creation, read from a version made with the plugin."""
    ref = register(url, name + "_ref", run_id, monkeypatch, plugin=True)
    return {**tags_of(url, name + "_ref", ref.version), T.ORIGIN: T.ORIGIN_BACKFILL}


def test_reads_are_batched_and_every_other_request_writes_one_tag(servers, prefix, monkeypatch):
    url = servers["sqlite"].url
    runs = [make_run(url, GIT_TAGS, experiment=prefix + f"exp{i % 2}") for i in range(4)]
    for m in range(3):
        for r in runs:
            register(url, f"{prefix}m{m}", r, monkeypatch)
    monkeypatch.setenv("MLFLOW_LINEAGE_WORKSPACE_URI", url)  # the proxy is not the workspace
    with FaultProxy(url) as proxy:
        code, out = cli("--tracking-uri", proxy.url, "--model", prefix + "m*", "--apply", "--format", "json")
    report = json.loads(out)
    assert code == 0, out
    assert report["totals"]["version"] == {"enriched": 12}
    paths = [s.path for s in proxy.seen]
    assert not [p for p in paths if p.endswith(("/runs/get", "/model-versions/get"))], paths
    writes = [p for p in paths if p.endswith(SET_TAG)]
    reads = [p for p in paths if not p.endswith(SET_TAG)]
    assert len(writes) == report["tags_written"] > 0
    # one page of versions for the three models (name LIKE), experiments once, the 4 runs in one search
    assert sorted(reads) == [
        "/api/2.0/mlflow/experiments/search",
        "/api/2.0/mlflow/model-versions/search",
        "/api/2.0/mlflow/runs/search",
    ], reads


def test_429_retry_after_is_honoured_and_the_job_completes(servers, prefix, monkeypatch):
    url = servers["sqlite"].url
    run = make_run(url, GIT_TAGS)
    v = register(url, prefix + "m", run, monkeypatch)
    refused: set[str] = set()

    def once_429(seen):
        kind = seen.path.rsplit("/", 2)[-2] + "/" + seen.path.rsplit("/", 1)[-1]
        if kind in ("model-versions/search", "runs/search", "model-versions/set-tag") and kind not in refused:
            refused.add(kind)
            return Fault(429, retry_after="2")
        return None

    monkeypatch.setenv("MLFLOW_LINEAGE_WORKSPACE_URI", url)  # the proxy is not the workspace
    with FaultProxy(url, once_429) as proxy:
        code, out = cli("--tracking-uri", proxy.url, "--model", prefix + "m", "--apply")
    assert code == 0, out
    assert len(refused) == 3
    assert tags_of(url, prefix + "m", v.version) == expected_tags(url, prefix + "m", run, monkeypatch)
    first, second = proxy.requests_to(SET_TAG)[:2]
    assert first.status == 429 and second.status == 200 and first.body == second.body
    assert second.at - first.at >= 1.9  # waited as told, not the client's own (immediate) first retry


def test_503_for_a_while_is_retried_and_for_good_fails_only_that_version(servers, prefix, monkeypatch):
    url = servers["sqlite"].url
    run = make_run(url, GIT_TAGS)
    flaky, broken, fine = (register(url, prefix + "m", run, monkeypatch) for _ in range(3))
    attempts = {"flaky": 0}

    def rule(seen):
        if not seen.path.endswith(SET_TAG):
            return None
        if seen.body.get("version") == str(broken.version):
            return Fault(503)
        if seen.body.get("version") == str(flaky.version) and attempts["flaky"] < 2:
            attempts["flaky"] += 1
            return Fault(503)
        return None

    monkeypatch.setenv("MLFLOW_LINEAGE_WORKSPACE_URI", url)  # the proxy is not the workspace
    with FaultProxy(url, rule) as proxy:
        code, out = cli("--tracking-uri", proxy.url, "--model", prefix + "m", "--apply", "--retries", "2")
    assert code == 1, out
    assert f"version {broken.version}: failed: tag could not be written" in out
    assert "total versions: 3: 2 enriched, 1 failed" in out
    want = expected_tags(url, prefix + "m", run, monkeypatch)
    assert tags_of(url, prefix + "m", flaky.version) == want
    assert tags_of(url, prefix + "m", fine.version) == want
    assert T.SCHEMA not in tags_of(url, prefix + "m", broken.version)

    code, out = cli("--tracking-uri", url, "--model", prefix + "m", "--apply")  # the outage is over
    assert code == 0, out
    assert tags_of(url, prefix + "m", broken.version) == want


def _as_from_a_terminal() -> None:
    """Ctrl-C reaches a command typed at a terminal: SIGINT handled by default and not blocked. A child
    inherits both from the process that starts it, and a test run started in the background by a shell
    without job control (``pytest ... &`` in a script) has SIGINT ignored, as POSIX asks: the job then
    never saw the Ctrl-C, wrote everything and ended 0."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def test_ctrl_c_stops_cleanly_and_a_rerun_continues(servers, prefix, monkeypatch, tmp_path):
    url = servers["sqlite"].url
    run = make_run(url, GIT_TAGS)
    versions = [register(url, prefix + "m", run, monkeypatch) for _ in range(8)]
    want = expected_tags(url, prefix + "m", run, monkeypatch)

    def slow_writes(seen):
        return Fault(delay=0.2) if seen.path.endswith(SET_TAG) else None

    skip = ("MLFLOW_LINEAGE_", "MLFLOW_TRACKING", "MLFLOW_REG")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    env["MLFLOW_LINEAGE_WORKSPACE_URI"] = url  # the proxy is not the workspace
    with FaultProxy(url, slow_writes) as proxy:
        proc = subprocess.Popen(
            [CLI, "backfill", "--tracking-uri", proxy.url, "--model", prefix + "m", "--apply", "--workers", "2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp_path,
            preexec_fn=_as_from_a_terminal,
        )
        started = time.monotonic()
        while len(proxy.requests_to(SET_TAG)) < 5 and proc.poll() is None and time.monotonic() < started + 120:
            time.sleep(0.05)
        why = (
            f"{len(proxy.requests_to(SET_TAG))} tag writes seen through the proxy, the job "
            f"{'still running' if proc.poll() is None else 'already ended'} after {time.monotonic() - started:.1f} s, "
            f"{len(proxy.seen)} requests in all; here SIGINT is {signal.getsignal(signal.SIGINT)}, blocked: "
            f"{signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, set())}"
        )
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (why, out, err)
    assert "interrupted: run the same command again to continue" in out
    assert "Traceback" not in err
    partial = [tags_of(url, prefix + "m", v.version) for v in versions]
    assert any(T.SCHEMA not in t for t in partial)  # it really stopped before the end
    for t in partial:  # every tag that was written is whole
        assert all(t[k] == want[k] for k in t), t

    code, out = cli("--tracking-uri", url, "--model", prefix + "m", "--apply")
    assert code == 0, out
    assert all(tags_of(url, prefix + "m", v.version) == want for v in versions)


@pytest.mark.parametrize("backend", ["pg", "maria"])
def test_database_backends_plan_apply_and_idempotence(servers, backend, prefix, monkeypatch):
    url = servers[backend].url
    run = make_run(url, GIT_TAGS)
    versions = [register(url, prefix + "m", run, monkeypatch) for _ in range(3)]
    code, out = cli("--tracking-uri", url, "--model", prefix + "m")
    assert code == 0 and "3 would enrich" in out, out
    assert cli("--tracking-uri", url, "--model", prefix + "m", "--apply")[0] == 0
    want = expected_tags(url, prefix + "m", run, monkeypatch)
    assert all(tags_of(url, prefix + "m", v.version) == want for v in versions)
    code, out = cli("--tracking-uri", url, "--model", prefix + "m", "--apply", "--format", "json")
    assert code == 0 and json.loads(out)["tags_written"] == 0


def test_reregistered_on_a_second_server_regains_lineage_through_the_workspace_mapping(servers, prefix, monkeypatch):
    """What mlflow-export-import does: the model files go to a second server and are registered there
    with the original run id, while the run stays on the first server."""
    first, second = servers["sqlite"].url, servers["sqlite2"].url
    run = make_run(first, GIT_TAGS)
    want = expected_tags(first, prefix + "orig", run, monkeypatch)  # as registered on the first server
    imported = register(second, prefix + "m", run, monkeypatch, source=f"runs:/{run}/model")

    code, out = cli("--tracking-uri", second, "--model", prefix + "m", "--apply")
    assert code == 1, out
    assert f"version {imported.version}: cannot: source run {run} not found in {second}" in out

    monkeypatch.setenv("MLFLOW_LINEAGE_WORKSPACES", f"http://127.0.0.1:9={'http://127.0.0.1:9'};{first}={first}")
    code, out = cli("--tracking-uri", second, "--model", prefix + "m", "--apply", "--retries", "0")
    assert code == 0, out
    got = tags_of(second, prefix + "m", imported.version)
    assert got == want and got[T.WORKSPACE_URI] == first and got[T.RUN_ID] == run

    other = register(second, prefix + "m", "f" * 32, monkeypatch)  # a run no reachable workspace has
    code, out = cli("--tracking-uri", second, "--model", prefix + "m", "--retries", "0")
    assert code == 1
    line = next(x for x in out.splitlines() if f"version {other.version}: cannot:" in x)
    assert f"source run {'f' * 32} not found in {second} or {first}" in line
    assert "runs could not be read from http://127.0.0.1:9 (" in line


# --- Unity Catalog: UC's run_workspace_id says which workspace holds a version's run -----------------


def test_unity_catalog_versions_are_enriched_from_the_workspace_uc_names(servers, tmp_path, monkeypatch):
    """A ``databricks-uc`` registry (the UC stand-in) whose versions' runs live in other workspaces (a real
    ``mlflow server``): one reached through ``MLFLOW_LINEAGE_WORKSPACES``, one through a
    ``~/.databrickscfg`` profile that records its ``workspace_id``, one that nothing reaches. UC's search
    answers without tags, so each version's tags are read one at a time; UC's limits hold on every write."""
    from fixtures.databricks_server import isolate_databricks_env, write_databrickscfg
    from fixtures.uc_server import TOKEN, UcStandIn

    runs_server = servers["sqlite"]
    isolate_databricks_env(monkeypatch, tmp_path / "home")
    uc = UcStandIn().start()
    try:
        write_databrickscfg(
            tmp_path / "home",
            {
                "uc": {"host": uc.url, "token": TOKEN},
                "ws777": {"host": runs_server.url, "token": "dapi-777", "workspace_id": "777"},
            },
        )
        mapped_ws = "https://adb-555.azuredatabricks.net/?o=555"
        monkeypatch.setenv("MLFLOW_LINEAGE_WORKSPACES", f"{mapped_ws}={runs_server.url}")
        long_path = "deep/" * 300 + "train.py"  # 1,508 characters: over UC's 1,000
        run_a = make_run(runs_server.url, GIT_TAGS, experiment="uc-a")
        run_b = make_run(runs_server.url, {**GIT_TAGS, T.GIT_PATH: long_path}, experiment="uc-b")
        crowded = {f"team_key_{i}": "x" for i in range(47)}  # room for three more under UC's 50
        name = "main.ml.fraud"
        v_mapped = uc.add_version(name, run_a, crowded, run_workspace_id=555)
        v_profile = uc.add_version(name, run_b, run_workspace_id=777)
        v_nowhere = uc.add_version(name, "f" * 32, run_workspace_id=999)
        home = sqlite_store(tmp_path / "home.db")
        from mlflow import MlflowClient

        MlflowClient(home).search_experiments()  # an empty home store: a missing one is an error

        args = ("--model", name, "--apply", "--format", "json")
        args += ("--tracking-uri", home, "--registry-uri", "databricks-uc://uc")
        code, out = cli(*args)
        assert code == 1, out
        items = {i["version"]: i for i in json.loads(out[out.index("{") :])["items"]}
        assert items[v_mapped]["state"] == "enriched" and items[v_profile]["state"] == "enriched", out
        assert items[v_nowhere]["state"] == "cannot"
        assert "workspace id 999" in items[v_nowhere]["reason"] and "~/.databrickscfg" in items[v_nowhere]["reason"]

        mapped, profiled = uc.tags_of(name, v_mapped), uc.tags_of(name, v_profile)
        assert mapped[T.WORKSPACE_URI] == mapped_ws and mapped[T.RUN_ID] == run_a
        assert profiled[T.WORKSPACE_URI] == f"{runs_server.url}/?o=777" and profiled[T.RUN_ID] == run_b
        assert profiled[T.ORIGIN] == T.ORIGIN_BACKFILL and profiled[T.SCHEMA] == T.SCHEMA_VERSION
        assert profiled[T.GIT_PATH].startswith("deep/")  # cut to fit UC, not dropped
        # UC's cap: the three most important lineage keys fill the room left, as at creation
        assert len(mapped) == 50 and set(mapped) - set(crowded) == {T.WORKSPACE_URI, T.RUN_ID, T.GIT_COMMIT}
        for tags in (mapped, profiled):
            assert all(UC_KEY.fullmatch(k) and len(v) <= 1000 for k, v in tags.items()), tags
        sets = [r for r in uc.requests if r.path.endswith("/model-versions/set-tag")]
        assert len(sets) == sum(len(i["tags"]) for i in items.values() if i["state"] == "enriched")
        # UC's search answers without tags: one tag read per version, and one UC read of run_workspace_id
        gets = [r for r in uc.requests if r.path.endswith("/model-versions/get")]
        assert len(gets) == 3
        assert len([r for r in uc.requests if r.path.startswith("/api/2.1/unity-catalog/models/")]) == 3

        uc.requests.clear()
        code, out = cli(*args)
        assert code == 1 and not [r for r in uc.requests if r.path.endswith("/model-versions/set-tag")]
    finally:
        uc.stop()


def test_a_uc_workspace_id_a_profile_records_is_found_by_show_check_and_backfill_alike(servers, tmp_path, monkeypatch):
    """Issue 24 item 3: UC's ``run_workspace_id`` 777 and a ``~/.databrickscfg`` profile recording
    ``workspace_id = 777``: ``show``, ``check`` and ``backfill`` all read the run through that profile (one
    look-up); an id nothing names is unreachable in both, with a reason that says what was searched."""
    from fixtures.databricks_server import isolate_databricks_env, write_databrickscfg
    from fixtures.uc_server import TOKEN, UcStandIn

    runs_server = servers["sqlite"]
    home_dir = tmp_path / "home"
    isolate_databricks_env(monkeypatch, home_dir)
    uc = UcStandIn().start()
    try:
        cfg = write_databrickscfg(
            home_dir,
            {
                "uc": {"host": uc.url, "token": TOKEN},
                "ws777": {"host": runs_server.url, "token": "dapi-777", "workspace_id": "777"},
            },
        )
        run = make_run(runs_server.url, GIT_TAGS, experiment="uc-one-lookup")
        name = "main.ml.onelookup"
        found = uc.add_version(name, run, run_workspace_id=777)
        lost = uc.add_version(name, "e" * 32, run_workspace_id=888)
        home = f"sqlite:///{tmp_path / 'home.db'}"
        from mlflow import MlflowClient

        MlflowClient(home).search_experiments()
        where = ("--tracking-uri", home, "--registry-uri", "databricks-uc://uc")

        shown = CliRunner().invoke(main, ["show", f"models:/{name}/{found}", "--format", "json", *where])
        graph = json.loads(shown.output)
        assert [f for f in graph["findings"] if f["code"] == "workspace_unreachable"] == [], shown.output
        commits = [n for n in graph["nodes"] if n["kind"] == "git_commit"]
        assert [n["attrs"]["commit"] for n in commits] == [GIT_TAGS[T.MLFLOW_GIT_COMMIT]], shown.output
        [run_node] = [n for n in graph["nodes"] if n["kind"] == "run"]
        assert run_node["workspace_uri"] == f"{runs_server.url}/?o=777"

        checked = CliRunner().invoke(main, ["check", f"models:/{name}/{found}", *where])
        assert checked.exit_code == 0 and checked.output.startswith("OK"), checked.output

        code, out = cli("--model", name, "--format", "json", *where)
        items = {i["version"]: i for i in json.loads(out[out.index("{") :])["items"]}
        assert items[found]["state"] == "would enrich", out

        # an id nothing names: both say so, naming what they searched
        shown = CliRunner().invoke(main, ["show", f"models:/{name}/{lost}", "--format", "json", *where])
        [f] = [f for f in json.loads(shown.output)["findings"] if f["code"] == "workspace_unreachable"]
        reason = items[lost]["reason"]
        assert items[lost]["state"] == "cannot"
        for text in (f["message"], reason):
            assert "workspace id 888" in text and str(cfg) in text, text
            assert "uc (no workspace_id)" in text and "ws777 (workspace_id 777)" in text, text
            assert "MLFLOW_LINEAGE_WORKSPACES" in text, text
    finally:
        uc.stop()


def test_a_uc_that_cannot_say_where_a_run_lives_is_named_in_the_reason(tmp_path, monkeypatch):
    """UC's own API refuses (one reading for backfill and the resolver, ``unity_catalog.run_workspace_id``):
    home is searched as for a version UC records nothing about, and when the run is not there the reason
    says UC could not tell, and why."""
    from fixtures.databricks_server import isolate_databricks_env, write_databrickscfg
    from fixtures.uc_server import TOKEN, UcStandIn

    isolate_databricks_env(monkeypatch, tmp_path / "home")
    uc = UcStandIn(refuse_uc_api=True).start()
    try:
        write_databrickscfg(tmp_path / "home", {"uc": {"host": uc.url, "token": TOKEN}})
        name = "main.ml.refused"
        v = uc.add_version(name, "e" * 32, run_workspace_id=777)
        home = sqlite_store(tmp_path / "home.db")
        from mlflow import MlflowClient

        MlflowClient(home).search_experiments()
        code, out = cli(
            "--model", name, "--format", "json", "--tracking-uri", home, "--registry-uri", "databricks-uc://uc"
        )
        [item] = [i for i in json.loads(out[out.index("{") :])["items"] if i["version"] == v]
        assert item["state"] == "cannot", out
        assert item["reason"].startswith(f"source run {'e' * 32} not found in "), item
        assert item["reason"].endswith(
            f"; Unity Catalog could not say which workspace holds it: User does not have EXECUTE on {name}"
        ), item
        assert TOKEN not in out
    finally:
        uc.stop()


def test_with_apply_the_progress_bar_counts_versions_once_written(servers, prefix, monkeypatch):
    """The bar is not full while tags are still being written: with --apply it counts versions done."""
    from mlflow_lineage_plugin.backfill import Backfill, Options, Selection
    from mlflow_lineage_plugin.backfill.job import Progress
    from mlflow_lineage_plugin.backfill.report import State

    url = servers["sqlite"].url
    run = make_run(url, GIT_TAGS)
    for _ in range(3):
        register(url, prefix + "m", run, monkeypatch)
    register(url, prefix + "m", run, monkeypatch, plugin=True)  # already enriched: done without a write
    monkeypatch.setenv("MLFLOW_LINEAGE_WORKSPACE_URI", url)

    def slow_writes(seen):
        return Fault(delay=0.2) if seen.path.endswith(SET_TAG) else None

    with FaultProxy(url, slow_writes) as proxy:

        def versions_written() -> int:  # lineage_schema is each version's last tag
            return len(
                {
                    s.body.get("version")
                    for s in proxy.requests_to(SET_TAG)
                    if s.status == 200 and s.body.get("key") == T.SCHEMA
                }
            )

        class Recorder(Progress):
            enabled = True

            def __init__(self):
                self.length, self.shown = 0, []

            def begin(self, label: str, length: int) -> None:
                self.length = length

            def advance(self, n: int = 1) -> None:
                self.shown.append((self.shown[-1][0] + n if self.shown else n, versions_written()))

        bar = Recorder()
        report = Backfill(proxy.url, proxy.url, options=Options(apply=True), progress=bar, mapping={}).run(
            Selection(models=(prefix + "m*",))
        )
    assert report.totals("version") == {State.WRITTEN: 3, State.ENRICHED: 1}
    assert bar.length == 4 and [pos for pos, _ in bar.shown] == [1, 2, 3, 4]
    assert bar.shown[-1] == (4, 3)  # full only once the three versions are written


def test_a_version_registered_while_the_tracking_server_was_down_is_partial_until_backfill(tmp_path, monkeypatch):
    """The registry (SQLite) answers, the tracking server holding the run is stopped: the version is
    registered with partial lineage, says so, and backfill completes it once the server is back."""
    import mlflow
    from mlflow import MlflowClient

    server = start_mlflow_server(tmp_path / "tracking", plugin=False)
    port = int(server.url.rsplit(":", 1)[1])
    registry = sqlite_store(tmp_path / "registry.db")
    run = make_run(server.url, GIT_TAGS)
    server.stop()
    monkeypatch.setenv("MLFLOW_LINEAGE_REGISTRY_TIMEOUT", "3")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(server.url)
    try:
        c = MlflowClient(tracking_uri=server.url, registry_uri=registry)
        c.create_registered_model("churn")
        v = c.create_model_version("churn", "s3://bucket/churn/model", run)
    finally:
        mlflow.set_tracking_uri(None)
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES")
    got = dict(MlflowClient(tracking_uri=server.url, registry_uri=registry).get_model_version("churn", v.version).tags)
    assert got[T.PARTIAL] == T.PARTIAL_SOURCE_UNREAD and got[T.RUN_ID] == run and T.GIT_COMMIT not in got

    server = start_mlflow_server(tmp_path / "tracking", plugin=False, port=port)  # the same server, back
    try:
        uris = ("--tracking-uri", server.url, "--registry-uri", registry)
        r = CliRunner().invoke(main, ["check", "models:/churn/1", *uris])
        assert r.exit_code == 1 and "[reachable] version 1 of 'churn' was registered while its source could not" in (
            r.output
        ), r.output
        assert "mlflow-lineage backfill --model churn --apply completes them" in r.output

        code, out = cli(*uris, "--model", "churn")
        assert code == 0, out
        assert "model churn: 1 version: 1 would enrich" in out
        assert "partial lineage (source unread at registration): 1 would be completed" in out
        code, out = cli(*uris, "--model", "churn", "--apply")  # no --overwrite
        assert code == 0 and "1 completed" in out, out
        done = dict(MlflowClient(tracking_uri=server.url, registry_uri=registry).get_model_version("churn", 1).tags)
        assert T.PARTIAL not in done and done[T.GIT_COMMIT] == GIT_TAGS[T.MLFLOW_GIT_COMMIT]
        assert done[T.ORIGIN] == T.ORIGIN_BACKFILL and done[T.RUN_ID] == run
        assert CliRunner().invoke(main, ["check", "models:/churn/1", *uris]).exit_code == 0
        assert cli(*uris, "--model", "churn", "--apply", "--format", "json")[1].count('"tags_written": 0') == 1
    finally:
        server.stop()


def test_writes_failing_for_good_stop_the_job_with_what_was_done_and_the_command_that_resumes(
    servers, prefix, monkeypatch
):
    import shlex

    from mlflow_lineage_plugin.backfill.job import BREAKER

    url = servers["sqlite"].url
    run = make_run(url, GIT_TAGS)
    versions = [register(url, prefix + "m", run, monkeypatch) for _ in range(BREAKER * 2)]
    monkeypatch.setenv("MLFLOW_LINEAGE_WORKSPACE_URI", url)  # the proxy is not the workspace

    def writes_down(seen):
        return Fault(503) if seen.path.endswith(SET_TAG) else None

    args = ["--model", prefix + "m", "--apply", "--retries", "0", "--workers", "2"]
    with FaultProxy(url, writes_down) as proxy:
        r = CliRunner().invoke(main, ["backfill", "--tracking-uri", proxy.url, *args])
    assert r.exit_code == 1, r.output
    (line,) = r.stderr.splitlines()
    assert line.startswith(
        f"mlflow-lineage: error: stopped after {BREAKER} write failures in a row (the last: tag could not be written:"
    ), line
    assert "; 0 versions enriched before it stopped; resume with: mlflow-lineage backfill " in line
    assert len(proxy.requests_to(SET_TAG)) <= BREAKER + 2  # and those in flight: not one per version
    assert "stopped: " in r.stdout and "a rerun completes it" in r.stdout

    resume = shlex.split(line.split("resume with: ", 1)[1])
    assert resume[:2] == ["mlflow-lineage", "backfill"] and sorted(resume[2:]) == sorted(
        ["--tracking-uri", proxy.url, *args]
    )
    resume[resume.index("--tracking-uri") + 1] = url  # the outage is over
    code, out = cli(*resume[2:])
    assert code == 0, out
    want = expected_tags(url, prefix + "m", run, monkeypatch)
    assert all(tags_of(url, prefix + "m", v.version) == want for v in versions)


def test_copy_model_version_follows_one_strict_mode_rule_directly_and_through_a_server(tmp_path, monkeypatch):
    """A copy is judged by the lineage it carries, on SQL directly and through a server alike."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    def sources(uri: str) -> tuple[str, str, str]:
        with_commit = make_run(uri, GIT_TAGS)
        good = register(uri, "src_good", with_commit, monkeypatch, plugin=True)
        bare = register(uri, "src_bare", make_run(uri, {"note": "no git"}), monkeypatch)  # before strict mode
        return with_commit, good.version, bare.version

    def copies(uri: str, made: tuple[str, str, str], plugin_client: bool) -> tuple[str, str]:
        with_commit, good, bare = made
        monkeypatch.setenv("MLFLOW_LINEAGE_REQUIRE", "commit")
        if not plugin_client:
            monkeypatch.setenv("MLFLOW_LINEAGE_DISABLE", "true")
        try:
            c = MlflowClient(tracking_uri=uri, registry_uri=uri)
            copy = c.copy_model_version(f"models:/src_good/{good}", "copy_good")
            with pytest.raises(MlflowException) as refused:
                c.copy_model_version(f"models:/src_bare/{bare}", "copy_bare")
        finally:
            monkeypatch.delenv("MLFLOW_LINEAGE_REQUIRE")
            monkeypatch.delenv("MLFLOW_LINEAGE_DISABLE", raising=False)
        assert dict(c.get_model_version("copy_good", copy.version).tags)[T.RUN_ID] == with_commit
        return str(refused.value), refused.value.error_code

    sql = sqlite_store(tmp_path / "direct.db")
    SqlAlchemyStore(sql, str(tmp_path / "artifacts"))
    direct = copies(sql, sources(sql), plugin_client=True)
    server = start_mlflow_server(tmp_path / "gated")
    try:
        made = sources(server.url)
    finally:
        server.stop()
    server = start_mlflow_server(tmp_path / "gated", env={"MLFLOW_LINEAGE_REQUIRE": "commit"})  # now gated
    try:
        served = copies(server.url, made, plugin_client=False)
    finally:
        server.stop()
    assert direct[1] == served[1]  # MLflow's copy wraps the refusal the same way on both paths
    for message, _ in (direct, served):
        assert "refusing to register a version of model 'copy_bare' because its source run records no git commit" in (
            message
        ), message
