"""Exceptions as one credential-free line, and what kind of failure each one is.

Every text that leaves the process from an exception (a warning, a finding, a CLI error) comes from
here, so redaction is decided once. The order matters: take the first line, drop the SDK's settings
dump, remove URL credentials and the caller's own secret, and only then cut to length, because a cut
made first could split a URL so that its userinfo no longer looks like one.
"""

from __future__ import annotations

import contextlib
import logging
import re
import traceback
from typing import Optional

from mlflow_lineage_plugin.urls import redact, redact_text

SERVER_ERROR = "the server answered with an error"
NOT_FOUND = "not_found"  # a fetched result that is gone, as opposed to unreadable

_SDK_SETTINGS = ". Config: "  # databricks-sdk appends every setting it resolved: noise on one line
_UNSUPPORTED_URI = re.compile(r"unsupported URI '([^']*)'")
_GONE_CODES = frozenset({"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"})
_ENDS_NOT_FOUND = re.compile(r"\bnot found\.?\s*$", re.IGNORECASE)
_DOWNLOAD_FAILURES = "The following failures occurred while downloading"  # MLflow's artifact download
_GONE_WORDS = ("not found", "does not exist", "no such file")


class ResolveError(Exception):
    """The target itself cannot be resolved (exit code 2): unknown model, refused credentials..."""


def debug_traceback(logger: logging.Logger, what: str, exc: Optional[BaseException] = None) -> None:
    """The traceback of ``exc`` (default: the one being handled) at DEBUG, beside a guard's one warning.

    The warning stays one line; this is what a bug report needs, for whoever turns DEBUG on
    (``mlflow-lineage -v``, ``MLFLOW_LINEAGE_DEBUG``). URL credentials are removed as in every other text.
    """
    if not logger.isEnabledFor(logging.DEBUG):
        return
    text = (
        "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        if exc is not None
        else traceback.format_exc()
    )
    logger.debug("mlflow-lineage: %s; traceback:\n%s", what, redact_text(text).rstrip())


def message_line(exc: BaseException, secret: Optional[str] = None, limit: int = 300) -> str:
    """The first line of an exception's message, safe to print ('' when it has none)."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else ""
    line = line.split(_SDK_SETTINGS, 1)[0]
    line = redact_text(line)
    if secret:
        line = line.replace(secret, "***")
    return line[:limit]


def error_line(exc: BaseException, secret: Optional[str] = None, limit: int = 300) -> str:
    """``Type: first line`` of an exception, without credentials: texts from MLflow, requests,
    SQLAlchemy and databricks-sdk quote URIs with their userinfo."""
    line = message_line(exc, secret, limit)
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def unsupported_scheme(exc: BaseException) -> Optional[str]:
    """MLflow's "unsupported URI" exception (raised for tracking and registry URIs alike) as one
    sentence naming the scheme and the supported ones; None for any other exception."""
    schemes = getattr(exc, "supported_uri_schemes", None)
    m = _UNSUPPORTED_URI.search(str(exc))
    if schemes is None or not m:
        return None
    uri = redact(m.group(1)) or m.group(1)
    scheme = uri.split("://", 1)[0] if "://" in uri else uri
    known = ", ".join(s for s in schemes if s)
    return f"unsupported URI scheme {scheme!r} in {uri}; MLflow supports {known}"


def _own_text(exc: BaseException) -> str:
    # databricks-sdk appends its settings, whose ``http_timeout_seconds`` would read as a timeout
    return (str(exc) or type(exc).__name__).split(_SDK_SETTINGS, 1)[0]


def is_timeout(exc: BaseException) -> bool:
    """Whether the other side gave no answer in time (a socket or HTTP client timeout, however the
    library wraps it): said to the user as the deadline it is, in the same words as a caller's own."""
    low = _own_text(exc).lower()
    return "timeout" in low or "timed out" in low


def describe_error(exc: BaseException, timeout: Optional[float] = None) -> str:
    """One credential-free line for an exception from MLflow, requests or databricks-sdk, in the
    words a user needs: no answer, refused connection, refused credentials, a server error..."""
    unsupported = unsupported_scheme(exc)
    if unsupported:
        return unsupported
    text = _own_text(exc)
    low = text.lower()
    if is_timeout(exc):
        return f"no answer within {timeout:g} s" if timeout else "no answer in time"
    if "connection refused" in low or "failed to establish a new connection" in low:
        return "connection refused"
    if "name or service not known" in low or "nodename nor servname" in low or "getaddrinfo" in low:
        return "host name does not resolve"
    m5 = re.search(r"too many (5\d\d) error responses", low) or re.search(r"error code (5\d\d)", low)
    if m5:
        return f"{SERVER_ERROR} (HTTP {m5.group(1)})"
    m = re.search(r"error code (\d{3})", text) or re.search(r"\b(40[13])\b", text)
    code = m.group(1) if m else None
    if code is None and callable(getattr(exc, "get_http_status_code", None)):
        with contextlib.suppress(Exception):
            code = str(exc.get_http_status_code())  # type: ignore[attr-defined]
    if code in ("401", "403") or "unauthorized" in low or "permission_denied" in low or "invalid access token" in low:
        return f"credentials refused (HTTP {code})" if code else "credentials refused"
    return message_line(exc) or type(exc).__name__


def is_not_found(exc: BaseException) -> bool:
    """Whether the answer was "what was asked for does not exist", as opposed to "it could not be asked".

    MLflow's stores and servers, and Databricks, say so with an error code; MLflow's stores report a
    missing model alias as an invalid parameter ("... not found."). A server that lacks the API
    (``ENDPOINT_NOT_FOUND``: an older MLflow, a wrong path behind a proxy) has not answered the question.
    Without MLflow's codes (artifact stores over HTTP, cloud storage, local files) the words say it: an
    HTTP 404, a missing local file, or a download's failures listed file by file.
    """
    code = getattr(exc, "error_code", None)
    if code in _GONE_CODES:
        return True
    if code == "ENDPOINT_NOT_FOUND":
        return False
    text = str(exc)
    if code == "INVALID_PARAMETER_VALUE":
        return bool(_ENDS_NOT_FOUND.search(text))
    low = text.lower()
    if "RESOURCE_DOES_NOT_EXIST" in text or ("404" in text and "not found" in low):
        return True
    if isinstance(exc, OSError) and "no such file or directory" in low:
        return True
    return text.startswith(_DOWNLOAD_FAILURES) and any(w in low for w in _GONE_WORDS)


def is_unreachable(exc: BaseException) -> bool:
    """Network-level failures and refused credentials: the workspace as a whole is out of reach."""
    if is_not_found(exc):
        return False
    code = getattr(exc, "error_code", None)
    if code in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST", "INVALID_STATE"):
        return False
    reason = describe_error(exc)
    if reason.startswith(SERVER_ERROR):  # it answered: the workspace is up, this request failed
        return False
    return reason.startswith(("no answer", "connection refused", "host name", "credentials refused")) or (
        "API request to" in str(exc) and "failed with exception" in str(exc)
    )
