"""Where the code of this process lives: the file whose repository a run should record.

MLflow looks only at ``sys.argv[0]``, which is the kernel launcher in Jupyter and a relative path a
script may have ``chdir``-ed away from. The entry file is what a reader of the run wants to open, so
this module finds it: the ``__main__`` module's file for scripts and ``python -m``, the notebook's own
file in Jupyter/IPython (from what the kernel, VS Code or the Jupyter server say), else the kernel's
working directory (notebooks run with their own folder as working directory).

Every source except the Jupyter server's sessions API is an in-memory read; that one is an HTTP call
to 127.0.0.1, bounded and remembered, because a stale server file must not cost every run.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Optional
from urllib.request import Request, urlopen

SESSIONS_TIMEOUT = 0.3  # per Jupyter server
SESSIONS_BUDGET = 1.0  # all servers together
_NEGATIVE_TTL = 60.0

_sessions_cache: dict[str, tuple[Optional[str], float]] = {}


def entry_path() -> Optional[str]:
    """Absolute path of the entry script or notebook (or the kernel's working directory). Never raises."""
    try:
        shell = _ipython_shell()
        if shell is not None:
            return notebook_path(shell) or os.getcwd()
        return script_path() or os.getcwd()
    except Exception:
        return None


def script_path() -> Optional[str]:
    """The ``__main__`` file: the script, or the module file of ``python -m pkg.mod``.

    ``__main__.__file__`` is absolute from Python 3.9 on; ``sys.argv[0]`` is the fallback for older
    interpreters and embedders that do not set it.
    """
    main = sys.modules.get("__main__")
    f = getattr(main, "__file__", None)
    if f and os.path.exists(f):
        return os.path.abspath(f)
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 and argv0 not in ("-c", "-m") and os.path.isfile(argv0):
        return os.path.abspath(argv0)
    return None


def _ipython_shell():
    """The running IPython shell, without importing IPython when nobody else has."""
    mod = sys.modules.get("IPython")
    if mod is None:
        return None
    get = getattr(mod, "get_ipython", None)
    return get() if get else None


def notebook_path(shell) -> Optional[str]:
    """The notebook file of this kernel, when the kernel, VS Code or the Jupyter server can tell."""
    ns = getattr(shell, "user_ns", None) or {}
    for candidate in (
        ns.get("__vsc_ipynb_file__"),
        os.environ.get("__vsc_ipynb_file__"),  # noqa: SIM112 (the name VS Code uses)
        ns.get("__session__"),
        os.environ.get("JPY_SESSION_NAME"),
    ):
        found = _existing(candidate)
        if found:
            return found
    return _path_from_sessions_api()


def _existing(candidate: object) -> Optional[str]:
    """An absolute notebook path from a hint that may be relative to the Jupyter server's root.

    Older servers give the session path relative to their root; the kernel runs in the notebook's
    folder, so the file name joined to the working directory finds it.
    """
    if not isinstance(candidate, str) or not candidate.strip():
        return None
    p = Path(candidate.strip()).expanduser()
    if p.is_absolute():
        return str(p) if p.exists() else None
    for base in (Path.cwd() / p, Path.cwd() / p.name):
        if base.exists():
            return str(base.resolve())
    return None


def _kernel_id() -> Optional[str]:
    try:
        import ipykernel

        stem = Path(ipykernel.get_connection_file()).stem
    except Exception:
        return None
    return stem.split("-", 1)[1] if "-" in stem else None


def _path_from_sessions_api() -> Optional[str]:
    kernel_id = _kernel_id()
    if not kernel_id:
        return None
    cached = _sessions_cache.get(kernel_id)
    now = time.monotonic()
    if cached is not None:
        path, at = cached
        if path is not None and os.path.exists(path):
            return path
        if path is None and now - at < _NEGATIVE_TTL:
            return None
    path = _query_servers(kernel_id, deadline=now + SESSIONS_BUDGET)
    _sessions_cache[kernel_id] = (path, now)
    return path


def _server_files() -> list[Path]:
    try:
        from jupyter_core.paths import jupyter_runtime_dir

        runtime = Path(jupyter_runtime_dir())
    except Exception:
        return []
    if not runtime.is_dir():
        return []
    files = list(runtime.glob("jpserver-*.json")) + list(runtime.glob("nbserver-*.json"))
    return sorted(files, key=lambda f: f.stat().st_mtime, reverse=True)


def _query_servers(kernel_id: str, *, deadline: float) -> Optional[str]:
    """Ask each running Jupyter server which notebook owns this kernel; the token goes in a header so
    it never appears in a URL that an error message could echo."""
    for server_file in _server_files():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            info = json.loads(server_file.read_text())
            url = str(info.get("url", "")).rstrip("/")
            if not url.startswith(("http://", "https://")):
                continue
            req = Request(f"{url}/api/sessions")
            token = info.get("token") or os.environ.get("JUPYTERHUB_API_TOKEN")
            if token:
                req.add_header("Authorization", f"token {token}")
            with urlopen(req, timeout=min(SESSIONS_TIMEOUT, remaining)) as resp:
                sessions = json.load(resp)
        except Exception:
            continue
        for s in sessions if isinstance(sessions, list) else []:
            if (s.get("kernel") or {}).get("id") != kernel_id:
                continue
            rel = s.get("path") or (s.get("notebook") or {}).get("path")
            root = info.get("root_dir") or info.get("notebook_dir") or ""
            if rel:
                full = Path(rel) if os.path.isabs(rel) else Path(root) / rel
                return str(full) if full.exists() else None
    return None
