"""``mlflow-lineage diff A B``: what differs between two models (or runs) in code, data, parameters and
metrics, environment and lineage, each section saying how well it is known and why.

``load`` reads each side (I/O), ``trees`` builds both exact trees with git and compares them,
``compare`` does the rest as pure functions, ``render`` turns the ``result.Diff`` into text, JSON,
Markdown or HTML.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

from mlflow_lineage_plugin.resolve.diff import compare
from mlflow_lineage_plugin.resolve.diff.load import DiffError, load
from mlflow_lineage_plugin.resolve.diff.result import SCHEMA, SECTIONS, Diff, Known, Section, SectionName
from mlflow_lineage_plugin.resolve.diff.trees import code_section
from mlflow_lineage_plugin.resolve.endpoints import Clients
from mlflow_lineage_plugin.resolve.target import parse_target

GATED = (SectionName.CODE, SectionName.DATA, SectionName.PARAMS, SectionName.ENV)  # what --fail-on may name


def diff(
    a: str,
    b: str,
    *,
    repo: Optional[str] = None,
    patch: bool = False,
    tracking_uri: Optional[str] = None,
    registry_uri: Optional[str] = None,
    timeout: Optional[float] = None,
    clients: Optional[Clients] = None,
) -> Diff:
    """Compare ``a`` and ``b`` (any target ``show`` accepts). Raises ``TargetError``, ``ResolveError`` or
    ``DiffError`` on bad input; everything else is said in the sections of the returned ``Diff``."""
    ta, tb = parse_target(a), parse_target(b)  # malformed input is reported before any request
    if repo is not None:
        repo = check_repo(repo)
    clients = clients or Clients(tracking_uri, registry_uri, timeout)
    if ta.text == tb.text:
        la = lb = load(ta, clients)
    else:
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="lineage-diff") as pool:
            fa, fb = pool.submit(load, ta, clients), pool.submit(load, tb, clients)
            la, lb = fa.result(), fb.result()
    sections = (
        code_section(la, lb, repo=repo, patch=patch),
        compare.data_section(la.facts, lb.facts),
        compare.params_section(la.facts, lb.facts),
        compare.env_section(la.facts, lb.facts),
        compare.lineage_section(la.facts, lb.facts),
    )
    return Diff(la.side, lb.side, sections, identical=ta.text == tb.text)


def check_repo(repo: str) -> str:
    from mlflow_lineage_plugin.checkout import git_run

    path = os.path.abspath(os.path.expanduser(repo))
    if not os.path.isdir(path) or git_run(["rev-parse", "--git-dir"], path).returncode != 0:
        raise DiffError(f"--repo {path} is not a git repository")
    return path


def writable(path: str) -> str:
    """``path``, checked before any work is done: a file that can be created or overwritten."""
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(path):
        raise DiffError(f"--output {path} is a directory")
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise DiffError(f"--output {path}: directory {parent} does not exist")
    if not os.access(path if os.path.exists(path) else parent, os.W_OK):
        raise DiffError(f"--output {path} is not writable")
    return path


__all__ = ["diff", "Diff", "DiffError", "Known", "Section", "SCHEMA", "SECTIONS", "GATED", "writable"]
