"""Markdown text for people: the one escaping function (``text``, which also defeats autolinks), code
spans, safe links, and the one line of a model version, its lineage as short links, which the
resolver's Markdown (``render.py``) and the diff's (``diff/markdown.py``) build on.

A model version's description is where people read a version (the MLflow UI and Unity Catalog's
Catalog Explorer render it as Markdown, links included), so the line that goes there and the line
``mlflow-lineage show --format markdown`` prints are the same function of the same facts. Pure: facts
in, text out. Every link target is re-checked here (http(s) only, userinfo removed) because a tag the
user set by hand wins over the plugin's own and may hold anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Optional
from urllib.parse import quote, urlsplit

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.urls import normalize_remote, redact, source_web_url
from mlflow_lineage_plugin.workspace import parse_workspace_uri

# Unity Catalog documents 1,000 characters for a version tag value and no limit we could find for a
# version comment: the description keeps to the smaller, known one. MLflow's SQL stores hold 5,000.
UC_DESCRIPTION_MAX = 1000
DESCRIPTION_MAX = 5000
_TEXT_MAX = 80  # a path, branch or run name longer than this is cut (with "…") before a link is dropped

CHANGES_NONE = "none"
CHANGES_NOT_CAPTURED = "not captured"
CHANGES_UNKNOWN = "unknown"

# A source run asked for but not read: the line then names the run by its id and says only that.
RUN_NOT_FOUND = "not found"  # the store answered that it does not hold the run
RUN_NOT_READ = "not read"  # an error or the deadline: the run may well be there


@dataclass(frozen=True)
class Summary:
    """What one model version's line says. URLs are candidates: only safe http(s) ones become links."""

    run_id: Optional[str] = None
    run_name: Optional[str] = None
    run_url: Optional[str] = None
    model_id: Optional[str] = None
    workspace_uri: Optional[str] = None
    path: Optional[str] = None
    source_url: Optional[str] = None
    notebook_path: Optional[str] = None
    notebook_url: Optional[str] = None
    commit: Optional[str] = None
    branch: Optional[str] = None
    repo_url: Optional[str] = None
    dirty: Optional[bool] = None
    diff_captured: bool = False
    diff_files: Optional[int] = None
    run_unread: Optional[str] = None  # RUN_NOT_FOUND / RUN_NOT_READ

    def is_empty(self) -> bool:
        return not any((self.run_id, self.model_id, self.commit, self.path, self.notebook_path))

    @property
    def changes(self) -> Optional[str]:
        """``none`` / ``captured (N files)`` / ``not captured`` / ``unknown``; None without a commit."""
        if not self.commit:
            return None
        if self.dirty is False:
            return CHANGES_NONE
        if self.dirty is None:
            return CHANGES_UNKNOWN
        if self.diff_captured:
            if self.diff_files is None:
                return "captured"
            return f"captured ({self.diff_files} file{'' if self.diff_files == 1 else 's'})"
        return CHANGES_NOT_CAPTURED


# --- Markdown primitives -------------------------------------------------------------------------------

_SPACE = re.compile(r"\s")
_ESCAPE = re.compile(r"([\\`*_\[\]()#~])")  # the escapes CommonMark and showdown (MLflow's UI) share
# Text a GitHub-flavoured renderer would turn into a link or an emoji: a URL (``://``, ``www.``, ``ftp.``),
# an e-mail address or ``@mention`` (``@``), an emoji shortcode (``:name:``).
_LINKISH = re.compile(r"://|\b(?:www|ftp)\.|(?:^|\s)@[a-z0-9]|[^\s@]@[a-z0-9-]+\.|:[^\s:]+:", re.IGNORECASE)
_MENTION = re.compile(r"(^|\s)@(?=[A-Za-z0-9])")


def text(value: str) -> str:
    """Plain text safe inside Markdown and a link label: no emphasis, link, autolink, mention, emoji or
    HTML can start in it, and it reads as given once rendered.

    Autolinks (GitHub's and showdown's, which MLflow's UI uses with its GitHub flavour) need a dot in
    the host, so in text that could form one every dot is backslash-escaped and every colon written as
    ``&#58;`` (no shortcode or scheme is left); a ``@`` that could start a mention is escaped, which both
    renderers undo."""
    value = " ".join(str(value).split())
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = _ESCAPE.sub(r"\\\1", value)
    if _LINKISH.search(value):
        value = _MENTION.sub(r"\1\\@", value.replace(".", "\\.").replace(":", "&#58;"))
    return value


def code(value: str) -> str:
    """An inline code span that holds any text, backticks included."""
    value = " ".join(str(value).split())
    longest = max((len(m) for m in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def safe_url(url: Optional[str]) -> Optional[str]:
    """An http(s) URL fit for a link: userinfo removed, characters that would end a Markdown link
    target percent-encoded; anything else (``javascript:``, paths, malformed) → None."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host or _SPACE.search(url):
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    out = f"{parts.scheme.lower()}://{netloc}{parts.path}"
    if parts.query:
        out += "?" + parts.query
    if parts.fragment:
        out += "#" + parts.fragment
    return quote(out, safe="/:?#[]@!$&'*+,;=%-._~")


def link(label: str, url: Optional[str]) -> str:
    """``[label](url)`` when the URL is safe, else the label alone (a link only where one exists)."""
    target = safe_url(url)
    return f"[{label}]({target})" if target else label


def cut(value: str, limit: int = _TEXT_MAX) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


# --- the line ------------------------------------------------------------------------------------------


def _workspace_part(uri: Optional[str], links: bool) -> Optional[str]:
    if not uri:
        return None
    p = parse_workspace_uri(uri)
    base = redact(p.base) or p.base
    if p.kind in ("http", "databricks"):
        shown = urlsplit(base).netloc or base
        url = f"{base}/?o={quote(p.workspace_id, safe='')}" if p.workspace_id else f"{base}/"
        if p.name and p.kind == "http":  # an MLflow OSS workspace: its page, as run_page_url names one
            url = f"{base}/#/?workspace={quote(p.name, safe='')}"
        label = text(cut(shown)) + (f" ({text(cut(p.name))})" if p.name else "")
        return link(label, url if links else None)
    return code(cut(base, 2 * _TEXT_MAX))  # a local store: nothing a browser could open


def _repo_part(repo_url: Optional[str], links: bool) -> Optional[str]:
    repo = normalize_remote(repo_url)
    if not repo:
        return None
    if not repo.startswith(("http://", "https://")):
        return code(cut(repo, 2 * _TEXT_MAX))
    shown = urlsplit(repo).path.strip("/") or repo
    return link(text(cut(shown)), repo if links else None)


def _code_part(s: Summary, links: set[str]) -> str:
    short = s.commit[:7] if s.commit else None
    where = s.path or s.notebook_path
    if where and short:
        label, url = f"{where} @ {short}", s.source_url if s.path else s.notebook_url
    elif where:
        label, url = where, s.notebook_url if not s.path else None
    else:
        label = short or ""
        url = source_web_url(normalize_remote(s.repo_url), s.commit) if s.commit else None
    out = "code " + link(text(cut(label)), url if "code" in links else None)
    if not s.commit:
        out += " (no git commit recorded)"
    if s.branch:
        out += " on " + code(cut(s.branch))
    repo = _repo_part(s.repo_url, "repo" in links)
    if repo:
        out += " in " + repo
    return out


_ALL_LINKS = frozenset({"run", "workspace", "code", "repo"})
# When the line is too long, links are given up in this order (the run's last: it is the way in).
_DROP_ORDER = ("repo", "workspace", "code", "run")


def _head(s: Summary, links: set[str]) -> str:
    ws = _workspace_part(s.workspace_uri, "workspace" in links)
    if s.run_id and s.run_unread:
        where = f" {'in' if s.run_unread == RUN_NOT_FOUND else 'from'} {ws}" if ws else ""
        return f"Registered from run {code(cut(s.run_id))} ({s.run_unread}{where})"
    if s.run_id:
        name = text(cut(s.run_name or s.run_id[:8]))
        head = "Trained by run " + link(name, s.run_url if "run" in links else None)
    elif s.model_id:
        head = "Logged as model " + code(s.model_id)
    else:
        head = "Registered"
    return head + (" in " + ws if ws else "")


def _line(s: Summary, links: set[str]) -> str:
    parts = [_head(s, links)]
    if s.commit or s.path or s.notebook_path:
        parts.append(_code_part(s, links))
    if s.changes:
        parts.append("uncommitted changes: " + s.changes)
    return " · ".join(parts)


def summary_line(s: Summary, limit: Optional[int] = None) -> str:
    """The one line: ``Trained by run [name](run) in [workspace](ws) · code [path @ abc1234](file) on
    `branch` in [owner/repo](repo) · uncommitted changes: none``. Within ``limit`` characters links are
    given up (text kept) before anything is cut; "" when even the plain line does not fit."""
    if s.is_empty():
        return ""
    links = set(_ALL_LINKS)
    out = _line(s, links)
    for name in _DROP_ORDER:
        if limit is None or len(out) <= limit:
            return out
        links.discard(name)
        out = _line(s, links)
    return out if limit is None or len(out) <= limit else ""


# --- from a model version's tags -------------------------------------------------------------------------


def summary_from_version_tags(tags: Mapping[str, str], run_name: Optional[str] = None) -> Summary:
    """The facts a version's own ``lineage_`` tags hold (the run's name is not one of them)."""
    src = T.source_from_version_tags(tags)
    files = (tags.get(T.GIT_DIFF_FILES) or "").strip()
    return Summary(
        run_id=src.run_id,
        run_name=run_name or None,
        run_url=src.run_url,
        model_id=src.model_id,
        workspace_uri=src.workspace_uri,
        path=src.git.path,
        source_url=src.git.source_url,
        notebook_path=src.notebook.path,
        notebook_url=_notebook_url(src.workspace_uri, src.notebook),
        commit=src.git.commit,
        branch=src.git.branch,
        repo_url=src.git.repo_url,
        dirty=src.git.dirty,
        diff_captured=(tags.get(T.GIT_DIFF) or "").strip().lower() == T.GIT_DIFF_CAPTURED,
        diff_files=int(files) if files.isdigit() else None,
    )


def _notebook_url(workspace_uri: Optional[str], nb: T.Notebook) -> Optional[str]:
    if not workspace_uri or not nb.id:
        return None
    p = parse_workspace_uri(workspace_uri)
    if p.kind != "databricks":
        return None
    q = f"?o={p.workspace_id}" if p.workspace_id else ""
    rev = f"/revision/{nb.revision_id}" if nb.revision_id else ""
    return f"{p.base}/{q}#notebook/{nb.id}{rev}"


def version_description(
    tags: Mapping[str, str],
    run_name: Optional[str] = None,
    *,
    unity_catalog: bool = False,
    run_unread: Optional[str] = None,
) -> str:
    """The Markdown description of a new model version; "" when its tags hold no lineage."""
    limit = UC_DESCRIPTION_MAX if unity_catalog else DESCRIPTION_MAX
    return summary_line(replace(summary_from_version_tags(tags, run_name), run_unread=run_unread), limit)
