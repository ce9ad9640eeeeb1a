"""The lineage graph: the plain values the walk produces, held together by ``Lineage``, which also
shows itself through the renderers (``to_text``, ``_repr_html_`` in a notebook).

Each node says where it lives (``workspace_uri``) so a reader can tell a run in another workspace
from a local one; every gap is a ``Finding`` with a reason a person can act on, never a silent None.
Findings carry the requirement they break (``commit``, ``clean``, ``reachable``) so a deployment
gate can choose what it insists on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

from mlflow_lineage_plugin.resolve import render
from mlflow_lineage_plugin.resolve.elements import (
    DATASET,
    ENTRY_SCRIPT,
    ERROR,
    EXPERIMENT,
    FINDING_CODES,
    GIT_COMMIT,
    INFO,
    KINDS,
    LOGGED_MODEL,
    MLFLOW_MODEL,
    MODEL_VERSION,
    NATIVE_ARTIFACT,
    NOTEBOOK,
    REGISTERED_MODEL,
    REPOSITORY,
    REQ_CLEAN,
    REQ_COMMIT,
    REQ_EXACT,
    REQ_REACHABLE,
    REQUIREMENTS,
    RULES,
    RUN,
    WARNING,
    WORKSPACE,
    Edge,
    Finding,
    FindingCode,
    Node,
    NodeKind,
    Requirement,
    Severity,
    finding,
)

__all__ = [
    "Lineage",
    "DATASET",
    "ENTRY_SCRIPT",
    "ERROR",
    "EXPERIMENT",
    "Edge",
    "FINDING_CODES",
    "Finding",
    "FindingCode",
    "GIT_COMMIT",
    "INFO",
    "KINDS",
    "LOGGED_MODEL",
    "MLFLOW_MODEL",
    "MODEL_VERSION",
    "NATIVE_ARTIFACT",
    "NOTEBOOK",
    "Node",
    "NodeKind",
    "REGISTERED_MODEL",
    "REPOSITORY",
    "REQUIREMENTS",
    "REQ_CLEAN",
    "REQ_COMMIT",
    "REQ_EXACT",
    "REQ_REACHABLE",
    "RULES",
    "RUN",
    "Requirement",
    "Severity",
    "WARNING",
    "WORKSPACE",
    "finding",
]  # the parts, for callers that build graphs

_SEVERITY_ORDER: dict[str, int] = {ERROR: 0, WARNING: 1, INFO: 2}


@dataclass
class Lineage:
    """The answer for one target: nodes (deduplicated by id), edges, findings."""

    target: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)
    _edge_index: set[Edge] = field(default_factory=set, init=False, repr=False, compare=False)
    _finding_index: set[Finding] = field(default_factory=set, init=False, repr=False, compare=False)

    # --- building -------------------------------------------------------------------------
    def add(self, node: Node) -> Node:
        """Add or merge: a node met twice (one run behind two versions) is one node."""
        have = self.nodes.get(node.id)
        if have is None:
            self.nodes[node.id] = node
            return node
        for k, v in node.attrs.items():
            if v is not None and have.attrs.get(k) is None:
                have.attrs[k] = v
        have.url = have.url or node.url
        have.workspace_uri = have.workspace_uri or node.workspace_uri
        return have

    def link(self, source: str, target: str, relation: str) -> None:
        edge = Edge(source, target, relation)
        if len(self._edge_index) != len(self.edges):  # edges appended from outside
            self._edge_index = set(self.edges)
        if edge not in self._edge_index:
            self._edge_index.add(edge)
            self.edges.append(edge)

    def note(self, finding: Finding) -> None:
        if len(self._finding_index) != len(self.findings):
            self._finding_index = set(self.findings)
        if finding not in self._finding_index:
            self._finding_index.add(finding)
            self.findings.append(finding)

    # --- reading ---------------------------------------------------------------------------
    def of_kind(self, kind: str) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind == kind]

    def children(self, node_id: str) -> list[Edge]:
        return [e for e in self.edges if e.source == node_id]

    def root_ids(self) -> list[str]:
        if self.roots:
            return [r for r in self.roots if r in self.nodes]
        targets = {e.target for e in self.edges}
        return [n for n in self.nodes if n not in targets]

    def findings_for(self, requirements: Optional[set[str]] = None) -> list[Finding]:
        """Findings that break any of ``requirements`` (all error/warning findings when None)."""
        if requirements is None:
            return [f for f in self.findings if f.severity in (ERROR, WARNING)]
        if REQ_EXACT in requirements:  # exact code needs a commit first
            requirements = {*requirements, REQ_COMMIT}
        return [f for f in self.findings if f.requirement in requirements]

    def sorted_findings(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: _SEVERITY_ORDER.get(f.severity, 9))

    @property
    def ok(self) -> bool:
        return not any(f.severity == ERROR for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "roots": self.root_ids(),
            "nodes": [n.to_dict() for n in self.nodes.values()],
            "edges": [e.to_dict() for e in self.edges],
            "findings": [f.to_dict() for f in self.sorted_findings()],
        }

    # --- rendering (pure functions in render.py, which reads the graph through its parts alone) ---
    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False, default=str)

    def to_text(self) -> str:
        return render.text(self)

    def to_mermaid(self) -> str:
        return render.mermaid(self)

    def to_dot(self) -> str:
        return render.dot(self)

    def render(self, fmt: str = "text") -> str:
        return render.render(self, fmt)

    def __str__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        return render.html(self)

    def _repr_markdown_(self) -> str:
        return render.markdown(self)
