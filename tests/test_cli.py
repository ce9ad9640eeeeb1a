"""The ``mlflow-lineage`` CLI: exit codes (0 ok, 1 findings, 2 bad usage or input), one-line errors on
stderr without a traceback, and the output formats. Bad input is exercised broadly: malformed URIs,
unknown names, deleted runs, refused credentials, a server that never answers, broken settings."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner
from fixtures.sqlite_store import sqlite_store

from mlflow_lineage_plugin.cli import main

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A SQLite store: 'good' v1 has complete lineage, v2 a dirty tree, v3 a deleted run; 'bare' v1 no git."""
    import mlflow
    from mlflow import MlflowClient

    uri = sqlite_store(tmp_path_factory.mktemp("cli") / "mlflow.db")
    c = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = c.create_experiment("cli")
    git_tags = {
        "mlflow.source.git.commit": COMMIT,
        "mlflow.source.git.branch": "main",
        "mlflow.source.git.repoURL": "https://github.com/acme/cli",
        "mlflow.source.name": "train.py",
        "mlflow.source.type": "LOCAL",
    }
    runs = {}
    for key, extra in (
        ("clean", {"mlflow.source.git.dirty": "false"}),
        ("dirty", {"mlflow.source.git.dirty": "true"}),
        ("deleted", {"mlflow.source.git.dirty": "false"}),
    ):
        runs[key] = c.create_run(exp, tags={**git_tags, **extra}).info.run_id
    runs["bare"] = c.create_run(
        exp, tags={"mlflow.source.name": "/tmp/scratch.py", "mlflow.source.type": "LOCAL"}
    ).info.run_id
    c.create_registered_model("good")
    for key in ("clean", "dirty", "deleted"):
        c.create_model_version("good", f"runs:/{runs[key]}/model", runs[key])
    c.create_registered_model("bare")
    c.create_model_version("bare", f"runs:/{runs['bare']}/model", runs["bare"])
    c.set_registered_model_alias("good", "champion", "1")
    c.delete_run(runs["deleted"])
    mlflow.set_tracking_uri(None)
    return {"uri": uri, **runs}


@pytest.fixture
def cli(store, monkeypatch):
    import mlflow

    mlflow.set_tracking_uri(None)  # the environment decides, as for a user's shell
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)

    def run(*args: str, env: dict | None = None):
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    return run


def one_line_error(result) -> str:
    err = result.stderr.strip()
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = err.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- bad input: 2, one line on stderr -----------------------------------------------------------------

BAD_TARGETS = [
    ("models:/", "no model name"),
    ("models:/good/0", "start at 1"),
    ("models:/good/1.5", "not a positive whole number"),
    ("models:/good/Prod", "neither a version number nor a stage"),
    ("models:/good@", "empty alias"),
    ("models:/good@x/1", "nothing after the alias"),
    ("models:/a/b/c", "too many '/'"),
    ("models:/m-1234", "LoggedModel id"),
    ("models://p@databricks/good/1", "--registry-uri"),
    ("runs:/", "no run id"),
    ("runs:/%%%/model", "not a valid run id"),
    ("s3://bucket/key", "unsupported URI"),
    ("abcdef", "not a run id"),
    ("good", "not a model URI or run id"),
    ("", "empty target"),
]

UNKNOWN = [
    ("models:/nope/1", "no registered model named 'nope'"),
    ("models:/good/42", "registered model 'good' has no version 42"),
    ("models:/good@missing", "registered model 'good' has no alias 'missing'"),
    ("models:/good/Production", "registered model 'good' has no version in stage Production"),
    ("models:/nope", "no registered model named 'nope'"),
    ("f" * 32, "run " + "f" * 32 + " not found"),
    ("models:/m-" + "0" * 32, "LoggedModel m-" + "0" * 32 + " not found"),
]


@pytest.mark.parametrize("target, says", BAD_TARGETS + UNKNOWN)
def test_show_bad_or_unknown_target(cli, target, says):
    r = cli("show", target)
    assert r.exit_code == 2
    line = one_line_error(r)
    assert line.startswith("mlflow-lineage: error: ") and says in line
    assert r.stdout == ""


@pytest.mark.parametrize(
    "args, says",
    [
        (["check", "models:/good/1", "--require", "commit,speed"], "unknown requirement speed"),
        (["check", "models:/good/1", "--require", ""], "--require: no requirement given"),
        (["check", "models:/good/1", "models:/good/0"], "start at 1"),
        (["find"], "give at least one of --commit, --branch, --repo, --notebook"),
        (["find", "--commit", "xyz"], "not a commit SHA"),
        (["find", "--commit", "abc"], "not a commit SHA"),
        (["find", "--branch", "it's"], "single quote"),
        (["find", "--repo", "user@"], "not a git remote URL"),
        (["show", "models:/good/1", "--tracking-uri", ""], "--tracking-uri is empty"),
        (["show", "models:/good/1", "--registry-uri", " "], "--registry-uri is empty"),
        (
            ["show", "models:/good/1", "--tracking-uri", "bogus-scheme://x", "--registry-uri", "bogus-scheme://x"],
            "bogus-scheme",
        ),
    ],
)
def test_bad_options(cli, args, says):
    r = cli(*args)
    assert r.exit_code == 2
    assert says in one_line_error(r)


@pytest.mark.parametrize(
    "args, error, lines",
    [
        (["show"], "Error: Missing argument 'TARGET'.", 4),
        (
            ["show", "models:/good/1", "--format", "svg"],
            "Error: Invalid value for '--format': 'svg' is not one of 'text', 'json', 'mermaid', 'dot', 'markdown'.",
            4,
        ),
        (
            ["show", "models:/good/1", "--timeout", "0"],
            "Error: Invalid value for '--timeout': 0.0 is not in the range x>=0.1.",
            4,
        ),
        (
            ["show", "models:/good/1", "--timeout", "soon"],
            "Error: Invalid value for '--timeout': 'soon' is not a valid float range.",
            4,
        ),
        (["check"], "Error: Missing argument 'TARGETS...'.", 4),
        (["nonsense"], "Error: No such command 'nonsense'.", 4),
        (["find", "--commit"], "Error: Option '--commit' requires an argument.", 1),
    ],
)
def test_usage_errors_exit_2(cli, args, error, lines):
    """Click's usage errors: the usage line, the --help hint, a blank line and the error itself (only
    the error when click has no command context yet), on stderr, nothing on stdout."""
    r = cli(*args)
    assert r.exit_code == 2
    assert r.stdout == ""
    err = r.stderr.splitlines()
    assert len(err) == lines, r.stderr
    assert err[-1] == error
    if lines == 4:
        assert err[0].startswith("Usage: ") and err[1].startswith("Try '") and err[1].endswith(" --help' for help.")
        assert err[2] == ""


def test_broken_workspace_mapping_setting(cli):
    r = cli("show", "models:/good/1", env={"MLFLOW_LINEAGE_WORKSPACES": "just-a-word"})
    assert r.exit_code == 2
    assert "MLFLOW_LINEAGE_WORKSPACES: its value is not 'workspace_uri=tracking_uri'" in one_line_error(r)


def test_missing_config_file(cli, tmp_path):
    r = cli("show", "models:/good/1", env={"MLFLOW_LINEAGE_CONFIG": str(tmp_path / "nope.toml")})
    assert r.exit_code == 2
    assert "MLFLOW_LINEAGE_CONFIG: the file it names does not exist" in one_line_error(r)


def test_unparseable_config_file(cli, tmp_path):
    p = tmp_path / "lineage.json"
    p.write_text("{not json")
    r = cli("show", "models:/good/1", env={"MLFLOW_LINEAGE_CONFIG": str(p)})
    assert r.exit_code == 2
    assert "MLFLOW_LINEAGE_CONFIG: cannot parse the file it names" in one_line_error(r)


class _Refuse(BaseHTTPRequestHandler):
    def _deny(self):
        body = json.dumps({"error_code": "UNAUTHENTICATED", "message": "Invalid access token."}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _deny  # noqa: N815

    def log_message(self, *a):  # silence
        pass


def test_registry_refusing_credentials(cli):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Refuse)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://user:s3cret-token@127.0.0.1:{srv.server_address[1]}"
    try:
        r = cli("show", "models:/good/1", "--tracking-uri", url, "--registry-uri", url)
    finally:
        srv.shutdown()
    assert r.exit_code == 2
    line = one_line_error(r)
    assert "credentials refused (HTTP 401)" in line
    assert "s3cret-token" not in r.stderr + r.stdout


@pytest.mark.parametrize(
    "command", [("show", "models:/good/1"), ("backfill", "--all-models", "--apply"), ("backfill", "--runs")]
)
def test_unresponsive_registry_times_out(cli, command):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    url = f"http://127.0.0.1:{srv.getsockname()[1]}"
    try:
        t0 = time.monotonic()
        r = cli(*command, "--tracking-uri", url, "--timeout", "1")
        took = time.monotonic() - t0
    finally:
        srv.close()
    assert r.exit_code == 2
    assert "no answer within 1 s" in one_line_error(r) and r.stdout == ""
    assert took < 10


# --- findings: 1 ----------------------------------------------------------------------------------------


def test_deleted_run_target_is_a_finding(cli, store):
    r = cli("show", store["deleted"])
    assert r.exit_code == 1
    assert f"run {store['deleted']} was deleted" in r.stdout


def test_show_formats(cli):
    text = cli("show", "models:/good/1")
    assert text.exit_code == 0, text.output
    assert "good version 1" in text.stdout and COMMIT[:12] in text.stdout and "no findings" in text.stdout
    js = cli("show", "models:/good@champion", "--format", "json")
    data = json.loads(js.stdout)
    assert data["target"] == "models:/good@champion"
    assert [n["attrs"]["commit"] for n in data["nodes"] if n["kind"] == "git_commit"] == [COMMIT]
    assert cli("show", "models:/good/1", "--format", "mermaid").stdout.startswith("flowchart LR")
    assert cli("show", "models:/good/1", "--format", "dot").stdout.startswith("digraph lineage {")
    whole = cli("show", "models:/good")
    assert whole.exit_code == 1, "version 3's run is deleted"
    assert "good version 3" in whole.stdout


def test_check_gates(cli, store):
    ok = cli("check", "models:/good/1", "models:/good@champion")
    assert ok.exit_code == 0
    assert ok.stdout.splitlines() == [
        f"OK    models:/good/1 (commit {COMMIT[:12]})",
        f"OK    models:/good@champion (commit {COMMIT[:12]})",
    ]
    assert cli("check", "models:/good/2").exit_code == 0, "dirty is allowed unless 'clean' is required"
    dirty = cli("check", "models:/good/2", "--require", "clean")
    assert dirty.exit_code == 1 and "[clean]" in dirty.stdout and "uncommitted changes" in dirty.stdout
    env_dirty = cli("check", "models:/good/2", env={"MLFLOW_LINEAGE_REQUIRE": "commit,clean"})
    assert env_dirty.exit_code == 1
    bare = cli("check", "models:/bare/1", "--format", "json")
    assert bare.exit_code == 1
    data = json.loads(bare.stdout)
    assert data["results"][0]["ok"] is False
    assert "has no git reference" in data["results"][0]["findings"][0]["message"]
    assert cli("check", "models:/bare/1", "--require", "reachable").exit_code == 0
    deleted = cli("check", "models:/good/3", "--require", "reachable")
    assert deleted.exit_code == 1 and "deleted" in deleted.stdout


def test_find(cli, store):
    r = cli("find", "--commit", COMMIT[:7])
    assert r.exit_code == 0
    assert "models:/good/1" in r.stdout and store["clean"] in r.stdout
    js = json.loads(cli("find", "--repo", "git@github.com:acme/cli.git", "--format", "json").stdout)
    assert {v["version"] for v in js["model_versions"]} == {"1", "2", "3"}
    none = cli("find", "--commit", "fffffff")
    assert none.exit_code == 1 and "model versions (0)" in none.stdout


def test_console_script_in_a_subprocess(store, tmp_path):
    """The installed ``mlflow-lineage`` script (pip's wrapper for the entry point) behaves like the
    in-process CLI."""
    from pathlib import Path

    script = Path(sys.executable).with_name("mlflow-lineage")
    assert script.is_file(), f"{script} is not installed: pip install -e . writes it"
    env = {"MLFLOW_TRACKING_URI": store["uri"], "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    bad = subprocess.run([str(script), "show", "models:/good/x1"], capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].startswith("mlflow-lineage: error: 'models:/good/x1'")
    assert "Traceback" not in bad.stderr
    ok = subprocess.run([str(script), "check", "models:/good/1"], capture_output=True, text=True, env=env, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == f"OK    models:/good/1 (commit {COMMIT[:12]})\n"


# --- first contact: read-only commands create nothing, and say why in one line -------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("show", "models:/demo/1"),
        ("find", "--commit", "abcd"),
        ("check", "models:/demo/1"),
        ("backfill", "--all-models"),  # a dry run writes nothing anywhere
        ("backfill", "--all-models", "--apply"),
        ("backfill", "--runs", "--apply"),
    ],
)
def test_a_missing_sqlite_store_is_named_not_created(cli, tmp_path, command):
    typo = tmp_path / "mlfow.db"
    r = cli(*command, "--tracking-uri", f"sqlite:///{typo}")
    assert r.exit_code == 2
    assert f"SQLite store {typo} does not exist" in one_line_error(r)
    assert not typo.exists()


def test_three_slashes_are_called_relative(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("show", "models:/demo/1", "--tracking-uri", "sqlite:///data/x.db")
    line = one_line_error(r)
    assert r.exit_code == 2
    assert "SQLite store data/x.db does not exist; three slashes make a relative path" in line
    assert f"sqlite:///{tmp_path / 'data' / 'x.db'}" in line
    assert list(tmp_path.iterdir()) == []


def test_a_bare_db_path_suggests_sqlite(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("show", "models:/demo/1", "--tracking-uri", "x.db")
    assert r.exit_code == 2
    assert (
        "x.db is a path, which MLflow reads as a file store directory; for a SQLite database use "
        "sqlite:///x.db" in one_line_error(r)
    )
    assert list(tmp_path.iterdir()) == []


def test_a_missing_file_store_and_a_tableless_sqlite_file_are_left_alone(cli, tmp_path):
    r = cli("show", "models:/demo/1", "--tracking-uri", f"file://{tmp_path / 'mlruns'}")
    assert r.exit_code == 2 and f"file store {tmp_path / 'mlruns'} does not exist" in one_line_error(r)
    assert not (tmp_path / "mlruns").exists()
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    r = cli("show", "models:/demo/1", "--tracking-uri", f"sqlite:///{empty}")
    assert r.exit_code == 2 and "holds no MLflow store" in one_line_error(r)
    assert empty.stat().st_size == 0
    r = cli("show", "models:/demo/1", "--registry-uri", f"sqlite:///{tmp_path / 'reg.db'}")
    assert r.exit_code == 2 and one_line_error(r).startswith("mlflow-lineage: error: registry URI ")
    assert not (tmp_path / "reg.db").exists()


@pytest.mark.parametrize(
    "command",
    [("show", "models:/good/1"), ("find", "--commit", "abcd"), ("check", "models:/good/1"), ("backfill", "--runs")],
)
def test_an_unreadable_sqlite_store_is_one_line_naming_it_in_time(store, tmp_path, command):
    """Mode 000. Tests run as root, which reads any file, so the command runs as root without the two
    capabilities that bypass file permissions (``setpriv --bounding-set``), where mode 000 holds."""
    import shutil

    locked = tmp_path / "locked.db"
    shutil.copy(store["uri"][len("sqlite:///") :], locked)
    locked.chmod(0)
    drop = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("root without setpriv reads a mode 000 file")
        drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING", "MLFLOW_REGISTRY"))}
    exe = [sys.executable, "-c", "from mlflow_lineage_plugin.cli import main; main()"]
    t0 = time.monotonic()
    r = subprocess.run(
        [*drop, *exe, *command, "--tracking-uri", f"sqlite:///{locked}", "--timeout", "5"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    took = time.monotonic() - t0
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        f"mlflow-lineage: error: tracking URI sqlite:///{locked}: SQLite store {locked} cannot be read "
        "(permission denied)"
    ]
    assert took < 30


def test_a_directory_or_a_file_that_is_no_database_is_named(cli, tmp_path):
    r = cli("backfill", "--all-models", "--tracking-uri", f"sqlite:///{tmp_path}")
    assert r.exit_code == 2 and f"SQLite store {tmp_path} is a directory, not a database file" in one_line_error(r)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all, but long enough to be read as one " * 40)
    r = cli("show", "models:/demo/1", "--tracking-uri", f"sqlite:///{junk}")
    assert r.exit_code == 2 and f"SQLite store {junk} cannot be read (file is not a database)" in one_line_error(r)


def test_backfill_of_an_experiment_that_does_not_exist_is_bad_input(cli, store):
    for args in (("--runs",), ("--all-models",)):
        r = cli("backfill", *args, "--experiment", "999")
        assert r.exit_code == 2, r.output
        assert one_line_error(r).startswith("mlflow-lineage: error: --experiment: no experiment with id 999 in ")
        assert r.stdout == ""


def test_an_unsupported_scheme_is_one_sentence(cli):
    r = cli("show", "models:/demo/1", "--tracking-uri", "htp://user:pw@example.com")
    line = one_line_error(r)
    assert r.exit_code == 2
    assert "unsupported URI scheme 'htp'" in line and "sqlite" in line and "databricks" in line
    assert "pw" not in line and "See https" not in line


@pytest.mark.parametrize("command", [("show", "models:/demo/1"), ("backfill", "--all-models")])
def test_default_store_in_an_empty_folder_is_one_line_and_creates_nothing(tmp_path, command):
    """No MLFLOW_TRACKING_URI: MLflow's default is ./mlflow.db; reading must not make it, and MLflow's
    INFO lines ('Creating initial MLflow database tables') must not reach the terminal."""
    exe = [sys.executable, "-c", "from mlflow_lineage_plugin.cli import main; main()"]
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
    env.update({k: v for k, v in os.environ.items() if k == "PYTHONPATH"})  # the tree under test
    r = subprocess.run([*exe, *command], capture_output=True, text=True, env=env, cwd=work, timeout=300)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"mlflow-lineage: error: tracking URI sqlite:///{work / 'mlflow.db'}: SQLite store "
        f"{work / 'mlflow.db'} does not exist (MLflow's default: no tracking URI is set; set "
        "MLFLOW_TRACKING_URI or pass --tracking-uri)"
    ]
    assert list(work.iterdir()) == []


def test_find_without_matches_names_the_stores_it_searched(cli, store):
    none = cli("find", "--commit", "fffffff")
    assert none.exit_code == 1
    assert f"nothing matched in tracking store {store['uri']} and registry {store['uri']}" in none.stdout
    js = json.loads(cli("find", "--commit", "fffffff", "--format", "json").stdout)
    assert js["searched"] == {"tracking_uri": store["uri"], "registry_uri": store["uri"]}


def test_mlflows_info_lines_are_kept_off_the_terminal_while_a_command_runs(monkeypatch):
    import logging

    import mlflow  # noqa: F401  (configures MLflow's loggers at INFO)

    from mlflow_lineage_plugin.cli import _quiet_mlflow

    monkeypatch.delenv("MLFLOW_LOGGING_LEVEL", raising=False)
    log = logging.getLogger("mlflow.store.db.utils")
    assert log.isEnabledFor(logging.INFO)
    with _quiet_mlflow():
        assert not log.isEnabledFor(logging.INFO) and log.isEnabledFor(logging.WARNING)
    assert log.isEnabledFor(logging.INFO), "the process's own setting is back afterwards"
    monkeypatch.setenv("MLFLOW_LOGGING_LEVEL", "DEBUG")
    with _quiet_mlflow():
        assert log.isEnabledFor(logging.INFO), "a level the user chose is kept"
