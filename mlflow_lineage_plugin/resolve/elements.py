"""The parts of a lineage graph: nodes, edges and findings, and the closed sets their kinds,
severities, requirements and codes come from.

Plain values with no behaviour beyond their own fields, so every module that builds or reads a
graph, the renderers included, can use them; ``graph.Lineage`` holds them together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Optional


class _StrEnum(str, Enum):
    """A closed set of names that still is its string everywhere (JSON, f-strings, comparisons),
    so callers and readers of ``to_dict`` see plain strings (``enum.StrEnum`` needs Python 3.11)."""

    __str__ = str.__str__

    def __format__(self, format_spec: str) -> str:
        return str.__format__(self, format_spec)


class NodeKind(_StrEnum):
    """Node kinds, in chain order."""

    REGISTERED_MODEL = "registered_model"
    MODEL_VERSION = "model_version"
    LOGGED_MODEL = "logged_model"
    MLFLOW_MODEL = "mlflow_model"
    NATIVE_ARTIFACT = "native_artifact"
    RUN = "run"
    EXPERIMENT = "experiment"
    NOTEBOOK = "notebook"
    ENTRY_SCRIPT = "entry_script"
    GIT_COMMIT = "git_commit"
    REPOSITORY = "repository"
    WORKSPACE = "workspace"
    DATASET = "dataset"  # an input the run logged with mlflow.log_input


class Severity(_StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Requirement(_StrEnum):
    """What a finding breaks; ``check --require`` selects among these."""

    COMMIT = "commit"
    CLEAN = "clean"
    REACHABLE = "reachable"
    EXACT = "exact"  # the commit, plus the uncommitted changes kept and intact (or none)


class FindingCode(_StrEnum):
    """Every finding the resolver makes, a closed set: docs/resolver.md says what each means and what
    to do about it (a test keeps the two lists equal), and ``RULES`` gives each its one severity and
    requirement."""

    # where the records live
    WORKSPACE_UNREACHABLE = "workspace_unreachable"
    WORKSPACE_ERROR = "workspace_error"
    NO_WORKSPACE_RECORDED = "no_workspace_recorded"
    UC_RUN_WORKSPACE = "uc_run_workspace"
    PARTIAL_LINEAGE = "partial_lineage"
    # the registered model, its versions and LoggedModels
    NO_VERSIONS = "no_versions"
    NO_SOURCE_RUN = "no_source_run"
    LOGGED_MODEL_MISSING = "logged_model_missing"
    NO_RUN = "no_run"
    # runs and experiments
    RUN_NOT_FOUND = "run_not_found"
    RUN_DELETED = "run_deleted"
    EXPERIMENT_DELETED = "experiment_deleted"
    EXPERIMENT_UNREADABLE = "experiment_unreadable"
    # the code
    NO_GIT_REFERENCE = "no_git_reference"
    COMMIT_MISMATCH = "commit_mismatch"
    REPO_MISMATCH = "repo_mismatch"
    DIRTY = "dirty"
    DIRTY_UNKNOWN = "dirty_unknown"
    NOT_EXACT = "not_exact"
    CHANGES_NOT_INTACT = "changes_not_intact"
    CHANGES_NOT_VERIFIED = "changes_not_verified"
    # the model files (with --mlmodel)
    RUN_COPY_GONE = "run_copy_gone"
    RUN_COPY_UNREADABLE = "run_copy_unreadable"
    REGISTRY_COPY_UNREADABLE = "registry_copy_unreadable"
    COPIES_DIFFER = "copies_differ"


REGISTERED_MODEL = NodeKind.REGISTERED_MODEL
MODEL_VERSION = NodeKind.MODEL_VERSION
LOGGED_MODEL = NodeKind.LOGGED_MODEL
MLFLOW_MODEL = NodeKind.MLFLOW_MODEL
NATIVE_ARTIFACT = NodeKind.NATIVE_ARTIFACT
RUN = NodeKind.RUN
EXPERIMENT = NodeKind.EXPERIMENT
NOTEBOOK = NodeKind.NOTEBOOK
ENTRY_SCRIPT = NodeKind.ENTRY_SCRIPT
GIT_COMMIT = NodeKind.GIT_COMMIT
REPOSITORY = NodeKind.REPOSITORY
WORKSPACE = NodeKind.WORKSPACE
DATASET = NodeKind.DATASET
KINDS = tuple(NodeKind)

ERROR = Severity.ERROR
WARNING = Severity.WARNING
INFO = Severity.INFO

REQ_COMMIT = Requirement.COMMIT
REQ_CLEAN = Requirement.CLEAN
REQ_REACHABLE = Requirement.REACHABLE
REQ_EXACT = Requirement.EXACT
REQUIREMENTS = tuple(Requirement)

FINDING_CODES = tuple(FindingCode)
_F = FindingCode
RULES: dict[FindingCode, tuple[Severity, Optional[Requirement]]] = {
    _F.WORKSPACE_UNREACHABLE: (ERROR, REQ_REACHABLE),
    _F.WORKSPACE_ERROR: (ERROR, REQ_REACHABLE),
    _F.NO_WORKSPACE_RECORDED: (INFO, None),
    _F.UC_RUN_WORKSPACE: (INFO, None),
    _F.PARTIAL_LINEAGE: (WARNING, REQ_REACHABLE),
    _F.NO_VERSIONS: (WARNING, None),
    _F.NO_SOURCE_RUN: (ERROR, REQ_REACHABLE),
    _F.LOGGED_MODEL_MISSING: (WARNING, REQ_REACHABLE),
    _F.NO_RUN: (INFO, None),
    _F.RUN_NOT_FOUND: (ERROR, REQ_REACHABLE),
    _F.RUN_DELETED: (ERROR, REQ_REACHABLE),
    _F.EXPERIMENT_DELETED: (WARNING, REQ_REACHABLE),
    _F.EXPERIMENT_UNREADABLE: (WARNING, REQ_REACHABLE),
    _F.NO_GIT_REFERENCE: (ERROR, REQ_COMMIT),
    _F.COMMIT_MISMATCH: (WARNING, None),
    _F.REPO_MISMATCH: (WARNING, None),
    _F.DIRTY: (WARNING, REQ_CLEAN),
    _F.DIRTY_UNKNOWN: (WARNING, REQ_CLEAN),
    _F.NOT_EXACT: (WARNING, REQ_EXACT),
    _F.CHANGES_NOT_INTACT: (ERROR, REQ_EXACT),
    _F.CHANGES_NOT_VERIFIED: (WARNING, REQ_EXACT),
    _F.RUN_COPY_GONE: (ERROR, REQ_REACHABLE),
    _F.RUN_COPY_UNREADABLE: (WARNING, REQ_REACHABLE),
    _F.REGISTRY_COPY_UNREADABLE: (ERROR, REQ_REACHABLE),
    _F.COPIES_DIFFER: (WARNING, None),
}


@dataclass
class Node:
    id: str
    kind: str
    label: str
    workspace_uri: Optional[str] = None
    url: Optional[str] = None
    attrs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "label": self.label}
        if self.workspace_uri:
            out["workspace_uri"] = self.workspace_uri
        if self.url:
            out["url"] = self.url
        if self.attrs:
            out["attrs"] = {k: v for k, v in self.attrs.items() if v is not None}
        return out


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    relation: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "target": self.target, "relation": self.relation}


@dataclass(frozen=True)
class Finding:
    severity: str
    code: str
    message: str
    node_id: Optional[str] = None
    requirement: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        out = {"severity": self.severity, "code": self.code, "message": self.message}
        if self.node_id:
            out["node"] = self.node_id
        if self.requirement:
            out["requirement"] = self.requirement
        return out


def finding(code: FindingCode, message: str, node_id: Optional[str] = None) -> Finding:
    """The one way a finding is made: its severity and requirement are its code's (``RULES``)."""
    severity, requirement = RULES[code]
    return Finding(severity, code, message, node_id, requirement)
