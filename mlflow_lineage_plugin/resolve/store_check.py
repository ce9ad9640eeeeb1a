"""Every command's first step: the local stores it will open exist and can be read.

MLflow creates a SQLite file or a store directory that does not exist the moment a client opens it,
so a read would leave one behind; this says so first, naming the path (``ResolveError``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from mlflow_lineage_plugin.errors import ResolveError
from mlflow_lineage_plugin.urls import redact

_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def missing_store(uri: str) -> Optional[str]:
    """Why a local store URI names no store this process can read, or None when it does (or is remote).

    MLflow creates a SQLite file or a store directory that does not exist the moment a client opens
    it, so a read would leave one behind, often in a place the user did not mean (a typo, three
    slashes instead of four, the default ``mlflow.db`` of whatever folder the shell is in). A file it
    cannot open costs minutes of MLflow's connection retries before an error that names no path.
    """
    u = uri.strip()
    if u.startswith("sqlite:"):
        if not u.startswith("sqlite:///"):
            return None  # sqlite:// is an in-memory database
        path = u[len("sqlite:///") :].split("?", 1)[0]
        if not path or path == ":memory:":
            return None
        p = Path(path)
        relative = (
            ""
            if p.is_absolute()
            else (
                f"; three slashes make a relative path (from {Path.cwd()}), an absolute one takes four: "
                f"sqlite:///{Path.cwd() / p}"
            )
        )
        if p.is_dir():
            return f"SQLite store {path} is a directory, not a database file"
        if not p.is_file():
            return f"SQLite store {path} does not exist{relative}"
        if not os.access(p, os.R_OK) or not os.access(p.parent, os.X_OK):
            return f"SQLite store {path} cannot be read (permission denied)"
        return _sqlite_problem(p, path)
    if u.startswith("file:"):
        path = urlsplit(u).path
        if path and not Path(path).is_dir():
            return f"file store {path} does not exist"
        return None
    if "://" in u or u in ("databricks", "databricks-uc", "uc") or not u:
        return None
    # A bare path: MLflow reads it as a file store directory.
    if u.lower().endswith(_SQLITE_SUFFIXES):
        return f"{u} is a path, which MLflow reads as a file store directory; for a SQLite database use sqlite:///{u}"
    if not Path(u).expanduser().is_dir():
        return f"file store {u} does not exist"
    return None


def _sqlite_problem(path: Path, shown: str) -> Optional[str]:
    """Why a SQLite file is no MLflow store, read without writing to it; None when it is one."""
    import sqlite3

    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=1)
        try:
            found = con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'experiments'")
            if found.fetchone() is None:
                return f"SQLite file {shown} holds no MLflow store (MLflow would create its tables there)"
            return None
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc) or "unable to open" in str(exc):
            return f"SQLite store {shown} cannot be read ({exc})"
        return None  # locked or unusual: let MLflow open it and say what is wrong


def check_stores(tracking_uri_given: Optional[str], tracking_uri: str, registry_uri: str) -> None:
    """Every command's first step: the local stores it will open exist and can be read (``ResolveError``)."""
    defaulted = not tracking_uri_given and not os.environ.get("MLFLOW_TRACKING_URI")
    check_store_exists(tracking_uri, "tracking", defaulted)
    if registry_uri != tracking_uri:
        check_store_exists(registry_uri, "registry", False)


def check_store_exists(uri: str, what: str, defaulted: bool = False) -> None:
    """Raise ``ResolveError`` naming the path when ``uri`` is a local store that is not there."""
    reason = missing_store(uri)
    if reason is None:
        return
    hint = (
        " (MLflow's default: no tracking URI is set; set MLFLOW_TRACKING_URI or pass --tracking-uri)"
        if defaulted
        else ""
    )
    raise ResolveError(f"{what} URI {redact(uri) or uri}: {reason}{hint}")
