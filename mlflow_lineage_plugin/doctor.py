"""``mlflow-lineage doctor``: is the plugin active here, and what would it record right now.

Installing a wheel is not the same as MLflow using it: an entry point can fail to load while
``import mlflow`` runs (MLflow only warns), another plugin can register the same registry scheme
after ours and silently win, and two MLflow distributions can overwrite each other's files. Each
check therefore asks MLflow's own registries what they hold, and names the reason when something
is missing, so a user on a cluster can fix it without reading MLflow's source.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import click

from mlflow_lineage_plugin.bounded import run_bounded
from mlflow_lineage_plugin.errors import error_line

DIST_NAME = "mlflow-lineage-plugin"
PROVIDER_GROUP = "mlflow.run_context_provider"
REGISTRY_GROUP = "mlflow.model_registry_store"
TRACKING_GROUP = "mlflow.tracking_store"
MLFLOW_DISTS = ("mlflow", "mlflow-skinny", "mlflow-tracing")
MIN_MLFLOW = (2, 22)
TAGS_TIMEOUT = 30.0

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass
class Check:
    name: str
    status: str
    summary: str
    why: Optional[str] = None


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    def add(self, name: str, status: str, summary: str, why: Optional[str] = None) -> None:
        self.checks.append(Check(name, status, summary, why))

    def to_json(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "checks": [asdict(c) for c in self.checks], **self.facts}


# --- distributions and entry points ------------------------------------------------------------


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _distributions() -> list[Any]:
    """Installed distributions, first on ``sys.path`` wins, as ``importlib.metadata.entry_points``
    sees them (so the doctor and MLflow agree on which copy counts)."""
    import importlib.metadata as md

    seen: set[str] = set()
    out = []
    for dist in md.distributions():
        name = _norm(dist.metadata["Name"] or "")
        if name and name not in seen:
            seen.add(name)
            out.append(dist)
    return out


def _dist_version(name: str) -> Optional[str]:
    import importlib.metadata as md

    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def _entry_points(group: str, name: Optional[str] = None) -> list[tuple[str, str, Any]]:
    """``(distribution, version, entry point)`` for every declaration of ``group`` (and ``name``)."""
    out = []
    for dist in _distributions():
        for ep in dist.entry_points:
            if ep.group == group and (name is None or ep.name == name):
                out.append((dist.metadata["Name"], dist.version, ep))
    return out


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


# --- individual checks ---------------------------------------------------------------------------


def check_plugin(report: Report) -> Optional[Any]:
    import importlib.metadata as md

    try:
        dist = md.distribution(DIST_NAME)
    except md.PackageNotFoundError:
        report.add(
            "plugin",
            FAIL,
            "mlflow-lineage-plugin is not installed as a distribution",
            "MLflow finds plugins only through installed entry points: pip install the wheel "
            "(or `pip install -e .` in a checkout)",
        )
        return None
    from mlflow_lineage_plugin import __version__

    report.facts["plugin"] = {
        "version": dist.version,
        "module_version": __version__,
        "location": os.path.dirname(os.path.dirname(__file__)),
    }
    if dist.version != __version__:
        report.add(
            "plugin",
            WARN,
            f"{DIST_NAME} {dist.version} installed, but {__version__} imported",
            "two copies are on sys.path; the imported one is not the one whose entry points MLflow "
            "reads: reinstall so only one remains",
        )
    else:
        report.add("plugin", OK, f"{DIST_NAME} {dist.version}")
    return dist


def check_mlflow(report: Report) -> bool:
    """Which MLflow distributions are installed, and whether ``import mlflow`` agrees with them."""
    versions = {name: _dist_version(name) for name in MLFLOW_DISTS}
    installed = {k: v for k, v in versions.items() if v}
    report.facts["mlflow"] = {"distributions": installed}
    if not installed.get("mlflow") and not installed.get("mlflow-skinny"):
        extra = " (mlflow-tracing alone has no tracking or registry)" if installed else ""
        report.add(
            "mlflow",
            FAIL,
            "MLflow is not installed" + extra,
            'install it with the plugin: pip install "mlflow-lineage-plugin[mlflow]" (or "[skinny]" for mlflow-skinny)',
        )
        return False
    try:
        import mlflow
    except Exception as exc:
        report.add("mlflow", FAIL, "`import mlflow` fails", error_line(exc))
        return False
    imported = getattr(mlflow, "__version__", "?")
    report.facts["mlflow"].update(imported=imported, location=os.path.dirname(mlflow.__file__))
    listing = ", ".join(f"{k} {v}" for k, v in installed.items())
    summary = f"{listing}; import mlflow -> {imported}"
    if len(set(installed.values())) > 1:
        # All three ship files of the one `mlflow` import package; each release pins the others to
        # its own version, so different versions mean the last install overwrote the others' files.
        fix = " ".join(f'"{name}=={imported}"' for name in installed)
        report.add(
            "mlflow",
            FAIL,
            summary,
            f"{' and '.join(installed)} of different versions ship files of the same `mlflow` "
            f"package; whichever was installed last overwrote the others. Reinstall them at one "
            f"version (pip install --force-reinstall --no-deps {fix}), or uninstall the one that "
            f"does not belong",
        )
        return True
    if imported not in installed.values():
        report.add(
            "mlflow",
            FAIL,
            summary,
            "the imported mlflow package matches no installed distribution: files were overwritten "
            "by another install; reinstall MLflow",
        )
        return True
    if _version_tuple(imported) < MIN_MLFLOW:
        report.add("mlflow", WARN, summary, f"MLflow {imported} is older than the oldest tested release (2.22)")
        return True
    report.add("mlflow", OK, summary)
    return True


def check_git(report: Report) -> None:
    exe = shutil.which("git")
    if not exe:
        report.facts["git"] = None
        report.add(
            "git",
            WARN,
            "git executable not found on PATH",
            "commit, branch and remote are still read from .git files, but the dirty state is "
            "recorded as unknown (and some repositories, e.g. reftable ones, need git)",
        )
        return
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10)
        version = out.stdout.strip() or out.stderr.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        report.facts["git"] = {"path": exe}
        report.add("git", WARN, f"{exe} does not run", error_line(exc))
        return
    report.facts["git"] = {"path": exe, "version": version}
    report.add("git", OK, f"{version} ({exe})")


def check_switch(report: Report) -> bool:
    from mlflow_lineage_plugin import config

    settings = {name: _shown(name) for name in config.ALL_SETTINGS if config.get(name)}
    report.facts["settings"] = settings
    if config.disabled():
        report.add(
            "off switch",
            FAIL,
            f"{config.DISABLE}=true: the plugin does nothing in this environment",
            f"unset {config.DISABLE} (or set it to false) to switch the plugin on",
        )
        return True
    raw = config.get(config.DISABLE)
    shown = f"{config.DISABLE} not set" if raw is None else f"{config.DISABLE}=false"
    if raw is not None and config.setting_problem(config.DISABLE, raw):
        shown = f"{config.DISABLE} is no switch, so false"
    report.add("off switch", OK, f"plugin on ({shown})")
    return False


def check_settings(report: Report) -> None:
    from mlflow_lineage_plugin import config

    problems = config.problems()
    for line in problems:
        report.add("settings", FAIL, line)
    if not problems:
        report.add("settings", OK, "every MLFLOW_LINEAGE_* setting is valid")


def _shown(name: str) -> str:
    """A setting as doctor may print it: its parsed value, never the text as given. A value its
    setting rejects is not shown at all (it is often a token pasted into the wrong variable), and a
    free-text one (patterns, mappings, a file) only by its size."""
    from mlflow_lineage_plugin import config as c
    from mlflow_lineage_plugin.urls import redact

    value = c.get(name) or ""
    if c.setting_problem(name, value):
        return "(invalid: see the settings check)"
    if name in c.SWITCH_DEFAULTS:
        return "on" if c.switch(name) else "off"
    if name in c.DEFAULT_SECONDS:
        return f"{c.seconds(name):g} s"
    if name == c.DIFF_MAX_BYTES:
        return f"{c.parse_size(value)} bytes"
    if name in c.DEFAULT_COUNTS:
        return str(c.count(name))
    if name == c.REQUIRE:
        return ",".join(r for r in c.REQUIREMENTS_ORDER if r in c.required())
    if name == c.GIT_DIRTY:
        dirty = c.git_dirty()[1]
        return "unknown" if dirty is None else str(dirty).lower()
    parsed = {
        c.GIT_COMMIT: c.git_commit,
        c.GIT_BRANCH: c.git_branch,
        c.GIT_PATH: c.git_path,
        c.GIT_REPO_URL: c.git_repo_url,
    }
    if name in parsed:
        return parsed[name]() or ""
    if name == c.WORKSPACE_URI:
        return redact(value) or ""
    if name == c.DIFF_EXCLUDE:
        return f"{len(c.diff_exclude())} pattern(s), not shown"
    return "set, not shown"


def _load_warnings(captured: list[warnings.WarningMessage], needle: str) -> Optional[str]:
    for w in captured:
        text = str(w.message)
        if needle in text:
            return text.splitlines()[0]
    return None


def check_provider(report: Report, dist: Optional[Any], captured: list[warnings.WarningMessage]) -> None:
    """Is our RunContextProvider among the providers ``mlflow.start_run`` consults?"""
    ours = [ep for ep in (dist.entry_points if dist else []) if ep.group == PROVIDER_GROUP]
    if not ours:
        report.add(
            "run provider",
            FAIL,
            f"no `{PROVIDER_GROUP}` entry point declared by {DIST_NAME}",
            "the plugin is not installed as a distribution, or its metadata is damaged: reinstall",
        )
        return
    ep = ours[0]
    try:
        from mlflow.tracking.context.registry import _run_context_provider_registry
    except Exception as exc:
        report.add("run provider", FAIL, "cannot read MLflow's run-context provider registry", error_line(exc))
        return
    try:
        cls = ep.load()
    except Exception as exc:
        report.add("run provider", FAIL, f"entry point {ep.name} = {ep.value} does not load", error_line(exc))
        return
    if any(isinstance(p, cls) for p in _run_context_provider_registry):
        report.add("run provider", OK, f"registered with MLflow ({ep.name} = {ep.value})")
        return
    warned = _load_warnings(captured, f'context provider "{ep.name}"')
    why = warned or (
        "the entry point loads now but MLflow did not register it when `import mlflow` ran: most "
        "likely it failed during that import (a circular import) and MLflow only warned"
    )
    report.add("run provider", FAIL, f"not registered with MLflow ({ep.name} = {ep.value})", why)


def _shadowing(scheme: str, builder: Any, group: str = REGISTRY_GROUP) -> str:
    """Name the distribution whose entry point put ``builder`` in MLflow's registry."""
    for dist_name, version, ep in _entry_points(group, scheme):
        if _norm(dist_name) == DIST_NAME:
            continue
        with contextlib.suppress(Exception):
            if ep.load() is builder:
                return f"shadowed by {dist_name} {version} ({scheme} = {ep.value})"
    mod = getattr(builder, "__module__", "?")
    name = getattr(builder, "__qualname__", repr(builder))
    return f"MLflow uses {mod}.{name} (MLflow's built-in, or registered at run time)"


def _check_scheme_hook(
    report: Report,
    check: str,
    group: str,
    what: str,
    dist: Optional[Any],
    captured: list[warnings.WarningMessage],
    get_registry,
) -> Optional[tuple[Any, list[str]]]:
    """For each scheme we declare in ``group``, is the builder MLflow maps it to ours?"""
    ours = [ep for ep in (dist.entry_points if dist else []) if ep.group == group]
    if not ours:
        report.add(
            check,
            FAIL,
            f"no `{group}` entry points declared by {DIST_NAME}",
            "the plugin is not installed as a distribution, or its metadata is damaged: reinstall",
        )
        return None
    try:
        with warnings.catch_warnings(record=True) as more:
            warnings.simplefilter("always")
            registry = get_registry()
        captured.extend(more)
        mapping = dict(registry._registry)
    except Exception as exc:
        report.add(check, FAIL, f"cannot read MLflow's {what} registry", error_line(exc))
        return None
    wrapped, problems = [], []
    for ep in ours:
        try:
            builder = ep.load()
        except Exception as exc:
            problems.append(f"{ep.name}: entry point {ep.value} does not load ({error_line(exc)})")
            continue
        actual = mapping.get(ep.name)
        if actual is builder:
            wrapped.append(ep.name)
        elif actual is None:
            warned = _load_warnings(captured, f'scheme "{ep.name}"')
            problems.append(f"{ep.name}: not registered" + (f" ({warned})" if warned else ""))
        else:
            problems.append(f"{ep.name}: {_shadowing(ep.name, actual, group)}")
    report.facts[check.replace(" ", "_")] = {"wrapped": wrapped, "problems": problems}
    summary = f"{len(wrapped)}/{len(ours)} schemes wrapped" + (f": {' '.join(wrapped)}" if wrapped else "")
    if problems:
        report.add(check, FAIL, summary, "; ".join(problems))
    else:
        report.add(check, OK, summary)
    return registry, wrapped


def check_registry(report: Report, dist: Optional[Any], captured: list[warnings.WarningMessage]) -> None:
    """For each scheme we declare, is the builder MLflow maps it to ours?"""

    def get_registry():
        from mlflow.tracking._model_registry.utils import _get_store_registry

        return _get_store_registry()

    found = _check_scheme_hook(report, "registry", REGISTRY_GROUP, "model-registry store", dist, captured, get_registry)
    if found is not None and dist:  # found implies dist: without it no entry point is ours
        registry, wrapped = found
        declared = {ep.name for ep in dist.entry_points if ep.group == REGISTRY_GROUP}
        _check_current_registry_uri(report, registry, declared, wrapped)


def check_tracking_store(report: Report, dist: Optional[Any], captured: list[warnings.WarningMessage]) -> None:
    """The tracking-store wrapper, which has the last word on a new run's git tags: is it MLflow's
    builder for each scheme we declare, and for the tracking URI in effect?"""

    def get_registry():
        from mlflow.tracking._tracking_service.utils import _tracking_store_registry

        return _tracking_store_registry

    found = _check_scheme_hook(report, "tracking store", TRACKING_GROUP, "tracking store", dist, captured, get_registry)
    if found is None:
        return
    registry, wrapped = found
    from mlflow_lineage_plugin.urls import redact

    try:
        import mlflow

        uri = mlflow.get_tracking_uri()
        builder = registry.get_store_builder(uri)
    except Exception as exc:
        report.add("tracking uri", WARN, "MLflow has no tracking store for the tracking URI in effect", error_line(exc))
        return
    if any(registry._registry.get(s) is builder for s in wrapped):
        report.add("tracking uri", OK, f"{redact(uri)}: new runs here get reconciled git tags")
    else:
        report.add(
            "tracking uri",
            WARN,
            f"{redact(uri)}: this tracking store's scheme is not wrapped",
            "runs created through it keep the run provider's tags, but stale git values MLflow "
            "cached for the process are not dropped",
        )


def _check_current_registry_uri(report: Report, registry: Any, declared: set[str], wrapped: list[str]) -> None:
    from mlflow_lineage_plugin.urls import redact

    try:
        import mlflow

        uri = mlflow.get_registry_uri()
        tracking = mlflow.get_tracking_uri()
    except Exception as exc:
        report.add("registry uri", WARN, "cannot resolve the registry URI", error_line(exc))
        return
    report.facts["tracking_uri"] = redact(tracking)
    report.facts["registry_uri"] = redact(uri)
    try:
        builder = registry.get_store_builder(uri)
    except Exception as exc:
        report.add("registry uri", WARN, f"{redact(uri)}: MLflow has no store for it", error_line(exc))
        return
    ours = {s for s in wrapped if registry._registry.get(s) is builder}
    if ours:
        report.add("registry uri", OK, f"{redact(uri)}: new model versions here are enriched")
    else:
        report.add(
            "registry uri",
            WARN,
            f"{redact(uri)}: this registry's scheme is not wrapped",
            "model versions created through it are not enriched here (a tracking server with the "
            "plugin still enriches them server-side)",
        )


def _resolve_like_mlflow(provider: Any) -> tuple[bool, dict]:
    """What ``mlflow.tracking.context.registry.resolve_tags`` takes from the provider."""
    active = bool(provider.in_context())
    return active, (provider.tags() if active else {})


def check_would_record(report: Report, script: Optional[str], switched_off: bool) -> None:
    from mlflow_lineage_plugin import tags as T
    from mlflow_lineage_plugin.context import LineageRunContext

    where = f"script {os.path.abspath(script)}" if script else f"interactive session in {os.getcwd()}"
    # The script, or an interactive session in the current directory: not the doctor's own executable.
    provider = LineageRunContext(os.path.abspath(script) if script else os.getcwd())
    outcome = run_bounded(lambda: _resolve_like_mlflow(provider), TAGS_TIMEOUT, "lineage-doctor")
    error = outcome.error
    if not outcome.finished:
        report.add(
            "would record",
            FAIL,
            f"{where}: the provider did not answer in {TAGS_TIMEOUT:.0f} s",
            "a run here would wait on it; report this as a bug",
        )
        return
    if error is not None:
        report.add("would record", FAIL, f"{where}: the provider raised", error_line(error))
        return
    active, recorded = outcome.result()
    recorded = dict(recorded or {})
    report.facts["would_record"] = {"as": where, "in_context": bool(active), "tags": recorded}
    if switched_off or not active:
        report.add(
            "would record",
            WARN if switched_off else FAIL,
            f"{where}: nothing (provider not in context)",
            "switched off" if switched_off else "the provider reports it is not in context",
        )
        return
    workspace = recorded.get(T.WORKSPACE_URI)
    commit = recorded.get(T.MLFLOW_GIT_COMMIT)
    parts = [f"workspace {workspace}" if workspace else "no workspace"]
    if commit:
        repo = recorded.get(T.MLFLOW_GIT_REPO_URL) or "(no remote)"
        branch = recorded.get(T.MLFLOW_GIT_BRANCH)
        dirty = recorded.get(T.MLFLOW_GIT_DIRTY)
        path = recorded.get(T.GIT_PATH)
        parts.append(
            f"repository {repo} at {commit[:12]}"
            + (f" on {branch}" if branch else "")
            + (f", dirty={dirty}" if dirty else "")
            + (f", path {path}" if path else "")
        )
    status, why = OK, None
    if not workspace:
        status, why = FAIL, "no workspace URI: the tracking URI could not be resolved"
    elif not commit:
        status, why = WARN, _why_no_commit(script)
    report.add("would record", status, f"{where}: " + "; ".join(parts), why)


def check_change_notification(report: Report, script: Optional[str]) -> None:
    """Whether a long-lived process here would answer repeated runs from change notification, and why not."""
    from mlflow_lineage_plugin.git import find_repo, watch

    where = os.path.abspath(script) if script else os.getcwd()
    repo = find_repo(os.path.realpath(where))
    if repo is None:
        report.add("change notice", OK, "not used: no git checkout here")
        return
    found = watch.availability(repo)
    report.facts["change_notification"] = {"active": found.active, "reason": found.reason}
    if found.active:
        report.add("change notice", OK, f"on for repeated runs in one process: {found.reason}")
    else:
        report.add("change notice", OK, f"off: {found.reason}", "every run checks the checkout with git, as before")


def _why_no_commit(script: Optional[str]) -> str:
    where = os.path.dirname(os.path.abspath(script)) if script else os.getcwd()
    exe = shutil.which("git")
    if not exe:
        return "no git executable, no repository readable from .git files, and no MLFLOW_LINEAGE_GIT_COMMIT override"
    try:
        out = subprocess.run(
            [exe, "-C", where, "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"git did not answer: {error_line(exc)}"
    if out.returncode != 0:
        return f"{where} is not inside a git repository (set MLFLOW_LINEAGE_GIT_COMMIT for builds without .git)"
    return f"{where} is in {out.stdout.strip()}, but the provider recorded no commit"


# --- the command ---------------------------------------------------------------------------------


def diagnose(script: Optional[str] = None) -> Report:
    """Run every check in order; later checks are skipped when an earlier one makes them moot."""
    report = Report()
    report.facts["python"] = {"version": sys.version.split()[0], "executable": sys.executable}
    dist = check_plugin(report)
    with warnings.catch_warnings(record=True) as captured:
        warnings.simplefilter("always")
        have_mlflow = check_mlflow(report)
    check_git(report)
    switched_off = check_switch(report)
    check_settings(report)
    if have_mlflow:
        check_provider(report, dist, captured)
        check_tracking_store(report, dist, captured)
        check_registry(report, dist, captured)
        check_would_record(report, script, switched_off)
    check_change_notification(report, script)
    return report


_MARK = {OK: "ok  ", WARN: "warn", FAIL: "FAIL"}


def render_text(report: Report) -> str:
    width = max(len(c.name) for c in report.checks)
    lines = []
    for c in report.checks:
        lines.append(f"{_MARK[c.status]}  {c.name.ljust(width)}  {c.summary}")
        if c.why:
            lines.append(f"      {' ' * width}  why: {c.why}")
    recorded = (report.facts.get("would_record") or {}).get("tags") or {}
    if recorded:
        lines.append("")
        lines.append("tags a run would get now:")
        lines.extend(f"  {k} = {v}" for k, v in sorted(recorded.items()))
    failed = sum(c.status == FAIL for c in report.checks)
    lines.append("")
    lines.append("healthy: the plugin is active" if report.healthy else f"{failed} problem(s): see FAIL lines above")
    return "\n".join(lines)


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--script",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Show what a run started by this script would record (default: an interactive "
    "session in the current directory).",
)
def doctor(fmt: str, script: Optional[str]) -> None:
    """Check that MLflow loads the plugin and show what it would record now.

    Exit status 0 when the plugin is active, 1 when something is wrong (each FAIL line says why).
    """
    report = diagnose(script)
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo(render_text(report))
    sys.exit(0 if report.healthy else 1)
