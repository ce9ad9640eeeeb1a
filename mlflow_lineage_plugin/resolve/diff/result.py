"""What ``diff`` found, as plain values: the renderers read these and nothing else.

Every section says how well it is known (``exact``, ``partly``, ``unknown``) and why, so "no
difference" is only ever said of something that was compared; a side that could not be read is a
reason, never an empty list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Protocol

from mlflow_lineage_plugin.resolve.elements import _StrEnum

SCHEMA = 1  # the JSON's ``schema``: raise it when a field changes meaning or goes away (docs/diff.md)


class Known(_StrEnum):
    EXACT = "exact"  # compared in full
    PARTLY = "partly"  # compared, with named gaps
    UNKNOWN = "unknown"  # not compared; ``why`` says what is missing


class SectionName(_StrEnum):
    CODE = "code"
    DATA = "data"
    PARAMS = "params"
    ENV = "env"
    LINEAGE = "lineage"


SECTIONS = tuple(SectionName)
TITLES = {
    SectionName.CODE: "Code",
    SectionName.DATA: "Data",
    SectionName.PARAMS: "Parameters and metrics",
    SectionName.ENV: "Environment",
    SectionName.LINEAGE: "Lineage",
}

ADDED, REMOVED, CHANGED = "added", "removed", "changed"


@dataclass(frozen=True)
class Change:
    """One named value that is not the same on both sides: ``a`` None = only B has it (added)."""

    group: str  # param, metric, dataset, requirement, flavor, ... : how the renderers group rows
    name: str
    a: Optional[str]
    b: Optional[str]
    delta: Optional[float] = None  # metrics: b - a

    @property
    def status(self) -> str:
        return ADDED if self.a is None else REMOVED if self.b is None else CHANGED

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"group": self.group, "name": self.name, "status": self.status, "a": self.a, "b": self.b}
        if self.delta is not None:
            out["delta"] = self.delta
        return out


@dataclass(frozen=True)
class FileChange:
    """One path whose content or mode differs between the two exact trees (``git diff`` of trees)."""

    path: str
    status: str  # git's letter: A added, D deleted, M modified, R renamed, T type changed
    old_path: Optional[str] = None  # renames
    added: Optional[int] = None  # lines; None for binary files
    deleted: Optional[int] = None
    binary: bool = False
    old_mode: Optional[str] = None
    new_mode: Optional[str] = None

    @property
    def submodule(self) -> bool:
        return "160000" in (self.old_mode, self.new_mode)

    def to_dict(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in {
                "path": self.path,
                "status": self.status,
                "old_path": self.old_path,
                "added": self.added,
                "deleted": self.deleted,
                "binary": self.binary or None,
                "submodule": self.submodule or None,
                "old_mode": self.old_mode if self.old_mode != self.new_mode else None,
                "new_mode": self.new_mode if self.old_mode != self.new_mode else None,
            }.items()
            if v is not None
        }


@dataclass(frozen=True)
class Commit:
    sha: str
    subject: str

    def to_dict(self) -> dict[str, str]:
        return {"sha": self.sha, "subject": self.subject}


@dataclass(frozen=True)
class CodeSide:
    """One side's code: the commit, and whether its tree is the run's code exactly."""

    commit: Optional[str] = None
    repo_url: Optional[str] = None  # urls.normalize_remote's form: credential-free
    branch: Optional[str] = None
    exact: bool = False
    reason: Optional[str] = None  # why not exact
    patch_files: tuple[str, ...] = ()  # files the kept patch changed (folded into the tree)
    tree: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in {
                "commit": self.commit,
                "repo_url": self.repo_url,
                "branch": self.branch,
                "exact": self.exact,
                "reason": self.reason,
                "patch_files": list(self.patch_files) or None,
                "tree": self.tree,
            }.items()
            if v is not None
        }


@dataclass(frozen=True)
class Section:
    name: str
    known: Known
    why: tuple[str, ...] = ()
    changes: tuple[Change, ...] = ()
    same: int = 0  # entries compared and equal

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    @property
    def title(self) -> str:
        return TITLES.get(SectionName(self.name), self.name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "known": self.known,
            "why": list(self.why),
            "changed": self.changed,
            "same": self.same,
            "changes": [c.to_dict() for c in self.changes],
        }


@dataclass(frozen=True)
class CodeSection(Section):
    a: CodeSide = field(default_factory=CodeSide)
    b: CodeSide = field(default_factory=CodeSide)
    same_repository: Optional[bool] = None
    merge_base: Optional[str] = None
    a_to_b: tuple[Commit, ...] = ()  # git log A..B
    b_to_a: tuple[Commit, ...] = ()  # git log B..A (diverged)
    more_commits: tuple[int, int] = (0, 0)  # commits beyond those listed, each way
    files: tuple[FileChange, ...] = ()
    patch: Optional[str] = None  # the unified diff between the trees, with --patch

    @property
    def changed(self) -> bool:
        return bool(self.files) or bool(self.changes)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out.update(
            {
                "a": self.a.to_dict(),
                "b": self.b.to_dict(),
                "same_repository": self.same_repository,
                "merge_base": self.merge_base,
                "a_to_b": [c.to_dict() for c in self.a_to_b],
                "b_to_a": [c.to_dict() for c in self.b_to_a],
                "more_commits": {"a_to_b": self.more_commits[0], "b_to_a": self.more_commits[1]},
                "files": [f.to_dict() for f in self.files],
            }
        )
        if self.patch is not None:
            out["patch"] = self.patch
        return out


@dataclass(frozen=True)
class Side:
    """What a target turned out to be."""

    target: str
    label: str  # "fraud version 3", "run 431127c5…", "LoggedModel m-…"
    run_id: Optional[str] = None
    url: Optional[str] = None
    workspace: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in {
                "target": self.target,
                "label": self.label,
                "run_id": self.run_id,
                "url": self.url,
                "workspace": self.workspace,
            }.items()
            if v is not None
        }


class Result(Protocol):
    """What the renderers read of a diff. ``diff.Diff`` is one, and its ``render`` and ``_repr_html_``
    call them, so they name this shape instead of importing it."""

    @property
    def a(self) -> Side: ...

    @property
    def b(self) -> Side: ...

    @property
    def sections(self) -> tuple[Section, ...]: ...

    @property
    def identical(self) -> bool: ...

    @property
    def code(self) -> CodeSection: ...

    def to_json(self, indent: int = 2) -> str: ...
