"""Whether a run's kept uncommitted changes are still intact: the stored ``lineage/uncommitted.patch``
read back and its sha256 compared with the run's tag. Part of the ``exact`` requirement.

At most ``MAX_VERIFIED`` patches per resolve (each at most ``MLFLOW_LINEAGE_DIFF_MAX_BYTES``); beyond that
the rest are said to be unverified rather than read.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from typing import Any, Optional

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.errors import describe_error
from mlflow_lineage_plugin.resolve import graph as G
from mlflow_lineage_plugin.resolve.endpoints import Clients

MAX_VERIFIED = 10


Read = dict[tuple[str, str], tuple[bytes, Optional[str]]]  # (run id, sha256) -> bytes, or b"" and why not


def verify(g: G.Lineage, clients: Clients, patches: Optional[Read] = None) -> None:
    """A finding (requirement ``exact``) for every kept patch that is missing or does not match; ``patches``,
    when given, receives each one read and what ``read_patch`` said of it (so ``checkout`` and ``diff``
    download no patch twice)."""
    todo = []
    for commit in g.of_kind(G.GIT_COMMIT):
        for entry in commit.attrs.get("changes") or ():
            if entry.get("kept_in") == T.DIFF_ARTIFACT_PATH and entry.get("run_id") and entry.get("sha256"):
                todo.append((commit, entry))
    for commit, entry in todo[:MAX_VERIFIED]:
        data, problem = _check(g, clients, entry["run_id"], entry["sha256"])
        entry["intact"] = problem is None
        if patches is not None:
            patches[(entry["run_id"], entry["sha256"])] = (data, problem)
        if problem:
            g.note(G.finding(G.FindingCode.CHANGES_NOT_INTACT, f"run {entry['run_id']}: {problem}", commit.id))
    if len(todo) > MAX_VERIFIED:
        g.note(
            G.finding(
                G.FindingCode.CHANGES_NOT_VERIFIED,
                f"{len(todo) - MAX_VERIFIED} kept patches were not read back (at most {MAX_VERIFIED} per resolve)",
            )
        )


def _check(g: G.Lineage, clients: Clients, run_id: str, sha256: str) -> tuple[bytes, Optional[str]]:
    run = g.nodes.get(f"run:{run_id}")
    endpoint = clients.endpoint(run.workspace_uri if run is not None else None)
    if not endpoint.tracking_uri:
        return b"", f"{T.DIFF_ARTIFACT_PATH} cannot be read: its workspace is unreachable"
    return read_patch(clients.tracking(endpoint.tracking_uri), run_id, sha256, clients.timeout)


def read_patch(client: Any, run_id: str, sha256: str, timeout: Optional[float] = None) -> tuple[bytes, Optional[str]]:
    """The run's kept ``lineage/uncommitted.patch`` and ``None``, or ``b""`` and why it cannot be used
    (unreadable, or not the bytes its recorded sha256 names). The one download-and-verify of a kept patch:
    ``checkout``, ``exact`` and ``diff`` all go through it."""
    try:
        with tempfile.TemporaryDirectory(prefix="mlflow-lineage-verify-") as tmp:
            path = client.download_artifacts(run_id, T.DIFF_ARTIFACT_PATH, tmp)
            with open(os.path.join(tmp, path) if not os.path.isabs(path) else path, "rb") as fh:
                data = fh.read()
    except Exception as exc:
        return b"", f"{T.DIFF_ARTIFACT_PATH} could not be read from run {run_id} ({describe_error(exc, timeout)})"
    if hashlib.sha256(data).hexdigest() != sha256:
        return b"", f"{T.DIFF_ARTIFACT_PATH} does not match its recorded sha256"
    return data, None
