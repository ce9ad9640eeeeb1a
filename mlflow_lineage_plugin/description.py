"""When a new model version gets the lineage line as its description, and never over the caller's.

The registry wrapper asks this once per creation, with the tags that go into that same create call,
so the description costs no request of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Optional

from mlflow_lineage_plugin import config
from mlflow_lineage_plugin.errors import debug_traceback, error_line

_logger = logging.getLogger(__name__)


def enabled() -> bool:
    return config.switch(config.DESCRIPTION)


def for_new_version(
    given: Optional[str],
    tags: Iterable[tuple[str, str]],
    run_name: Optional[str] = None,
    *,
    unity_catalog: bool = False,
    run_unread: Optional[str] = None,
) -> Optional[str]:
    """The caller's description when there is one (any text at all), else the
    lineage line built from the version's tags, else what was given. ``run_unread``: the source run
    was asked for and not read (``resolve.markdown.RUN_NOT_FOUND`` / ``RUN_NOT_READ``)."""
    if (given and given.strip()) or not enabled():
        return given
    try:
        from mlflow_lineage_plugin.resolve.markdown import version_description

        return version_description(dict(tags), run_name, unity_catalog=unity_catalog, run_unread=run_unread) or given
    except Exception as exc:  # the tags still go in; only the description is given up
        _logger.warning(
            "mlflow-lineage: new model version registered without a lineage description: %s", error_line(exc)
        )
        debug_traceback(_logger, "no lineage description")
        return given
