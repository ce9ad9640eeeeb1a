"""What a user may ask about: model URIs, run URIs, bare run ids, and a whole registered model.

Parsed strictly and up front, so a typo is one clear sentence before any request is made, rather
than a confusing "not found" from a server later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional


class TargetError(ValueError):
    """A target string that names nothing the resolver understands (exit code 2)."""


VERSION = "version"  # models:/name/3
ALIAS = "alias"  # models:/name@alias
STAGE = "stage"  # models:/name/Production, models:/name/latest
MODEL = "model"  # models:/name : every version of the registered model
LOGGED_MODEL = "logged_model"  # models:/m-<32 hex>
RUN = "run"  # runs:/<id>/path or a bare run id

STAGES = {"none": "None", "staging": "Staging", "production": "Production", "archived": "Archived"}
LATEST = "latest"

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_RUN_ID_LOOSE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")  # what MLflow itself accepts in runs:/
_MODEL_ID = re.compile(r"^m-[0-9a-f]{32}$")
_ALIAS = re.compile(r"^[\w\-]+$")
_BAD_NAME_CHARS = re.compile(r"[\x00-\x1f'\"\\%]")


@dataclass(frozen=True)
class Target:
    kind: str
    text: str
    name: Optional[str] = None
    version: Optional[str] = None
    alias: Optional[str] = None
    stage: Optional[str] = None
    model_id: Optional[str] = None
    run_id: Optional[str] = None
    path: Optional[str] = None


def _check_name(name: str, text: str) -> str:
    if not name or not name.strip():
        raise TargetError(f"{text!r}: the registered model name is empty")
    if name != name.strip():
        raise TargetError(f"{text!r}: the registered model name has leading or trailing spaces")
    if _BAD_NAME_CHARS.search(name):
        raise TargetError(f"{text!r}: the registered model name contains quotes, '%', '\\' or control characters")
    return name


def parse_target(text: str) -> Target:
    """Parse one target; raise ``TargetError`` with the reason when it is malformed."""
    if text is None or not str(text).strip():
        raise TargetError("empty target: give a model URI (models:/name/3) or a run id")
    raw = str(text)
    s = raw.strip()
    if s.startswith("models:"):
        return _parse_models(s)
    if s.startswith("runs:"):
        return _parse_runs(s)
    if "://" in s or s.startswith(("model:", "run:")):
        raise TargetError(
            f"{raw!r}: unsupported URI; expected models:/name/<version>, models:/name@alias, "
            "models:/name/<stage>, models:/m-<id>, runs:/<run_id>/path or a run id"
        )
    if _RUN_ID.match(s):
        return Target(RUN, s, run_id=s)
    if re.fullmatch(r"[0-9a-fA-F]+", s):
        raise TargetError(f"{raw!r}: not a run id (a run id is 32 lowercase hex characters, this has {len(s)})")
    raise TargetError(
        f"{raw!r}: not a model URI or run id; expected models:/name/<version>, models:/name@alias, "
        "models:/name/<stage>, models:/m-<id>, runs:/<run_id>/path or a 32-character run id"
    )


def _parse_models(s: str) -> Target:
    if s.startswith("models://"):
        raise TargetError(
            f"{s!r}: a registry inside the URI (models://profile@databricks/...) is not supported; "
            "pass it with --registry-uri instead"
        )
    if not s.startswith("models:/"):
        raise TargetError(f"{s!r}: a model URI starts with 'models:/'")
    rest = s[len("models:/") :].strip("/")
    if not rest:
        raise TargetError(f"{s!r}: no model name after 'models:/'")
    if _MODEL_ID.match(rest):
        return Target(LOGGED_MODEL, s, model_id=rest)
    if rest.startswith("m-") and "/" not in rest and "@" not in rest:
        raise TargetError(f"{s!r}: a LoggedModel id is 'm-' followed by 32 lowercase hex characters")
    if "@" in rest:
        name, _, alias = rest.rpartition("@")
        _check_name(name, s)
        if not alias:
            raise TargetError(f"{s!r}: empty alias after '@'")
        if "/" in alias:
            raise TargetError(f"{s!r}: an alias URI is models:/name@alias, with nothing after the alias")
        if not _ALIAS.match(alias):
            raise TargetError(f"{s!r}: alias {alias!r} may contain only letters, digits, '_' and '-'")
        return Target(ALIAS, s, name=name, alias=alias)
    if "/" not in rest:
        return Target(MODEL, s, name=_check_name(rest, s))
    name, _, suffix = rest.rpartition("/")
    _check_name(name, s)
    if "/" in name:
        raise TargetError(f"{s!r}: too many '/' in the model URI; expected models:/name/<version or stage>")
    if suffix.isdigit():
        if int(suffix) < 1:
            raise TargetError(f"{s!r}: model versions start at 1")
        return Target(VERSION, s, name=name, version=str(int(suffix)))
    if re.fullmatch(r"-?\d+(\.\d+)?", suffix):
        raise TargetError(f"{s!r}: version {suffix!r} is not a positive whole number")
    if suffix.lower() == LATEST:
        return Target(STAGE, s, name=name, stage=LATEST)
    if suffix.lower() in STAGES:
        return Target(STAGE, s, name=name, stage=STAGES[suffix.lower()])
    raise TargetError(
        f"{s!r}: {suffix!r} is neither a version number nor a stage "
        "(None, Staging, Production, Archived, latest); for an alias use models:/name@alias"
    )


def _parse_runs(s: str) -> Target:
    if not s.startswith("runs:/") or s.startswith("runs://"):
        raise TargetError(f"{s!r}: a run URI is runs:/<run_id>/<artifact path>")
    rest = s[len("runs:/") :]
    run_id, _, path = rest.partition("/")
    if not run_id:
        raise TargetError(f"{s!r}: no run id after 'runs:/'")
    if not _RUN_ID_LOOSE.match(run_id):
        raise TargetError(f"{s!r}: {run_id!r} is not a valid run id")
    return Target(RUN, s, run_id=run_id, path=path.strip("/") or None)
