"""The references name every word the code defines: docs/tags.md every key ``tags.py`` defines, and
docs/resolver.md every finding code with its severity and requirement. One vocabulary, documented once."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.resolve import graph as G

DOC = (Path(__file__).resolve().parent.parent / "docs" / "tags.md").read_text(encoding="utf-8")
KEYS = sorted(
    {
        value
        for name, value in vars(T).items()
        if name.isupper() and isinstance(value, str) and value.startswith(("lineage_", "mlflow."))
    }
)


@pytest.mark.parametrize("key", KEYS)
def test_every_key_is_in_the_tag_reference(key):
    # Databricks keys are listed by their last part after "the mlflow.databricks.* keys".
    short = key.rsplit(".", 1)[-1] if key.startswith("mlflow.databricks.") else key
    assert f"`{short}`" in DOC, f"{key} is not documented in docs/tags.md"


def test_the_resolver_reference_lists_every_finding_code_once():
    doc = (Path(__file__).resolve().parent.parent / "docs" / "resolver.md").read_text(encoding="utf-8")
    table = doc[doc.index("| code | severity | requirement |") :].split("\n\n", 1)[0].splitlines()[2:]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table]
    documented = [(code.strip("`"), severity, requirement) for code, severity, requirement, *_ in rows]
    expected = [(code, str(sev), str(req) if req else "—") for code, (sev, req) in G.RULES.items()]
    assert documented == expected
    assert list(G.RULES) == list(G.FindingCode)


def test_no_module_but_tags_spells_a_key():
    """Every key is a named constant of tags.py: a second spelling elsewhere is a key that can drift."""
    import ast

    package = Path(T.__file__).resolve().parent
    vocabulary = {v for name, v in vars(T).items() if name.isupper() and isinstance(v, str)}
    vocabulary = {v for v in vocabulary if v.startswith(("lineage_", "mlflow."))}
    spelled = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "tags.py" and path.parent == package:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
                if text in vocabulary or (text.startswith("lineage_") and text.isidentifier()):
                    spelled.append(f"{path.relative_to(package)}:{node.lineno}: {text!r}")
    assert not spelled, "keys spelled outside tags.py:\n" + "\n".join(spelled)
