"""git processes. The plugin's own, inside a user's run, are each bounded: their own process group, killed
with everything they started when the deadline passes, never taking the index lock
(``GIT_OPTIONAL_LOCKS=0``). The commands' (``checkout``, ``diff``), run for a person at a terminal, are the
user's git as is (config, credential helpers, prompts), without a deadline: ``git_run``."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import time
from typing import Callable, Optional

from mlflow_lineage_plugin.git.cache import Memo

# What git itself drops from the environment before it works in another repository (a submodule):
# inherited from a hook or a wrapper, these would point our git at the wrong repository.
LOCAL_REPO_ENV = (
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE",
    "GIT_PREFIX",
    "GIT_INTERNAL_SUPER_PREFIX",
    "GIT_SHALLOW_FILE",
    "GIT_COMMON_DIR",
)

# What changes ``git diff``'s output from the environment whatever its options say (``GIT_DIFF_OPTS``
# beats ``-U``): the plugin's patches must not depend on the user's shell.
DIFF_ENV = ("GIT_DIFF_OPTS", "GIT_EXTERNAL_DIFF")

_executables = Memo(limit=8)


def executable() -> Optional[str]:
    """``git`` on the current PATH (looked up again when PATH changes)."""
    path = os.environ.get("PATH")
    if path not in _executables:
        _executables.put(path, shutil.which("git", path=path))
    return _executables.get(path)


def git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LOCAL_REPO_ENV and k not in DIFF_ENV}
    env["GIT_OPTIONAL_LOCKS"] = "0"
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.setdefault("LC_ALL", "C")
    return env


def spawn(exe: str, args: list[str], cwd: str, env: Optional[dict[str, str]] = None) -> subprocess.Popen:
    """A git process in its own process group, so a time-out kills it and anything it started
    (hooks, fsmonitor) that could otherwise hold our pipe open. Every git process of the plugin
    starts here; ``env`` adds to (or overrides) ``git_env()``."""
    kw: dict = (
        {"start_new_session": True}
        if os.name == "posix"
        else {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    )
    return subprocess.Popen(
        [exe, *args],
        cwd=cwd,
        env={**git_env(), **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        **kw,
    )


def collect(proc: subprocess.Popen, deadline: float) -> Optional[tuple[int, bytes]]:
    """(exit code, stdout), or None when the deadline passed first (the process group is killed)."""
    try:
        out, _ = proc.communicate(timeout=max(deadline - time.monotonic(), 0.001))
    except subprocess.TimeoutExpired:
        kill(proc)
        return None
    return proc.returncode, out or b""


def collect_capped(
    proc: subprocess.Popen, deadline: float, cap: int, on_chunk: Optional[Callable[[bytes], None]] = None
) -> Optional[tuple[int, bytes, int]]:
    """(exit code, stdout, its size): stdout is read to the end to learn its size but kept only up
    to ``cap`` bytes (b"" beyond), so a huge output never sits in memory; ``on_chunk`` sees all of it
    as it passes. None past the deadline."""
    if os.name != "posix" or proc.stdout is None:
        out = collect(proc, deadline)
        if out is not None and on_chunk is not None:
            on_chunk(out[1])
        return None if out is None else (out[0], out[1] if len(out[1]) <= cap else b"", len(out[1]))
    fd = proc.stdout.fileno()
    chunks: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            kill(proc)
            return None
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        size += len(chunk)
        if on_chunk is not None:
            on_chunk(chunk)
        if size <= cap:
            chunks.append(chunk)
        elif chunks:
            chunks = []
    try:
        rc = proc.wait(timeout=max(deadline - time.monotonic(), 0.001))
    except subprocess.TimeoutExpired:
        kill(proc)
        return None
    proc.stdout.close()
    return rc, b"".join(chunks), size


def kill(proc: subprocess.Popen) -> None:
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except OSError:
        pass
    with contextlib.suppress(Exception):
        proc.communicate(timeout=1.0)


def run(
    exe: Optional[str], args: list[str], cwd: str, deadline: float, env: Optional[dict[str, str]] = None
) -> Optional[tuple[int, bytes]]:
    if exe is None or deadline <= time.monotonic():
        return None
    try:
        proc = spawn(exe, args, cwd, env) if env else spawn(exe, args, cwd)
    except OSError:
        return None
    return collect(proc, deadline)


def git_environment() -> dict[str, str]:
    """The user's environment for the commands' git, less what would point it at another repository."""
    return {k: v for k, v in os.environ.items() if k not in LOCAL_REPO_ENV}


def git_run(
    args: list[str], cwd: str, env: Optional[dict[str, str]] = None, stdin: Optional[bytes] = None
) -> subprocess.CompletedProcess:
    """A command's git process, ``env`` on top of ``git_environment()``; ``stdin`` fed to it, else nothing."""
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**git_environment(), **(env or {})},
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
    )


def last_line(stderr: Optional[bytes]) -> str:
    """git's last word on a failure, one line for the user, credentials removed."""
    from mlflow_lineage_plugin.urls import redact_text

    lines = [line.strip() for line in (stderr or b"").decode("utf-8", "replace").splitlines() if line.strip()]
    return redact_text(lines[-1]) if lines else "no message"
