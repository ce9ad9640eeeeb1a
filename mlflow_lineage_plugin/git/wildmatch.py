"""git's ``wildmatch`` (the glob of pathspecs, ``includeIf`` conditions and ignore files) with
``WM_PATHNAME``, as a Python regular expression."""

from __future__ import annotations

import re
from typing import Optional

_POSIX_CLASSES = {
    "alnum": "a-zA-Z0-9",
    "alpha": "a-zA-Z",
    "blank": " \\t",
    "digit": "0-9",
    "lower": "a-z",
    "space": "\\s",
    "upper": "A-Z",
    "xdigit": "0-9A-Fa-f",
    "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
}


def wildmatch_regex(pattern: str, icase: bool) -> Optional[re.Pattern]:
    """git's ``wildmatch`` with ``WM_PATHNAME`` as a regular expression: ``*``, ``?`` and classes stop
    at ``/``; ``**`` between slashes (or at either end) spans directories. None: a pattern we do not
    read (the caller then asks git)."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            j = i
            while j < n and pattern[j] == "*":
                j += 1
            if j - i >= 2 and (i == 0 or pattern[i - 1] == "/") and (j == n or pattern[j] == "/"):
                if j == n:
                    out.append(".*")
                else:
                    out.append("(?:.*/)?")
                    j += 1
            else:
                out.append("[^/]*")
            i = j
            continue
        if c == "?":
            out.append("[^/]")
        elif c == "\\":
            if i + 1 >= n:
                return None
            out.append(re.escape(pattern[i + 1]))
            i += 1
        elif c == "[":
            end, cls = _bracket(pattern, i)
            if cls is None:
                return None
            out.append(cls)
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z", re.IGNORECASE if icase else 0)


def _bracket(pattern: str, start: int) -> tuple[int, Optional[str]]:
    i = start + 1
    negate = i < len(pattern) and pattern[i] in "!^"
    i += negate
    parts: list[str] = []
    first = True
    while i < len(pattern):
        c = pattern[i]
        if c == "]" and not first:
            body = "".join(parts)
            return i, f"[^/{body}]" if negate else f"(?!/)[{body}]"
        first = False
        if c == "[" and pattern.startswith("[:", i):
            close = pattern.find(":]", i + 2)
            cls = _POSIX_CLASSES.get(pattern[i + 2 : close]) if close != -1 else None
            if cls is None:
                return i, None
            parts.append(cls)
            i = close + 2
            continue
        if c == "\\" and i + 1 < len(pattern):
            i += 1
            c = pattern[i]
        if c == "-" and parts and i + 1 < len(pattern) and pattern[i + 1] != "]":
            parts.append("-")
        else:
            parts.append(re.escape(c))
        i += 1
    return i, None
