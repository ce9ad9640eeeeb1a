"""openlineage-python, the optional ``[openlineage]`` extra: the one module that imports it, and only when
an event is built or sent, so everything else in the plugin works without it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

INSTALL_HINT = 'OpenLineage events need the optional extra: pip install "mlflow-lineage-plugin[openlineage]"'


class MissingExtra(ImportError):
    """``openlineage-python`` is not installed (the ``[openlineage]`` extra)."""


@dataclass(frozen=True)
class Client:
    """The parts of openlineage-python the plugin uses."""

    attr: Any
    event_v2: Any
    base: Any
    source_code: Any
    nominal_time: Any
    schema: Any
    version: Any
    dataset_type: Any
    serde: Any
    OpenLineageClient: Any
    FacetsConfig: Any


@functools.cache
def lib() -> Client:
    """openlineage-python, imported on first use; ``MissingExtra`` without it."""
    try:
        import attr
        from openlineage.client import OpenLineageClient, event_v2
        from openlineage.client.facets import FacetsConfig
        from openlineage.client.generated import (
            base,
            dataset_type_dataset,
            dataset_version_dataset,
            nominal_time_run,
            schema_dataset,
            source_code_location_job,
        )
        from openlineage.client.serde import Serde
    except ImportError:
        raise MissingExtra(INSTALL_HINT) from None
    return Client(
        attr,
        event_v2,
        base,
        source_code_location_job,
        nominal_time_run,
        schema_dataset,
        dataset_version_dataset,
        dataset_type_dataset,
        Serde,
        OpenLineageClient,
        FacetsConfig,
    )


def available() -> bool:
    try:
        lib()
    except MissingExtra:
        return False
    return True
