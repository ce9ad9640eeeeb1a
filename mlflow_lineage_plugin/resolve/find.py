"""Reverse look-up: which runs and model versions came from this commit, branch, repository or
notebook? MLflow has no such view; it is answered with MLflow search on the tags the plugin writes
(``lineage_*`` on versions) and the standard ``mlflow.source.git.*`` / ``mlflow.databricks.*`` tags
that runs carry with or without the plugin.

Repository URLs are stored in many spellings (ssh, scp-like, https, with or without ``.git``); the
search casts a wide ``LIKE`` net on host and path, then keeps only what ``urls.same_repo`` accepts.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import unquote, urlsplit

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.commit_hash import RULE as COMMIT_RULE
from mlflow_lineage_plugin.commit_hash import is_commit
from mlflow_lineage_plugin.datasets import DatasetRef, run_datasets
from mlflow_lineage_plugin.errors import ResolveError, describe_error
from mlflow_lineage_plugin.mlflow_http import bounded_http
from mlflow_lineage_plugin.paging import pages
from mlflow_lineage_plugin.resolve.endpoints import Clients
from mlflow_lineage_plugin.urls import normalize_remote, redact, same_repo
from mlflow_lineage_plugin.workspace import run_page_url, show_workspace

EXPERIMENT_BATCH = 100
RUN_ID_BATCH = 100


@dataclass(frozen=True)
class FoundRun:
    run_id: str
    experiment_id: str
    run_name: Optional[str]
    commit: Optional[str]
    branch: Optional[str]
    repo_url: Optional[str]
    notebook: Optional[str]
    workspace_uri: Optional[str]
    url: Optional[str]
    deleted: bool
    datasets: Optional[tuple[str, ...]] = None  # with --dataset: the matching inputs, "relation: dataset"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class FoundVersion:
    name: str
    version: str
    run_id: Optional[str]
    commit: Optional[str]
    source: str
    matched_by: str  # "version tags" or "run"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class FindResult:
    query: dict[str, str]
    runs: list[FoundRun] = field(default_factory=list)
    versions: list[FoundVersion] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tracking_uri: Optional[str] = None  # where it searched, credentials removed
    registry_uri: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "runs": [r.to_dict() for r in self.runs],
            "model_versions": [v.to_dict() for v in self.versions],
            "notes": self.notes,
            "searched": {"tracking_uri": self.tracking_uri, "registry_uri": self.registry_uri},
        }

    def __bool__(self) -> bool:
        return bool(self.runs or self.versions)

    def to_text(self) -> str:
        q = ", ".join(f"{k}={v}" for k, v in self.query.items())
        lines = [
            f"{'data' if set(self.query) == {'dataset'} else 'code'}: {q}",
            f"model versions ({len(self.versions)}):",
        ]
        for v in self.versions:
            commit = f" commit {v.commit[:12]}" if v.commit else ""
            run = f" run {v.run_id}" if v.run_id else ""
            lines.append(f"  models:/{v.name}/{v.version}{run}{commit}  (matched by {v.matched_by})")
        lines.append(f"runs ({len(self.runs)}):")
        for r in self.runs:
            bits = [r.run_id, f"experiment {r.experiment_id}"]
            if r.run_name:
                bits.append(r.run_name)
            if r.commit:
                bits.append(f"commit {r.commit[:12]}" + (f" on {r.branch}" if r.branch else ""))
            if r.notebook:
                bits.append(f"notebook {r.notebook}")
            if r.deleted:
                bits.append("DELETED")
            if r.datasets:
                bits.append("; ".join(r.datasets))
            if r.url:
                bits.append(r.url)
            lines.append("  " + " · ".join(bits))
        lines += [f"note: {n}" for n in self.notes]
        if not self:
            lines.append(f"nothing matched in tracking store {self.tracking_uri} and registry {self.registry_uri}")
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.to_text()

    def _repr_markdown_(self) -> str:
        out = ["| kind | id | commit | link |", "|---|---|---|---|"]
        for v in self.versions:
            out.append(f"| model version | `models:/{v.name}/{v.version}` | {(v.commit or '')[:12]} | |")
        for r in self.runs:
            out.append(f"| run | `{r.run_id}` | {(r.commit or '')[:12]} | {r.url or ''} |")
        return "\n".join(out) + "\n"


def _quote(value: str) -> str:
    if "'" in value:
        raise ResolveError(f"search values may not contain a single quote: {value!r}")
    return f"'{value}'"


def _like_escape(value: str) -> str:
    return value.replace("%", "_")


def _repo_pattern(repo_url: str) -> tuple[str, str]:
    norm = normalize_remote(repo_url)
    if not norm:
        raise ResolveError(f"--repo {redact(repo_url)!r} is not a git remote URL or path")
    if "://" in norm:
        rest = norm.split("://", 1)[1]
        host, _, path = rest.partition("/")
        host, path = _like_escape(host), _like_escape(path)
        pattern = f"%{host}%{path}%" if path else f"%{host}%"
    else:
        pattern = f"%{_like_escape(norm)}%"
    return norm, pattern


def _dataset_filters(dataset: str) -> list[str]:
    """Search alternatives for ``--dataset``: its name or digest, or, for what may be a place (a path,
    a URI, a table name), every run with a dataset input, matched here by ``_dataset_matches``."""
    base, _, version = dataset.rpartition("@") if "@" in dataset else (dataset, "", "")
    options = [f"dataset.name = {_quote(dataset)}", f"dataset.digest = {_quote(dataset)}"]
    if any(c in base for c in "/:.") or version:
        options = [f"dataset.name LIKE {_quote('%')}"]
    return options


def _dataset_matches(dataset: str, refs: list[DatasetRef]) -> list[DatasetRef]:
    """Inputs that ``dataset`` names: by name, digest, location (``s3://b/k``, a path) or table; a Delta
    table name matches every version of it unless one is given (``main.sales.churn@7`` or ``@v7``)."""
    base, _, version = dataset.rpartition("@") if "@" in dataset else (dataset, "", "")
    version = version[1:] if version[:1] in ("v", "V") and version[1:].isdigit() else version
    place = _place(dataset)
    out = []
    for d in refs:
        named = dataset in (d.name, d.digest, d.location, f"{d.namespace}/{d.ol_name}".rstrip("/"))
        named = named or place == _place(d.location)
        table = bool(base and d.table and base.lower() == d.table.lower() and version in ("", d.version))
        if named or table:
            out.append(d)
    return out


def _place(text: str) -> str:
    """A local file's place however it is spelt: ``file:///a/b``, ``file://localhost/a/b``, ``file:/a/b``
    and ``/a/b`` are one place (MLflow records either form)."""
    if text[:5].lower() != "file:":
        return text
    parts = urlsplit(text)
    return unquote(parts.path) if parts.netloc in ("", "localhost") else text


def _run_filters(commit, branch, repo_pattern, notebook, dataset=None) -> list[list[str]]:
    """Alternatives (OR) of conjunctions (AND): MLflow search has no OR, so each is one search."""
    commit_keys = [T.MLFLOW_GIT_COMMIT, T.MLFLOW_DATABRICKS_GIT_REPO_COMMIT]
    clauses: list[list[str]] = [[]]

    def expand(options: list[str]) -> None:
        nonlocal clauses
        clauses = [c + [o] for c in clauses for o in options]

    if commit:
        op = f"= {_quote(commit)}" if is_commit(commit, full=True) else f"LIKE {_quote(commit + '%')}"
        expand([f"tags.`{k}` {op}" for k in commit_keys])
    if branch:
        expand(
            [
                f"tags.`{T.MLFLOW_GIT_BRANCH}` = {_quote(branch)}",
                f"tags.`{T.MLFLOW_DATABRICKS_GIT_REPO_REFERENCE}` = {_quote(branch)}",
            ]
        )
    if repo_pattern:
        expand(
            [
                f"tags.`{k}` ILIKE {_quote(repo_pattern)}"
                for k in (T.MLFLOW_GIT_REPO_URL, T.MLFLOW_GIT_REPO_URL_LEGACY, T.MLFLOW_DATABRICKS_GIT_REPO_URL)
            ]
        )
    if notebook:
        expand([f"tags.`{T.MLFLOW_DATABRICKS_NOTEBOOK_PATH}` = {_quote(notebook)}"])
    if dataset:
        expand(_dataset_filters(dataset))
    return clauses


def _version_filters(commit, branch, repo_pattern, notebook) -> list[str]:
    parts = []
    if commit:
        parts.append(
            f"tags.{T.GIT_COMMIT} "
            + (f"= {_quote(commit)}" if is_commit(commit, full=True) else f"LIKE {_quote(commit + '%')}")
        )
    if branch:
        parts.append(f"tags.{T.GIT_BRANCH} = {_quote(branch)}")
    if repo_pattern:
        parts.append(f"tags.{T.GIT_REPO_URL} ILIKE {_quote(repo_pattern)}")
    if notebook:
        parts.append(f"tags.{T.NOTEBOOK_PATH} = {_quote(notebook)}")
    return [" AND ".join(parts)] if parts else []  # a dataset alone: versions are found through their runs


def _matches(git: T.GitRef, nb: T.Notebook, commit, branch, repo_norm, notebook) -> bool:
    if commit and not (git.commit and git.commit.lower().startswith(commit.lower())):
        return False
    if branch and git.branch != branch:
        return False
    if repo_norm and not same_repo(git.repo_url, repo_norm):
        return False
    return not (notebook and nb.path != notebook)


def find(
    commit: Optional[str] = None,
    branch: Optional[str] = None,
    repo_url: Optional[str] = None,
    notebook: Optional[str] = None,
    dataset: Optional[str] = None,
    *,
    tracking_uri: Optional[str] = None,
    registry_uri: Optional[str] = None,
    experiment_ids: Optional[list[str]] = None,
    timeout: Optional[float] = None,
    max_results: int = 1000,
) -> FindResult:
    """Runs and model versions that came from the given code or data; criteria combine with AND."""
    if not any((commit, branch, repo_url, notebook, dataset)):
        raise ResolveError("give at least one of commit, branch, repo_url, notebook, dataset")
    dataset = dataset.strip() if dataset else None
    commit = commit.strip() if commit else None
    if commit and not is_commit(commit):
        raise ResolveError(f"{commit!r} is not a commit SHA ({COMMIT_RULE})")
    commit = commit.lower() if commit else None
    repo_norm, repo_pattern = _repo_pattern(repo_url) if repo_url else (None, None)
    query = {
        k: v
        for k, v in (
            ("commit", commit),
            ("branch", branch),
            ("repo", repo_norm),
            ("notebook", notebook),
            ("dataset", dataset),
        )
        if v
    }
    for v in query.values():
        _quote(v)
    clients = Clients(tracking_uri, registry_uri, timeout)
    result = FindResult(query, tracking_uri=redact(clients.tracking_uri), registry_uri=redact(clients.registry_uri))
    with bounded_http(clients.timeout), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = _find_runs(
            clients, experiment_ids, commit, branch, repo_pattern, repo_norm, notebook, max_results, dataset
        )
        result.runs = runs
        result.versions = _find_versions(clients, runs, commit, branch, repo_pattern, repo_norm, notebook, result)
    return result


def _err(clients: Clients, what: str, exc: BaseException) -> ResolveError:
    return ResolveError(f"{what}: {describe_error(exc, clients.timeout)}")


def _find_runs(clients, experiment_ids, commit, branch, repo_pattern, repo_norm, notebook, max_results, dataset=None):
    from mlflow.entities import ViewType

    client = clients.tracking()
    if experiment_ids is None:
        try:
            exps = [
                e.experiment_id
                for page in pages(client.search_experiments, view_type=ViewType.ALL, max_results=1000)
                for e in page
            ]
        except Exception as exc:
            raise _err(clients, f"cannot list experiments in {redact(clients.tracking_uri)}", exc) from None
        experiment_ids = exps
    found: dict[str, Any] = {}
    for clause in _run_filters(commit, branch, repo_pattern, notebook, dataset):
        flt = " AND ".join(clause)
        for i in range(0, len(experiment_ids), EXPERIMENT_BATCH):
            chunk = experiment_ids[i : i + EXPERIMENT_BATCH]
            try:
                got = client.search_runs(chunk, filter_string=flt, run_view_type=ViewType.ALL, max_results=max_results)
            except Exception as exc:
                raise _err(clients, f"search in {redact(clients.tracking_uri)} failed", exc) from None
            for run in got:
                found.setdefault(run.info.run_id, run)
    out = []
    for run in found.values():
        rtags = dict(run.data.tags or {})
        git, nb = T.git_from_run_tags(rtags), T.notebook_from_run_tags(rtags)
        if not _matches(git, nb, commit, branch, repo_norm, notebook):
            continue
        ws = rtags.get(T.WORKSPACE_URI) or clients.home_workspace
        inputs = None
        if dataset:
            hits = _dataset_matches(dataset, run_datasets(run, show_workspace(ws)))
            if not hits:
                continue
            inputs = tuple(f"{d.relation}: {d.label}" for d in hits)
        out.append(
            FoundRun(
                run.info.run_id,
                run.info.experiment_id,
                rtags.get(T.MLFLOW_RUN_NAME),
                git.commit,
                git.branch,
                normalize_remote(git.repo_url),
                nb.path,
                show_workspace(ws),
                run_page_url(ws, run.info.experiment_id, run.info.run_id),
                run.info.lifecycle_stage == "deleted",
                inputs,
            )
        )
    return sorted(out, key=lambda r: (r.experiment_id, r.run_id))


def _find_versions(clients, runs, commit, branch, repo_pattern, repo_norm, notebook, result):
    reg = clients.registry()
    found: dict[tuple[str, str], FoundVersion] = {}

    def search(flt: str) -> list[Any]:
        return [v for page in pages(reg.search_model_versions, flt, max_results=1000) for v in page]

    for flt in _version_filters(commit, branch, repo_pattern, notebook):
        try:
            hits = search(flt)
        except Exception as exc:
            result.notes.append(
                f"registry tag search not available ({describe_error(exc, clients.timeout)}); "
                "matched versions through their runs only"
            )
            hits = []
        for mv in hits:
            src = T.source_from_version_tags(dict(mv.tags or {}))
            if not _matches(src.git, src.notebook, commit, branch, repo_norm, notebook):
                continue
            found[(mv.name, str(mv.version))] = FoundVersion(
                mv.name, str(mv.version), mv.run_id or src.run_id, src.git.commit, mv.source, "version tags"
            )
    by_run = {r.run_id: r for r in runs}
    ids = sorted(by_run)
    for i in range(0, len(ids), RUN_ID_BATCH):
        chunk = ids[i : i + RUN_ID_BATCH]
        flt = "run_id IN (" + ", ".join(f"'{r}'" for r in chunk) + ")"
        try:
            hits = search(flt)
        except Exception as exc:
            raise _err(clients, f"registry {redact(clients.registry_uri)}", exc) from None
        for mv in hits:
            key = (mv.name, str(mv.version))
            if key not in found:
                found[key] = FoundVersion(
                    mv.name, str(mv.version), mv.run_id, by_run[mv.run_id].commit, mv.source, "run"
                )
    return sorted(found.values(), key=lambda v: (v.name, int(v.version) if v.version.isdigit() else 0))
