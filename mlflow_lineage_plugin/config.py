"""Every ``MLFLOW_LINEAGE_*`` setting, read from the environment at the moment it is needed.

Read lazily (not at import) so a notebook that sets a variable between two runs sees the change.
"""

from __future__ import annotations

import difflib
import os
import re
from typing import Optional

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

ALL_SETTINGS = (
    DISABLE, GIT_COMMIT, GIT_BRANCH, GIT_REPO_URL, GIT_PATH, GIT_DIRTY, GIT_TIMEOUT, DIRTY_TIMEOUT,
    DATABRICKS_TIMEOUT, REGISTRY_TIMEOUT, WORKSPACE_URI, REQUIRE, WORKSPACES, CONFIG_FILE, RESOLVE_TIMEOUT,
    DESCRIPTION, DIFF, DIFF_MAX_BYTES, DIFF_EXCLUDE, DIFF_UNTRACKED, DIFF_TIMEOUT, OPENLINEAGE, WATCH_LIMIT,
)  # fmt: skip

# The time limits' defaults, next to their names so each is stated once.
DEFAULT_SECONDS = {
    GIT_TIMEOUT: 2.0, DIRTY_TIMEOUT: 1.0, DATABRICKS_TIMEOUT: 3.0, REGISTRY_TIMEOUT: 5.0, RESOLVE_TIMEOUT: 30.0,
    DIFF_TIMEOUT: 5.0,
}  # fmt: skip

# The counts' defaults. 10,000 directories: a 50,000-file checkout at 5 files per directory.
DEFAULT_COUNTS = {WATCH_LIMIT: 10_000}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_DIRTY_WORDS = {"true", "1", "yes", "false", "0", "no", "unknown"}
_COMMIT = re.compile(r"^[0-9a-fA-F]{4,64}$")

#: What strict mode (``REQUIRE``) can ask of a new model version's source run.
KNOWN_REQUIREMENTS = frozenset({"commit", "clean"})


def get(name: str) -> Optional[str]:
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else None


def flag(name: str) -> bool:
    return (get(name) or "").lower() in _TRUE


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
    """A size in bytes: a non-negative integer, else the default."""
    try:
        value = int(get(name) or default)
    except ValueError:
        return default
    return value if value >= 0 else default


def count(name: str) -> int:
    """A count: a non-negative integer setting, else its default."""
    default = DEFAULT_COUNTS[name]
    try:
        value = int(get(name) or default)
    except ValueError:
        return default
    return value if value >= 0 else default


def disabled() -> bool:
    return flag(DISABLE)


def required() -> frozenset[str]:
    """The strict-mode requirements, e.g. {"commit", "clean"}; empty when strict mode is off."""
    return _requirements(get(REQUIRE) or "")


def _requirements(raw: str) -> frozenset[str]:
    return frozenset(p.strip().lower() for p in raw.split(",") if p.strip())


def unknown_requirements() -> frozenset[str]:
    return required() - KNOWN_REQUIREMENTS


def problems() -> list[str]:
    """One line per setting in the environment that will not do what its name promises.

    Shared by ``mlflow-lineage doctor`` and the hooks, so a value the hooks would reject (or
    silently ignore) is reported before a run or a registration meets it. Values that may hold a
    URL or a path are never echoed: a value in the wrong variable may be a secret.
    """
    out: list[str] = []
    for name in sorted(n for n in os.environ if n.startswith(ENV_PREFIX) and n not in ALL_SETTINGS):
        close = difflib.get_close_matches(name, ALL_SETTINGS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        out.append(f"{name} is not a setting of mlflow-lineage{hint}; it is ignored")
    for name in ALL_SETTINGS:
        value = get(name)
        if value is None:
            continue
        line = setting_problem(name, value)
        if line:
            out.append(line)
    return out


def setting_problem(name: str, value: str) -> Optional[str]:
    lowered = value.lower()
    if name == DISABLE and lowered not in _TRUE | _FALSE:
        return f"{name}={value!r} is neither true nor false (use true/1/yes/on or false/0/no/off)"
    if name == REQUIRE:
        unknown = _requirements(value) - KNOWN_REQUIREMENTS
        if unknown:
            return (
                f"{name}={value!r}: unknown requirement(s) {', '.join(sorted(unknown))}; every model "
                f"version registration will be refused; use a comma-separated subset of: "
                f"{', '.join(sorted(KNOWN_REQUIREMENTS))}"
            )
    if name == GIT_COMMIT and not _COMMIT.match(value):
        return f"{name} is not a commit hash (4 to 64 hex characters); it is ignored"
    if name == GIT_DIRTY and lowered not in _DIRTY_WORDS:
        return f"{name}={value!r} is not true/false/unknown; it is ignored"
    if name == GIT_REPO_URL:
        from mlflow_lineage_plugin.urls import normalize_remote

        if not normalize_remote(value):
            return f"{name} is not a git remote URL; it is ignored"
    if name == WORKSPACE_URI and "://" not in value:
        return f"{name} is not a URI (expected scheme://host..., e.g. https://mlflow.example.com)"
    if name in DEFAULT_SECONDS:
        try:
            ok = float(value) > 0
        except ValueError:
            ok = False
        if not ok:
            return (
                f"{name}={value!r} is not a positive number of seconds; the default {DEFAULT_SECONDS[name]:g} is used"
            )
    if name in DEFAULT_COUNTS and not (value.isdigit() and value.isascii()):
        return f"{name}={value!r} is not a whole number >= 0; the default {DEFAULT_COUNTS[name]} is used"
    if name in (WORKSPACES, CONFIG_FILE):
        from mlflow_lineage_plugin.resolve.endpoints import load_mapping_file, parse_mapping_env
        from mlflow_lineage_plugin.urls import redact_text

        try:
            parse_mapping_env(value) if name == WORKSPACES else load_mapping_file(value)
        except Exception as exc:  # the resolver's own one-line mapping errors
            return redact_text(str(exc).strip().splitlines()[0])
    return None
