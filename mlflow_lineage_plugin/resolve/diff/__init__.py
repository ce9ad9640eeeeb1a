"""``mlflow-lineage diff A B``: what differs between two models (or runs) in code, data, parameters and
metrics, environment and lineage, each section saying how well it is known and why.

``load`` reads each side (I/O), ``trees`` builds both exact trees with git and compares them,
``compare`` does the rest as pure functions, and the ``Diff`` here holds the sections (``result``) and
shows itself through the renderers (``render`` for text, ``markdown``, ``html``).
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Optional

from mlflow_lineage_plugin.git.clone import CloneError, given_clone
from mlflow_lineage_plugin.resolve.diff import compare
from mlflow_lineage_plugin.resolve.diff.html import html, page
from mlflow_lineage_plugin.resolve.diff.load import DiffError, load
from mlflow_lineage_plugin.resolve.diff.markdown import markdown
from mlflow_lineage_plugin.resolve.diff.render import text
from mlflow_lineage_plugin.resolve.diff.result import (
    SCHEMA,
    SECTIONS,
    CodeSection,
    Known,
    Section,
    SectionName,
    Side,
)
from mlflow_lineage_plugin.resolve.diff.trees import code_section
from mlflow_lineage_plugin.resolve.endpoints import Clients
from mlflow_lineage_plugin.resolve.target import parse_target

GATED = (SectionName.CODE, SectionName.DATA, SectionName.PARAMS, SectionName.ENV)  # what --fail-on may name
FORMATS = ("text", "json", "markdown", "html")


@dataclass(frozen=True)
class Diff:
    """What ``diff`` found: the two sides and their sections, shown as text, JSON, Markdown or HTML by
    the renderers (a notebook displays it)."""

    a: Side
    b: Side
    sections: tuple[Section, ...]
    identical: bool = False  # the two targets are one and the same

    def section(self, name: str) -> Section:
        for s in self.sections:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def code(self) -> CodeSection:
        s = self.section(SectionName.CODE)
        assert isinstance(s, CodeSection)
        return s

    def failing(self, names: frozenset[str]) -> list[Section]:
        """The named sections a gate must refuse: a difference, or not known to be the same."""
        return [s for s in self.sections if s.name in names and (s.changed or s.known != Known.EXACT)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
            "identical": self.identical,
            "sections": {s.name: s.to_dict() for s in self.sections},
        }

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str)

    def render(self, fmt: str = "text") -> str:
        """``fmt`` is one of ``FORMATS``; anything else is text."""
        if fmt == "json":
            return self.to_json() + "\n"
        if fmt == "markdown":
            return markdown(self)
        if fmt == "html":
            return page(self)
        return text(self)

    def __str__(self) -> str:
        return self.render("text")

    def _repr_markdown_(self) -> str:
        return self.render("markdown")

    def _repr_html_(self) -> str:
        return html(self)


def diff(
    a: str,
    b: str,
    *,
    repo: Optional[str] = None,
    patch: bool = False,
    tracking_uri: Optional[str] = None,
    registry_uri: Optional[str] = None,
    timeout: Optional[float] = None,
    clients: Optional[Clients] = None,
) -> Diff:
    """Compare ``a`` and ``b`` (any target ``show`` accepts). Raises ``TargetError``, ``ResolveError`` or
    ``DiffError`` on bad input; everything else is said in the sections of the returned ``Diff``."""
    ta, tb = parse_target(a), parse_target(b)  # malformed input is reported before any request
    if repo is not None:
        try:
            repo = given_clone(repo)
        except CloneError as exc:
            raise DiffError(str(exc)) from None
    clients = clients or Clients(tracking_uri, registry_uri, timeout)
    if ta.text == tb.text:
        la = lb = load(ta, clients)
    else:
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="lineage-diff") as pool:
            fa, fb = pool.submit(load, ta, clients), pool.submit(load, tb, clients)
            la, lb = fa.result(), fb.result()
    sections = (
        code_section(la, lb, repo=repo, patch=patch),
        compare.data_section(la.facts, lb.facts),
        compare.params_section(la.facts, lb.facts),
        compare.env_section(la.facts, lb.facts),
        compare.lineage_section(la.facts, lb.facts),
    )
    return Diff(la.side, lb.side, sections, identical=ta.text == tb.text)


def writable(path: str) -> str:
    """``path``, checked before any work is done: a file that can be created or overwritten."""
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(path):
        raise DiffError(f"--output {path} is a directory")
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise DiffError(f"--output {path}: directory {parent} does not exist")
    if not os.access(path if os.path.exists(path) else parent, os.W_OK):
        raise DiffError(f"--output {path} is not writable")
    return path


__all__ = ["diff", "Diff", "DiffError", "Known", "Section", "SCHEMA", "SECTIONS", "GATED", "FORMATS", "writable"]
