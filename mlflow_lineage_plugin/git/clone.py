"""The clone the commands (``checkout``, ``diff``) make of the repository a run records, or the local
clone the user gives them (``--repo``).

Made by the user's own git as a person at a terminal runs it (config, credential helpers, prompts on the
terminal), without a deadline: ``process.git_run``. Nothing is checked out by the clone, and what it says
on failure names the origin without credentials, whoever wrote the URL into the tags.
"""

from __future__ import annotations

import os

from mlflow_lineage_plugin.git.process import executable, git_run, last_line
from mlflow_lineage_plugin.urls import fetch_remote, redact


class CloneError(Exception):
    """The clone failed, or the one given is none; the message is one line for the user, without
    credentials."""


class NoGit(CloneError):
    """There is no git on PATH: giving a local clone instead would not help."""


def need_git() -> None:
    """Raise ``NoGit`` before a command's first git process when there is no git to run: said so, not as
    the ``FileNotFoundError`` of starting one."""
    if executable() is None:
        raise NoGit("git is not on PATH")


def given_clone(repo: str) -> str:
    """The local clone given as ``--repo``, as an absolute path, checked to be a git repository before
    anything is read (``CloneError``; ``NoGit`` without git)."""
    path = os.path.abspath(os.path.expanduser(repo))
    need_git()
    if not os.path.isdir(path) or git_run(["rev-parse", "--git-dir"], path).returncode != 0:
        raise CloneError(f"--repo {path} is not a git repository")
    return path


def clone(origin: str, directory: str, *, bare: bool) -> str:
    """Clone ``origin`` into ``directory`` without checking out a file: ``bare`` for an object store to
    read trees from (``diff``), else a repository to check a commit out into (``checkout``); returns the
    URL the clone keeps as its ``origin``.

    ``origin`` is the URL as recorded: git reaches it on its own transport (ssh stays ssh, with the user's
    keys; https with the user's credential helpers). What the clone keeps is ``urls.fetch_remote``'s form,
    on the same transport without a token, so a URL that held one (written by another tool) leaves none in
    the clone's ``.git/config``. A local directory is cloned by hard links (``--local``), fetching nothing
    over a network, and git keeps its absolute path. A relative origin is relative to the working
    directory, as for ``git clone`` typed there."""
    need_git()
    local = os.path.isdir(origin)
    how = ["--bare" if bare else "--no-checkout", *(["--local"] if local else [])]
    done = git_run(["clone", "--quiet", *how, "--", origin, directory], ".")
    if done.returncode != 0:
        raise CloneError(f"git clone of {redact(origin)} failed: {last_line(done.stderr)}")
    if local:
        return os.path.abspath(origin)
    kept = fetch_remote(origin)
    if kept != origin:
        done = git_run(["remote", "set-url", "origin", kept], directory)
        if done.returncode != 0:
            raise CloneError(f"the clone of {redact(origin)} could not keep its origin: {last_line(done.stderr)}")
    return kept
