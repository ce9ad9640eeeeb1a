"""No credential survives redaction, remote normalisation or the tags built from them (property-based
over many URL shapes), and the browser links per git host have the forms those hosts serve."""

from __future__ import annotations

import re
from contextlib import suppress

import pytest
from fixtures.secrets import MARK, bare_token, env, no_secret, url_with_secret
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlflow_lineage_plugin import config, context, doctor, tracking_workspace, urls, workspace
from mlflow_lineage_plugin import tags as T

PROPS = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(url_with_secret())
def test_redact_and_normalize_never_keep_a_credential(u):
    no_secret(urls.redact(u), urls.normalize_remote(u), urls.redact(" " + u + "\n"))
    # Error texts quote URLs. Out of scope for free text: scp-style strings (indistinguishable from an
    # e-mail address) and, outside the userinfo, characters that end a URL in prose (a quote in a token).
    # The userinfo ends at the last "@" before the query or fragment: one after a "?" or "#" is the token's.
    after = u.split("://", 1)[1] if "://" in u else ""
    auth, at, _ = re.split(r"[?#]", after, maxsplit=1)[0].rpartition("@")
    rest = after[len(auth) + len(at) :]
    ends_prose = "'\",;)"
    ambiguous = any(c in rest for c in ends_prose) or ("/" in auth and any(c in auth for c in ends_prose))
    if "://" in u and not ambiguous:
        no_secret(urls.redact_text(f"API request to {u} failed (quoted: '{u}')"))


@PROPS
@given(url_with_secret(), st.sampled_from(["0123abcd" * 5, None]), st.sampled_from(["src/train.py", None]))
def test_tags_built_from_any_remote_or_tracking_uri_never_keep_a_credential(u, commit, rel):
    repo_url = urls.normalize_remote(u)
    ref = T.GitRef(
        commit=commit,
        branch="main",
        repo_url=repo_url,
        dirty=False,
        path=rel,
        source_url=urls.source_web_url(repo_url, commit, rel),
    )
    ws_uri = None
    # A tracking URI without a scheme is a local path, whatever characters it holds; a file URI with
    # userinfo is no tracking URI MLflow accepts (see the report: workspace._absolute_local).
    if "://" in u and not u.lower().startswith("file:"):
        with suppress(ValueError):  # e.g. a port number out of range: refused, nothing recorded
            ws_uri = workspace.oss_workspace_uri(u, "team")
    tags = T.run_tags(ref, T.Workspace(uri=ws_uri) if ws_uri else None)
    no_secret(tags)
    src = T.SourceRun(run_id="r1", workspace_uri=ws_uri, git=ref)
    no_secret(T.version_tags(src), T.version_tags(src, unity_catalog=True))


@PROPS
@given(st.one_of(url_with_secret(), bare_token))
def test_environment_overrides_never_pass_a_credential_through(u):
    with env(MLFLOW_LINEAGE_GIT_REPO_URL=u, MLFLOW_LINEAGE_GIT_COMMIT=f"{MARK}{u}", MLFLOW_LINEAGE_WORKSPACE_URI=u):
        overrides = context._git_overrides()
        problems = config.problems()
        try:
            ws = tracking_workspace.override_workspace(u)
            served = tracking_workspace.server_workspace_uri()  # what a server names for runs that do not say
        except ValueError:
            ws = served = None
        shown = [doctor._shown(name) for name in ("MLFLOW_LINEAGE_GIT_REPO_URL", "MLFLOW_LINEAGE_WORKSPACE_URI")]
    merged = context._merge(None, overrides)
    no_secret(overrides, merged, ws, problems, T.run_tags(merged, ws), shown, served)


@pytest.mark.parametrize(
    "uri, expected",
    [
        ("dbfs://?token=abc@def", "dbfs://"),
        ("s3://?sig=x@y", "s3://"),
        ("https://host.example.com?token=a@b&ref=main", "https://host.example.com"),
        ("https://host.example.com:8443#a@b", "https://host.example.com:8443"),
        ("https://user:p'ss@host.example.com/x?token=a@b", "https://host.example.com/x"),
        ("https://user:p@ss/w:rd@github.com/acme/widgets.git", "https://github.com/acme/widgets.git"),
        ("file:///home/me@example.com/mlruns", "file:///home/me@example.com/mlruns"),
    ],
)
def test_a_url_in_an_error_message_is_said_as_redact_says_it(uri, expected):
    """A "?" or "#" ends the authority: an "@" after it is the token's, and the token goes with the query."""
    assert urls.redact(uri) == expected
    assert urls.redact_text(f"API request to {uri} failed (quoted: '{uri}')") == (
        f"API request to {expected} failed (quoted: '{expected}')"
    )


@pytest.mark.parametrize("value", ["ghp_SECRETBADURL", "Bearer ghp_x", "glpat-abc/def", "token@secret"])
def test_a_repository_url_setting_that_is_no_git_url_is_ignored_with_one_warning(
    value, repos, sqlite_uri, monkeypatch, caplog
):
    import logging

    import mlflow

    from mlflow_lineage_plugin.warn_once import WarnOnce

    repo = repos.make("acme", files={"train.py": "print(1)\n"}, remote="https://github.com/acme/x.git")
    monkeypatch.setattr(context, "_warnings", WarnOnce(context._logger))
    monkeypatch.setenv("MLFLOW_LINEAGE_GIT_REPO_URL", value)
    with caplog.at_level(logging.WARNING, logger="mlflow_lineage_plugin"):
        found = context.collect(str(repo / "train.py"))
        tags = context.LineageRunContext(str(repo / "train.py")).tags()
        context.LineageRunContext(str(repo / "train.py")).tags()
    secret = value.split()[-1]
    assert found.git.repo_url == "https://github.com/acme/x"  # the checkout's own remote, as if unset
    assert tags[T.MLFLOW_GIT_REPO_URL] == "https://github.com/acme/x"
    warned = [r.getMessage() for r in caplog.records if r.name == "mlflow_lineage_plugin"]
    assert len(warned) == 1 and "MLFLOW_LINEAGE_GIT_REPO_URL is not a git remote URL; it is ignored" in warned[0]
    assert secret not in " ".join(warned) and secret not in repr(tags)
    with mlflow.start_run() as run:
        pass
    assert secret not in repr(mlflow.get_run(run.info.run_id).data.tags)
    report = doctor.diagnose(str(repo / "train.py"))
    assert secret not in doctor.render_text(report) and secret not in repr(report.to_json())
    assert report.facts["settings"]["MLFLOW_LINEAGE_GIT_REPO_URL"] == "(invalid: see the settings check)"


# --- example-based: shapes a user writes ---------------------------------------------------------

SHA = "1f2e3d4c5b6a79880123456789abcdef01234567"


@pytest.mark.parametrize(
    "remote, expected",
    [
        ("https://user:p%40ss@github.com/acme/widgets.git", "https://github.com/acme/widgets"),
        ("https://user:p@ss/w:rd@github.com/acme/widgets.git", "https://github.com/acme/widgets"),
        ("https://ghp_abc123@github.com/acme/widgets/", "https://github.com/acme/widgets"),
        ("git@github.com:acme/widgets.git", "https://github.com/acme/widgets"),
        ("ssh://git@github.com:22/acme/widgets.git", "https://github.com/acme/widgets"),
        ("git://github.com/acme/widgets.git", "https://github.com/acme/widgets"),
        (
            "https://oauth2:glpat-xyz@gitlab.example.com:8443/grp/sub/proj.git",
            "https://gitlab.example.com:8443/grp/sub/proj",
        ),
        ("git@bitbucket.org:team/repo.git", "https://bitbucket.org/team/repo"),
        ("git@ssh.dev.azure.com:v3/org/project/repo", "https://dev.azure.com/org/project/_git/repo"),
        ("https://org@dev.azure.com/org/project/_git/repo", "https://dev.azure.com/org/project/_git/repo"),
        ("https://git.example.com/x/y.git?private_token=abc#frag", "https://git.example.com/x/y"),
        ("file:///srv/git/widgets.git", "/srv/git/widgets"),
        ("/home/me@example.com/git/widgets.git", "/home/me@example.com/git/widgets"),
        ("user:pa/ss@git.example.com:x/y.git", None),
        ("/srv/git/widgets.git", "/srv/git/widgets"),
        ("ftp://example.com/x.git", None),
        ("../widgets.git", None),  # relative to a checkout a reader does not know: no place
        ("widgets", None),
        ("/srv/git/../git/widgets.git", "/srv/git/widgets"),
    ],
)
def test_normalize_remote_examples(remote, expected):
    assert urls.normalize_remote(remote) == expected


@PROPS
@given(url_with_secret())
def test_a_clones_origin_keeps_no_credential_only_an_ssh_login(u):
    """What a clone keeps as its origin is ``redact``'s form, plus, on ssh, the login ssh needs."""
    kept = urls.fetch_remote(u)
    login, at, rest = kept.partition("://")[2].partition("@") if "://" in kept else kept.partition("@")
    if kept != urls.redact(u):
        assert at and ":" not in login and "%" not in login, kept
        assert kept.replace(f"{login}@", "", 1) == urls.redact(u), kept
    else:
        no_secret(kept)


@pytest.mark.parametrize(
    "remote, expected",
    [
        ("https://x-access-token:ghp_abc@github.com/acme/widgets.git", "https://github.com/acme/widgets.git"),
        (
            "https://oauth2:glpat-xyz@GitLab.example.com:8443/grp/proj.git",
            "https://gitlab.example.com:8443/grp/proj.git",
        ),
        ("https://git.example.com/x/y.git?private_token=abc#frag", "https://git.example.com/x/y.git"),
        ("git@github.com:acme/widgets.git", "git@github.com:acme/widgets.git"),
        ("git:hunter2@github.com:acme/widgets.git", "git@github.com:acme/widgets.git"),
        ("github.com:acme/widgets.git", "github.com:acme/widgets.git"),
        ("ssh://git@github.com:22/acme/widgets.git", "ssh://git@github.com:22/acme/widgets.git"),
        ("ssh://git:hunter2@github.com/acme/widgets.git", "ssh://git@github.com/acme/widgets.git"),
        ("ssh://tok%40en@github.com/acme/widgets.git", "ssh://github.com/acme/widgets.git"),
        ("git+ssh://ec2-user@host.example.com/srv/x.git", "git+ssh://ec2-user@host.example.com/srv/x.git"),
        ("git://github.com/acme/widgets.git", "git://github.com/acme/widgets.git"),
        ("file://user:ghp_abc@/srv/git/widgets.git", "file:///srv/git/widgets.git"),
        ("/srv/git/widgets.git", "/srv/git/widgets.git"),
    ],
)
def test_a_clones_origin_stays_on_the_recorded_transport(remote, expected):
    assert urls.fetch_remote(remote) == expected


@pytest.mark.parametrize(
    "remote, path, expected",
    [
        ("git@github.com:acme/widgets.git", "src/train.py", f"https://github.com/acme/widgets/blob/{SHA}/src/train.py"),
        ("https://github.example.com/acme/widgets", None, f"https://github.example.com/acme/widgets/commit/{SHA}"),
        (
            "git@gitlab.com:grp/sub/proj.git",
            "nb/Explore Data.ipynb",
            f"https://gitlab.com/grp/sub/proj/-/blob/{SHA}/nb/Explore%20Data.ipynb",
        ),
        ("https://gitlab.com/grp/proj.git", None, f"https://gitlab.com/grp/proj/-/commit/{SHA}"),
        ("git@bitbucket.org:team/repo.git", "train.py", f"https://bitbucket.org/team/repo/src/{SHA}/train.py"),
        ("https://bitbucket.org/team/repo.git", None, f"https://bitbucket.org/team/repo/commits/{SHA}"),
        (
            "https://org@dev.azure.com/org/project/_git/repo",
            "src/train.py",
            f"https://dev.azure.com/org/project/_git/repo?path=/src/train.py&version=GC{SHA}",
        ),
        (
            "git@ssh.dev.azure.com:v3/org/project/repo",
            None,
            f"https://dev.azure.com/org/project/_git/repo/commit/{SHA}",
        ),
        ("https://git.example.com/x/y.git", "a/b.py", f"https://git.example.com/x/y/blob/{SHA}/a/b.py"),
        ("/srv/git/widgets.git", "train.py", None),
        ("file:///srv/git/widgets.git", "train.py", None),
    ],
)
def test_source_links_per_host(remote, path, expected):
    assert urls.source_web_url(urls.normalize_remote(remote), SHA, path) == expected


def test_no_link_without_a_commit():
    assert urls.source_web_url("https://github.com/acme/widgets", None, "train.py") is None


@pytest.mark.parametrize(
    "uri, expected",
    [
        (
            "postgresql://mlflow:pa55@db.example.com:5432/mlflow?sslmode=require",
            "postgresql://db.example.com:5432/mlflow",
        ),
        ("mysql+pymysql://root:@127.0.0.1:3306/mlflow", "mysql+pymysql://127.0.0.1:3306/mlflow"),
        ("https://user:tok@mlflow.example.com/", "https://mlflow.example.com"),
        ("http://[::1]:5000", "http://[::1]:5000"),
        ("databricks://prod", "databricks://prod"),
        ("https://mlflow.example.com/x?owner=me@example.com", "https://mlflow.example.com/x"),
        (
            "sqlite:////Users/me/GoogleDrive-me@example.com/mlflow.db",
            "sqlite:////Users/me/GoogleDrive-me@example.com/mlflow.db",
        ),
        ("file:///Users/me/GoogleDrive-me@example.com/mlruns", "file:///Users/me/GoogleDrive-me@example.com/mlruns"),
    ],
)
def test_tracking_uris_become_credential_free_workspace_uris(uri, expected):
    assert workspace.oss_workspace_uri(uri) == expected


@pytest.mark.parametrize(
    "uri, host",
    [
        ("https://user:tok@mlflow.example.com:8443/prefix", "https://mlflow.example.com:8443"),
        ("http://[::1]:5000", "http://[::1]:5000"),
        ("postgresql://mlflow:pa55@db.example.com:5432/mlflow", None),
        ("sqlite:////tmp/mlflow.db", None),
    ],
)
def test_workspace_host_is_a_base_url_or_nothing(uri, host):
    """Databricks workspaces carry their base URL as host; tracking servers the same shape."""
    ws = tracking_workspace.workspace_for_tracking_uri(uri)
    assert ws is not None and ws.host == host
