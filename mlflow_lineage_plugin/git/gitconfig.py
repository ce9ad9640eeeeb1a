"""git's config, read in Python the way git reads it: the syntax of one file (cached by its stat),
and the files git consults for a repository, in git's order (system, global, local, worktree), with
``include`` and ``includeIf`` (``gitdir:``, ``gitdir/i:``, ``onbranch:``) followed where they stand.
A condition only git can evaluate (``hasconfig:``, ``%(prefix)``) marks the result incomplete, and
the caller asks git instead."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Optional

from mlflow_lineage_plugin import config
from mlflow_lineage_plugin.git.cache import FileCache, read_text, stat_key
from mlflow_lineage_plugin.git.wildmatch import wildmatch_regex

ConfigDict = dict[tuple[str, Optional[str], str], list[str]]
Entry = tuple[str, Optional[str], str, str]  # (section, subsection, key, value), in file order

MAX_INCLUDE_DEPTH = 10  # git's own limit; deeper is an error for git
_SECTION = re.compile(r'^\[\s*([A-Za-z0-9.-]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]')

_files = FileCache[ConfigDict]()
_entries = FileCache[tuple]()


def config_file(path: str) -> ConfigDict:
    """One git config file as {(section, subsection, key): [values]}; re-read whenever it changes."""
    return _files.get(path, lambda p, _key: parse_config(read_text(p) or ""), {}, {})


def file_entries(path: str) -> tuple[Entry, ...]:
    """One git config file's entries in order; () when missing or unreadable."""
    return _entries.get(path, lambda p, _key: tuple(parse_entries(read_text(p) or "")), (), ())


def parse_config(text: str) -> ConfigDict:
    """One file's entries by key, values in order (includes not followed)."""
    out: ConfigDict = {}
    for section, sub, key, value in parse_entries(text):
        out.setdefault((section, sub, key), []).append(value)
    return out


def parse_entries(text: str) -> list[Entry]:
    """git's config syntax: sections with quoted subsections (and the legacy ``[section.sub]``),
    quoting, escapes, comments and continuation lines; a key without ``=`` is ``true``."""
    out: list[Entry] = []
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
            line = line[m.end() :].lstrip()
        if not line or line[0] in "#;" or section is None:
            continue
        km = re.match(r"([A-Za-z][A-Za-z0-9-]*)\s*(=?)", line)
        if not km:
            continue
        key = km.group(1).lower()
        if not km.group(2):
            out.append((section, sub, key, "true"))
            continue
        raw = line[km.end() :]
        while raw.rstrip("\r\n").endswith("\\") and not raw.rstrip("\r\n").endswith("\\\\") and i < len(lines):
            raw = raw.rstrip("\r\n")[:-1] + lines[i]
            i += 1
        out.append((section, sub, key, _config_value(raw)))
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


# --- the files git reads for a repository --------------------------------------------------------


@dataclass(frozen=True)
class RepoConfig:
    entries: tuple[Entry, ...]  # every file's entries, includes expanded where they stand
    files: tuple[tuple[str, Optional[tuple]], ...]  # every file consulted, with its stat key then
    complete: bool  # False: a condition or path only git can evaluate was met

    def values(self, section: str, sub: Optional[str], key: str) -> list[str]:
        return [e[3] for e in self.entries if e[0] == section and e[1] == sub and e[2] == key]


def scope_files(commondir: str, gitdir: str, exe: Optional[str]) -> list[str]:
    """system, global (XDG, then ~/.gitconfig), local, worktree: git's order, later wins."""
    env = os.environ
    files = []
    if not config.flag("GIT_CONFIG_NOSYSTEM"):
        files.append(env.get("GIT_CONFIG_SYSTEM") or system_config_path(exe))
    if env.get("GIT_CONFIG_GLOBAL"):
        files.append(env["GIT_CONFIG_GLOBAL"])
    elif "GIT_CONFIG_GLOBAL" not in env:
        home = env.get("HOME") or ""
        xdg = env.get("XDG_CONFIG_HOME") or (os.path.join(home, ".config") if home else "")
        files += [os.path.join(xdg, "git", "config")] if xdg else []
        files += [os.path.join(home, ".gitconfig")] if home else []
    local = os.path.join(commondir, "config")
    files.append(local)
    if (config_file(local).get(("extensions", None, "worktreeconfig")) or ["false"])[-1].lower() in (
        "true",
        "yes",
        "on",
        "1",
    ):
        files.append(os.path.join(gitdir, "config.worktree"))
    return files


def system_config_path(exe: Optional[str]) -> str:
    """git's compiled-in system config: ``/etc/gitconfig`` for a git installed under ``/usr``,
    else ``<prefix>/etc/gitconfig`` next to its ``bin`` (Homebrew, ``/usr/local`` builds)."""
    if exe:
        prefix = os.path.dirname(os.path.dirname(os.path.abspath(exe)))
        if prefix not in ("/usr", "/"):
            return os.path.join(prefix, "etc", "gitconfig")
    return "/etc/gitconfig"


def repo_config(commondir: str, gitdir: str, branch: Optional[str], exe: Optional[str]) -> RepoConfig:
    entries: list[Entry] = []
    files: list[tuple[str, Optional[tuple]]] = []
    complete = [True]

    def load(path: str, depth: int) -> None:
        files.append((path, stat_key(path)))
        for entry in file_entries(path):
            entries.append(entry)
            section, sub, key, value = entry
            if (
                key != "path"
                or not value
                or not ((section == "include" and sub is None) or (section == "includeif" and sub is not None))
            ):
                continue
            if section == "includeif":
                verdict = _condition(sub or "", path, gitdir, branch)
                if verdict is None:
                    complete[0] = False
                if not verdict:
                    continue
            target = _interpolate(value)
            if target is None or depth >= MAX_INCLUDE_DEPTH:
                complete[0] = False
                continue
            load(os.path.join(os.path.dirname(path), target), depth + 1)

    for path in scope_files(commondir, gitdir, exe):
        load(path, 0)
    return RepoConfig(tuple(entries), tuple(files), complete[0])


def _interpolate(path: str) -> Optional[str]:
    """``~/`` and ``~user/`` expanded; None for ``%(prefix)/``, which only git knows."""
    if path.startswith("%(prefix)/"):
        return None
    if path.startswith("~"):
        expanded = os.path.expanduser(path)
        return None if expanded.startswith("~") else expanded
    return path


def _condition(cond: str, config_path: str, gitdir: str, branch: Optional[str]) -> Optional[bool]:
    """An ``includeIf`` condition: True/False, None when only git can tell; unknown kinds are false,
    as for git."""
    for kind, icase in (("gitdir:", False), ("gitdir/i:", True)):
        if cond.startswith(kind):
            return _gitdir_matches(cond[len(kind) :], config_path, gitdir, icase)
    if cond.startswith("onbranch:"):
        pattern = cond[len("onbranch:") :]
        if branch is None:
            return False
        regex = wildmatch_regex(pattern + "**" if pattern.endswith("/") else pattern, icase=False)
        return None if regex is None else bool(regex.match(branch))
    if cond.startswith("hasconfig:"):
        return None
    return False


def _gitdir_matches(pattern: str, config_path: str, gitdir: str, icase: bool) -> Optional[bool]:
    expanded = _interpolate(pattern)
    if expanded is None:
        return None
    prefix = 0
    if expanded.startswith("./"):
        base = os.path.dirname(os.path.realpath(config_path))
        expanded = base + expanded[1:]
        prefix = len(base) + 1
    elif not os.path.isabs(expanded):
        expanded = "**/" + expanded
    if expanded.endswith("/"):
        expanded += "**"
    regex = wildmatch_regex(expanded[prefix:], icase)
    if regex is None:
        return None
    for text in (os.path.realpath(gitdir), os.path.abspath(gitdir)):
        head, literal = text[:prefix], expanded[:prefix]
        if prefix and (head.lower() != literal.lower() if icase else head != literal):
            continue
        if regex.match(text[prefix:]):
            return True
    return False
