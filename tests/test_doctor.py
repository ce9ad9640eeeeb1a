"""`mlflow-lineage doctor`, run as a user runs it: the installed console script in a subprocess, in a
real git repository, against a real SQLite store, with MLflow loading the real entry points.

Shadowing and a broken MLflow installation are made with real distributions: a ``*.dist-info``
folder with ``METADATA`` and ``entry_points.txt`` on ``sys.path`` is what pip leaves behind, and
``importlib.metadata`` (hence MLflow) reads it like any other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlflow_lineage_plugin import tags as T

DOCTOR = Path(sys.executable).with_name("mlflow-lineage")
SECRET = "hunter2-token"


def doctor_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTHONPATH"))}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env.update(extra)
    return env


def run_doctor(cwd: Path, env: dict[str, str], *args: str, prefix: list[str] | None = None):
    cmd = (prefix or [str(DOCTOR)]) + ["doctor", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def check(report: dict, name: str) -> dict:
    return next(c for c in report["checks"] if c["name"] == name)


@pytest.fixture
def project(repos):
    repo = repos.make(
        "project",
        files={"src/train.py": "print('train')\n"},
        remote=f"https://ci-bot:{SECRET}@github.com/acme/project.git",
    )
    from conftest import git

    return repo, git(repo, "rev-parse", "HEAD")


def test_healthy_in_a_git_repository_text_and_json(project, tmp_path, git_available):
    repo, head = project
    env = doctor_env(tmp_path)
    out = run_doctor(repo, env, "--script", "src/train.py")
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    for line in (
        "ok    run provider",
        "ok    registry ",
        "ok    mlflow ",
        "ok    git ",
        "ok    off switch",
        "ok    tracking store ",
        "ok    tracking uri ",
    ):
        assert line in text, text
    assert f"repository https://github.com/acme/project at {head[:12]} on main" in text
    assert "path src/train.py" in text
    assert f"workspace sqlite:///{tmp_path / 'mlflow.db'}" in text
    assert "healthy: the plugin is active" in text
    assert SECRET not in text + out.stderr

    out = run_doctor(repo, env, "--script", "src/train.py", "--format", "json")
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    assert report["healthy"] is True
    assert {c["status"] for c in report["checks"]} == {"ok"}
    import mlflow

    assert report["mlflow"]["imported"] == mlflow.__version__
    wrapped = set(report["registry"]["wrapped"])
    assert {"sqlite", "postgresql", "mysql", "http", "https", "databricks", "databricks-uc", "file"} <= wrapped
    tracking = set(report["tracking_store"]["wrapped"])
    assert tracking == {"sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks", "file"}
    assert "new runs here get reconciled git tags" in check(report, "tracking uri")["summary"]
    recorded = report["would_record"]["tags"]
    assert recorded[T.MLFLOW_GIT_COMMIT] == head
    assert recorded[T.GIT_PATH] == "src/train.py"
    assert recorded[T.WORKSPACE_URI] == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert recorded[T.SCHEMA] == T.SCHEMA_VERSION
    assert SECRET not in out.stdout


def test_off_switch_is_a_failure_with_its_reason(project, tmp_path):
    repo, _ = project
    out = run_doctor(repo, doctor_env(tmp_path, MLFLOW_LINEAGE_DISABLE="true"), "--format", "json")
    assert out.returncode == 1, out.stdout + out.stderr
    report = json.loads(out.stdout)
    switch = check(report, "off switch")
    assert switch["status"] == "fail"
    assert "MLFLOW_LINEAGE_DISABLE=true" in switch["summary"]
    assert "unset MLFLOW_LINEAGE_DISABLE" in switch["why"]
    # The entry points are still loaded: only the switch is wrong, and the doctor says so.
    assert check(report, "run provider")["status"] == "ok"
    assert report["would_record"]["tags"] == {}


def test_outside_a_repository_it_says_why_no_commit(tmp_path, git_available):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "train.py").write_text("print('x')\n")
    out = run_doctor(
        plain, doctor_env(tmp_path, GIT_CEILING_DIRECTORIES=str(tmp_path)), "--script", "train.py", "--format", "json"
    )
    assert out.returncode == 0, out.stdout + out.stderr  # a warning, not a failure: the workspace is recorded
    rec = check(json.loads(out.stdout), "would record")
    assert rec["status"] == "warn"
    assert f"{plain} is not inside a git repository" in rec["why"]
    assert f"workspace sqlite:///{tmp_path / 'mlflow.db'}" in rec["summary"]


def test_missing_git_executable(project, tmp_path):
    repo, head = project
    bindir = tmp_path / "bin-without-git"
    bindir.mkdir()
    env = doctor_env(tmp_path, PATH=str(bindir), GIT_PYTHON_REFRESH="quiet")
    out = run_doctor(repo, env, "--format", "json")
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    assert check(report, "git")["status"] == "warn"
    assert "git executable not found" in check(report, "git")["summary"]
    assert report["git"] is None
    assert "dirty state is recorded as unknown" in check(report, "git")["why"]
    # What the doctor shows is what the provider reads without git: .git files, dirty unknown.
    tags = report["would_record"]["tags"]
    assert tags[T.MLFLOW_GIT_COMMIT] == head
    assert tags[T.MLFLOW_GIT_DIRTY] == "unknown"


def _fake_dist(site: Path, name: str, version: str, entry_points: str = "", module: str = "") -> None:
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    if entry_points:
        (info / "entry_points.txt").write_text(entry_points)
    if module:
        (site / f"{name.replace('-', '_')}.py").write_text(module)


SHADOW_MODULE = """
def build(store_uri, tracking_uri=None):
    raise RuntimeError("never built in this test")
"""


def test_registry_scheme_shadowed_by_another_distribution(project, tmp_path):
    repo, _ = project
    site = tmp_path / "later-site"
    _fake_dist(
        site,
        "other-registry-plugin",
        "1.4.2",
        "[mlflow.model_registry_store]\nsqlite = other_registry_plugin:build\n",
        SHADOW_MODULE,
    )
    env = doctor_env(tmp_path)
    # Later on sys.path than the plugin's site-packages: MLflow registers it after ours, so it wins.
    later = [
        sys.executable,
        "-c",
        f"import sys; sys.path.append({str(site)!r}); sys.argv[0] = 'mlflow-lineage'; "
        "from mlflow_lineage_plugin.cli import main; main()",
    ]
    out = run_doctor(repo, env, prefix=later)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "FAIL  registry" in out.stdout
    assert "sqlite: shadowed by other-registry-plugin 1.4.2 (sqlite = other_registry_plugin:build)" in out.stdout
    import importlib.metadata as md

    declared = [
        ep for ep in md.distribution("mlflow-lineage-plugin").entry_points if ep.group == "mlflow.model_registry_store"
    ]
    assert f"{len(declared) - 1}/{len(declared)} schemes wrapped" in out.stdout
    assert "ok    run provider" in out.stdout

    out = run_doctor(repo, env, "--format", "json", prefix=later)
    report = json.loads(out.stdout)
    assert "sqlite" not in report["registry"]["wrapped"]
    assert "postgresql" in report["registry"]["wrapped"]
    # The registry URI in effect is sqlite: versions created here would not be enriched.
    assert check(report, "registry uri")["status"] == "warn"

    # Earlier on sys.path (PYTHONPATH), the same distribution is registered first and ours wins.
    out = run_doctor(repo, {**env, "PYTHONPATH": str(site)}, "--format", "json")
    report = json.loads(out.stdout)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "sqlite" in report["registry"]["wrapped"]


def test_tracking_store_scheme_shadowed_by_another_distribution(project, tmp_path):
    repo, _ = project
    site = tmp_path / "later-site"
    _fake_dist(
        site,
        "other-tracking-plugin",
        "2.0.1",
        "[mlflow.tracking_store]\nsqlite = other_tracking_plugin:build\n",
        SHADOW_MODULE,
    )
    later = [
        sys.executable,
        "-c",
        f"import sys; sys.path.append({str(site)!r}); sys.argv[0] = 'mlflow-lineage'; "
        "from mlflow_lineage_plugin.cli import main; main()",
    ]
    out = run_doctor(repo, doctor_env(tmp_path), "--format", "json", prefix=later)
    assert out.returncode == 1, out.stdout + out.stderr
    report = json.loads(out.stdout)
    hook = check(report, "tracking store")
    assert hook["status"] == "fail" and "7/8 schemes wrapped" in hook["summary"], hook
    assert "sqlite: shadowed by other-tracking-plugin 2.0.1 (sqlite = other_tracking_plugin:build)" in hook["why"]
    # The tracking URI in effect is sqlite: runs created here are not reconciled.
    assert check(report, "tracking uri")["status"] == "warn"
    assert check(report, "registry")["status"] == "ok"


def test_mismatched_mlflow_distributions_are_reported(project, tmp_path):
    """`mlflow` and `mlflow-skinny` of different versions: one overwrote the other's files."""
    import mlflow

    repo, _ = project
    site = tmp_path / "earlier-site"
    _fake_dist(site, "mlflow-skinny", "2.9.9")
    out = run_doctor(repo, doctor_env(tmp_path, PYTHONPATH=str(site)), "--format", "json")
    assert out.returncode == 1, out.stdout + out.stderr
    ml = check(json.loads(out.stdout), "mlflow")
    assert ml["status"] == "fail"
    assert "mlflow-skinny 2.9.9" in ml["summary"]
    assert f"import mlflow -> {mlflow.__version__}" in ml["summary"]
    assert "overwrote" in ml["why"]


def test_broken_provider_entry_point_of_another_plugin_does_not_confuse_the_doctor(project, tmp_path):
    """Another plugin whose provider cannot load: MLflow warns and goes on; ours is still active."""
    repo, _ = project
    site = tmp_path / "site"
    _fake_dist(site, "broken-provider", "0.1", "[mlflow.run_context_provider]\nbroken = no_such_module:Nope\n")
    out = run_doctor(repo, doctor_env(tmp_path, PYTHONPATH=str(site)), "--format", "json")
    assert out.returncode == 0, out.stdout + out.stderr
    assert check(json.loads(out.stdout), "run provider")["status"] == "ok"


def test_provider_not_registered_by_mlflow_says_why(project, tmp_path, monkeypatch):
    """As in a notebook that imported MLflow before `%pip install` of the plugin without restarting
    Python: the entry point exists and loads, but MLflow's provider registry does not hold it."""
    from click.testing import CliRunner
    from mlflow.tracking.context import registry

    from mlflow_lineage_plugin.context import LineageRunContext
    from mlflow_lineage_plugin.doctor import doctor

    repo, _ = project
    without = [p for p in registry._run_context_provider_registry if not isinstance(p, LineageRunContext)]
    assert len(without) == len(list(registry._run_context_provider_registry)) - 1
    monkeypatch.setattr(registry._run_context_provider_registry, "_registry", without)
    monkeypatch.chdir(repo)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    result = CliRunner().invoke(doctor, ["--format", "json"])
    assert result.exit_code == 1, result.output
    provider = check(json.loads(result.stdout), "run provider")
    assert provider["status"] == "fail"
    assert "not registered with MLflow" in provider["summary"]
    assert "did not register it when `import mlflow` ran" in provider["why"]


def test_a_registry_uri_mlflow_cannot_serve_is_reported_without_its_credentials(project, tmp_path):
    """MLflow's own error quotes the URI whole; the doctor's report is what users paste into tickets."""
    repo, _ = project
    env = doctor_env(tmp_path, MLFLOW_REGISTRY_URI=f"foo://ci:{SECRET}@registry.example.com/x")
    out = run_doctor(repo, env, "--format", "json")
    report = json.loads(out.stdout)
    uri = check(report, "registry uri")
    assert uri["status"] == "warn" and "MLflow has no store for it" in uri["summary"], uri
    # A warning, not a failure: the plugin itself is active, so the doctor exits 0 and says healthy.
    assert out.returncode == 0, out.stdout + out.stderr
    assert report["healthy"] is True
    assert [c["name"] for c in report["checks"] if c["status"] != "ok"] == ["registry uri"], report["checks"]
    assert "foo://registry.example.com/x" in uri["why"], uri
    assert SECRET not in out.stdout + out.stderr


def test_bad_script_path_is_a_one_line_error(tmp_path):
    out = run_doctor(tmp_path, doctor_env(tmp_path), "--script", str(tmp_path / "nope.py"))
    assert out.returncode == 2
    assert "does not exist" in out.stderr and "Traceback" not in out.stderr
