"""Run MLflow's own tracking-store and registry-store tests through the plugin's store wrappers.

Opt-in, for maintainers moving to a new MLflow release: given a checkout of MLflow's source (its
``tests/`` folder; nothing of it is copied here), runs the chosen test files once per mode and lists the
tests whose outcome differs from the plain run:

- ``plain``: MLflow's stores as its fixtures build them, the plugin off (``MLFLOW_LINEAGE_DISABLE``);
- ``off``: every store a fixture returns wrapped in the plugin's wrapper, the plugin off;
- ``on``: wrapped, the plugin on.

A store is wrapped where a fixture returns one (this file is also the pytest plugin that does it);
stores a test builds in its own body stay plain. docs/install.md says which tests are expected to differ.

    python scripts/run_mlflow_store_tests.py ~/src/mlflow                  # the four store test files
    python scripts/run_mlflow_store_tests.py ~/src/mlflow --modes plain,on -- -x -k logged_model

Run it with the Python of the environment under test: MLflow installed at the checkout's version (or
close to it), the plugin importable, and MLflow's test requirements installed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

DEFAULT_FILES = (
    "tests/store/tracking/test_file_store.py",
    "tests/store/tracking/test_sqlalchemy_store.py",
    "tests/store/model_registry/test_file_store.py",
    "tests/store/model_registry/test_sqlalchemy_store.py",
)
MODES = ("plain", "off", "on")
_WRAP_ENV = "_MLFLOW_LINEAGE_WRAP_FIXTURE_STORES"


# --- the pytest plugin (loaded in the child pytest with -p) -------------------------------------------


def _wrapped(value: Any) -> Any:
    from mlflow.store.model_registry.abstract_store import AbstractStore as RegistryStore
    from mlflow.store.tracking.abstract_store import AbstractStore as TrackingStore

    from mlflow_lineage_plugin.registry import LineageRegistryStore
    from mlflow_lineage_plugin.stores import StoreWrapper
    from mlflow_lineage_plugin.tracking_store import LineageTrackingStore

    if isinstance(value, StoreWrapper):
        return value
    if isinstance(value, TrackingStore):
        return LineageTrackingStore(value)
    if isinstance(value, RegistryStore):
        return LineageRegistryStore(value, store_uri=None, tracking_uri=None)
    return value


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    outcome = yield
    if os.environ.get(_WRAP_ENV) != "1" or outcome.excinfo is not None:
        return
    value = outcome.get_result()
    wrapped = _wrapped(value)
    if wrapped is not value:
        fixturedef.cached_result = (wrapped, fixturedef.cache_key(request), None)
        outcome.force_result(wrapped)


# --- the runner ---------------------------------------------------------------------------------------


def _outcomes(junit: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if not junit.exists():
        return out
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        kinds = {child.tag for child in case}
        out[name] = next((k for k in ("failure", "error", "skipped") if k in kinds), "passed")
    return out


def run_mode(mode: str, src: Path, files: list[str], extra: list[str], out_dir: Path) -> dict[str, str]:
    junit = out_dir / f"{mode}.xml"
    env = dict(os.environ)
    here = str(Path(__file__).resolve().parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    env[_WRAP_ENV] = "0" if mode == "plain" else "1"
    if mode == "on":
        env.pop("MLFLOW_LINEAGE_DISABLE", None)
    else:
        env["MLFLOW_LINEAGE_DISABLE"] = "true"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        Path(__file__).stem,
        "-p",
        "no:cacheprovider",
        "-q",
        f"--junitxml={junit}",
        *files,
        *extra,
    ]
    print(f"== {mode}: {' '.join(cmd[2:])}", flush=True)
    subprocess.run(cmd, cwd=src, env=env, check=False)
    return _outcomes(junit)


def report(results: dict[str, dict[str, str]]) -> str:
    lines = []
    for mode, got in results.items():
        counts: dict[str, int] = {}
        for outcome in got.values():
            counts[outcome] = counts.get(outcome, 0) + 1
        lines.append(f"{mode}: {len(got)} tests, " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    base = results.get("plain")
    if base is not None:
        for mode, got in results.items():
            if mode == "plain":
                continue
            differ = sorted(t for t in got.keys() | base.keys() if got.get(t) != base.get(t))
            lines.append(f"{mode} differs from plain in {len(differ)} test(s)")
            lines += [f"  {t}: plain {base.get(t, 'absent')}, {mode} {got.get(t, 'absent')}" for t in differ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mlflow_src", type=Path, help="a checkout of MLflow's source (holds tests/store/)")
    parser.add_argument("--files", nargs="+", default=list(DEFAULT_FILES), help="test files, relative to it")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated: plain, off, on")
    parser.add_argument("pytest_args", nargs="*", help="after --: passed to pytest")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or set(modes) - set(MODES):
        parser.error(f"--modes: choose from {', '.join(MODES)}")
    missing = [f for f in args.files if not (args.mlflow_src / f).is_file()]
    if missing:
        parser.error(f"not in {args.mlflow_src}: {', '.join(missing)} (give a checkout of MLflow's source)")
    with tempfile.TemporaryDirectory(prefix="mlflow-store-tests-") as tmp:
        results = {m: run_mode(m, args.mlflow_src, args.files, args.pytest_args, Path(tmp)) for m in modes}
    print("== summary\n" + report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
