"""``~/.databrickscfg``, read as databricks-sdk reads it: the profiles, their hosts, which one applies.

Reads the environment and the file, never the network, so ``workspace_routes`` can decide where a
workspace is reached without asking anything.
"""

from __future__ import annotations

import configparser
import os
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

_SETTINGS_SECTION = "__settings__"


def config_path() -> Path:
    return Path(os.environ.get("DATABRICKS_CONFIG_FILE") or "~/.databrickscfg").expanduser()


def norm_host(host: Optional[str]) -> Optional[str]:
    """``scheme://host[:port]`` in lower case, ``https://`` added to a bare host, credentials dropped."""
    if not host or not host.strip():
        return None
    host = host.strip()
    if not host.startswith(("http://", "https://")):
        host = "https://" + host
    parts = urlsplit(host)
    return f"{parts.scheme.lower()}://{(parts.netloc.rpartition('@')[2]).lower()}"


def read_profiles() -> tuple[dict[str, dict[str, str]], Optional[str]]:
    """Every profile of the config file with only its own keys, and the file's default profile.

    As databricks-sdk: a named profile does not inherit from ``[DEFAULT]``; ``[DEFAULT]`` is a
    profile of its own (when it holds any key); ``[__settings__] default_profile`` names the profile
    used when none is asked for, else ``DEFAULT``. An unreadable file holds no profiles.
    """
    path = config_path()
    if not path.is_file():
        return {}, None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return {}, None
    profiles = {name: dict(values) for name, values in parser._sections.items()}  # type: ignore[attr-defined]
    settings = profiles.pop(_SETTINGS_SECTION, {})
    if parser.defaults():
        profiles["DEFAULT"] = dict(parser.defaults())
    default = (settings.get("default_profile") or "").strip() or "DEFAULT"
    return profiles, default


def profile_host(profile: Optional[str]) -> Optional[str]:
    """The host databricks-sdk connects to for ``profile`` (None: its default chain), without I/O.

    The SDK takes ``DATABRICKS_HOST`` before any file; without a profile it reads
    ``DATABRICKS_CONFIG_PROFILE``, then the file's default profile.
    """
    env_host = norm_host(os.environ.get("DATABRICKS_HOST"))
    if env_host:
        return env_host
    profiles, default = read_profiles()
    name = profile or (os.environ.get("DATABRICKS_CONFIG_PROFILE") or "").strip() or default
    return norm_host(profiles.get(name or "", {}).get("host"))


def profiles_for_host(host: str, workspace_id: Optional[str] = None) -> list[str]:
    """Profiles whose own host is ``host``; those naming the same workspace id (when the file
    records one) first, those naming another id left out."""
    want = norm_host(host)
    if not want:
        return []
    exact, same_host = [], []
    for name, values in read_profiles()[0].items():
        if norm_host(values.get("host")) != want:
            continue
        ws = (values.get("workspace_id") or "").strip()
        if workspace_id and ws == str(workspace_id):
            exact.append(name)
        elif not (workspace_id and ws):
            same_host.append(name)
    return exact + same_host
