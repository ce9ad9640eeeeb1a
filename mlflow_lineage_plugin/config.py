"""Every ``MLFLOW_LINEAGE_*`` setting, read from the environment at the moment it is needed, parsed
and validated here and nowhere else.

Read lazily (not at import) so a notebook that sets a variable between two runs sees the change. A
value that does not parse is never used as something else: its setting falls back to its default (or is
ignored) and ``problems()`` names it, with what it expects but never the value (a value in the wrong
variable may be a secret).
"""

from __future__ import annotations

import difflib
import json
import os
import re
from pathlib import Path
from typing import Any, Optional

from mlflow_lineage_plugin.commit_hash import RULE as COMMIT_RULE
from mlflow_lineage_plugin.commit_hash import is_commit
from mlflow_lineage_plugin.errors import ResolveError
from mlflow_lineage_plugin.tags import DIRTY_WORDS
from mlflow_lineage_plugin.workspace import canonical

ENV_PREFIX = "MLFLOW_LINEAGE_"

DISABLE = "MLFLOW_LINEAGE_DISABLE"  # "true": the provider and the registry wrapper do nothing
GIT_COMMIT = "MLFLOW_LINEAGE_GIT_COMMIT"  # overrides for builds that ship code without .git
GIT_BRANCH = "MLFLOW_LINEAGE_GIT_BRANCH"
GIT_REPO_URL = "MLFLOW_LINEAGE_GIT_REPO_URL"
GIT_PATH = "MLFLOW_LINEAGE_GIT_PATH"
GIT_DIRTY = "MLFLOW_LINEAGE_GIT_DIRTY"
GIT_TIMEOUT = "MLFLOW_LINEAGE_GIT_TIMEOUT"  # seconds for all git work of one run
DIRTY_TIMEOUT = "MLFLOW_LINEAGE_DIRTY_TIMEOUT"  # seconds the dirty check may take
DATABRICKS_TIMEOUT = "MLFLOW_LINEAGE_DATABRICKS_TIMEOUT"  # seconds for workspace API look-ups
REGISTRY_TIMEOUT = "MLFLOW_LINEAGE_REGISTRY_TIMEOUT"  # seconds to read the source run
WORKSPACE_URI = "MLFLOW_LINEAGE_WORKSPACE_URI"  # override: this process's public workspace URI
REQUIRE = "MLFLOW_LINEAGE_REQUIRE"  # e.g. "commit,clean": refuse versions without them
WORKSPACES = "MLFLOW_LINEAGE_WORKSPACES"  # resolver: "uri=tracking_uri;uri2=..." mapping
CONFIG_FILE = "MLFLOW_LINEAGE_CONFIG"  # resolver: path to a TOML/JSON mapping file
RESOLVE_TIMEOUT = "MLFLOW_LINEAGE_RESOLVE_TIMEOUT"  # resolver: seconds per remote request
DESCRIPTION = "MLFLOW_LINEAGE_DESCRIPTION"  # "false": new versions get no lineage description
DIFF = "MLFLOW_LINEAGE_DIFF"  # "false": a dirty run's uncommitted changes are not kept
DIFF_MAX_BYTES = "MLFLOW_LINEAGE_DIFF_MAX_BYTES"  # a larger patch is not stored at all
DIFF_EXCLUDE = "MLFLOW_LINEAGE_DIFF_EXCLUDE"  # gitignore-style patterns (comma or newline separated)
DIFF_UNTRACKED = "MLFLOW_LINEAGE_DIFF_UNTRACKED"  # "true": also untracked files .gitignore does not exclude
DIFF_TIMEOUT = "MLFLOW_LINEAGE_DIFF_TIMEOUT"  # seconds for the capture, and again for the upload
OPENLINEAGE = "MLFLOW_LINEAGE_OPENLINEAGE"  # "true": each new model version sends its run's OpenLineage event
WATCH_LIMIT = "MLFLOW_LINEAGE_WATCH_LIMIT"  # directories a long-lived process may watch per checkout; 0: off
DEBUG = "MLFLOW_LINEAGE_DEBUG"  # "true": the CLI prints tracebacks (as ``mlflow-lineage -v``)

ALL_SETTINGS = (
    DISABLE,
    GIT_COMMIT,
    GIT_BRANCH,
    GIT_REPO_URL,
    GIT_PATH,
    GIT_DIRTY,
    GIT_TIMEOUT,
    DIRTY_TIMEOUT,
    DATABRICKS_TIMEOUT,
    REGISTRY_TIMEOUT,
    WORKSPACE_URI,
    REQUIRE,
    WORKSPACES,
    CONFIG_FILE,
    RESOLVE_TIMEOUT,
    DESCRIPTION,
    DIFF,
    DIFF_MAX_BYTES,
    DIFF_EXCLUDE,
    DIFF_UNTRACKED,
    DIFF_TIMEOUT,
    OPENLINEAGE,
    WATCH_LIMIT,
    DEBUG,
)

# The time limits' defaults, next to their names so each is stated once.
DEFAULT_SECONDS = {
    GIT_TIMEOUT: 2.0,
    DIRTY_TIMEOUT: 1.0,
    DATABRICKS_TIMEOUT: 3.0,
    REGISTRY_TIMEOUT: 5.0,
    RESOLVE_TIMEOUT: 30.0,
    DIFF_TIMEOUT: 5.0,
}

# The counts' defaults. 10,000 directories: a 50,000-file checkout at 5 files per directory.
DEFAULT_COUNTS = {WATCH_LIMIT: 10_000}

# A patch larger than this is not stored at all (``DIFF_MAX_BYTES``).
DEFAULT_DIFF_MAX_BYTES = 1024 * 1024

# The on/off switches and the state each is in when unset (or set to something that is no switch).
SWITCH_DEFAULTS = {
    DISABLE: False,
    DESCRIPTION: True,
    DIFF: True,
    DIFF_UNTRACKED: False,
    OPENLINEAGE: False,
    DEBUG: False,
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|kib|mib|gib)?", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3}
# What git refuses in a branch name (``git check-ref-format``); a URL or "user:token" is never a branch.
_BAD_BRANCH = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|^[/.-]|[/.]$|\.lock$|^@$")

#: The one vocabulary of requirements: ``check`` gates on them, and strict mode (``REQUIRE``) refuses
#: a new model version whose source run breaks one. The resolver's ``graph.Requirement`` has the same.
REQUIREMENTS_ORDER = ("commit", "clean", "reachable", "exact")
KNOWN_REQUIREMENTS = frozenset(REQUIREMENTS_ORDER)
# Read by the resolver only: a run never parses them (one reads a file).
RESOLVER_ONLY = frozenset({WORKSPACES, CONFIG_FILE})


class BadSetting(ValueError):
    """A value that does not parse; the message names its source and what it expects."""


def get(name: str) -> Optional[str]:
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else None


def flag(name: str) -> bool:
    """A true-ish environment variable of another tool (git's own ``GIT_*``); ours are ``switch``es."""
    return (get(name) or "").lower() in _TRUE


def switch(name: str) -> bool:
    """An on/off setting: its value when it is one of the accepted words, else its default."""
    value = (get(name) or "").lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return SWITCH_DEFAULTS[name]


def seconds(name: str, override: Optional[float] = None) -> float:
    """A time limit: the caller's own positive ``override``, else the setting, else its default."""
    if override is not None and override > 0:
        return float(override)
    default = DEFAULT_SECONDS[name]
    try:
        value = float(get(name) or default)
    except ValueError:
        return default
    return value if value > 0 else default


def byte_count(name: str, default: int) -> int:
    """A size in bytes (``1048576``, ``512KiB``, ``1MB``), else the default."""
    value = get(name)
    parsed = parse_size(value) if value else None
    return default if parsed is None else parsed


def parse_size(text: str) -> Optional[int]:
    """Bytes from a whole number or a number with a unit (KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024)."""
    m = _SIZE.fullmatch(text.strip())
    if not m:
        return None
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])


def count(name: str) -> int:
    """A count: a non-negative integer setting, else its default."""
    default = DEFAULT_COUNTS[name]
    try:
        value = int(get(name) or default)
    except ValueError:
        return default
    return value if value >= 0 else default


def disabled() -> bool:
    return switch(DISABLE)


def required() -> frozenset[str]:
    """The strict-mode requirements, e.g. {"commit", "clean"}; empty when strict mode is off."""
    return _requirements(get(REQUIRE) or "")


def _requirements(raw: str) -> frozenset[str]:
    return frozenset(p.strip().lower() for p in raw.split(",") if p.strip())


def unknown_requirements() -> frozenset[str]:
    return required() - KNOWN_REQUIREMENTS


def parse_requirements(raw: str, source: str, *, show: bool = False) -> frozenset[str]:
    """``raw`` as a set of requirements, or ``BadSetting`` naming ``source`` (a variable or a flag).

    ``show``: quote the unknown words (a flag typed on this command line); a variable's are never quoted.
    """
    parts = _requirements(raw)
    unknown = sorted(parts - KNOWN_REQUIREMENTS)
    if not parts or unknown:
        raise BadSetting(_requirements_problem(source, unknown, show))
    return parts


def _requirements_problem(source: str, unknown: list[str], show: bool) -> str:
    if not unknown:
        what = "no requirement given"
    elif show:
        what = f"unknown requirement {', '.join(unknown)}"
    else:
        close = sorted({m for u in unknown for m in difflib.get_close_matches(u, REQUIREMENTS_ORDER, n=1)})
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        what = f"{len(unknown)} unknown requirement{'s' if len(unknown) > 1 else ''}{hint}"
    return f"{source}: {what}; use a comma-separated subset of: {', '.join(REQUIREMENTS_ORDER)}"


def git_commit() -> Optional[str]:
    """``GIT_COMMIT`` in lower case, or None when unset or no commit hash."""
    value = get(GIT_COMMIT)
    return value.lower() if value and is_commit(value) else None


def git_branch() -> Optional[str]:
    """``GIT_BRANCH`` without ``refs/heads/``, or None when unset or no branch name git would accept."""
    return _branch(get(GIT_BRANCH))


def _branch(value: Optional[str]) -> Optional[str]:
    if value and value.startswith("refs/heads/"):
        value = value[len("refs/heads/") :]
    return value if value and not _BAD_BRANCH.search(value) else None


def git_path() -> Optional[str]:
    """``GIT_PATH`` as a path inside the repository (``/``-separated, no leading ``./`` or ``/``)."""
    value = get(GIT_PATH)
    if not value or _bad_path(value):
        return None
    value = value.replace("\\", "/").strip("/")
    while value.startswith("./"):
        value = value[2:]
    return value or None


def _bad_path(value: str) -> bool:
    return ":" in value or any(ord(c) < 32 for c in value) or ".." in value.replace("\\", "/").split("/")


def git_repo_url() -> Optional[str]:
    """``GIT_REPO_URL`` as a credential-free remote, or None when unset or no git URL."""
    return _remote(get(GIT_REPO_URL))


def _remote(value: Optional[str]) -> Optional[str]:
    from mlflow_lineage_plugin.urls import remote_from_setting

    return remote_from_setting(value) if value else None


def git_dirty() -> tuple[bool, Optional[bool]]:
    """``(set, dirty)`` from ``GIT_DIRTY``: ``unknown`` is set with no state; a bad value is not set."""
    value = (get(GIT_DIRTY) or "").lower()
    if value not in DIRTY_WORDS:
        return False, None
    return True, DIRTY_WORDS[value]


def diff_exclude() -> tuple[str, ...]:
    """``DIFF_EXCLUDE``'s patterns, comma- or newline-separated."""
    return tuple(p.strip() for p in re.split(r"[,\n]", get(DIFF_EXCLUDE) or "") if p.strip())


def problems(*, for_run: bool = False) -> list[str]:
    """One line per setting in the environment that will not do what its name promises.

    Shared by ``mlflow-lineage doctor`` and the hooks, so a value the hooks would reject (or
    silently ignore) is reported before a run or a registration meets it. No value is ever echoed: a
    value in the wrong variable may be a secret. ``for_run``: leave out the resolver's own settings.
    """
    out: list[str] = []
    for name in sorted(n for n in os.environ if n.startswith(ENV_PREFIX) and n not in ALL_SETTINGS):
        close = difflib.get_close_matches(name, ALL_SETTINGS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        out.append(f"{name} is not a setting of mlflow-lineage{hint}; it is ignored")
    for name in ALL_SETTINGS:
        value = get(name)
        if value is None or (for_run and name in RESOLVER_ONLY):
            continue
        line = setting_problem(name, value)
        if line:
            out.append(line)
    return out


def setting_problem(name: str, value: str) -> Optional[str]:
    """What is wrong with ``value`` for setting ``name`` (None when nothing), never quoting it."""
    lowered = value.lower()
    if name in SWITCH_DEFAULTS and lowered not in _TRUE | _FALSE:
        state = "on" if SWITCH_DEFAULTS[name] else "off"
        return f"{name} is neither true nor false (use true/1/yes/on or false/0/no/off); it stays {state}"
    if name == REQUIRE:
        try:
            parse_requirements(value, name)
        except BadSetting as exc:
            return f"{exc}; until then every model version registration is refused and `check` exits 2"
    if name == GIT_COMMIT and not is_commit(value):
        return f"{name} is not a commit hash ({COMMIT_RULE}); it is ignored"
    if name == GIT_BRANCH and _branch(value) is None:
        return f"{name} is not a branch name git accepts (no spaces, ':', '..', '~', '^', '?', '*', '['); it is ignored"
    if name == GIT_PATH and _bad_path(value):
        return f"{name} is not a path inside the repository (no ':', '..' or control characters); it is ignored"
    if name == GIT_DIRTY and lowered not in DIRTY_WORDS:
        return f"{name} is not true/false/unknown; it is ignored"
    if name == GIT_REPO_URL and _remote(value) is None:
        return f"{name} is not a git remote URL; it is ignored"
    if name == WORKSPACE_URI:
        from mlflow_lineage_plugin.urls import looks_like_uri_setting

        if not looks_like_uri_setting(value):
            return f"{name} is not a URI (expected scheme://host..., e.g. https://mlflow.example.com); it is ignored"
    if name in DEFAULT_SECONDS:
        try:
            ok = float(value) > 0
        except ValueError:
            ok = False
        if not ok:
            return f"{name} is not a positive number of seconds; the default {DEFAULT_SECONDS[name]:g} is used"
    if name == DIFF_MAX_BYTES and parse_size(value) is None:
        return (
            f"{name} is not a size (bytes, or a number with a unit: 512KiB, 1MB, 2MiB); "
            f"the default {DEFAULT_DIFF_MAX_BYTES} is used"
        )
    if name in DEFAULT_COUNTS and not (value.isdigit() and value.isascii()):
        return f"{name} is not a whole number >= 0; the default {DEFAULT_COUNTS[name]} is used"
    if name in (WORKSPACES, CONFIG_FILE):
        from mlflow_lineage_plugin.urls import redact_text

        try:
            parse_mapping_env(value) if name == WORKSPACES else load_mapping_file(value)
        except Exception as exc:  # the resolver's own one-line mapping errors, which quote no value
            return redact_text(str(exc).strip().splitlines()[0])
    return None


# --- the resolver's workspace mapping (read by the resolver, validated by ``problems``) ---------------

_SCHEME_START = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:|^databricks$")


class MappingError(ResolveError):
    """A workspace mapping (``WORKSPACES`` or the file ``CONFIG_FILE`` names) that does not parse."""


def parse_mapping_env(value: Optional[str]) -> dict[str, str]:
    """``"uri=tracking_uri;uri2=tracking_uri2"``; a workspace URI may itself hold ``=`` (``?o=42``),
    so each entry splits at the first ``=`` whose right side starts like a URI."""
    out: dict[str, str] = {}
    entries = [e.strip() for e in (value or "").split(";") if e.strip()]
    for number, entry in enumerate(entries, 1):
        split_at = None
        for i, ch in enumerate(entry):
            if ch == "=" and i > 0 and _SCHEME_START.match(entry[i + 1 :].strip()):
                split_at = i
                break
        if split_at is None:
            where = f"entry {number} of {len(entries)}" if len(entries) > 1 else "its value"
            raise MappingError(f"{WORKSPACES}: {where} is not 'workspace_uri=tracking_uri'")
        out[canonical(entry[:split_at].strip())] = entry[split_at + 1 :].strip()
    return out


def load_mapping_file(path: str) -> dict[str, str]:
    """JSON or TOML: ``{"workspaces": {"<workspace uri>": "<tracking uri>"}}`` (or the inner table)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise MappingError(f"{CONFIG_FILE}: the file it names does not exist")
    text = p.read_text(encoding="utf-8")
    try:
        data = _load_toml(text) if p.suffix.lower() == ".toml" else json.loads(text)
    except MappingError:
        raise
    except Exception as exc:
        why = str(exc).splitlines()[0]
        raise MappingError(f"{CONFIG_FILE}: cannot parse the file it names: {why}") from None
    if not isinstance(data, dict):
        raise MappingError(f"{CONFIG_FILE}: the file it names must hold a table of workspace URIs")
    table = data.get("workspaces", data)
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise MappingError(f"{CONFIG_FILE}: 'workspaces' in the file it names must map URIs to tracking URIs")
    return {canonical(k): v.strip() for k, v in table.items()}


def _load_toml(text: str) -> Any:
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise MappingError(f"{CONFIG_FILE}: TOML needs Python 3.11+ or 'tomli'; use JSON") from None
    return tomllib.loads(text)
