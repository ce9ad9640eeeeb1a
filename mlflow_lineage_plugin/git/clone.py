"""The clone the commands (``checkout``, ``diff``) make of the repository a run records.

Made by the user's own git as a person at a terminal runs it (config, credential helpers, prompts on the
terminal), without a deadline: ``process.git_run``. Nothing is checked out by the clone, and what it says
on failure names the origin without credentials, whoever wrote the URL into the tags.
"""

from __future__ import annotations

import os
import shutil

from mlflow_lineage_plugin.git.process import git_run, last_line
from mlflow_lineage_plugin.urls import redact


class CloneError(Exception):
    """The clone failed; the message is one line for the user, without credentials."""


class NoGit(CloneError):
    """There is no git on PATH: giving a local clone instead would not help."""


def clone(origin: str, directory: str, *, bare: bool) -> None:
    """Clone ``origin`` into ``directory`` without checking out a file: ``bare`` for an object store to
    read trees from (``diff``), else a repository to check a commit out into (``checkout``). A local
    directory is cloned by hard links (``--local``), fetching nothing over a network. A relative origin is
    relative to the working directory, as for ``git clone`` typed there."""
    if shutil.which("git") is None:
        raise NoGit("git is not on PATH")
    local = ["--local"] if os.path.isdir(origin) else []
    done = git_run(["clone", "--quiet", "--bare" if bare else "--no-checkout", *local, "--", origin, directory], ".")
    if done.returncode != 0:
        raise CloneError(f"git clone of {redact(origin)} failed: {last_line(done.stderr)}")
