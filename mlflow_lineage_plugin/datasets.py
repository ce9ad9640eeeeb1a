"""What a run's ``mlflow.log_input`` datasets are, as plain values: where the data lives and its name
by OpenLineage's naming conventions.

Pure functions of what MLflow returned with the run (name, digest, source type, source JSON,
schema JSON, the ``mlflow.data.context`` tag); no request and no MLflow import, so the resolver,
the reverse look-up and the OpenLineage events all read datasets the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import urlsplit

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.urls import SCHEME_PATH, no_query, redact
from mlflow_lineage_plugin.workspace import parse_workspace_uri

# The relation a dataset's context gives its edge from the run.
TRAINED_ON = "trained on"
EVALUATED_ON = "evaluated on"
INPUT = "input"
_CONTEXT_RELATION = {
    "training": TRAINED_ON,
    "train": TRAINED_ON,
    "eval": EVALUATED_ON,
    "evaluation": EVALUATED_ON,
    "validation": EVALUATED_ON,
    "test": EVALUATED_ON,
}

# Source types as MLflow names them (``DatasetSource._get_source_type``).
DELTA = "delta_table"
LOCAL = "local"
CODE = "code"
HUGGING_FACE = "hugging_face"
_URI_SOURCES = ("s3", "gs", "gcs", "abfss", "wasbs", "hdfs", "dbfs", "http", "https", "uc_volume", "local")
# The namespace of a Delta table known only by its name (no location, not in a Databricks workspace): where
# it lives is not recorded, and one fixed namespace keeps the same table one dataset whichever store the
# run was in (naming it under the store's URI would make one table a dataset per store).
UNKNOWN_METASTORE = "metastore://unknown"
_AZURE_CONTAINER_SCHEMES = ("abfss", "abfs", "wasbs", "wasb")


@dataclass(frozen=True)
class DatasetRef:
    """One dataset input of a run. ``namespace``/``ol_name`` follow OpenLineage's naming conventions
    (``s3://bucket`` + key, ``file`` + path, a Delta table: where it lives, see ``name_dataset``)."""

    name: str
    digest: Optional[str]
    source_type: Optional[str]
    source: dict[str, Any]
    namespace: str
    ol_name: str
    version: Optional[str] = None  # a Delta table's version, a Hugging Face revision
    context: Optional[str] = None
    schema: tuple[tuple[str, str], ...] = ()  # (column, type)
    url: Optional[str] = None

    @property
    def relation(self) -> str:
        return _CONTEXT_RELATION.get((self.context or "").strip().lower(), INPUT)

    @property
    def table(self) -> Optional[str]:
        return self.source.get("delta_table_name") if self.source_type == DELTA else None

    @property
    def label(self) -> str:
        """``name (place vN)``: the place only where it says more than the name."""
        place = self.table or self.location
        bits = [place] if self.source_type != CODE and place != self.name else []
        bits += [f"v{self.version}"] if self.version else []
        return f"{self.name} ({' '.join(bits)})" if bits else self.name

    @property
    def location(self) -> str:
        """The data's address in one string: namespace and name joined as OpenLineage does; a table whose
        metastore is unknown is its name alone."""
        if self.namespace in ("file", UNKNOWN_METASTORE):
            return self.ol_name
        if "://" not in self.namespace and self.ol_name.startswith("/"):  # dbfs + /mnt/x
            return f"{self.namespace}:{self.ol_name}"
        sep = "" if self.ol_name.startswith("/") else "/"
        return f"{self.namespace}{sep}{self.ol_name}"


def _json(text: Optional[str]) -> dict[str, Any]:
    if not text:
        return {}
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def schema_columns(schema_json: Optional[str]) -> tuple[tuple[str, str], ...]:
    """Columns of an MLflow dataset schema (``mlflow_colspec`` or ``mlflow_tensorspec``)."""
    data = _json(schema_json)
    cols = data.get("mlflow_colspec") or data.get("mlflow_tensorspec") or []
    if isinstance(cols, str):
        try:
            cols = json.loads(cols)
        except ValueError:
            return ()
    out = []
    for i, col in enumerate(cols if isinstance(cols, list) else []):
        if isinstance(col, dict):
            kind = col.get("type") or col.get("dtype") or ""
            out.append((str(col.get("name") or f"column_{i}"), str(kind)))
    return tuple(out)


def _databricks_host(workspace_uri: Optional[str]) -> Optional[str]:
    if not workspace_uri:
        return None
    p = parse_workspace_uri(workspace_uri)
    if p.kind != "databricks":
        return None
    return urlsplit(p.base).hostname


def _split_uri(uri: str) -> tuple[str, str]:
    """``scheme://authority/path`` → (``scheme://authority``, ``path`` without its leading slash). Userinfo
    is dropped, except Azure's ``container@account``, which is where the data lives, not a credential."""
    parts = urlsplit(uri)
    netloc = parts.netloc if parts.scheme.lower() in _AZURE_CONTAINER_SCHEMES else parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{netloc}", parts.path.lstrip("/")


def _place(where: str) -> tuple[str, str]:
    """(namespace, name) of a data address: ``scheme://authority`` + path, ``dbfs`` + ``/mnt/x`` for a URI
    without an authority (OpenLineage's namespace is ``scheme:[//authority]``), ``file`` + a local path."""
    if "://" in where:
        parts = urlsplit(where)
        return ("file", parts.path) if parts.scheme.lower() == "file" else _split_uri(where)
    m = SCHEME_PATH.match(where)
    if m:
        return m.group(1).lower(), no_query(where[m.end() - 1 :])
    return "file", where


def name_dataset(
    source_type: Optional[str], source: dict[str, Any], name: str, workspace_uri: Optional[str]
) -> tuple[str, str, Optional[str], Optional[str]]:
    """(namespace, name, version, browser link) of one dataset, by OpenLineage's conventions.

    A Delta table is named where it lives: in a Databricks workspace's metastore (``databricks://<host>`` +
    ``catalog.schema.table``), else at its location (scheme and authority + path; ``file`` + a local path),
    else, known by name only, in ``UNKNOWN_METASTORE`` (MLflow records no metastore URI). A source that
    names no place of its own (a pandas frame built in code) is named inside the run's workspace, so two
    runs that logged the same in-memory dataset still meet in one node.
    """
    home = workspace_uri or "mlflow"  # the caller's credential-free workspace URI, ``?o=`` kept
    stype = (source_type or "").lower()
    if stype == DELTA:
        version = source.get("delta_table_version")
        version = None if version is None else str(version)
        table = source.get("delta_table_name")
        host = _databricks_host(workspace_uri)
        if table and host:
            link = None
            if str(table).count(".") == 2 and not str(table).startswith(("hive_metastore.", "spark_catalog.")):
                p = parse_workspace_uri(workspace_uri or "")
                q = f"?o={p.workspace_id}" if p.workspace_id else ""
                link = f"{p.base}/explore/data/{str(table).replace('.', '/')}{q}"
            return f"databricks://{host}", str(table), version, link
        path = source.get("path")
        if path:
            ns, rest = _place(str(path))
            return ns, rest, version, None
        if table:
            return UNKNOWN_METASTORE, str(table), version, None
    uri = source.get("uri") or source.get("url") or source.get("path")
    if stype in _URI_SOURCES and isinstance(uri, str) and uri:
        uri = redact(uri) or uri
        ns, rest = _place(uri)
        link = uri if urlsplit(uri).scheme in ("http", "https") and "://" in uri else None
        return ns, rest, None, link
    if stype == HUGGING_FACE and source.get("path"):
        path = str(source["path"])
        revision = source.get("revision")
        return "hf://datasets", path, str(revision) if revision else None, f"https://huggingface.co/datasets/{path}"
    return home, name, None, None


def dataset_ref(dataset: Any, tags: Any = None, workspace_uri: Optional[str] = None) -> DatasetRef:
    """A ``DatasetRef`` from MLflow's dataset entity (``DatasetInput.dataset``) and the input's tags."""
    source = _json(getattr(dataset, "source", None))
    name = str(getattr(dataset, "name", "") or "dataset")
    stype = getattr(dataset, "source_type", None)
    ns, ol_name, version, url = name_dataset(stype, source, name, workspace_uri)
    context = None
    for tag in tags or ():
        if getattr(tag, "key", None) == T.MLFLOW_DATASET_CONTEXT:
            context = tag.value or None
    return DatasetRef(
        name=name,
        digest=getattr(dataset, "digest", None) or None,
        source_type=stype,
        source=source,
        namespace=ns,
        ol_name=ol_name,
        version=version,
        context=context,
        schema=schema_columns(getattr(dataset, "schema", None)),
        url=url,
    )


def run_datasets(run: Any, workspace_uri: Optional[str] = None) -> list[DatasetRef]:
    """Every dataset input the run entity carries (``search_runs`` and ``get_run`` both return them)."""
    inputs = getattr(run, "inputs", None)
    out = []
    for di in getattr(inputs, "dataset_inputs", None) or []:
        out.append(dataset_ref(di.dataset, di.tags, workspace_uri))
    return out


def run_model_inputs(run: Any) -> list[str]:
    """MLflow 3 LoggedModel ids the run took as inputs (``get_run`` returns them; ``search_runs`` not)."""
    inputs = getattr(run, "inputs", None)
    return [m.model_id for m in getattr(inputs, "model_inputs", None) or [] if getattr(m, "model_id", None)]
