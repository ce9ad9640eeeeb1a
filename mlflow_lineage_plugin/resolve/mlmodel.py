"""The MLmodel file of a model version, opt-in: the registry's copy and the run's (or LoggedModel's)
own copy, read as two tiny downloads, so the resolver can list flavors and native artifacts and say
when a copy is gone. Only ``MLmodel`` is fetched, never the model's weights.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from mlflow_lineage_plugin.errors import NOT_FOUND, describe_error, is_not_found
from mlflow_lineage_plugin.source import model_id_from_source

if TYPE_CHECKING:
    from mlflow_lineage_plugin.resolve.endpoints import Clients
    from mlflow_lineage_plugin.workspace_routes import Endpoint

_NATIVE_KEYS = ("pickled_model", "model_file", "data", "model_data", "saved_model_dir", "model_path", "path")


def native_artifacts(doc: dict) -> list[tuple[str, str, dict]]:
    """(flavor, path, a few config facts) for each flavor that names its own files."""
    out = []
    flavors = doc.get("flavors") or {}
    for flavor, cfg in flavors.items():
        if flavor == "python_function" and len(flavors) > 1:
            continue
        if not isinstance(cfg, dict):
            continue
        for key in _NATIVE_KEYS:
            if isinstance(cfg.get(key), str):
                facts = {
                    k: v
                    for k, v in cfg.items()
                    if k.endswith("_version") or k in ("serialization_format", "code", "loader_module")
                }
                out.append((flavor, cfg[key], {k: v for k, v in facts.items() if isinstance(v, (str, int))}))
                break
    return out


def download_text(**kwargs: Any) -> str:
    """One small file of a model (``MLmodel``, ``requirements.txt``), as text; never the weights."""
    from mlflow.artifacts import download_artifacts

    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = download_artifacts(dst_path=tmp, **kwargs)
        except TypeError:
            kwargs.pop("registry_uri", None)
            path = download_artifacts(dst_path=tmp, **kwargs)
        p = Path(path)
        if p.is_dir():
            p = p / "MLmodel"
        return p.read_text(encoding="utf-8")


def read_text(kwargs: dict, timeout: Optional[float]) -> tuple[Optional[str], Optional[str]]:
    """``download_text``'s text and None, or None and why not (``NOT_FOUND`` when the file is not there)."""
    try:
        return download_text(**kwargs), None
    except Exception as exc:
        return None, NOT_FOUND if is_not_found(exc) else describe_error(exc, timeout)


def _read(kwargs: dict, timeout: float) -> dict:
    import yaml

    text, error = read_text(kwargs, timeout)
    if text is None:
        return {"error": error}
    try:
        return {"doc": yaml.safe_load(text) or {}}
    except Exception as exc:
        return {"error": describe_error(exc, timeout)}


def run_copy_location(mv: Any, logged_model: Any) -> str:
    source = mv.source or ""
    if model_id_from_source(source) and logged_model is not None:
        return logged_model.artifact_location
    return source


def fetch_mlmodel_pair(c: Clients, mv: Any, ep: Endpoint, logged_model: Any) -> dict:
    """The version's MLmodel as the registry serves it, and the run's own copy; tiny downloads."""
    name, version = mv.name, str(mv.version)
    out: dict[str, Any] = {}
    try:
        reg_uri = c.registry().get_model_version_download_uri(name, version)
    except Exception as exc:
        reg_uri = None
        out["registry"] = {"uri": f"models:/{name}/{version}", "error": describe_error(exc, c.timeout)}
    run_uri = run_copy_location(mv, logged_model)
    out["same_location"] = bool(reg_uri) and reg_uri.rstrip("/") == run_uri.rstrip("/")
    if reg_uri:
        out["registry"] = {
            "uri": reg_uri,
            **_read(
                {
                    "artifact_uri": f"models:/{name}/{version}/MLmodel",
                    "tracking_uri": c.tracking_uri,
                    "registry_uri": c.registry_uri,
                },
                c.timeout,
            ),
        }
    if not ep.tracking_uri:
        out["run"] = {"uri": run_uri, "error": ep.reason or "workspace unreachable"}
    elif out["same_location"] and "doc" in out.get("registry", {}):
        out["run"] = {"uri": run_uri, "doc": out["registry"]["doc"]}
    elif run_uri.startswith("runs:/"):
        rid, _, path = run_uri[len("runs:/") :].partition("/")
        out["run"] = {
            "uri": run_uri,
            **_read(
                {
                    "run_id": rid,
                    "artifact_path": f"{path.strip('/')}/MLmodel".lstrip("/"),
                    "tracking_uri": ep.tracking_uri,
                },
                c.timeout,
            ),
        }
    else:
        out["run"] = {
            "uri": run_uri,
            **_read({"artifact_uri": run_uri.rstrip("/") + "/MLmodel", "tracking_uri": ep.tracking_uri}, c.timeout),
        }
    return out
