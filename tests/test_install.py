"""Installing the wheel where users install it: fresh virtual environments that already hold an MLflow
(full 3.x, skinny 3.x, full and skinny 2.22, on every Python from 3.9 to 3.13) or nothing at all.

For each: install MLflow first, `pip freeze`, install the plugin's wheel the way a user would, `pip
freeze` again, and require that nothing but the plugin changed (and that no file of the `mlflow`
package was rewritten, the trap when `mlflow` and `mlflow-skinny` overwrite each other). Then a
script inside that environment starts a run in a real git repository against SQLite and registers a
model version, and the tags that landed are checked; `mlflow-lineage doctor` must call it healthy, and
the resolver (`mlflow-lineage show` and `check`, run in that environment against the same store) must
lead from the version to its run and its commit, on MLflow 2.22 as on 3.x.

The environments are built in parallel (LINEAGE_INSTALL_JOBS, default 2). MLflow is downloaded once
per Python version into a wheelhouse in this run's temp folder and installed from it offline; the
plugin's own install into an existing MLflow talks to the package index, as a user's would. What makes
an environment what it is before the user's step (the downloads, MLflow's install, the test tools) goes
through this test environment's pip pointed at the new interpreter (``pip --python``): a current pip
resolves against the index about three times faster than the one ``venv`` seeds, and the user's own
step still runs the environment's own pip.
"""

from __future__ import annotations

import glob
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest
from conftest import ROOT, git
from fixtures.services import need, need_module
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from mlflow_lineage_plugin import tags as T

# Eight environments with MLflow in them: minutes on a quiet 2-core machine, far more on a busy one.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

PLUGIN = "mlflow-lineage-plugin"
MLFLOW_OWNED = ("mlflow", "mlflow-skinny", "mlflow-tracing", "gitpython", "databricks-sdk", "click")
SECRET = "s3cr3t-t0ken"
# MLflow 2.22's SQL store imports a pool class SQLAlchemy 2.1 removed, and it allows SQLAlchemy <3: a
# working 2.22 environment (with or without the plugin) pins SQLAlchemy below 2.1.
OLD_SQLALCHEMY = "sqlalchemy<2.1"


@dataclass(frozen=True)
class Case:
    id: str
    python: str  # "3.11"
    before: tuple[str, ...]  # what the environment holds before the plugin
    extra: str = ""  # the extra on the plugin's install line
    mlflow_prefix: str = ""  # the imported mlflow version must start with this
    why: str = ""


CASES = (
    Case("a-mlflow-latest", "3.11", ("mlflow",), mlflow_prefix="3.", why="full MLflow 3.x, newest release"),
    Case(
        "b-skinny-latest",
        "3.11",
        ("mlflow-skinny", "sqlalchemy", "alembic"),
        mlflow_prefix="3.",
        why="mlflow-skinny 3.x alone, as on Databricks runtimes (+SQLAlchemy for a local SQLite store)",
    ),
    Case("c-mlflow-2.22", "3.11", ("mlflow==2.22.*", OLD_SQLALCHEMY), mlflow_prefix="2.22.", why="full MLflow 2.22"),
    Case(
        "d-empty",
        "3.11",
        (),
        extra="[mlflow]",
        mlflow_prefix="3.",
        why='empty environment: the README line pip install "mlflow-lineage-plugin[mlflow]"',
    ),
    Case(
        "e-py3.9-skinny-2.22",
        "3.9",
        ("mlflow-skinny==2.22.*", OLD_SQLALCHEMY, "alembic"),
        mlflow_prefix="2.22.",
        why="oldest Python the plugin declares (MLflow 3 needs 3.10)",
    ),
    Case(
        "f-py3.13-skinny-latest",
        "3.13",
        ("mlflow-skinny", "sqlalchemy", "alembic"),
        mlflow_prefix="3.",
        why="newest Python here",
    ),
    # Python 3.10 rides on this case rather than on an environment of its own.
    Case(
        "g-py3.10-lowest-deps",
        "3.10",
        (
            "mlflow-skinny==2.22.*",
            OLD_SQLALCHEMY,
            "alembic",
            "GitPython==3.1.9",
            "databricks-sdk==0.20.0",
            "click==7.0",
        ),
        mlflow_prefix="2.22.",
        why="the plugin's lower bounds (= MLflow's own), on Python 3.10",
    ),
    Case(
        "h-py3.12-skinny-latest",
        "3.12",
        ("mlflow-skinny", "sqlalchemy", "alembic"),
        mlflow_prefix="3.",
        why="Python 3.12 (Databricks Runtime 16)",
    ),
)

CHECK_SCRIPT = r"""
import json, sys
import mlflow
from mlflow import MlflowClient

with mlflow.start_run() as run:
    mlflow.log_param("alpha", 0.5)
client = MlflowClient()
client.create_registered_model("install-check")
mv = client.create_model_version("install-check", source=run.info.artifact_uri + "/model",
                                 run_id=run.info.run_id)
mv = client.get_model_version("install-check", mv.version)
with mlflow.start_run(tags={"mlflow.source.git.commit": "deadbeef"}) as mine:
    pass
with mlflow.start_run(tags={"mlflow.source.git.commit": "deadbeef", "mlflow.source.git.dirty": "false"}) as told:
    pass
from mlflow.tracking._tracking_service.utils import _get_store
print("RESULT " + json.dumps({
    "tracking_store": [type(_get_store()).__name__, _get_store().__class__.__name__],
    "callers_commit_tags": mlflow.get_run(mine.info.run_id).data.tags,
    "callers_dirty_tags": mlflow.get_run(told.info.run_id).data.tags,
    "mlflow": mlflow.__version__,
    "run_id": run.info.run_id,
    "version": str(mv.version),
    "run_tags": mlflow.get_run(run.info.run_id).data.tags,
    "version_tags": dict(mv.tags),
}))
"""


# Where the plugin-on/off comparison of MLflow's tracking behaviour and the caller's-tags check that reads
# MLflow's `resolve_tags` frame (tests/test_tracking_store.py) and the uncommitted-changes round trips
# (tests/test_checkout.py) also run, besides the MLflow 3 of the test environment itself.
SAME_BEHAVIOUR_CASES = ("c-mlflow-2.22",)


def find_python(version: str) -> Optional[str]:
    """An interpreter for ``version``: this one, one on PATH, or one under pyenv."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return getattr(sys, "_base_executable", None) or sys.executable
    roots = [os.environ.get("PYENV_ROOT", ""), os.path.expanduser("~/.pyenv")]
    candidates = [shutil.which(f"python{version}") or ""]
    for root in filter(None, roots):
        candidates += sorted(glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", f"python{version}")))
    for exe in filter(None, candidates):
        try:
            out = subprocess.run(
                [exe, "-c", "import sys, venv, sqlite3; print(sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if out.returncode == 0 and out.stdout.strip() == str(tuple(int(p) for p in version.split("."))):
            return exe
    return None


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: nothing of this test process's venv or MLflow settings."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTHON", "VIRTUAL_ENV", "PYTEST", "COV_"))
    }
    env.update(PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


def run(cmd: list[str], log: list[str], timeout: float = 900, **kw) -> subprocess.CompletedProcess:
    t0 = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    log.append(f"$ {' '.join(cmd)}  [{time.monotonic() - t0:.1f}s, rc={out.returncode}]")
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


# --- building the wheel once ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the package sources (so the shared tree gets no build/)."""
    need_module("build", "the `build` package (test extra) builds the wheel")
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "mlflow_lineage_plugin",
        src / "mlflow_lineage_plugin",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    log: list[str] = []
    run([sys.executable, "-m", "build", "--wheel", "--outdir", str(base / "dist"), str(src)], log, env=clean_env())
    (built,) = (base / "dist").glob("*.whl")
    return built


def test_wheel_is_pure_python_with_both_entry_points_and_no_mlflow_requirement(wheel):
    assert wheel.name.endswith("-py3-none-any.whl"), wheel.name
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta_dir = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = z.read(f"{meta_dir}/METADATA").decode()
        entry_points = z.read(f"{meta_dir}/entry_points.txt").decode()
    assert not [n for n in names if n.endswith((".so", ".pyd", ".dll", ".c"))]
    assert not [n for n in names if n.startswith("tests/")]
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    unconditional = [r for r in requires if "extra ==" not in r]
    # A hard requirement on `mlflow` or `mlflow-skinny` would pull the other distribution's files
    # over an existing installation; MLflow comes from the environment or from an extra.
    assert not [r for r in unconditional if re.match(r"mlflow(-skinny)?\b", r, re.I)], unconditional
    assert any(r.startswith("mlflow>=2.22") and 'extra == "mlflow"' in r for r in requires), requires
    assert any(r.startswith("mlflow-skinny>=2.22") and 'extra == "skinny"' in r for r in requires), requires
    assert "[mlflow.run_context_provider]" in entry_points
    assert "lineage = mlflow_lineage_plugin.context:LineageRunContext" in entry_points
    assert "[mlflow.model_registry_store]" in entry_points
    assert "[mlflow.tracking_store]" in entry_points
    for scheme in ("sqlite", "postgresql", "mysql", "http", "https", "databricks", "file"):
        assert re.search(rf"^{re.escape(scheme)} = mlflow_lineage_plugin\.tracking_store:", entry_points, re.M), scheme
    for scheme in ("sqlite", "postgresql", "mysql", "http", "https", "databricks", "databricks-uc"):
        assert re.search(rf"^{re.escape(scheme)} = mlflow_lineage_plugin\.registry:", entry_points, re.M), scheme
    assert "[console_scripts]" in entry_points and "mlflow-lineage = " in entry_points


# --- one environment -----------------------------------------------------------------------------


@dataclass
class Outcome:
    case: Case
    missing_python: bool = False
    error: Optional[str] = None
    before: dict[str, str] = field(default_factory=dict)
    after: dict[str, str] = field(default_factory=dict)
    files_before: dict[str, tuple[int, int]] = field(default_factory=dict)
    files_after: dict[str, tuple[int, int]] = field(default_factory=dict)
    result: dict = field(default_factory=dict)
    head: str = ""
    db: str = ""
    doctor_rc: Optional[int] = None
    doctor: dict = field(default_factory=dict)
    show_rc: Optional[int] = None
    show: dict = field(default_factory=dict)
    check_rc: Optional[int] = None
    check: dict = field(default_factory=dict)
    resolver_output: str = ""  # everything `show` and `check` printed, stdout and stderr
    same_behaviour: bool = False  # the plugin-on/off comparison ran in this environment and passed
    seconds: float = 0.0
    log: list[str] = field(default_factory=list)


def prep_pip(py: str, python: str) -> list[str]:
    """This test environment's pip, working on the environment of ``py`` (Python ``python``), where that pip
    runs on that Python (pip 26 needs 3.10); else the environment's own pip. For what sets an environment
    up, never for the user's step."""
    requires = importlib.metadata.metadata("pip")["Requires-Python"] or ""
    if Version(python) in SpecifierSet(requires):
        return [sys.executable, "-m", "pip", "--python", py]
    return [py, "-m", "pip"]


def freeze(py: str, log: list[str]) -> dict[str, str]:
    """`pip freeze --all` as {normalized name: version or direct URL}."""
    out = run([py, "-m", "pip", "freeze", "--all"], log, env=clean_env()).stdout
    frozen = {}
    for line in out.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, ver = line.partition("==")
        if not sep:
            name, _, ver = line.partition(" @ ")
        frozen[re.sub(r"[-_.]+", "-", name.strip().lower())] = ver.strip()
    return frozen


def package_files(venv: Path, package: str = "mlflow") -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file of an import package: a reinstall or overwrite changes them."""
    found = {}
    for site in venv.glob("lib/python*/site-packages"):
        root = site / package
        for p in root.rglob("*"):
            if p.is_file() and "__pycache__" not in p.parts:
                st = p.stat()
                found[str(p.relative_to(site))] = (st.st_size, st.st_mtime_ns)
    return found


_wheelhouses: dict[tuple[str, str], tuple[Path, threading.Lock]] = {}
_wheelhouses_lock = threading.Lock()


def wheelhouse(base: Path, python: str) -> tuple[Path, threading.Lock]:
    """One download folder per Python version for this run, shared by its environments: the full
    MLflow a case downloads serves the skinny and empty cases too. Installs from it are offline."""
    with _wheelhouses_lock:
        key = (str(base), python)
        if key not in _wheelhouses:
            _wheelhouses[key] = (base / f"wheelhouse-py{python}", threading.Lock())
        return _wheelhouses[key]


def cli_json(cmd: list[str], log: list[str], **kw) -> tuple[int, dict, str]:
    """Run an `mlflow-lineage ... --format json` command as a user would: its exit code, its JSON (or
    the raw text when it printed none) and all it printed."""
    t0 = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    took = time.monotonic() - t0
    log.append(f"$ {' '.join(cmd[1:])}  [{took:.1f}s, rc={out.returncode}] stderr={out.stderr[-1500:]}")
    try:
        parsed = json.loads(out.stdout)
    except ValueError:
        parsed = {"raw": out.stdout[-2000:]}
    return out.returncode, parsed, out.stdout + out.stderr


def build_case(case: Case, wheel: Path, base: Path) -> Outcome:
    oc = Outcome(case)
    t0 = time.monotonic()
    try:
        exe = find_python(case.python)
        if exe is None:
            oc.missing_python = True
            return oc
        home = base / case.id
        venv = home / "venv"
        wh, wh_lock = wheelhouse(base, case.python)
        env = clean_env()
        run([exe, "-m", "venv", str(venv)], oc.log, env=env)
        py = str(venv / "bin" / "python")
        prep = prep_pip(py, case.python)
        if case.before:
            with wh_lock:  # files already there are not fetched again
                run([*prep, "download", "-q", "-d", str(wh), *case.before], oc.log, env=env)
            run(
                [*prep, "install", "-q", "--no-compile", "--no-index", "--find-links", str(wh), *case.before],
                oc.log,
                env=env,
            )
        oc.before = freeze(py, oc.log)
        oc.files_before = package_files(venv)
        if case.before:
            # The user's step, with the index allowed: a requirement that wanted to move a package
            # MLflow owns would be free to, and the freeze below would show it.
            run([py, "-m", "pip", "install", "-q", "--no-compile", str(wheel)], oc.log, env=env)
        else:  # the README's line into an empty environment; what it brings comes via the wheelhouse
            with wh_lock:
                run([*prep, "download", "-q", "-d", str(wh), f"{wheel}{case.extra}"], oc.log, env=env)
            run(
                [
                    py,
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--no-compile",
                    "--no-index",
                    "--find-links",
                    str(wh),
                    f"{wheel}{case.extra}",
                ],
                oc.log,
                env=env,
            )
        oc.after = freeze(py, oc.log)
        oc.files_after = package_files(venv)

        repo = home / "repo"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        (repo / "train.py").write_text(CHECK_SCRIPT)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "training script")
        git(repo, "remote", "add", "origin", f"https://ci-bot:{SECRET}@github.com/acme/demo.git")
        oc.head = git(repo, "rev-parse", "HEAD")
        oc.db = str(home / "mlflow.db")
        renv = clean_env(MLFLOW_TRACKING_URI=f"sqlite:///{oc.db}", HOME=str(home))
        out = run([py, "train.py"], oc.log, cwd=repo, env=renv, timeout=600)
        line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            raise RuntimeError(f"no RESULT line:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
        oc.result = json.loads(line[len("RESULT ") :])
        doc = subprocess.run(
            [str(venv / "bin" / "mlflow-lineage"), "doctor", "--format", "json", "--script", str(repo / "train.py")],
            cwd=repo,
            env=renv,
            capture_output=True,
            text=True,
            timeout=300,
        )
        oc.log.append(f"doctor rc={doc.returncode} stderr={doc.stderr[-1500:]}")
        oc.doctor_rc = doc.returncode
        oc.doctor = json.loads(doc.stdout) if doc.stdout.strip().startswith("{") else {"raw": doc.stdout[-2000:]}

        # The resolver, from another folder (the answer must come from the store, not from the local
        # checkout), against the store the run and the version went to.
        cli = str(venv / "bin" / "mlflow-lineage")
        target = f"models:/install-check/{oc.result['version']}"
        oc.show_rc, oc.show, shown = cli_json([cli, "show", target, "--format", "json"], oc.log, cwd=home, env=renv)
        oc.check_rc, oc.check, checked = cli_json(
            [cli, "check", target, "--format", "json"], oc.log, cwd=home, env=renv
        )
        oc.resolver_output = shown + checked
        if case.id in SAME_BEHAVIOUR_CASES:
            # MLflow's own tracking behaviour, plugin on and off, and the dirty-tree round trips through
            # `mlflow-lineage checkout`, on this MLflow (SQLite and a server).
            run([*prep, "install", "-q", "pytest", "pytest-timeout", "psycopg2-binary"], oc.log, env=env)
            run(
                [
                    py,
                    "-m",
                    "pytest",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    str(ROOT / "tests" / "test_tracking_store.py"),
                    str(ROOT / "tests" / "test_checkout.py"),
                    "-k",
                    "behaviour_unchanged or round_trip or callers_values",
                ],
                oc.log,
                cwd=ROOT,
                env=clean_env(HOME=str(home)),
                timeout=600,
            )
            oc.same_behaviour = True
    except Exception as exc:  # reported by the test of this case, with the log
        oc.error = f"{type(exc).__name__}: {exc}"
    finally:
        oc.seconds = time.monotonic() - t0
    return oc


@pytest.fixture(scope="module")
def outcomes(request, wheel, tmp_path_factory) -> Iterator[dict[str, Outcome]]:
    """Build every environment a selected test needs, in parallel, once."""
    wanted = set()
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if item.module is request.module and callspec is not None and "case" in callspec.params:
            wanted.add(callspec.params["case"].id)
    cases = [c for c in CASES if c.id in wanted]
    base = tmp_path_factory.mktemp("envs")
    jobs = max(1, int(os.environ.get("LINEAGE_INSTALL_JOBS", "2")))
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        done = dict(zip([c.id for c in cases], pool.map(lambda c: build_case(c, wheel, base), cases)))
    wall = time.monotonic() - t0
    timing = ", ".join(f"{k} {v.seconds:.0f}s" for k, v in done.items())
    print(f"\n[test_install] {len(cases)} environments, {jobs} in parallel: {wall:.0f}s wall ({timing})")
    for oc in done.values():
        print(f"[test_install] {oc.case.id}:\n  " + "\n  ".join(oc.log))
    yield done
    shutil.rmtree(base, ignore_errors=True)  # several GB of environments; the logs are in the failures


def _fail(oc: Outcome, what: str) -> str:
    return f"{oc.case.id} ({oc.case.why}): {what}\n" + "\n".join(oc.log)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_install_leaves_mlflow_alone_and_the_plugin_works(case, outcomes):
    oc = outcomes[case.id]
    need(not oc.missing_python, f"Python {case.python} is not available (PATH or pyenv)")
    assert oc.error is None, _fail(oc, oc.error or "")

    # 1. Nothing but the plugin changed: no MLflow distribution (nor its GitPython, databricks-sdk,
    #    click) was upgraded, downgraded, removed or reinstalled over.
    if case.before:
        assert PLUGIN not in oc.before
        changed = {k: (v, oc.after.get(k)) for k, v in oc.before.items() if oc.after.get(k) != v}
        added = sorted(set(oc.after) - set(oc.before))
        assert changed == {}, _fail(oc, f"pip changed {changed}")
        assert added == [PLUGIN], _fail(oc, f"pip added {added}")
        assert oc.files_before and oc.files_after == oc.files_before, _fail(oc, "files of `mlflow` were rewritten")
        for name in MLFLOW_OWNED:
            assert oc.after.get(name) == oc.before.get(name)
    else:
        assert PLUGIN in oc.after and "mlflow" in oc.after, _fail(oc, f"after: {sorted(oc.after)}")
    mlflow_version = oc.result["mlflow"]
    assert mlflow_version.startswith(case.mlflow_prefix), mlflow_version
    assert mlflow_version in (oc.after.get("mlflow"), oc.after.get("mlflow-skinny"))

    # 2. The run got its git reference and workspace; the version carries them from its run.
    workspace = f"sqlite:///{oc.db}"
    run_tags, version_tags = oc.result["run_tags"], oc.result["version_tags"]
    assert run_tags.get(T.WORKSPACE_URI) == workspace, _fail(oc, f"run tags: {run_tags}")
    assert run_tags.get(T.SCHEMA) == T.SCHEMA_VERSION, run_tags
    assert run_tags.get(T.MLFLOW_GIT_COMMIT) == oc.head, run_tags
    assert version_tags.get(T.WORKSPACE_URI) == workspace, _fail(oc, f"version tags: {version_tags}")
    assert version_tags.get(T.SCHEMA) == T.SCHEMA_VERSION, version_tags
    assert version_tags.get(T.GIT_COMMIT) == oc.head, version_tags
    everything = json.dumps(oc.result)
    assert SECRET not in everything
    # The tracking-store wrapper is MLflow's store for sqlite, answers as MLflow's own class, and has the
    # last word: the caller's commit wins and the derived tags follow it.
    assert oc.result["tracking_store"] == ["LineageTrackingStore", "SqlAlchemyStore"], oc.result["tracking_store"]
    mine = oc.result["callers_commit_tags"]
    assert mine.get(T.MLFLOW_GIT_COMMIT) == "deadbeef", mine
    assert mine.get(T.SOURCE_URL) == "https://github.com/acme/demo/blob/deadbeef/train.py", mine
    assert T.MLFLOW_GIT_DIRTY not in mine, mine
    # The caller's dirty state stands, though it equals the (clean) checkout's, which says nothing of deadbeef.
    told = oc.result["callers_dirty_tags"]
    assert told.get(T.MLFLOW_GIT_DIRTY) == "false" and told.get(T.MLFLOW_GIT_COMMIT) == "deadbeef", told

    # 3. The doctor, run as a user would in that environment, calls it healthy.
    assert oc.doctor_rc == 0, _fail(oc, f"doctor: {json.dumps(oc.doctor, indent=1)[-3000:]}")
    assert oc.doctor["healthy"] is True

    # 4. The resolver leads from the version to its run and to the run's commit, without findings.
    run_id, target = oc.result["run_id"], f"models:/install-check/{oc.result['version']}"
    shown = json.dumps(oc.show, indent=1)[-3000:]
    assert oc.show_rc == 0, _fail(oc, f"show exited {oc.show_rc}: {shown}")
    assert oc.show["target"] == target, shown
    assert oc.show["findings"] == [], _fail(oc, f"show findings: {shown}")
    nodes = {n["id"]: n for n in oc.show["nodes"]}
    (version,) = [n for n in nodes.values() if n["kind"] == "model_version"]
    assert version["attrs"]["run_id"] == run_id, shown
    assert nodes[f"run:{run_id}"]["attrs"]["run_id"] == run_id, shown
    commits = [n["attrs"]["commit"] for n in nodes.values() if n["kind"] == "git_commit"]
    assert commits == [oc.head], _fail(oc, f"show commits {commits}, expected {oc.head}: {shown}")
    into_run = [e for e in oc.show["edges"] if e["target"] == f"run:{run_id}"]
    assert into_run, _fail(oc, f"nothing leads to the run: {shown}")
    checked = json.dumps(oc.check, indent=1)[-3000:]
    assert oc.check_rc == 0, _fail(oc, f"check exited {oc.check_rc}: {checked}")
    assert oc.check["results"] == [{"target": target, "ok": True, "commits": [oc.head[:12]], "findings": []}], checked
    assert SECRET not in oc.resolver_output and "Traceback" not in oc.resolver_output, oc.resolver_output

    # 5. MLflow's own tracking behaviour is unchanged by the plugin on this MLflow too.
    assert oc.same_behaviour == (case.id in SAME_BEHAVIOUR_CASES), _fail(oc, "plugin on/off comparison")


def test_doctor_without_mlflow_says_how_to_get_it(wheel, tmp_path):
    """`pip install mlflow-lineage-plugin` with no extra into an empty environment: the plugin cannot
    do anything, and the doctor must say so and name the install line that fixes it."""
    log: list[str] = []
    env = clean_env()
    run([find_python("3.11") or sys.executable, "-m", "venv", str(tmp_path / "venv")], log, env=env)
    py = str(tmp_path / "venv" / "bin" / "python")
    run([py, "-m", "pip", "install", "-q", "--no-compile", str(wheel)], log, env=env)
    frozen = freeze(py, log)
    assert PLUGIN in frozen and not {"mlflow", "mlflow-skinny"} & set(frozen), frozen
    out = subprocess.run(
        [str(tmp_path / "venv" / "bin" / "mlflow-lineage"), "doctor"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "FAIL  mlflow" in out.stdout and "MLflow is not installed" in out.stdout
    assert 'pip install "mlflow-lineage-plugin[mlflow]"' in out.stdout
    assert "Traceback" not in out.stdout + out.stderr
