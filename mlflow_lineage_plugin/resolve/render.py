"""Pure renderers: a lineage graph in, text out (terminal tree, JSON, Mermaid, Graphviz DOT, HTML,
Markdown). No I/O, so the CLI, a notebook and a CI log all show the same thing.

The HTML is self-contained (inline CSS, no script, no external asset): notebooks that block remote
content and offline viewers still render it.
"""

from __future__ import annotations

import html as _html
from collections import deque
from collections.abc import Mapping
from typing import Any, Optional, Protocol

from mlflow_lineage_plugin.resolve import elements as G
from mlflow_lineage_plugin.resolve import markdown as M

FORMATS = ("text", "json", "mermaid", "dot", "markdown")


class Graph(Protocol):
    """What a renderer reads of a lineage graph. ``graph.Lineage`` is one, and its ``to_text``,
    ``_repr_html_``... call these functions, so this module names the shape instead of importing it."""

    target: str
    nodes: dict[str, G.Node]
    edges: list[G.Edge]
    findings: list[G.Finding]

    def root_ids(self) -> list[str]: ...

    def of_kind(self, kind: str) -> list[G.Node]: ...

    def sorted_findings(self) -> list[G.Finding]: ...

    def to_json(self, indent: int = 2) -> str: ...


_MARK: dict[str, str] = {G.ERROR: "✗", G.WARNING: "!", G.INFO: "i"}
_KIND_NAMES = {
    G.REGISTERED_MODEL: "registered model",
    G.MODEL_VERSION: "model version",
    G.LOGGED_MODEL: "LoggedModel",
    G.MLFLOW_MODEL: "MLflow model",
    G.NATIVE_ARTIFACT: "native artifact",
    G.RUN: "run",
    G.EXPERIMENT: "experiment",
    G.NOTEBOOK: "notebook",
    G.ENTRY_SCRIPT: "entry script",
    G.GIT_COMMIT: "git commit",
    G.REPOSITORY: "repository",
    G.WORKSPACE: "workspace",
    G.DATASET: "dataset",
}


def render(lineage: Graph, fmt: str = "text") -> str:
    fn = {
        "text": text,
        "json": lambda g: g.to_json(),
        "mermaid": mermaid,
        "dot": dot,
        "html": html,
        "markdown": markdown,
    }.get(fmt)
    if fn is None:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return fn(lineage)


def _walk(lineage: Graph):
    """Depth-first (depth, edge relation, node, seen-before) from the roots; every node once in full."""
    children: dict[str, list[G.Edge]] = {}
    for e in lineage.edges:
        children.setdefault(e.source, []).append(e)
    seen: set[str] = set()

    def visit(node_id: str, depth: int, relation: Optional[str]):
        node = lineage.nodes.get(node_id)
        if node is None:
            return
        if node_id in seen:
            yield depth, relation, node, True
            return
        seen.add(node_id)
        yield depth, relation, node, False
        for e in children.get(node_id, []):
            yield from visit(e.target, depth + 1, e.relation)

    for root in lineage.root_ids():
        yield from visit(root, 0, None)
    for node_id in lineage.nodes:  # anything not reachable from a root still shows
        if node_id not in seen:
            yield from visit(node_id, 0, None)


def _detail(node: G.Node, with_url: bool = True) -> str:
    a = node.attrs
    bits = []
    if node.kind == G.MODEL_VERSION:
        if a.get("aliases"):
            bits.append("@" + ", @".join(a["aliases"]))
        if a.get("stage") and a["stage"] != "None":
            bits.append(a["stage"])
    elif node.kind == G.RUN:
        if a.get("lifecycle_stage") == "deleted":
            bits.append("DELETED")
        if a.get("run_id") and a["run_id"] not in node.label:
            bits.append(a["run_id"])
    elif node.kind == G.MLFLOW_MODEL and a.get("flavors") and ", ".join(a["flavors"]) not in node.label:
        bits.append("flavors: " + ", ".join(a["flavors"]))
    elif node.kind == G.GIT_COMMIT and a.get("changes"):
        bits.extend(_changes(c) for c in a["changes"])
    elif node.kind == G.DATASET:
        bits += [
            v
            for v in (
                a.get("source_type"),
                a.get("digest") and f"digest {a['digest']}",
                a.get("schema") and f"columns: {a['schema']}",
            )
            if v
        ]
    if node.workspace_uri and node.kind in (G.RUN, G.LOGGED_MODEL):
        bits.append(f"in {node.workspace_uri}")
    if node.url and with_url and node.url not in node.label:
        bits.append(node.url)
    return ("  " + " · ".join(bits)) if bits else ""


_PREPOSITIONS = ("in ", "at ", "from ")


def _relation_prefix(relation: Optional[str], label: str) -> str:
    """``relation: `` before a label, unless the label already starts with what the relation names
    (``run: run nightly`` says "run" twice; ``in repository`` before ``repository …`` likewise)."""
    if not relation:
        return ""
    noun = relation
    for p in _PREPOSITIONS:
        if noun.startswith(p):
            noun = noun[len(p) :]
    squash = noun.replace(" ", "").lower()
    if squash and label.replace(" ", "").lower().startswith(squash):
        return ""
    return f"{relation}: "


def _changes(c: dict) -> str:
    """One run's uncommitted changes on its commit: whether they were kept, how many, where."""
    if c.get("state") != "captured":
        return f"changes not kept ({c.get('state')})"
    size = f", {c['bytes']} bytes" if c.get("bytes") is not None else ""
    marks: dict[object, str] = {True: ", intact", False: ", NOT intact"}
    intact = marks.get(c.get("intact"), "")
    where = c.get("url") or c.get("kept_in")
    return f"changes kept: {c.get('files', '?')} files{size}{intact} {where}"


def text(lineage: Graph) -> str:
    """An indented tree for terminals, then the findings."""
    lines = [f"lineage of {lineage.target}"]
    stack: list[bool] = []  # per depth: does a sibling follow?
    items = list(_walk(lineage))
    for i, (depth, relation, node, seen) in enumerate(items):
        last = True
        for later in items[i + 1 :]:
            if later[0] < depth:
                break
            if later[0] == depth:
                last = False
                break
        del stack[depth:]
        prefix = "".join("│   " if more else "    " for more in stack[1:]) if depth else ""
        branch = ("└── " if last else "├── ") if depth else ""
        rel = _relation_prefix(relation, node.label)
        body = f"{node.label} (see above)" if seen else node.label + _detail(node)
        lines.append(f"{prefix}{branch}{rel}{body}")
        stack.append(not last)
    findings = lineage.sorted_findings()
    if findings:
        lines.append("")
        lines.append(f"findings ({len(findings)}):")
        for f in findings:
            req = f" [{f.requirement}]" if f.requirement else ""
            lines.append(f"  {_MARK.get(f.severity, '-')} {f.severity}{req}: {f.message}")
    else:
        lines.append("")
        lines.append("no findings: lineage is complete")
    return "\n".join(lines) + "\n"


def _ids(lineage: Graph) -> dict[str, str]:
    return {node_id: f"n{i}" for i, node_id in enumerate(lineage.nodes)}


def _mermaid_text(s: str) -> str:
    return (
        s.replace("&", "#amp;")
        .replace('"', "#quot;")
        .replace("<", "#lt;")
        .replace(">", "#gt;")
        .replace("\n", " ")
        .replace("|", "#124;")
    )


_MERMAID_SHAPE: dict[str, tuple[str, str]] = {
    G.REGISTERED_MODEL: ('[["', '"]]'),
    G.GIT_COMMIT: ('(["', '"])'),
    G.REPOSITORY: ('[/"', '"/]'),
    G.WORKSPACE: ('[("', '")]'),
    G.MLFLOW_MODEL: ('{{"', '"}}'),
    G.DATASET: ('[\\"', '"\\]'),
}


def _nodes_with(lineage: Graph, severity: str) -> set[str]:
    return {f.node_id for f in lineage.findings if f.severity == severity and f.node_id}


def mermaid(lineage: Graph) -> str:
    """A ``flowchart`` that renders in GitHub, Databricks notebooks and Jupyter; links are clickable."""
    ids = _ids(lineage)
    out = ["flowchart LR"]
    for node_id, node in lineage.nodes.items():
        left, right = _MERMAID_SHAPE.get(node.kind, ('["', '"]'))
        label = _mermaid_text(node.label)
        out.append(f"  {ids[node_id]}{left}{label}{right}")
    for e in lineage.edges:
        if e.source in ids and e.target in ids:
            out.append(f"  {ids[e.source]} -->|{_mermaid_text(e.relation)}| {ids[e.target]}")
    for node_id, node in lineage.nodes.items():
        if node.url and node.url.startswith(("http://", "https://")):
            out.append(f'  click {ids[node_id]} href "{_mermaid_text(node.url)}" _blank')
    errors = [ids[n] for n in _nodes_with(lineage, G.ERROR) if n in ids]
    warnings = [ids[n] for n in _nodes_with(lineage, G.WARNING) - _nodes_with(lineage, G.ERROR) if n in ids]
    out.append("  classDef error stroke:#c62828,stroke-width:3px")
    out.append("  classDef warning stroke:#ef6c00,stroke-width:2px")
    if errors:
        out.append(f"  class {','.join(sorted(errors))} error")
    if warnings:
        out.append(f"  class {','.join(sorted(warnings))} warning")
    return "\n".join(out) + "\n"


def _dot_text(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def dot(lineage: Graph) -> str:
    """Graphviz DOT: ``mlflow-lineage show X --format dot | dot -Tsvg > lineage.svg``."""
    ids = _ids(lineage)
    errors, warnings = _nodes_with(lineage, G.ERROR), _nodes_with(lineage, G.WARNING)
    out = [
        "digraph lineage {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for node_id, node in lineage.nodes.items():
        attrs = [f'label="{_dot_text(node.label)}"']
        if node.kind == G.DATASET:
            attrs.append("shape=cylinder")
        if node.url:
            attrs.append(f'URL="{_dot_text(node.url)}"')
        if node_id in errors:
            attrs.append('color="#c62828", penwidth=2')
        elif node_id in warnings:
            attrs.append('color="#ef6c00"')
        attrs.append(f'tooltip="{_dot_text(node_id)}"')
        out.append(f"  {ids[node_id]} [{', '.join(attrs)}];")
    for e in lineage.edges:
        if e.source in ids and e.target in ids:
            out.append(f'  {ids[e.source]} -> {ids[e.target]} [label="{_dot_text(e.relation)}"];')
    out.append("}")
    return "\n".join(out) + "\n"


_CSS = """
.mlflow-lineage{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:13px;color:#1f2328;
 background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:12px 16px;max-width:1100px}
.mlflow-lineage h3{margin:0 0 8px;font-size:15px}
.mlflow-lineage ul.tree{list-style:none;margin:0;padding-left:18px;border-left:1px solid #d0d7de}
.mlflow-lineage ul.tree.top{border-left:none;padding-left:0}
.mlflow-lineage li{margin:3px 0;padding-left:6px}
.mlflow-lineage .rel{color:#8c959f;font-size:11px;margin-right:6px}
.mlflow-lineage .rel:after{content:" \\2192"}
.mlflow-lineage .meta{color:#57606a;font-size:12px;margin-left:6px}
.mlflow-lineage a{color:#0969da;text-decoration:none}
.mlflow-lineage .node.error{border-left:3px solid #c62828;padding-left:4px}
.mlflow-lineage .node.warning{border-left:3px solid #ef6c00;padding-left:4px}
.mlflow-lineage table{border-collapse:collapse;margin-top:10px;width:100%}
.mlflow-lineage td,.mlflow-lineage th{border-top:1px solid #d0d7de;padding:4px 6px;text-align:left;vertical-align:top}
.mlflow-lineage .sev-error{color:#c62828;font-weight:600}
.mlflow-lineage .sev-warning{color:#ef6c00;font-weight:600}
.mlflow-lineage .sev-info{color:#57606a}
.mlflow-lineage .ok{color:#1a7f37;font-weight:600;margin-top:8px}
"""


def html(lineage: Graph) -> str:
    """Self-contained HTML (inline CSS, no scripts) for notebooks: the tree, then the findings."""
    e = _html.escape
    errors, warnings = _nodes_with(lineage, G.ERROR), _nodes_with(lineage, G.WARNING)
    parts = [
        f'<div class="mlflow-lineage"><style>{_CSS}</style>',
        f"<h3>Lineage of <code>{e(lineage.target)}</code></h3>",
        '<ul class="tree top">',
    ]
    depth = 0
    first = True
    for d, relation, node, seen in _walk(lineage):
        if first:
            first = False
        elif d > depth:
            parts.append('<ul class="tree">' * (d - depth))
        else:
            parts.append("</li>" + "</ul></li>" * (depth - d))
        depth = d
        cls = "error" if node.id in errors else "warning" if node.id in warnings else ""
        label = e(node.label) + (" <i>(see above)</i>" if seen else "")
        if node.url and node.url.startswith(("http://", "https://")) and not seen:
            label = f'<a href="{e(node.url)}" target="_blank" rel="noopener">{label}</a>'
        meta = e(_detail(node, with_url=False).strip()) if not seen else ""
        rel = f'<span class="rel">{e(relation)}</span>' if relation else ""
        kind = e(_KIND_NAMES.get(node.kind, node.kind))
        parts.append(
            f'<li><span class="node {cls}" data-kind="{e(node.kind)}" title="{kind}">{rel}{label}'
            f'<span class="meta">{meta}</span></span>'
        )
    if not first:
        parts.append("</li>" + "</ul></li>" * depth)
    parts.append("</ul>")
    findings = lineage.sorted_findings()
    if findings:
        parts.append("<table><tr><th>severity</th><th>requirement</th><th>finding</th></tr>")
        for f in findings:
            parts.append(
                f'<tr><td class="sev-{e(f.severity)}">{e(f.severity)}</td><td>{e(f.requirement or "")}</td>'
                f"<td>{e(f.message)}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append('<div class="ok">No findings: lineage is complete.</div>')
    parts.append("</div>")
    return "".join(parts)


def markdown(lineage: Graph) -> str:
    """The version descriptions' own line (``markdown.summary_line``) per version, around the Mermaid block."""
    return _markdown(lineage, mermaid(lineage))


def _children(lineage: Graph) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in lineage.edges:
        out.setdefault(e.source, []).append(e.target)
    return out


def _summary(lineage: Graph, version_id: str, children: Optional[Mapping[str, list[str]]] = None) -> M.Summary:
    """The same facts read from the resolver's graph: the first node of each kind reachable from one
    version node (never through another version)."""
    children = _children(lineage) if children is None else children
    found: dict[str, Any] = {}
    seen, queue = {version_id}, deque([version_id])
    while queue:
        for target in children.get(queue.popleft(), ()):
            node = lineage.nodes.get(target)
            if node is None or target in seen or node.kind in (G.MODEL_VERSION, G.REGISTERED_MODEL):
                continue
            seen.add(target)
            found.setdefault(node.kind, node)
            queue.append(target)
    run, script, nb, commit, repo = (
        found.get(k) for k in (G.RUN, G.ENTRY_SCRIPT, G.NOTEBOOK, G.GIT_COMMIT, G.REPOSITORY)
    )
    lm = found.get(G.LOGGED_MODEL)
    ra = run.attrs if run else {}
    ca = commit.attrs if commit else {}
    return M.Summary(
        run_id=ra.get("run_id"),
        run_name=_run_name(run),
        run_url=run.url if run else None,
        model_id=lm.attrs.get("model_id") if lm else lineage.nodes[version_id].attrs.get("model_id"),
        workspace_uri=run.workspace_uri if run else None,
        path=script.attrs.get("path") if script else None,
        source_url=script.url if script else None,
        notebook_path=nb.attrs.get("path") if nb else None,
        notebook_url=nb.url if nb else None,
        commit=ca.get("commit"),
        branch=ca.get("branch"),
        repo_url=(repo.attrs.get("url") if repo else None) or ca.get("repo_url"),
        dirty=ca.get("dirty"),
    )


def _run_name(run) -> Optional[str]:
    if run is None:
        return None
    label = run.label[4:] if run.label.startswith("run ") else run.label
    return None if label.endswith("(not read)") or label == run.attrs.get("run_id") else label


def _markdown(lineage: Graph, mermaid: str) -> str:
    """The resolver's Markdown: one line per model version, the graph as a Mermaid block (GitHub,
    Databricks and Jupyter draw it), then the findings."""
    out = [f"**Lineage of {M.code(lineage.target)}**", ""]
    children = _children(lineage)
    for node in lineage.of_kind(G.MODEL_VERSION):
        line = M.summary_line(_summary(lineage, node.id, children))
        out.append(f"- {M.link(M.text(node.label), node.url)}" + (f": {line}" if line else ""))
    out += ["", "```mermaid", mermaid.rstrip(), "```", ""]
    for f in lineage.sorted_findings():
        req = f" {M.code(f.requirement)}" if f.requirement else ""
        out.append(f"- **{f.severity}**{req}: {M.text(f.message)}")
    if not lineage.findings:
        out.append("No findings: lineage is complete.")
    return "\n".join(out) + "\n"
