"""This plugin's two custom facets, module-level typed classes as openlineage-python's own generated
facets are: attrs classes on the client's facet bases, each naming its definition in the schema the
package ships (``openlineage_facets.json``, ``FACETS_SCHEMA_URL``).

Importing this module imports openlineage-python (``MissingExtra`` without it): ``events`` imports it
only when it builds an event.
"""

from __future__ import annotations

from typing import Any, Optional

from mlflow_lineage_plugin.openlineage.extra import lib
from mlflow_lineage_plugin.openlineage.facts import FACETS_SCHEMA_URL

_ol = lib()
attr = _ol.attr
RunFacet: Any = _ol.base.RunFacet  # the client's bases, typed by openlineage-python itself
InputDatasetFacet: Any = _ol.base.InputDatasetFacet


@attr.define
class MlflowRunFacet(RunFacet):
    """The MLflow run behind an OpenLineage run: ids and links to find it again."""

    runId: str = attr.field()  # noqa: N815
    experimentId: str = attr.field()  # noqa: N815
    workspaceUri: str = attr.field()  # noqa: N815
    experimentName: Optional[str] = attr.field(default=None)  # noqa: N815
    runName: Optional[str] = attr.field(default=None)  # noqa: N815
    status: Optional[str] = attr.field(default=None)
    user: Optional[str] = attr.field(default=None)
    runUrl: Optional[str] = attr.field(default=None)  # noqa: N815
    gitDirty: Optional[bool] = attr.field(default=None)  # noqa: N815
    uncommittedChanges: Optional[str] = attr.field(default=None)  # noqa: N815
    uncommittedChangesSha256: Optional[str] = attr.field(default=None)  # noqa: N815
    uncommittedChangesFiles: Optional[int] = attr.field(default=None)  # noqa: N815
    notebookPath: Optional[str] = attr.field(default=None)  # noqa: N815
    notebookId: Optional[str] = attr.field(default=None)  # noqa: N815
    notebookRevisionId: Optional[str] = attr.field(default=None)  # noqa: N815
    registeredModelVersions: Optional[list] = attr.field(default=None)  # noqa: N815

    @staticmethod
    def _get_schema() -> str:
        return FACETS_SCHEMA_URL + "#/$defs/MlflowRunFacet"


@attr.define
class MlflowDatasetFacet(InputDatasetFacet):
    """How MLflow recorded the input: its dataset name, digest, source type and context."""

    name: str = attr.field()
    digest: Optional[str] = attr.field(default=None)
    sourceType: Optional[str] = attr.field(default=None)  # noqa: N815
    context: Optional[str] = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return FACETS_SCHEMA_URL + "#/$defs/MlflowDatasetFacet"
