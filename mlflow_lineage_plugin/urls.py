"""Credential-free URLs: git remotes and tracking URIs as they may appear in tags, logs and errors,
and browser links to a file or commit on the common git hosts.

Everything that leaves the process as text passes through ``redact`` or ``repo_web_url`` first;
a remote that cannot be parsed is dropped rather than echoed, because an unparsed string may hold a
token.
"""

from __future__ import annotations

import os
import re
from typing import Optional
from urllib.parse import quote, urlsplit, urlunsplit

# The path may not contain "@": in "user:pa/ss@host:repo" the regex would otherwise take "user" as the
# host and keep the password in the path.
_SCP_LIKE = re.compile(
    r"^(?:(?P<user>[^@/\s]+)@)?(?P<host>[A-Za-z0-9.\-_]+|\[[0-9A-Fa-f:.%]+\]):(?!//)(?P<path>[^@]*)$"
)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
# A URI with a path and no authority (``dbfs:/mnt/x``, ``file:/tmp/x``); one letter is a Windows drive.
SCHEME_PATH = re.compile(r"^([A-Za-z][A-Za-z0-9+\-]+):/(?!/)")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def _split_netloc(netloc: str) -> tuple[str, Optional[int]]:
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        host = f"[{host}]"
    else:
        host, _, port = hostport.partition(":")
    return host.lower(), int(port) if port.isdigit() else None


def _strip_userinfo(uri: str) -> str:
    """Drop query, fragment and everything up to the last ``@`` of the authority.

    Splitting at the *last* ``@`` before the query (not at the first ``/``) also removes passwords that
    contain ``/`` or ``@``, which ``urlsplit`` would misread as part of the path. (``?`` and ``#`` end
    the authority for git and every URL parser, so a password holding them unencoded is not one.)
    An empty authority (``file:///``, ``sqlite:////abs``) has no userinfo: its path keeps any ``@``.
    """
    scheme, _, rest = uri.partition("://")
    rest = no_query(rest)
    if "@" in rest and not rest.startswith("/"):
        rest = rest.rpartition("@")[2]
    return f"{scheme}://{rest}"


def redact(uri: Optional[str]) -> Optional[str]:
    """A URI without userinfo, query string or fragment: safe to print, tag or log.

    Query strings are dropped whole: a tracking URI or remote rarely needs one to say *where*, and
    tokens hide there under too many names (``token``, ``sig``, ``X-Amz-Credential``...).
    Strings that are not URLs (paths, ``databricks``, ``databricks://profile``) are returned as-is
    unless they contain an ``@``, which in a path-like string means scp-style credentials. A URI without
    an authority (``dbfs:/mnt/x?sig=...``) and a scp-style path lose their query and fragment too.
    """
    if uri is None:
        return None
    uri = uri.strip()
    if not uri:
        return uri
    if _SCHEME.match(uri):
        stripped = _strip_userinfo(uri)
        try:
            parts = urlsplit(stripped)
        except ValueError:  # e.g. an unbalanced IPv6 bracket: already credential-free, so say it as is
            return stripped
        host, port = _split_netloc(parts.netloc)
        netloc = host if port is None else f"{host}:{port}"
        return f"{parts.scheme.lower()}://{netloc}{parts.path}"
    if SCHEME_PATH.match(uri):
        return no_query(uri)
    m = _SCP_LIKE.match(uri)
    if m and not _WINDOWS_DRIVE.match(uri):
        return f"{m.group('host').lower()}:{no_query(m.group('path'))}"
    if os.path.isabs(uri) or _WINDOWS_DRIVE.match(uri):
        return uri
    return uri.rpartition("@")[2] if "@" in uri else uri


_SSH_SCHEMES = ("ssh", "git+ssh", "ssh+git")
# An ssh login as git passes it to ssh (``git``, ``ec2-user``, ``org``); anything else in the userinfo
# (a password, a percent-encoded token) is not a login.
_LOGIN = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._-]*$")


def fetch_remote(remote: str) -> str:
    """A remote as a clone keeps it for its ``origin``: ``redact``'s form (no password, token, query or
    fragment), on the same transport, so ``git fetch`` in the clone still reaches it with the user's own
    ssh keys and credential helpers (``normalize_remote`` would turn ssh into https, which a repository
    reachable only by ssh key refuses).

    An ssh remote (``ssh://``, scp-style ``git@host:path``) keeps its login name: ssh authenticates by
    key, the login says as whom (``git`` on the common hosts), and without it ssh logs in as the local
    user. A password after it is dropped. Anything else is ``redact``'s form."""
    remote = remote.strip()
    bare = redact(remote) or remote
    if _SCHEME.match(remote):
        scheme, _, rest = remote.partition("://")
        rest = no_query(rest)
        userinfo = rest.rpartition("@")[0] if "@" in rest and not rest.startswith("/") else ""
        login = userinfo.partition(":")[0]
        if scheme.lower() in _SSH_SCHEMES and _LOGIN.match(login):
            scheme_out, _, place = bare.partition("://")
            return f"{scheme_out}://{login}@{place}"
        return bare
    m = _SCP_LIKE.match(remote)
    if m and not _WINDOWS_DRIVE.match(remote):
        login = (m.group("user") or "").partition(":")[0]
        return f"{login}@{bare}" if _LOGIN.match(login) else bare
    return bare


def no_query(path: str) -> str:
    """A URL's rest, a scp-style or an authority-less path (``dbfs:/mnt/x?sig=...``) without what follows
    ``?`` or ``#``: a token hides there, and no git path or data location needs those characters."""
    return re.split(r"[?#]", path, maxsplit=1)[0]


# Where a URL ends in prose. A userinfo may hold quotes or commas, which would end it, so the URL takes
# everything up to the last "@" before white space, "/", "?" or "#" first (an "@" after "?" or "#" is
# a token's in the query, not the end of a userinfo); ``redact`` then decides what of it is userinfo.
# (A password holding both "/" and such a character stays ambiguous in free text.) After the userinfo,
# a bracketed IPv6 host is part of the URL; any other bracket, quote or separator ends it.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://(?:[^\s/?#]*@)?(?:\[[^\]\s]*\]|[^\s,;'\")\[\]])*")


def redact_text(text: str) -> str:
    """Free text (an exception message, say) with every URL in it passed through ``redact``.

    Errors from MLflow, requests and databricks-sdk quote the URLs they called, userinfo included.
    This function only finds the URLs; what of one is userinfo, query or fragment is ``redact``'s call.
    """
    return _URL_IN_TEXT.sub(lambda m: redact(m.group(0)) or "", text)


def normalize_remote(remote: Optional[str]) -> Optional[str]:
    """A git remote as a credential-free https URL (or an absolute local path); None when it is neither.

    A relative path is relative to the checkout it was read in (``git.remotes.absolute_local_remote``
    resolves it there); read back from a tag, nothing says which directory that was, so it names no
    place rather than one under the reader's working directory.

    ssh and scp-style remotes become https on the same host (the ssh port is dropped: it is never the
    web port); ``.git`` and trailing slashes are removed so one repository has one spelling; Azure
    DevOps ssh remotes (``ssh.dev.azure.com:v3/org/project/repo``) map to their web form.
    """
    if not remote:
        return None
    remote = remote.strip()
    if _SCHEME.match(remote):
        try:
            parts = urlsplit(_strip_userinfo(remote))
        except ValueError:
            return None
        scheme = parts.scheme.lower()
        host, port = _split_netloc(parts.netloc)
        path = parts.path
        if scheme == "file":
            return _clean_path(path) or None
        if scheme in ("http", "https"):
            netloc = host if port in (None, 80, 443) else f"{host}:{port}"
            scheme_out = scheme
        elif scheme in ("ssh", "git", "git+ssh", "ssh+git"):
            netloc, scheme_out = host, "https"
        else:
            return None
        if not host:
            return None
        return _web_form(scheme_out, netloc, path)
    m = _SCP_LIKE.match(remote)
    if m and not _WINDOWS_DRIVE.match(remote):
        return _web_form("https", m.group("host").lower(), "/" + no_query(m.group("path")).lstrip("/"))
    if not os.path.isabs(remote):
        return None
    return _clean_path(os.path.normpath(remote))


def looks_like_uri_setting(value: Optional[str]) -> bool:
    """Whether a setting that names a place (a workspace URI) is a URI or an absolute path at all.

    Anything else (``ghp_...``, ``Bearer ...``) is a secret in the wrong variable: ignored, never shown.
    """
    value = (value or "").strip()
    if not value or any(ch.isspace() for ch in value):
        return False
    return bool(_SCHEME.match(value)) or os.path.isabs(value) or bool(_WINDOWS_DRIVE.match(value))


def remote_from_setting(value: Optional[str]) -> Optional[str]:
    """A repository URL given in a setting, in ``normalize_remote``'s form, or None when the value is
    not a git URL at all.

    Stricter than a remote read from git config: there a relative path is a real remote, but a setting
    holding ``ghp_...`` or ``Bearer ...`` is a secret in the wrong variable, and resolving it against
    the working directory would record it. So only URLs with a scheme, scp-style ``host:path`` and
    absolute paths count, and never anything with white space in it.
    """
    if not value or not value.strip():
        return None
    value = value.strip()
    if any(ch.isspace() for ch in value):
        return None
    is_url = bool(_SCHEME.match(value)) or bool(_SCP_LIKE.match(value) and not _WINDOWS_DRIVE.match(value))
    if not (is_url or os.path.isabs(value) or _WINDOWS_DRIVE.match(value)):
        return None
    return normalize_remote(value)


def _clean_path(path: str) -> str:
    path = path.rstrip("/")
    return path[:-4] if path.endswith(".git") else path


def _web_form(scheme: str, netloc: str, path: str) -> str:
    path = _clean_path(path)
    if netloc in ("ssh.dev.azure.com", "vs-ssh.visualstudio.com"):
        seg = [s for s in path.split("/") if s]
        if seg and seg[0] == "v3":
            seg = seg[1:]
        if len(seg) == 3:
            org, project, repo = seg
            return f"https://dev.azure.com/{org}/{project}/_git/{repo}"
    return urlunsplit((scheme, netloc, path, "", ""))


def _host_kind(url: str) -> str:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        host = ""
    if "github" in host:
        return "github"
    if "gitlab" in host:
        return "gitlab"
    if "bitbucket" in host:
        return "bitbucket"
    if host == "dev.azure.com" or host.endswith(".visualstudio.com") or "/_git/" in url:
        return "azure"
    return "generic"


def source_web_url(repo_url: Optional[str], commit: Optional[str], path: Optional[str] = None) -> Optional[str]:
    """A browser link to ``path`` at exactly ``commit`` (or to the commit when no path is known).

    Returns None for local-path remotes: there is nothing a browser could open.
    """
    if not repo_url or not commit or not repo_url.startswith(("http://", "https://")):
        return None
    base = repo_url.rstrip("/")
    kind = _host_kind(base)
    qpath = quote(path.strip("/"), safe="/") if path else ""
    if kind == "azure":
        if qpath:
            return f"{base}?path=/{qpath}&version=GC{commit}"
        return f"{base}/commit/{commit}"
    if not qpath:
        return {
            "gitlab": f"{base}/-/commit/{commit}",
            "bitbucket": f"{base}/commits/{commit}",
        }.get(kind, f"{base}/commit/{commit}")
    return {
        "gitlab": f"{base}/-/blob/{commit}/{qpath}",
        "bitbucket": f"{base}/src/{commit}/{qpath}",
    }.get(kind, f"{base}/blob/{commit}/{qpath}")


def same_repo(a: Optional[str], b: Optional[str]) -> bool:
    """Whether two remote spellings (ssh, https, with or without .git) name one repository."""
    na, nb = normalize_remote(a), normalize_remote(b)
    return bool(na and nb and na.lower() == nb.lower())
