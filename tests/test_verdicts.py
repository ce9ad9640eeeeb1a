"""Every yes/no the CLI prints, each with a case where the answer must be "no" and one where it must be
"yes", over the edge values a one-word bug gets wrong: unknown, empty, prefix, superstring, case.

- `checkout`: exact / not exact, by the run's recorded dirty state (a run whose state is unknown and
  whose changes were not kept is not exact);
- the recorded repository: what `git remote get-url` prints, never the push URL (`pushInsteadOf`,
  `pushurl`), compared with git itself;
- `find --repo`: matched / not matched, one repository and not its namesakes, on SQLite and through
  `mlflow server` (whose search is as broad);
- `check --require clean`: clean / not clean, by the recorded dirty state.

Real git repositories, SQLite stores and `mlflow server`, through the CLI as a user runs it.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import git
from fixtures.mlflow_server import start_mlflow_server
from test_git_remotes import _setup, get_url

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin import urls
from mlflow_lineage_plugin.cli import main
from mlflow_lineage_plugin.git import read_git_ref

pytestmark = pytest.mark.usefixtures("git_available")


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def run_with_git(client, git_ref: T.GitRef, **override: str | None) -> str:
    """A run holding the tags the plugin writes for ``git_ref`` (its own encoder), then ``override``
    (None removes a tag), created as a client without a provider answer creates it: tags untouched."""
    tags = T.run_tags(git_ref, None)
    for k, v in override.items():
        key = getattr(T, k)
        if v is None:
            tags.pop(key, None)
        else:
            tags[key] = v
    return client.create_run("0", tags=tags).info.run_id


# --- checkout: exact / not exact -------------------------------------------------------------------------

_UNKNOWN = "unknown"  # the recorded state when the dirty check did not finish in time (``T.dirty_to_tag``)
assert T.dirty_to_tag(None) == _UNKNOWN


@pytest.mark.parametrize(
    ("dirty", "exact"),
    [
        (_UNKNOWN, False),  # the status read timed out and nothing was kept
        (None, False),  # no dirty tag at all (a client without the plugin)
        ("", False),
        ("maybe", False),
        ("true", False),  # dirty, and the changes were not kept
        ("false", True),
        ("False", True),  # the spelling Python's str(False) gives
    ],
)
def test_checkout_is_exact_only_when_the_run_is_known_clean_or_its_changes_were_kept(
    dirty, exact, repos, sqlite_uri, tmp_path
):
    from mlflow import MlflowClient

    repo = repos.make("project", files={"train.py": "print(1)\n"})
    commit = git(repo, "rev-parse", "HEAD")
    ref = T.GitRef(commit=commit, branch="main", repo_url=str(repo), dirty=False, path="train.py")
    run_id = run_with_git(MlflowClient(), ref, MLFLOW_GIT_DIRTY=dirty)
    r = cli("checkout", run_id, str(tmp_path / "out"), "--repo", str(repo), "--tracking-uri", sqlite_uri)
    assert (tmp_path / "out" / "train.py").read_text() == "print(1)\n"  # the commit is restored either way
    if exact:
        assert r.exit_code == 0 and "exact: the run's code" in r.output, r.output
    else:
        assert r.exit_code == 1 and "not exact: " in r.output, r.output
        reason = "uncommitted changes that were not kept" if dirty == "true" else "state is unknown"
        assert reason in r.output, r.output


# --- the recorded repository: fetch URL, never the push URL -------------------------------------------------

PUSH_CASES = {
    # A longer pushInsteadOf prefix than the insteadOf one: taken as insteadOf, it would win.
    "pushInsteadOf longer than insteadOf": (
        "gh:acme/x",
        {
            "local": '[url "https://github.com/"]\n\tinsteadOf = gh:\n'
            '[url "ssh://git@push.example.com/mirror/"]\n\tpushInsteadOf = gh:acme/\n'
        },
    ),
    "pushInsteadOf alone": (
        "https://github.com/acme/x",
        {"local": '[url "ssh://git@push.example.com/"]\n\tpushInsteadOf = https://github.com/\n'},
    ),
    "pushInsteadOf in ~/.gitconfig, key in another case": (
        "https://github.com/acme/x",
        {"home/.gitconfig": '[url "ssh://git@push.example.com/"]\n\tPushInsteadOf = https://github.com/\n'},
    ),
    "pushurl written before url": (
        None,
        {
            "local": '[remote "origin"]\n\tpushurl = ssh://git@push.example.com/acme/x\n'
            "\turl = https://github.com/acme/x\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n"
        },
    ),
}


@pytest.mark.parametrize("case", list(PUSH_CASES))
def test_the_recorded_repository_is_the_fetch_url_never_the_push_url(case, tmp_path, monkeypatch):
    origin, files = PUSH_CASES[case]
    repo = _setup(tmp_path, monkeypatch, origin, files)
    fetch, push = get_url(repo), get_url(repo, push=True)
    assert urls.normalize_remote(fetch) != urls.normalize_remote(push), "the case must tell the two apart"
    recorded = read_git_ref(str(repo / "train.py")).repo_url
    assert recorded == urls.normalize_remote(fetch) == "https://github.com/acme/x", (recorded, fetch, push)


# --- find --repo: matched / not matched --------------------------------------------------------------------

# spelling recorded on a run -> whether `find --repo git@github.com:acme/fraud.git` must return it
NAMESAKES = {
    "https://github.com/acme/fraud": True,
    "git@github.com:acme/fraud.git": True,
    "https://github.com/ACME/Fraud.git": True,  # GitHub names are case-insensitive
    "https://github.com/acme/fraud-v2": False,  # superstring
    "https://github.com/acme/fraud.old": False,  # superstring, after a dot
    "https://github.com/acme/fraud/extra": False,  # a path below it
    "https://github.com/acme/fra": False,  # prefix
    "https://github.com/acme-labs/fraud": False,  # owner superstring
    "https://gitlab.com/acme/fraud": False,  # another host
}


def _seed_namesakes(client) -> dict[str, str]:
    """One run per spelling, and a model version from each, through the registry wrapper."""
    made = {}
    for i, spelling in enumerate(NAMESAKES):
        ref = T.GitRef(commit=f"{i:040x}", branch="main", repo_url=spelling, dirty=False)
        run_id = run_with_git(client, ref)
        made[spelling] = run_id
        name = f"fraud-{i}"
        client.create_registered_model(name)
        client.create_model_version(name, f"runs:/{run_id}/model", run_id)
    return made


def _found(tracking_uri: str) -> tuple[set[str], set[str]]:
    r = cli("find", "--repo", "git@github.com:acme/fraud.git", "--format", "json", "--tracking-uri", tracking_uri)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    return {x["run_id"] for x in out["runs"]}, {x["run_id"] for x in out["model_versions"]}


def _assert_only_the_repository(made: dict[str, str], tracking_uri: str) -> None:
    runs, version_runs = _found(tracking_uri)
    wanted = {made[s] for s, yes in NAMESAKES.items() if yes}
    named = {v: k for k, v in made.items()}
    assert runs == wanted, sorted(named.get(r, r) for r in runs ^ wanted)
    assert version_runs == wanted, sorted(named.get(r, r) for r in version_runs ^ wanted)


def test_find_repo_returns_that_repository_and_none_of_its_namesakes_on_sqlite(sqlite_uri):
    from mlflow import MlflowClient

    _assert_only_the_repository(_seed_namesakes(MlflowClient()), sqlite_uri)


def test_find_repo_returns_that_repository_and_none_of_its_namesakes_through_a_server(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    server = start_mlflow_server(tmp_path / "server", timeout=240)
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
        monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
        made = _seed_namesakes(MlflowClient(server.url, server.url))
        _assert_only_the_repository(made, server.url)
    finally:
        server.stop()


# --- check --require clean: clean / not clean ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [(_UNKNOWN, False), (None, False), ("", False), ("true", False), ("TRUE", False), ("false", True), ("False", True)],
)
def test_check_clean_passes_only_a_run_recorded_clean(dirty, clean, sqlite_uri):
    from mlflow import MlflowClient

    client = MlflowClient()
    ref = T.GitRef(commit="ab" * 20, branch="main", repo_url="https://github.com/acme/fraud", dirty=False)
    run_id = run_with_git(client, ref, MLFLOW_GIT_DIRTY=dirty)
    r = cli("check", f"runs:/{run_id}", "--require", "commit,clean", "--tracking-uri", sqlite_uri)
    if clean:
        assert r.exit_code == 0 and r.output.startswith("OK"), r.output
    else:
        assert r.exit_code == 1 and "[clean]" in r.output, r.output
