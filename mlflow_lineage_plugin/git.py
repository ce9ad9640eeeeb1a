"""Git reference of the code a run came from (placeholder: the git helper replaces this)."""

from __future__ import annotations

from typing import Optional

from mlflow_lineage_plugin.tags import GitRef


def read_git_ref(entry_path: Optional[str], *, timeout: float = 2.0) -> Optional[GitRef]:
    """The reference of the repository containing ``entry_path`` (a file or a directory).

    Returns None when there is no repository; never raises; bounded by ``timeout`` seconds.
    ``path`` is relative to the repository root (posix), ``repo_url`` credential-free
    (``urls.normalize_remote``), ``source_url`` from ``urls.source_web_url``; ``dirty`` is None when
    the check could not finish in time.
    """
    return None
