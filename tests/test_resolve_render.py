"""Renderers are pure: a hand-built graph in, exact text out. Hostile labels (quotes, markup, newlines)
must not break Mermaid, DOT or the notebook HTML."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from mlflow_lineage_plugin.resolve import graph as G
from mlflow_lineage_plugin.resolve import render


def sample() -> G.Lineage:
    g = G.Lineage("models:/fraud/3")
    g.add(G.Node("rm", G.REGISTERED_MODEL, "registered model fraud"))
    g.add(G.Node("v3", G.MODEL_VERSION, "fraud version 3", attrs={"aliases": ["champion"], "version": "3"}))
    g.add(
        G.Node(
            "run",
            G.RUN,
            "run nightly",
            workspace_uri="https://adb-1.azuredatabricks.net/?o=1",
            url="https://adb-1.azuredatabricks.net/?o=1#mlflow/experiments/1/runs/r",
        )
    )
    g.add(G.Node("exp", G.EXPERIMENT, "experiment /Users/a/fraud"))
    g.add(G.Node("nb", G.NOTEBOOK, "notebook /Repos/a/fraud/train"))
    g.add(G.Node("c", G.GIT_COMMIT, "commit 0123456789ab on main", url="https://github.com/acme/fraud/commit/0123"))
    g.add(G.Node("repo", G.REPOSITORY, "repository https://github.com/acme/fraud", url="https://github.com/acme/fraud"))
    for s, t, r in [
        ("rm", "v3", "version"),
        ("v3", "run", "run"),
        ("run", "exp", "experiment"),
        ("run", "nb", "from notebook"),
        ("nb", "c", "at commit"),
        ("c", "repo", "in repository"),
    ]:
        g.link(s, t, r)
    g.note(G.Finding(G.WARNING, "dirty", "commit 0123456789ab had uncommitted changes", "c", G.REQ_CLEAN))
    g.roots.append("rm")
    return g


def test_text_tree_is_exact():
    """A relation is printed only when the label does not already say it, and a URL the label
    already shows is not printed again (``run: run nightly``, ``in repository: repository X X``)."""
    assert render.text(sample()) == (
        "lineage of models:/fraud/3\n"
        "registered model fraud\n"
        "└── version: fraud version 3  @champion\n"
        "    └── run nightly  in https://adb-1.azuredatabricks.net/?o=1 · "
        "https://adb-1.azuredatabricks.net/?o=1#mlflow/experiments/1/runs/r\n"
        "        ├── experiment /Users/a/fraud\n"
        "        └── notebook /Repos/a/fraud/train\n"
        "            └── commit 0123456789ab on main  https://github.com/acme/fraud/commit/0123\n"
        "                └── repository https://github.com/acme/fraud\n"
        "\n"
        "findings (1):\n"
        "  ! warning [clean]: commit 0123456789ab had uncommitted changes\n"
    )


def test_shared_nodes_print_once():
    g = sample()
    g.add(G.Node("v4", G.MODEL_VERSION, "fraud version 4"))
    g.link("rm", "v4", "version")
    g.link("v4", "run", "run")
    out = render.text(g)
    assert out.count("run nightly") == 2 and out.count("(see above)") == 1
    assert out.count("experiment /Users/a/fraud") == 1


def test_json_round_trip():
    data = json.loads(sample().to_json())
    assert data["roots"] == ["rm"]
    assert [n["id"] for n in data["nodes"]] == ["rm", "v3", "run", "exp", "nb", "c", "repo"]
    assert data["findings"] == [
        {
            "severity": "warning",
            "code": "dirty",
            "requirement": "clean",
            "node": "c",
            "message": "commit 0123456789ab had uncommitted changes",
        }
    ]


HOSTILE = 'x" onmouseover="alert(1)\n<script>alert(2)</script> | a -> b; }'


def hostile() -> G.Lineage:
    g = G.Lineage(HOSTILE)
    g.add(G.Node("a", G.RUN, HOSTILE, url='https://example.com/"><script>'))
    g.add(G.Node("b", G.GIT_COMMIT, "commit"))
    g.link("a", "b", HOSTILE)
    g.note(G.Finding(G.ERROR, "x", HOSTILE, "a", G.REQ_COMMIT))
    return g


def test_mermaid_escapes_labels():
    m = render.mermaid(hostile())
    body = [line for line in m.splitlines()[1:]]
    assert all(
        '"' not in line.split('"', 1)[1].rsplit('"', 1)[0]
        for line in body
        if line.count('"') >= 2 and not line.strip().startswith("click")
    )
    assert "<script>" not in m and "\n<" not in m
    assert "class n0 error" in m


def test_dot_escapes_labels():
    d = render.dot(hostile())
    quoted = r'"(?:[^"\\\n]|\\.)*"'
    node = re.compile(rf"^  n\d+ \[label={quoted}(, URL={quoted})?(, [a-z]+=(?:{quoted}|\d+))*\];$")
    edge = re.compile(rf"^  n\d+ -> n\d+ \[label={quoted}\];$")
    lines = d.splitlines()
    assert lines[0] == "digraph lineage {" and lines[-1] == "}"
    body = [line for line in lines[1:-1] if re.match(r"  n\d", line)]
    assert len(body) == 3
    for line in body:
        assert node.match(line) or edge.match(line), line
    assert 'x\\" onmouseover' in d


class _Balance(HTMLParser):
    VOID = {"br", "img", "meta", "link", "input", "hr"}

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (self.stack, tag)
        self.stack.pop()


@pytest.mark.parametrize("graph", [sample, hostile])
def test_html_is_self_contained_and_balanced(graph):
    h = graph()._repr_html_()
    p = _Balance()
    p.feed(h)
    assert p.stack == []
    assert "script" not in p.tags and "link" not in p.tags and "img" not in p.tags
    assert "http-equiv" not in h and "@import" not in h and "url(" not in h


def test_html_shows_the_tree_and_findings():
    h = sample()._repr_html_()
    assert h.index("registered model fraud") < h.index("fraud version 3") < h.index("commit 0123456789ab")
    assert 'href="https://github.com/acme/fraud/commit/0123"' in h
    assert "uncommitted changes" in h and "sev-warning" in h


def test_markdown_has_mermaid_and_findings():
    md = sample()._repr_markdown_()
    assert "```mermaid\nflowchart LR" in md
    assert "- **warning** `clean`: commit 0123456789ab had uncommitted changes" in md


def test_unknown_format():
    with pytest.raises(ValueError, match="unknown format 'svg'"):
        render.render(sample(), "svg")


def _runtime_imports(module) -> set[str]:
    """Modules a source file imports when it runs (``if TYPE_CHECKING:`` blocks left out)."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    for node in list(ast.walk(tree)):
        for field in ("body", "orelse"):
            stmts = getattr(node, field, None)
            if isinstance(stmts, list):
                setattr(
                    node,
                    field,
                    [s for s in stmts if not (isinstance(s, ast.If) and "TYPE_CHECKING" in ast.unparse(s.test))],
                )
    out = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    out |= {f"{n.module}.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    return out


def test_graph_building_modules_import_no_io_module():
    """``nodes`` and ``versions`` build from what was read; they never reach the client module."""
    from mlflow_lineage_plugin.resolve import nodes, versions

    io = (
        "mlflow.",
        "mlflow_lineage_plugin.resolve.clients.",
        "mlflow_lineage_plugin.resolve.endpoints.",
        "mlflow_lineage_plugin.resolve.fetch.",
        "mlflow_lineage_plugin.resolve.walk.",
        "mlflow_lineage_plugin.resolve.target.",
        "mlflow_lineage_plugin.databricks.",
        "mlflow_lineage_plugin.workspace_routes.",
        "mlflow_lineage_plugin.mlflow_http.",
    )
    for module in (nodes, versions):
        assert not {m for m in _runtime_imports(module) if (m + ".").startswith(io)}, module.__name__


def test_kinds_severities_and_requirements_are_closed_string_sets():
    assert isinstance(G.RUN, G.NodeKind) and G.RUN == "run" and f"{G.RUN}" == "run"
    assert set(G.KINDS) == set(G.NodeKind) and len(G.KINDS) == 13 and G.DATASET == "dataset"
    assert [s.value for s in G.Severity] == ["error", "warning", "info"]
    assert {"commit", "clean"} - set(G.REQUIREMENTS) == set()
    assert json.loads(sample().to_json())["nodes"][0]["kind"] == "registered_model"


def test_resolve_is_a_plain_package_that_exports_functions():
    import types

    import mlflow_lineage_plugin.resolve as pkg
    from mlflow_lineage_plugin.resolve import find, resolve

    assert type(pkg) is types.ModuleType
    assert resolve.__module__ == "mlflow_lineage_plugin.resolve.walk"
    assert find.__module__ == "mlflow_lineage_plugin.resolve.find"


def test_tags_become_code_nodes_in_one_place():
    """Runs, LoggedModels and versions all turn tags into notebook/script → commit → repository here."""
    from mlflow_lineage_plugin import tags as T
    from mlflow_lineage_plugin.resolve import nodes as N

    commit = "0123456789abcdef0123456789abcdef01234567"
    g = G.Lineage("t")
    g.add(G.Node("run", G.RUN, "run r"))
    tags = {
        T.MLFLOW_GIT_COMMIT: commit,
        T.MLFLOW_GIT_REPO_URL: "git@github.com:acme/m.git",
        T.MLFLOW_SOURCE_NAME: "train.py",
        T.MLFLOW_SOURCE_TYPE: "LOCAL",
    }
    code = N.code_from_tags(g, "run", tags, None, "run tags")
    assert code.git.commit == commit and code.entry == "train.py"
    assert [n.kind for n in g.nodes.values()] == [G.RUN, G.ENTRY_SCRIPT, G.GIT_COMMIT, G.REPOSITORY]
    assert g.of_kind(G.REPOSITORY)[0].attrs["url"] == "https://github.com/acme/m"

    g2 = G.Lineage("t")
    g2.add(G.Node("run", G.RUN, "run r"))
    fallback = T.GitRef(commit=commit)
    code = N.code_from_tags(
        g2, "run", {T.MLFLOW_SOURCE_NAME: "x.py"}, None, "run tags", fallback_git=fallback, with_entry=False
    )
    assert code.git == fallback and not g2.of_kind(G.ENTRY_SCRIPT)
    assert [(e.source, e.relation) for e in g2.edges] == [("run", "at commit")]
