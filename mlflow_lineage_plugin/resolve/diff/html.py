"""A ``Diff`` as one self-contained HTML page (inline CSS, no script, no fetch): collapsible sections,
and the code side by side with line numbers. Also what a notebook shows (``Diff._repr_html_``).

Every name goes through ``html.escape``; a link is made only from a URL ``markdown.safe_url`` accepts.
"""

from __future__ import annotations

import html as _html
import re
from dataclasses import dataclass, field
from typing import Optional

from mlflow_lineage_plugin.resolve.diff.render import (
    commit_ranges,
    commit_url,
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
from mlflow_lineage_plugin.resolve.markdown import safe_url

e = _html.escape
PATCH_LIMIT = 1_000_000  # characters side by side: beyond that a browser crawls through the rows

_CSS = """
.lineage-diff{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:13px;color:#1f2328;
 background:#fff;max-width:1200px}
.lineage-diff h2{font-size:17px;margin:4px 0 10px}
.lineage-diff details{border:1px solid #d0d7de;border-radius:6px;margin:8px 0;padding:6px 10px}
.lineage-diff summary{cursor:pointer;font-weight:600}
.lineage-diff .known-exact{color:#1a7f37}.lineage-diff .known-partly{color:#9a6700}
.lineage-diff .known-unknown{color:#c62828}
.lineage-diff .why{color:#9a6700;margin:4px 0}
.lineage-diff table{border-collapse:collapse;width:100%;margin:6px 0}
.lineage-diff td,.lineage-diff th{border-top:1px solid #eaeef2;padding:2px 6px;text-align:left;vertical-align:top}
.lineage-diff a{color:#0969da;text-decoration:none}
.lineage-diff code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
.lineage-diff table.sbs{table-layout:fixed;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
.lineage-diff table.sbs td{border:none;padding:0 6px;white-space:pre-wrap;word-break:break-all}
.lineage-diff table.sbs td.n{width:4em;color:#8c959f;text-align:right;user-select:none}
.lineage-diff td.del{background:#ffebe9}.lineage-diff td.add{background:#e6ffec}
.lineage-diff tr.hunk td{background:#ddf4ff;color:#57606a}
.lineage-diff .file{font-weight:600;margin-top:8px}
.lineage-diff .added{color:#1a7f37}.lineage-diff .removed{color:#c62828}.lineage-diff .changed{color:#9a6700}
"""


def _link(label: str, url: Optional[str]) -> str:
    target = safe_url(url)
    return f'<a href="{e(target)}" target="_blank" rel="noopener">{e(label)}</a>' if target else e(label)


def _side(name: str, s: Side) -> str:
    run = f" · run <code>{e(s.run_id)}</code>" if s.run_id and s.run_id not in s.label else ""
    return f"<div><b>{name}</b>: {_link(s.label, s.url)} (<code>{e(s.target)}</code>){run}</div>"


def page(d: Result) -> str:
    """The whole document: what ``--output diff.html`` writes."""
    title = e(f"Diff {d.a.target} → {d.b.target}")
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>'
        f"<body>{html(d)}</body></html>\n"
    )


def html(d: Result) -> str:
    """The fragment a notebook shows."""
    parts = [
        f'<div class="lineage-diff"><style>{_CSS}</style>',
        f"<h2>Diff <code>{e(d.a.target)}</code> → <code>{e(d.b.target)}</code></h2>",
        _side("A", d.a),
        _side("B", d.b),
    ]
    if d.identical:
        parts.append("<p><b>identical</b>: A and B are the same target</p>")
    for s in d.sections:
        parts.append(
            f'<details open data-section="{e(s.name)}"><summary>{e(s.title)}: '
            f'<span class="known-{e(s.known)}">{e(headline(s))}</span></summary>'
        )
        parts += [f'<div class="why">⚠ {e(w)}</div>' for w in s.why]
        if isinstance(s, CodeSection):
            parts.append(_code(s))
        if s.changes:
            parts.append("<table><tr><th></th><th>name</th><th>A</th><th>B</th></tr>")
            for c in s.changes:
                parts.append(
                    f'<tr class="{e(c.status)}"><td class="{e(c.status)}">{e(c.status)}</td>'
                    f"<td>{e(group(c))}<code>{e(c.name)}</code></td><td>{e(value(c.a))}</td>"
                    f"<td>{e(value(c.b))}{e(delta(c))}</td></tr>"
                )
            parts.append("</table>")
        parts.append("</details>")
    parts.append("</div>")
    return "".join(parts)


def _code(s: CodeSection) -> str:
    out = []
    if s.a.commit or s.b.commit:
        a, b = (_link(side_code(x), commit_url(s, x.commit)) for x in (s.a, s.b))
        out.append(f"<div>A <code>{a}</code> · B <code>{b}</code></div>")
    for label, commits, more in commit_ranges(s):
        items = "".join(
            f"<li><code>{_link(c.sha[:12], commit_url(s, c.sha))}</code> {e(c.subject)}</li>" for c in commits
        )
        items += f"<li>… and {more} more</li>" if more else ""
        out.append(f"<div>commits {label}: {len(commits) + more}</div><ul>{items}</ul>")
    if s.files:
        rows = "".join(
            f"<tr><td>{e(f.status)}</td><td><code>{e(file_name(f))}</code></td><td>{e(file_note(f))}</td></tr>"
            for f in s.files
        )
        out.append(f"<table><tr><th></th><th>file</th><th></th></tr>{rows}</table>")
    if s.patch:
        shown, note = shown_patch(s.patch, PATCH_LIMIT)
        out.append(side_by_side(shown))
        out.append(f'<div class="why">⚠ {e(note)}</div>' if note else "")
    return "".join(out)


# --- side by side ----------------------------------------------------------------------------------
@dataclass
class _File:
    header: str
    rows: list[tuple[str, ...]] = field(default_factory=list)  # (kind, old no, old text, new no, new text)


_HEADER_LINES = ("Binary files", "new file mode", "deleted file mode", "rename ", "old mode", "new mode")
_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@(.*)$")


def parse(patch: str) -> list[_File]:
    """A unified diff (``git diff``) as rows for two columns: removed lines beside the added ones."""
    files: list[_File] = []
    old = new = 0
    dels: list[tuple[int, str]] = []
    adds: list[tuple[int, str]] = []

    def flush() -> None:
        for i in range(max(len(dels), len(adds))):
            o = dels[i] if i < len(dels) else (None, "")
            n = adds[i] if i < len(adds) else (None, "")
            files[-1].rows.append(("chg", str(o[0] or ""), o[1], str(n[0] or ""), n[1]))
        dels.clear()
        adds.clear()

    for line in patch.split("\n"):
        if line.startswith("diff --git "):
            if files:
                flush()
            files.append(_File(line[len("diff --git ") :]))
            continue
        if not files:
            continue
        m = _HUNK.match(line)
        if m:
            flush()
            old, new = int(m.group(1)), int(m.group(2))
            files[-1].rows.append(("hunk", "", line, "", ""))
        elif not files[-1].rows:  # the file's header: index, modes, renames, "Binary files ... differ"
            if line.startswith(
                ("Binary files", "new file mode", "deleted file mode", "rename ", "old mode", "new mode")
            ):
                files[-1].header += f"\n{line}"
        elif line.startswith("-"):
            dels.append((old, line[1:]))
            old += 1
        elif line.startswith("+"):
            adds.append((new, line[1:]))
            new += 1
        elif line.startswith(" "):
            flush()
            files[-1].rows.append(("ctx", str(old), line[1:], str(new), line[1:]))
            old += 1
            new += 1
    if files:
        flush()
    return files


def side_by_side(patch: str) -> str:
    out = ['<details open data-section="patch"><summary>Changes side by side</summary>']
    for f in parse(patch):
        out.append(f'<div class="file">{e(f.header)}</div>'.replace("\n", "<br>"))
        out.append('<table class="sbs"><colgroup><col style="width:4em"><col><col style="width:4em"><col></colgroup>')
        for kind, on, ot, nn, nt in f.rows:
            if kind == "hunk":
                out.append(f'<tr class="hunk"><td class="n"></td><td colspan="3">{e(ot)}</td></tr>')
                continue
            oc = "del" if kind == "chg" and on else ""
            nc = "add" if kind == "chg" and nn else ""
            out.append(
                f'<tr><td class="n">{on}</td><td class="{oc}">{e(ot)}</td>'
                f'<td class="n">{nn}</td><td class="{nc}">{e(nt)}</td></tr>'
            )
        out.append("</table>")
    out.append("</details>")
    return "".join(out)
