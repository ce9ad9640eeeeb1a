"""git's config file syntax, parsed in Python and cached by file stat."""

from __future__ import annotations

import re
from typing import Optional

from mlflow_lineage_plugin.git.cache import FileCache, read_text

ConfigDict = dict[tuple[str, Optional[str], str], list[str]]

_SECTION = re.compile(r'^\[\s*([A-Za-z0-9.-]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]')

_files = FileCache[ConfigDict]()


def config_file(path: str) -> ConfigDict:
    """One git config file as {(section, subsection, key): [values]}; re-read whenever it changes."""
    return _files.get(path, lambda p, _key: parse_config(read_text(p) or ""), {}, {})


def parse_config(text: str) -> ConfigDict:
    """The subset of git's config syntax a repository's remotes and branches are written in:
    sections with quoted subsections (and the legacy ``[section.sub]``), quoting, escapes, comments
    and continuation lines. Values from ``[include]`` files are not followed (the caller falls back
    to ``git config`` when that matters)."""
    out: ConfigDict = {}
    section: Optional[str] = None
    sub: Optional[str] = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].lstrip()
        i += 1
        m = _SECTION.match(line)
        if m:
            name = m.group(1)
            if m.group(2) is not None:
                section, sub = name.lower(), re.sub(r"\\(.)", r"\1", m.group(2))
            elif "." in name:
                head, _, rest = name.partition(".")
                section, sub = head.lower(), rest.lower()
            else:
                section, sub = name.lower(), None
            line = line[m.end():].lstrip()
        if not line or line[0] in "#;" or section is None:
            continue
        km = re.match(r"([A-Za-z][A-Za-z0-9-]*)\s*(=?)", line)
        if not km:
            continue
        key = km.group(1).lower()
        if not km.group(2):
            out.setdefault((section, sub, key), []).append("true")
            continue
        raw = line[km.end():]
        while raw.rstrip("\r\n").endswith("\\") and not raw.rstrip("\r\n").endswith("\\\\") and i < len(lines):
            raw = raw.rstrip("\r\n")[:-1] + lines[i]
            i += 1
        out.setdefault((section, sub, key), []).append(_config_value(raw))
    return out


def _config_value(raw: str) -> str:
    value, quoted, pending_space, j = [], False, "", 0
    escapes = {"n": "\n", "t": "\t", "b": "\b", "\\": "\\", '"': '"'}
    while j < len(raw):
        c = raw[j]
        j += 1
        if c == "\\" and j < len(raw):
            value.append(pending_space + escapes.get(raw[j], raw[j]))
            pending_space = ""
            j += 1
        elif c == '"':
            quoted = not quoted
        elif c in "#;" and not quoted:
            break
        elif c.isspace() and not quoted:
            if value:
                pending_space += c
        else:
            value.append(pending_space + c)
            pending_space = ""
    return "".join(value)
