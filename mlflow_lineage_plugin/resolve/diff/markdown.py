"""A ``Diff`` as Markdown for a pull-request comment or a version description: lists, not tables (a
name holding ``|`` cannot break a list), every name through ``markdown.text``/``markdown.code``, links
only where ``markdown.link`` finds a credential-free http(s) URL.
"""

from __future__ import annotations

import re

from mlflow_lineage_plugin.resolve import markdown as M
from mlflow_lineage_plugin.resolve.diff.render import (
    commit_ranges,
    commit_url,
    count,
    delta,
    file_name,
    file_note,
    group,
    headline,
    shown_patch,
    side_code,
    value,
)
from mlflow_lineage_plugin.resolve.diff.result import CodeSection, Result, Side

# A comment on GitHub holds at most 65,536 characters: the patch and the file list leave room for the rest.
PATCH_LIMIT = 40_000
FILES_LIMIT = 300


def _side(name: str, s: Side) -> str:
    run = f" · run {M.code(s.run_id)}" if s.run_id and s.run_id not in s.label else ""
    return f"- **{name}**: {M.link(M.text(s.label), s.url)} ({M.code(s.target)}){run}"


def fence(body: str, info: str = "") -> str:
    """A fenced block that no backtick run inside ``body`` can close."""
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    f = "`" * max(3, longest + 1)
    return f"{f}{info}\n{body.rstrip(chr(10))}\n{f}"


def markdown(d: Result) -> str:
    out = [f"### Diff {M.code(d.a.target)} → {M.code(d.b.target)}", "", _side("A", d.a), _side("B", d.b)]
    if d.identical:
        out += ["", "**identical**: A and B are the same target"]
    for s in d.sections:
        out += ["", f"#### {M.text(s.title)}: {M.text(headline(s))}", ""]
        out += [f"- ⚠ {M.text(w)}" for w in s.why]
        if isinstance(s, CodeSection):
            out += _code(s)
        out += [
            f"- {c.status} {M.text(group(c))}{M.code(c.name)}: {M.code(value(c.a))} → {M.code(value(c.b))}{delta(c)}"
            for c in s.changes
        ]
    if d.code.patch:
        shown, note = shown_patch(d.code.patch, PATCH_LIMIT)
        out += ["", "<details><summary>patch</summary>", "", fence(shown, "diff"), "", "</details>"]
        out += ["", f"⚠ {M.text(note)}"] if note else []
    return "\n".join(out) + "\n"


def _code(s: CodeSection) -> list[str]:
    out = []
    if s.a.commit or s.b.commit:
        a, b = (M.link(M.code(side_code(x)), commit_url(s, x.commit)) for x in (s.a, s.b))
        out.append(f"- A {a} · B {b}")
    if s.same_repository and s.a.repo_url:
        out.append(f"- repository {M.link(M.text(s.a.repo_url), s.a.repo_url)}")
    for label, commits, more in commit_ranges(s):
        out.append(f"- {count(len(commits) + more, 'commit')} {label}:")
        out += [f"  - {M.link(M.code(c.sha[:12]), commit_url(s, c.sha))} {M.text(c.subject)}" for c in commits]
        out += [f"  - … and {more} more"] if more else []
    for f in s.files[:FILES_LIMIT]:
        note = file_note(f)
        out.append(f"- {f.status} {M.code(file_name(f))}" + (f" ({M.text(note)})" if note else ""))
    if len(s.files) > FILES_LIMIT:
        out.append(f"- … and {count(len(s.files) - FILES_LIMIT, 'more file')}")
    return out
