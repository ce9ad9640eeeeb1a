"""The tree a run's record describes: its commit with its kept patch applied, built by git alone on a
private index file (``GIT_INDEX_FILE``: ``read-tree``, ``apply --cached``, ``write-tree``), never on the
user's index or working tree. ``checkout`` compares the directory it rebuilt with it; ``diff`` compares
two of them. New objects go where ``env`` says (``diff`` gives a private object directory)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import Optional

from mlflow_lineage_plugin.git.process import git_run, last_line


@dataclass(frozen=True)
class RecordTree:
    """``tree``: the tree id, or None when it could not be built (``problem``: git's last word);
    ``files``: the paths the patch changes, as ``git apply --numstat`` names them."""

    tree: Optional[str] = None
    files: tuple[str, ...] = ()
    problem: Optional[str] = None


def record_tree(
    cwd: str,
    base: str,
    patch: Optional[bytes],
    *,
    env: Optional[dict[str, str]] = None,
    scratch: Optional[str] = None,
) -> RecordTree:
    """``base`` (a commit or tree) with ``patch`` applied; the index file lives in a temporary directory
    under ``scratch``. Without a patch the tree is ``base``'s own, read without an index."""
    if patch is None:
        done = git_run(["rev-parse", "--verify", "-q", f"{base}^{{tree}}"], cwd, env)
        if done.returncode != 0:
            return RecordTree(problem=last_line(done.stderr) if done.stderr else f"{base} is not in the repository")
        return RecordTree(tree=done.stdout.decode().strip())
    with tempfile.TemporaryDirectory(prefix="mlflow-lineage-record-", dir=scratch) as tmp:
        private = {**(env or {}), "GIT_INDEX_FILE": os.path.join(tmp, "index")}
        files: tuple[str, ...] = ()
        done = git_run(["read-tree", base], cwd, private)
        if done.returncode == 0:
            args = ["apply", "--cached", "--apply", "--numstat", "-z", "--whitespace=nowarn", "-"]
            done = git_run(args, cwd, private, stdin=patch)
            records = done.stdout.decode("utf-8", "surrogateescape").split("\0")
            files = tuple(rec.split("\t", 2)[-1] for rec in records if rec)
        if done.returncode == 0:
            done = git_run(["write-tree"], cwd, private)
    if done.returncode != 0:
        return RecordTree(problem=last_line(done.stderr))
    return RecordTree(tree=done.stdout.decode().strip(), files=files)
