"""No import circles inside the package, counting the imports written inside functions.

A deferred import hides a circle from Python but not from a reader: the two modules still cannot be
understood, tested or moved one without the other. So every ``import`` statement counts, wherever it
is written, read with ``ast`` rather than by importing anything.

The rules, so a reader can predict what the test sees:
- ``import a.b`` and ``from a.b import x`` are an edge to the module ``a.b``; ``from a import b``
  where ``b`` is a submodule is an edge to ``a.b`` (the module reached), not to ``a``'s ``__init__``.
- Importing ``a.b`` runs ``a/__init__.py`` first, but that is not counted as an edge to ``a``:
  otherwise every package whose ``__init__`` re-exports its submodules would be a circle with each
  of them. A module that imports a *name* from its own package's ``__init__`` (``from a import f``
  where ``f`` is no submodule) does count, and makes the circle it looks like.
- Imports under ``if TYPE_CHECKING:`` count too: an annotation that needs a circle to be spelled is
  the same coupling. So does ``importlib.import_module("a.b")`` (or ``__import__``) with a literal name.

The usual way out, where a value shows itself through its renderers (``graph.Lineage.to_text``,
``diff.Diff.render``): the value's module imports the renderers, and the renderers read the value
through a ``Protocol`` of what they read (``render.Graph``, ``diff.result.Result``) and import only its
parts (``resolve.elements``, ``diff.result``).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Optional

import mlflow_lineage_plugin

PACKAGE = mlflow_lineage_plugin.__name__
ROOT = Path(mlflow_lineage_plugin.__file__).resolve().parent


def module_name(path: Path, root: Path = ROOT, package: str = PACKAGE) -> str:
    parts = [package, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    return {module_name(p, root, package): p for p in sorted(root.rglob("*.py"))}


def _absolute(name: str, path: Path, level: int, module: Optional[str]) -> str:
    """The absolute module a (possibly relative) ``from`` names."""
    if not level:
        return module or ""
    base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imports_of(name: str, path: Path, known: set[str], package: str = PACKAGE) -> set[str]:
    """The package modules ``name`` imports anywhere in its source, by the rules in this file's docstring."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(name, path, node.level, node.module)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in known else target)
        elif isinstance(node, ast.Call) and _called(node.func) in ("import_module", "__import__"):
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                out.add(first.value)
    return {m for m in out if m in known and m != name and (m == package or m.startswith(package + "."))}


def _called(func: ast.expr) -> Optional[str]:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def import_graph(root: Path = ROOT, package: str = PACKAGE) -> dict[str, set[str]]:
    mods = modules(root, package)
    return {name: imports_of(name, path, set(mods), package) for name, path in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> Optional[list[str]]:
    """One circle as ``[a, b, ..., a]``, or None; depth-first, iterative, deterministic."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = dict.fromkeys(graph, WHITE)
    for start in sorted(graph):
        if color[start] != WHITE:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        color[start] = GREY
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                color[node] = BLACK
                stack.pop()
            elif color.get(child, BLACK) == GREY:
                path = [n for n, _ in stack]
                return path[path.index(child) :] + [child]
            elif color.get(child) == WHITE:
                color[child] = GREY
                stack.append((child, iter(sorted(graph[child]))))
    return None


def test_no_import_circle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_graph_sees_every_import_form(tmp_path):
    """The reader finds in-function, relative and submodule imports, and a planted circle fails."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from pkg.sub import thing\n")
    (pkg / "sub" / "__init__.py").write_text("from .thing import f\n")
    (pkg / "sub" / "thing.py").write_text("def f():\n    from .. import other\n")
    (pkg / "sub" / "more.py").write_text("if True:\n    import pkg.other\n")
    (pkg / "other.py").write_text("from pkg import helper\n")
    (pkg / "helper.py").write_text("def g():\n    from pkg.sub import f\n")
    graph = import_graph(pkg, "pkg")
    assert graph == {
        "pkg": {"pkg.sub.thing"},
        "pkg.sub": {"pkg.sub.thing"},
        "pkg.sub.thing": {"pkg.other"},
        "pkg.sub.more": {"pkg.other"},
        "pkg.other": {"pkg.helper"},
        "pkg.helper": {"pkg.sub"},
    }
    assert _circle(find_cycle(graph)) == {"pkg.helper", "pkg.sub", "pkg.sub.thing", "pkg.other"}
    (pkg / "helper.py").write_text("def g():\n    from pkg.sub.thing import f\n")
    assert _circle(find_cycle(import_graph(pkg, "pkg"))) == {"pkg.helper", "pkg.sub.thing", "pkg.other"}
    (pkg / "helper.py").write_text("import importlib\n\ndef g():\n    importlib.import_module('pkg.sub.more')\n")
    assert _circle(find_cycle(import_graph(pkg, "pkg"))) == {"pkg.helper", "pkg.sub.more", "pkg.other"}
    (pkg / "helper.py").write_text("X = 1\n")
    assert find_cycle(import_graph(pkg, "pkg")) is None


def _circle(cycle: Optional[list[str]]) -> set[str]:
    assert cycle and cycle[0] == cycle[-1], cycle
    return set(cycle)
