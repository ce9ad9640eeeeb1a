"""A diff's shared wording (headlines, file notes, commit ranges, one side's code) and its text for a
terminal; ``markdown`` and ``html`` build on the same wording. Pure functions: no I/O, so the CLI and a
notebook show the same thing.

Every name in a diff (paths, params, dataset names, commit subjects) is hostile input: Markdown goes
through ``mlflow_lineage_plugin.resolve.markdown``'s escaping, HTML through ``html.escape``.
"""

from __future__ import annotations

from typing import Optional

from mlflow_lineage_plugin.resolve.diff.result import (
    Change,
    CodeSection,
    CodeSide,
    Commit,
    FileChange,
    Known,
    Result,
    Section,
)


# --- shared wording --------------------------------------------------------------------------------
def count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def shown_patch(patch: str, limit: int) -> tuple[str, Optional[str]]:
    """The patch cut to ``limit`` characters at a file's start (or, for one huge file, at a line's end),
    and a note saying what was left out; the note is None when all of it fits.

    A pull-request comment refuses text over GitHub's 65,536 characters and a browser crawls through a
    page of millions of table rows, so the Markdown and HTML formats show a part; the text and JSON
    formats, asked for with ``--patch``, hold it whole.
    """
    if len(patch) <= limit:
        return patch, None
    files = patch.count("diff --git ")
    cut = patch.rfind("\ndiff --git ", 0, limit + 1)
    shown = patch[: cut + 1] if cut > 0 else patch[: patch.rfind("\n", 0, limit) + 1]
    left = files - shown.count("diff --git ") + (0 if cut > 0 else 1)
    note = f"the patch is {len(patch):,} characters: the first {len(shown):,} are shown"
    note += f", {count(left, 'file')} not (or not whole)" if left else ""
    return shown, note + "; --format text or json with --patch holds it all"


def headline(s: Section) -> str:
    """``exact · 3 files changed`` / ``unknown``: how well it is known, then what differs."""
    if isinstance(s, CodeSection) and s.files:
        added = sum(f.added or 0 for f in s.files)
        deleted = sum(f.deleted or 0 for f in s.files)
        what = f"{count(len(s.files), 'file')} changed (+{added} -{deleted})"
    elif s.changes:
        what = f"{len(s.changes)} changed" + (f", {s.same} same" if s.same else "")
    elif s.known == Known.UNKNOWN:
        what = "not compared"
    elif s.known == Known.PARTLY:
        what = "no difference in what could be compared"
    else:
        what = "no difference" + (f" ({s.same} compared)" if s.same else "")
    return f"{s.known} · {what}"


def file_note(f: FileChange) -> str:
    bits = []
    if f.submodule:
        bits.append("submodule")
    if f.binary:
        bits.append("binary")
    elif f.added is not None and (f.added or f.deleted):
        bits.append(f"+{f.added} -{f.deleted}")
    if f.old_mode and f.new_mode and f.old_mode != f.new_mode:
        bits.append(f"mode {f.old_mode} → {f.new_mode}")
    return ", ".join(bits)


def file_name(f: FileChange) -> str:
    return f"{f.old_path} → {f.path}" if f.old_path else f.path


def value(v: Optional[str]) -> str:
    return "(none)" if v is None else v


def group(c: Change) -> str:
    """The row's kind, said where the section does not already say it (``param lr``, but ``branch``)."""
    return "" if c.group == "lineage" else f"{c.group} "


def delta(c: Change) -> str:
    return f" ({c.delta:+g})" if c.delta is not None else ""


def commit_ranges(s: CodeSection) -> list[tuple[str, tuple[Commit, ...], int]]:
    """(``A..B``, the commits listed, how many more) for each direction that has commits."""
    ranges = (("A..B", s.a_to_b, s.more_commits[0]), ("B..A", s.b_to_a, s.more_commits[1]))
    return [r for r in ranges if r[1]]


def commit_url(s: CodeSection, sha: Optional[str]) -> Optional[str]:
    """A browser link to ``sha`` in the compared repository, where it has a web page."""
    from mlflow_lineage_plugin.urls import source_web_url

    return source_web_url(s.a.repo_url or s.b.repo_url, sha) if s.same_repository else None  # normalized


def side_code(s: CodeSide) -> str:
    if not s.commit:
        return "no commit"
    extra = f" + kept patch ({count(len(s.patch_files), 'file')})" if s.patch_files else ""
    branch = f" on {s.branch}" if s.branch else ""
    return f"{s.commit[:12]}{branch}{extra}" + ("" if s.exact else " (not exact)")


# --- text ------------------------------------------------------------------------------------------
def text(d: Result) -> str:
    out = [f"diff {d.a.target} → {d.b.target}"]
    for name, side in (("A", d.a), ("B", d.b)):
        run = f" (run {side.run_id})" if side.run_id and side.run_id not in side.label else ""
        out.append(f"  {name}: {side.label}{run}")
    if d.identical:
        out.append("identical: A and B are the same target")
    for s in d.sections:
        out.append("")
        out.append(f"{s.name}: {headline(s)}")
        out.extend(f"  ! {w}" for w in s.why)
        if isinstance(s, CodeSection):
            out.extend(_code_text(s))
        out += [f"  {c.status:<8}{group(c)}{c.name}: {value(c.a)} → {value(c.b)}{delta(c)}" for c in s.changes]
    if d.code.patch:
        out += ["", "patch:", d.code.patch.rstrip("\n")]
    return "\n".join(out) + "\n"


def _code_text(s: CodeSection) -> list[str]:
    out = []
    if s.a.commit or s.b.commit:
        out.append(f"  A {side_code(s.a)}   B {side_code(s.b)}")
    if s.same_repository and s.a.repo_url:
        out.append(f"  repository {s.a.repo_url}")
    for label, commits, more in commit_ranges(s):
        out.append(f"  commits {label}: {len(commits) + more}")
        out += [f"    {c.sha[:12]} {c.subject}" for c in commits] + ([f"    … and {more} more"] if more else [])
    if s.b_to_a and s.merge_base:
        out.append(f"  diverged; merge base {s.merge_base[:12]}")
    for f in s.files:
        note = file_note(f)
        out.append(f"  {f.status}  {file_name(f)}" + (f"  ({note})" if note else ""))
    return out
