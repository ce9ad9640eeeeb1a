"""The ``mlflow-lineage`` command: thin click wrappers; the logic lives in the modules it calls.

Exit codes: 0 ok, 1 findings (or nothing found), 2 bad usage or input, including a target that
cannot be found or a registry that cannot be read. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Callable, Optional, cast

import click

from mlflow_lineage_plugin import __version__
from mlflow_lineage_plugin.urls import redact_text

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT = 0, 1, 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlflow-lineage")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Print the traceback of an error and the plugin's DEBUG log [MLFLOW_LINEAGE_DEBUG].",
)
def main(verbose: bool) -> None:
    """Lineage of MLflow models: from a model version to the run, workspace and git commit."""
    if not _verbose():
        return
    logger = logging.getLogger("mlflow_lineage_plugin")
    level = logger.level
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)

    def restore() -> None:
        logger.removeHandler(handler)
        logger.setLevel(level)

    click.get_current_context().call_on_close(restore)


def _verbose() -> bool:
    """``-v`` on the command line or ``MLFLOW_LINEAGE_DEBUG``: a bug report then carries the traceback."""
    from mlflow_lineage_plugin import config

    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("verbose")) or config.switch(config.DEBUG)


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    click.echo(f"mlflow-lineage: error: {message}", err=True)
    sys.exit(code)


def _guard(fn: Callable) -> Callable:
    """Every known failure becomes one line on stderr with exit code 2; nothing prints a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from mlflow_lineage_plugin.errors import ResolveError, describe_error, unsupported_scheme
        from mlflow_lineage_plugin.resolve.target import TargetError

        try:
            with _quiet_mlflow():
                return fn(*args, **kwargs)
        except (TargetError, ResolveError) as exc:
            _fail(str(exc))
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Exception as exc:  # the promise is one line, whatever broke
            if _verbose():
                click.echo(redact_text(traceback.format_exc()).rstrip(), err=True)
            _fail(unsupported_scheme(exc) or f"{type(exc).__name__}: {describe_error(exc)}")

    return wrapper


@contextlib.contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """MLflow logs at INFO to stderr (``Creating initial MLflow database tables...``); the CLI's
    promise is one line per error, so only its warnings pass while a command runs, unless the user
    chose a level. MLflow reads ``MLFLOW_LOGGING_LEVEL`` when it is imported (not before a malformed
    target is rejected); once imported, its logger is set directly."""
    if os.environ.get("MLFLOW_LOGGING_LEVEL"):
        yield
        return
    logger = logging.getLogger("mlflow")
    level = logger.level
    os.environ["MLFLOW_LOGGING_LEVEL"] = "WARNING"
    if "mlflow" in sys.modules:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        os.environ.pop("MLFLOW_LOGGING_LEVEL", None)
        logger.setLevel(level)


def _connection_options(fn: Callable) -> Callable:
    fn = click.option(
        "--timeout",
        type=click.FloatRange(min=0.1),
        default=None,
        help="Seconds per remote request [MLFLOW_LINEAGE_RESOLVE_TIMEOUT, default 30].",
    )(fn)
    fn = click.option(
        "--registry-uri",
        envvar="MLFLOW_REGISTRY_URI",
        default=None,
        help="Model registry URI [MLFLOW_REGISTRY_URI; default: the tracking URI].",
    )(fn)
    fn = click.option(
        "--tracking-uri", envvar="MLFLOW_TRACKING_URI", default=None, help="Tracking URI [MLFLOW_TRACKING_URI]."
    )(fn)
    return fn


def _check_uri(value: Optional[str], option: str) -> None:
    if value is not None and not value.strip():
        _fail(f"{option} is empty")


@main.command()
@click.argument("target")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "mermaid", "dot", "markdown"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--mlmodel",
    is_flag=True,
    help="Download the small MLmodel files: list flavors, compare the "
    "registry's copy with the run's, report a missing copy.",
)
@_connection_options
@_guard
def show(
    target: str,
    fmt: str,
    mlmodel: bool,
    tracking_uri: Optional[str],
    registry_uri: Optional[str],
    timeout: Optional[float],
) -> None:
    """Show the lineage graph of TARGET.

    TARGET is models:/NAME/VERSION, models:/NAME@ALIAS, models:/NAME/STAGE, models:/NAME (every
    version), models:/m-ID (a LoggedModel), runs:/RUN_ID/PATH or a run id. Exits 1 when the graph
    has error findings.
    """
    from mlflow_lineage_plugin.resolve import resolve

    _check_uri(tracking_uri, "--tracking-uri")
    _check_uri(registry_uri, "--registry-uri")
    lineage = resolve(
        target, tracking_uri=tracking_uri, registry_uri=registry_uri, timeout=timeout, fetch_mlmodel=mlmodel
    )
    click.echo(lineage.render(fmt), nl=False)
    sys.exit(EXIT_OK if lineage.ok else EXIT_FINDINGS)


@main.command()
@click.option("--commit", help="A commit SHA or its prefix (at least 4 hex characters).")
@click.option("--branch", help="A branch name.")
@click.option("--repo", "repo_url", help="A repository URL in any spelling (ssh, https, with or without .git).")
@click.option("--notebook", help="A Databricks notebook path.")
@click.option(
    "--dataset",
    help="A logged dataset: its name, digest or source (s3://bucket/key, a path, a Delta "
    "table name, which matches every version of it unless given as TABLE@VERSION).",
)
@click.option("--experiment-id", "experiment_ids", multiple=True, help="Search only these experiments.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_connection_options
@_guard
def find(
    commit: Optional[str],
    branch: Optional[str],
    repo_url: Optional[str],
    notebook: Optional[str],
    dataset: Optional[str],
    experiment_ids: tuple[str, ...],
    fmt: str,
    tracking_uri: Optional[str],
    registry_uri: Optional[str],
    timeout: Optional[float],
) -> None:
    """Runs and model versions that came from a commit, branch, repository, notebook or dataset.

    Options combine with AND. Exits 1 when nothing matches.
    """
    from mlflow_lineage_plugin.resolve import find as do_find

    if not any((commit, branch, repo_url, notebook, dataset)):
        _fail("give at least one of --commit, --branch, --repo, --notebook, --dataset")
    _check_uri(tracking_uri, "--tracking-uri")
    _check_uri(registry_uri, "--registry-uri")
    result = do_find(
        commit=commit,
        branch=branch,
        repo_url=repo_url,
        notebook=notebook,
        dataset=dataset,
        tracking_uri=tracking_uri,
        registry_uri=registry_uri,
        experiment_ids=list(experiment_ids) or None,
        timeout=timeout,
    )
    click.echo(json.dumps(result.to_dict(), indent=2) if fmt == "json" else result.to_text(), nl=fmt == "json")
    sys.exit(EXIT_OK if result else EXIT_FINDINGS)


def _parse_require(value: Optional[str]) -> frozenset[str]:
    """The flag, else ``MLFLOW_LINEAGE_REQUIRE``, else commit and reachable; a bad value from either
    is the same one-line error (exit 2): a gate must never open because of a typo."""
    from mlflow_lineage_plugin import config
    from mlflow_lineage_plugin.resolve.graph import REQ_COMMIT, REQ_REACHABLE

    try:
        if value is not None:
            return config.parse_requirements(value, "--require", show=True)
        raw = config.get(config.REQUIRE)
        return config.parse_requirements(raw, config.REQUIRE) if raw else frozenset({REQ_COMMIT, REQ_REACHABLE})
    except config.BadSetting as exc:
        _fail(str(exc))
        raise  # _fail exits


@main.command()
@click.argument("targets", nargs=-1, required=True)
@click.option(
    "--require",
    "require",
    default=None,
    metavar="LIST",
    help="Comma-separated: commit, clean, reachable, exact [MLFLOW_LINEAGE_REQUIRE; default commit,reachable].",
)
@click.option("--mlmodel", is_flag=True, help="Also check that the model files are still there.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_connection_options
@_guard
def check(
    targets: tuple[str, ...],
    require: Optional[str],
    mlmodel: bool,
    fmt: str,
    tracking_uri: Optional[str],
    registry_uri: Optional[str],
    timeout: Optional[float],
) -> None:
    """Exit 0 when the lineage of every TARGET is complete, 1 with the findings otherwise.

    Made for CI and deployment gates: `mlflow-lineage check models:/fraud@champion --require commit,clean`.
    """
    from mlflow_lineage_plugin.resolve import resolve
    from mlflow_lineage_plugin.resolve.endpoints import Clients
    from mlflow_lineage_plugin.resolve.target import parse_target

    reqs = _parse_require(require)
    _check_uri(tracking_uri, "--tracking-uri")
    _check_uri(registry_uri, "--registry-uri")
    parsed = [parse_target(t) for t in targets]  # all malformed input is reported before any request
    clients = Clients(tracking_uri, registry_uri, timeout)
    report: list[dict[str, Any]] = []
    failed = False
    for t in parsed:
        lineage = resolve(t, clients=clients, fetch_mlmodel=mlmodel)
        broken = lineage.findings_for(set(reqs))
        failed = failed or bool(broken)
        commits = sorted({n.attrs.get("commit", "")[:12] for n in lineage.of_kind("git_commit")} - {""})
        report.append(
            {"target": t.text, "ok": not broken, "commits": commits, "findings": [f.to_dict() for f in broken]}
        )
    if fmt == "json":
        click.echo(json.dumps({"require": sorted(reqs), "results": report}, indent=2))
    else:
        for r in report:
            if r["ok"]:
                commit = f" (commit {', '.join(r['commits'])})" if r["commits"] else ""
                click.echo(f"OK    {r['target']}{commit}")
            else:
                click.echo(f"FAIL  {r['target']}")
                for f in r["findings"]:
                    click.echo(f"        [{f.get('requirement')}] {f['message']}")
    sys.exit(EXIT_FINDINGS if failed else EXIT_OK)


class _ClickProgress:
    """A progress bar on a terminal (stderr), nothing elsewhere: the summary is printed either way.

    ``click.progressbar``: click already comes with MLflow and is all a bar needs (length, ETA,
    terminal width); the length of a streamed job is an estimate from the model listing.
    """

    def __init__(self) -> None:
        self._bar: Optional[ProgressBar[int]] = None
        self.enabled = sys.stderr.isatty()

    def begin(self, label: str, length: int) -> None:
        self.end()
        if self.enabled and length:
            self._bar = click.progressbar(length=length, label=label, file=sys.stderr, show_pos=True)
            self._bar.__enter__()

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def end(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


@main.command()
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="NAME",
    help="A registered model; repeatable; globs allowed ('fraud-*').",
)
@click.option("--all-models", is_flag=True, help="Every registered model.")
@click.option(
    "--experiment",
    "experiments",
    multiple=True,
    metavar="ID",
    help="Repeatable. --runs: the runs of these experiments (default: every experiment); "
    "versions: only those whose source run is in them.",
)
@click.option(
    "--since",
    type=click.DateTime(),
    default=None,
    help="Only versions created (runs started) at or after this date, UTC.",
)
@click.option("--versions", "do_versions", is_flag=True, help="Enrich model versions (the default).")
@click.option("--runs", "do_runs", is_flag=True, help="Enrich runs from the facts they already record.")
@click.option("--apply", is_flag=True, help="Write. Without it, only the plan is shown (dry run).")
@click.option("--overwrite", is_flag=True, help="Also rewrite plugin tags whose value differs from the source.")
@click.option("--workers", type=click.IntRange(1, 64), default=4, show_default=True, help="Concurrent requests.")
@click.option(
    "--retries",
    type=click.IntRange(0, 10),
    default=5,
    show_default=True,
    help="Retries per request on HTTP 429/5xx (honouring Retry-After) before that item fails.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_connection_options
@_guard
def backfill(
    models: tuple[str, ...],
    all_models: bool,
    experiments: tuple[str, ...],
    since,
    do_versions: bool,
    do_runs: bool,
    apply: bool,
    overwrite: bool,
    workers: int,
    retries: int,
    fmt: str,
    registry_uri: Optional[str],
    tracking_uri: Optional[str],
    timeout: Optional[float],
) -> None:
    """Add lineage to the versions (and runs) made before the plugin was installed.

    Dry run by default: prints per model what is already enriched, what would be, and what cannot be
    and why. --apply writes only missing tags (plus lineage_origin=backfill); a second --apply writes
    nothing. Exit 0 when everything is done, 1 when something could not be enriched (listed), 130 when
    interrupted (run it again to continue), 2 on bad usage.
    """
    import datetime as dt

    from mlflow_lineage_plugin.backfill import Backfill, Options, Progress, Selection
    from mlflow_lineage_plugin.workspace_routes import configured_mapping

    _check_uri(tracking_uri, "--tracking-uri")
    _check_uri(registry_uri, "--registry-uri")
    versions = do_versions or not do_runs
    if versions and not (models or all_models):
        _fail("choose the versions: --model NAME (repeatable, globs allowed) or --all-models; or only runs with --runs")
    if models and all_models:
        _fail("--model and --all-models exclude each other")
    since_ms = None
    if since is not None:
        since_ms = int(since.replace(tzinfo=since.tzinfo or dt.timezone.utc).timestamp() * 1000)
    job = Backfill(
        tracking_uri,
        registry_uri,
        mapping=configured_mapping(),
        # _ClickProgress has Progress's methods; subclassing it would import the job (and MLflow) with the CLI
        progress=cast(Progress, _ClickProgress()),
        options=Options(apply=apply, overwrite=overwrite, workers=workers, retries=retries, timeout=timeout),
    )
    report = job.run(
        Selection(
            models=models,
            all_models=all_models,
            experiments=experiments,
            since_ms=since_ms,
            versions=versions,
            runs=do_runs,
        )
    )
    click.echo(json.dumps(report.to_dict(), indent=2) if fmt == "json" else report.to_text(), nl=fmt == "json")
    for error in report.errors:
        click.echo(f"mlflow-lineage: error: {error}", err=True)
    if report.breaker:
        resume = _same_command(click.get_current_context())
        click.echo(f"mlflow-lineage: error: stopped after {report.breaker_line()}; resume with: {resume}", err=True)
    if report.interrupted:
        sys.exit(130)
    sys.exit(EXIT_OK if report.complete else EXIT_FINDINGS)


def _same_command(ctx: click.Context) -> str:
    """The command line that repeats this one (options as typed, URIs without credentials): a rerun
    skips what is done, so it resumes."""
    import shlex

    from click.core import ParameterSource

    from mlflow_lineage_plugin.urls import redact

    words = ["mlflow-lineage", ctx.info_name or "backfill"]
    for param in ctx.command.params:
        name = param.name or ""
        if not isinstance(param, click.Option) or ctx.get_parameter_source(name) is not ParameterSource.COMMANDLINE:
            continue
        values = ctx.params[name] if param.multiple else [ctx.params[name]]
        for value in values:
            if param.is_flag:
                words.append(param.opts[0])
            else:
                text = value.strftime("%Y-%m-%dT%H:%M:%S") if hasattr(value, "strftime") else str(value)
                words += [param.opts[0], redact(text) or text if name.endswith("_uri") else text]
    return shlex.join(words)


@main.command()
@click.argument("target")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option(
    "--repo",
    "repo",
    type=click.Path(file_okay=False),
    default=None,
    help="A local clone to take the commit from (fetches nothing); default: clone the recorded repository.",
)
@_connection_options
@_guard
def checkout(
    target: str,
    directory: str,
    repo: Optional[str],
    tracking_uri: Optional[str],
    registry_uri: Optional[str],
    timeout: Optional[float],
) -> None:
    """Rebuild the source of TARGET in DIRECTORY (new or empty): the recorded commit plus the run's kept
    uncommitted changes, verified by sha256.

    Exits 0 when the result is exact, 1 when restored but not exact (the reason is printed), 2 on bad
    input. TARGET takes the forms of `show`.
    """
    from mlflow_lineage_plugin.checkout import CheckoutError
    from mlflow_lineage_plugin.checkout import checkout as do_checkout

    _check_uri(tracking_uri, "--tracking-uri")
    _check_uri(registry_uri, "--registry-uri")
    try:
        restored = do_checkout(
            target, directory, repo=repo, tracking_uri=tracking_uri, registry_uri=registry_uri, timeout=timeout
        )
    except CheckoutError as exc:
        _fail(str(exc))
    click.echo(restored.summary(), nl=False)
    sys.exit(EXIT_OK if restored.exact else EXIT_FINDINGS)


def _parse_fail_on(value: Optional[str]) -> frozenset[str]:
    from mlflow_lineage_plugin.resolve.diff import GATED

    parts = frozenset(p.strip().lower() for p in (value or "").split(",") if p.strip())
    unknown = sorted(parts - set(GATED))
    if value is not None and (unknown or not parts):
        _fail(f"--fail-on: unknown section {', '.join(unknown) or '(empty)'}; choose from {','.join(GATED)}")
    return parts


@main.command("diff")
@click.argument("a")
@click.argument("b")
@click.option(
    "--repo",
    type=click.Path(file_okay=False),
    default=None,
    help="A local clone holding both commits (read only; fetches nothing); default: clone the recorded repository.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "markdown", "html"]), default="text", show_default=True
)
@click.option(
    "--patch", is_flag=True, help="Also print the unified diff of the code (binary files named only; html: always)."
)
@click.option("--output", type=click.Path(dir_okay=False), default=None, help="Write to this file instead of stdout.")
@click.option(
    "--fail-on",
    "fail_on",
    default=None,
    metavar="LIST",
    help="Exit 1 when any of these sections differs or is not known exactly: code,data,params,env.",
)
@_connection_options
@_guard
def diff_cmd(
    a: str,
    b: str,
    repo: Optional[str],
    fmt: str,
    patch: bool,
    output: Optional[str],
    fail_on: Optional[str],
    tracking_uri: Optional[str],
    registry_uri: Optional[str],
    timeout: Optional[float],
) -> None:
    """What differs between A and B (any target `show` accepts): code, data, parameters and metrics,
    environment, lineage; each section says whether it is known exactly, partly or not at all, and why.

    Exits 0 when compared, 1 when a section named by --fail-on differs (or cannot be shown the same),
    2 on bad input.
    """
    from mlflow_lineage_plugin.resolve.diff import DiffError, diff, writable

    gates = _parse_fail_on(fail_on)
    _check_uri(tracking_uri, "--tracking-uri")
    _check_uri(registry_uri, "--registry-uri")
    try:
        if output is not None:
            output = writable(output)
        result = diff(
            a,
            b,
            repo=repo,
            patch=patch or fmt == "html",
            tracking_uri=tracking_uri,
            registry_uri=registry_uri,
            timeout=timeout,
        )
        rendered = result.render(fmt)
        if output is None:
            click.echo(rendered, nl=False)
        else:
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(rendered)
    except (DiffError, OSError) as exc:
        _fail(str(exc) if isinstance(exc, DiffError) else f"--output {output}: {exc.strerror or exc}")
    failing = result.failing(gates)
    for s in failing:
        click.echo(f"mlflow-lineage: --fail-on {s.name}: {'differs' if s.changed else f'known {s.known}'}", err=True)
    sys.exit(EXIT_FINDINGS if failing else EXIT_OK)


@main.command("openlineage")
@click.argument("targets", nargs=-1, required=True)
@click.option("--dry-run", is_flag=True, help="Print the events as JSON lines instead of sending them.")
@_connection_options
@_guard
def openlineage_cmd(
    targets: tuple[str, ...],
    dry_run: bool,
    tracking_uri: Optional[str],
    registry_uri: Optional[str],
    timeout: Optional[float],
) -> None:
    """Send the OpenLineage events of each run reached from TARGETS (same forms as `show`): its START, and
    its COMPLETE, FAIL or ABORT once it has ended.

    The transport is openlineage-python's own configuration: OPENLINEAGE_URL, or OPENLINEAGE_CONFIG /
    openlineage.yml (http, file, console, kafka). Exits 1 when a run could not be read.
    """
    from mlflow_lineage_plugin import openlineage as ol
    from mlflow_lineage_plugin.resolve.endpoints import Clients
    from mlflow_lineage_plugin.resolve.target import parse_target

    if not ol.available():
        _fail(ol.INSTALL_HINT)
    _check_uri(tracking_uri, "--tracking-uri")
    _check_uri(registry_uri, "--registry-uri")
    parsed = [parse_target(t) for t in targets]
    sender = None
    if not dry_run:
        try:
            sender = ol.client()
        except ol.NotConfigured as exc:
            _fail(f"{exc}; or use --dry-run")
    events, problems = ol.events_for(parsed, Clients(tracking_uri, registry_uri, timeout))
    if dry_run:
        for ev in events:
            click.echo(ol.to_json(ev))
    else:
        sent = 0
        try:
            for ev in events:
                ol.emit([ev], sender)
                sent += 1
        except Exception as exc:
            from mlflow_lineage_plugin.errors import error_line

            _fail(
                f"OpenLineage {ol.transport_kind(sender)} transport: {error_line(exc)} "
                f"({sent} of {len(events)} events sent)"
            )
        click.echo(
            f"sent {sent} OpenLineage event{'s' if sent != 1 else ''} ({ol.transport_kind(sender)} transport)", err=True
        )
    for p in problems:
        click.echo(f"mlflow-lineage: {p}", err=True)
    sys.exit(EXIT_FINDINGS if problems else EXIT_OK)


def _register() -> None:
    from mlflow_lineage_plugin.doctor import doctor

    main.add_command(doctor)


_register()
