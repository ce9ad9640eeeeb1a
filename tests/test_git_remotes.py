"""The recorded remote is what `git remote get-url` prints (insteadOf rules, includes, every config
file git reads), made credential-free: compared with git itself over a table of configs, each in a
real repository with its own HOME."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import git

from mlflow_lineage_plugin import urls
from mlflow_lineage_plugin.git import process, read_git_ref

pytestmark = pytest.mark.usefixtures("git_available")

CRED = "https://alice:TOKEN@github.com/"

# name -> (origin URL, {file: config text}); files: "local" (.git/config, appended), "home/..." (in HOME),
# "repo/..." (in the working tree's parent), "system" (GIT_CONFIG_SYSTEM). "{repo}" is the repository path.
CASES = {
    "insteadOf with a token": ("gh:acme/x", {"local": f'[url "{CRED}"]\n\tinsteadOf = gh:\n'}),
    "longest insteadOf wins": (
        "gh:acme/x",
        {
            "local": '[url "https://github.com/"]\n\tinsteadOf = gh:\n'
            '[url "https://gitlab.example.com/mirror/"]\n\tinsteadOf = gh:acme/\n'
        },
    ),
    "first of equal length wins": (
        "gh:acme/x",
        {
            "local": '[url "https://one.example.com/"]\n\tinsteadOf = gh:\n'
            '[url "https://two.example.com/"]\n\tinsteadOf = gh:\n'
        },
    ),
    "pushInsteadOf is for pushes only": (
        "gh:acme/x",
        {
            "local": '[url "ssh://git@github.com/"]\n\tpushInsteadOf = gh:\n'
            '[url "https://github.com/"]\n\tinsteadOf = gh:\n'
        },
    ),
    "no rule matches": ("https://github.com/acme/x.git", {"local": '[url "https://other/"]\n\tinsteadOf = gh:\n'}),
    "rule in ~/.gitconfig": ("gh:acme/x", {"home/.gitconfig": f'[url "{CRED}"]\n\tinsteadOf = gh:\n'}),
    "rule in XDG config": (
        "gh:acme/x",
        {"home/.config/git/config": '[url "https://github.com/"]\n\tinsteadOf = gh:\n'},
    ),
    "rule in the system config": ("gh:acme/x", {"system": '[url "https://github.com/"]\n\tinsteadOf = gh:\n'}),
    "a longer global rule beats a local one": (
        "gh:acme/x",
        {
            "local": '[url "https://short/"]\n\tinsteadOf = gh:\n',
            "home/.gitconfig": '[url "https://long/"]\n\tinsteadOf = gh:acme\n',
        },
    ),
    "include.path relative to the config file": (
        "gh:acme/x",
        {"local": "[include]\n\tpath = ../../rules.inc\n", "repo/rules.inc": f'[url "{CRED}"]\n\tinsteadOf = gh:\n'},
    ),
    "include.path with ~ from ~/.gitconfig": (
        "gh:acme/x",
        {
            "home/.gitconfig": "[include]\n\tpath = ~/conf/rules\n",
            "home/conf/rules": '[url "https://github.com/"]\n\tinsteadOf = gh:\n',
        },
    ),
    "nested includes": (
        "gh:acme/x",
        {
            "home/.gitconfig": "[include]\n\tpath = a\n",
            "home/a": "[include]\n\tpath = b\n",
            "home/b": '[url "https://github.com/"]\n\tinsteadOf = gh:\n',
        },
    ),
    "missing include is ignored": (
        "gh:acme/x",
        {"home/.gitconfig": '[include]\n\tpath = nowhere\n[url "https://github.com/"]\n\tinsteadOf = gh:\n'},
    ),
    "includeIf gitdir matches": (
        "gh:acme/x",
        {
            "home/.gitconfig": '[includeIf "gitdir:{repo}/"]\n\tpath = work\n',
            "home/work": f'[url "{CRED}"]\n\tinsteadOf = gh:\n',
        },
    ),
    "includeIf gitdir does not match": (
        "gh:acme/x",
        {
            "home/.gitconfig": '[includeIf "gitdir:/elsewhere/"]\n\tpath = work\n',
            "home/work": '[url "https://github.com/"]\n\tinsteadOf = gh:\n',
        },
    ),
    "includeIf gitdir relative pattern": (
        "gh:acme/x",
        {
            "home/.gitconfig": '[includeIf "gitdir:repos/"]\n\tpath = work\n',
            "home/work": '[url "https://github.com/"]\n\tinsteadOf = gh:\n',
        },
    ),
    "includeIf gitdir with a wildcard": (
        "gh:acme/x",
        {
            "home/.gitconfig": '[includeIf "gitdir:**/rep?/.git"]\n\tpath = work\n',
            "home/work": '[url "https://github.com/"]\n\tinsteadOf = gh:\n',
        },
    ),
    "includeIf gitdir/i ignores case": (
        "gh:acme/x",
        {
            "home/.gitconfig": '[includeIf "gitdir/i:{REPO}/"]\n\tpath = work\n',
            "home/work": '[url "https://github.com/"]\n\tinsteadOf = gh:\n',
        },
    ),
    "includeIf gitdir is case-sensitive": (
        "gh:acme/x",
        {
            "home/.gitconfig": '[includeIf "gitdir:{REPO}/"]\n\tpath = work\n',
            "home/work": '[url "https://github.com/"]\n\tinsteadOf = gh:\n',
        },
    ),
    "includeIf gitdir ./ relative to the config file": (
        "gh:acme/x",
        {
            "repo/team.inc": '[includeIf "gitdir:./"]\n\tpath = rules.inc\n',
            "local": "[include]\n\tpath = ../../team.inc\n",
            "repo/rules.inc": '[url "https://github.com/"]\n\tinsteadOf = gh:\n',
        },
    ),
    "includeIf onbranch matches": (
        "gh:acme/x",
        {
            "local": '[includeIf "onbranch:ma*"]\n\tpath = ../../rules.inc\n',
            "repo/rules.inc": '[url "https://github.com/"]\n\tinsteadOf = gh:\n',
        },
    ),
    "includeIf onbranch does not match": (
        "gh:acme/x",
        {
            "local": '[includeIf "onbranch:feature/"]\n\tpath = ../../rules.inc\n',
            "repo/rules.inc": '[url "https://github.com/"]\n\tinsteadOf = gh:\n',
        },
    ),
    "remote URL itself from an included file": (
        "",
        {
            "local": "[include]\n\tpath = ../../remote.inc\n",
            "repo/remote.inc": '[remote "origin"]\n\turl = gh:acme/y\n[url "https://github.com/"]\n\tinsteadOf = gh:\n',
        },
    ),
    "unknown includeIf condition is false": (
        "gh:acme/x",
        {
            "home/.gitconfig": '[includeIf "someday:x"]\n\tpath = work\n',
            "home/work": '[url "https://github.com/"]\n\tinsteadOf = gh:\n',
        },
    ),
    "hasconfig (git decides)": (
        "https://github.com/acme/x.git",
        {
            "home/.gitconfig": '[includeIf "hasconfig:remote.*.url:https://github.com/acme/**"]\n\tpath = work\n',
            "home/work": '[url "https://mirror.example.com/acme/"]\n\tinsteadOf = https://github.com/acme/\n',
        },
    ),
}


def _setup(tmp_path: Path, monkeypatch, origin: str, files: dict[str, str]) -> Path:
    home = tmp_path / "home"
    home.mkdir(parents=True)
    base = tmp_path / "repos"
    repo = base / "repo"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text("x\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "one")
    if origin:
        git(repo, "remote", "add", "origin", origin)
    for env in (
        "XDG_CONFIG_HOME",
        "GIT_CONFIG_GLOBAL",
        "GIT_CONFIG_SYSTEM",
        "GIT_CONFIG_PARAMETERS",
        "GIT_CONFIG_COUNT",
        "GIT_DIR",
        "GIT_WORK_TREE",
    ):
        monkeypatch.delenv(env, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for where, text in files.items():
        text = text.replace("{repo}", str(repo)).replace("{REPO}", str(repo).upper())
        if where == "local":
            with open(repo / ".git/config", "a") as f:
                f.write(text)
            continue
        if where == "system":
            path = tmp_path / "system-gitconfig"
            monkeypatch.setenv("GIT_CONFIG_SYSTEM", str(path))
            monkeypatch.delenv("GIT_CONFIG_NOSYSTEM")
        else:
            root, _, rel = where.partition("/")
            path = (home if root == "home" else base) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return repo


def get_url(repo: Path, remote: str = "origin", push: bool = False) -> str:
    """What git itself says (``push``: the push URL), with the environment the plugin's own git processes get."""
    out = subprocess.run(
        ["git", "remote", "get-url", *(["--push"] if push else []), remote],
        cwd=repo,
        env=process.git_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


@pytest.mark.parametrize("case", list(CASES))
def test_recorded_remote_is_what_git_remote_get_url_prints(case, tmp_path, monkeypatch):
    origin, files = CASES[case]
    repo = _setup(tmp_path, monkeypatch, origin, files)
    raw = get_url(repo)
    ref = read_git_ref(str(repo / "train.py"))
    assert ref.repo_url == urls.normalize_remote(raw), f"git says {raw!r}"
    assert "TOKEN" not in repr(ref) and "alice" not in repr(ref)


def test_the_table_exercises_rewrites(tmp_path, monkeypatch):
    """Guard for the table: most cases change what git prints (so a parser that ignored them fails)."""
    rewritten = 0
    for i, (origin, files) in enumerate(CASES.values()):
        with monkeypatch.context() as m:
            repo = _setup(tmp_path / str(i), m, origin, files)
            rewritten += get_url(repo) not in (origin, "gh:acme/y")
    assert rewritten >= 15


def test_rewritten_remote_follows_a_changed_included_file(tmp_path, monkeypatch):
    repo = _setup(
        tmp_path,
        monkeypatch,
        "gh:acme/x",
        {
            "home/.gitconfig": "[include]\n\tpath = rules\n",
            "home/rules": '[url "https://github.com/"]\n\tinsteadOf = gh:\n',
        },
    )
    assert read_git_ref(str(repo / "train.py")).repo_url == "https://github.com/acme/x"
    (tmp_path / "home/rules").write_text('[url "https://gitlab.example.com/"]\n\tinsteadOf = gh:\n')
    assert read_git_ref(str(repo / "train.py")).repo_url == "https://gitlab.example.com/acme/x"
    (tmp_path / "home/rules").unlink()
    assert get_url(repo) == "gh:acme/x"
    assert read_git_ref(str(repo / "train.py")).repo_url == urls.normalize_remote("gh:acme/x")


def test_remote_is_read_without_a_process_unless_only_git_can_tell(tmp_path, monkeypatch):
    calls = []
    real = process.spawn
    monkeypatch.setattr(process, "spawn", lambda exe, args, cwd: calls.append(args) or real(exe, args, cwd))
    repo = _setup(
        tmp_path / "a",
        monkeypatch,
        "gh:acme/x",
        {
            "home/.gitconfig": '[includeIf "gitdir:{repo}/"]\n\tpath = work\n',
            "home/work": '[url "https://github.com/"]\n\tinsteadOf = gh:\n',
        },
    )
    read_git_ref(str(repo / "train.py"))
    assert not any("config" in c for c in calls)
    repo = _setup(tmp_path / "b", monkeypatch, "https://github.com/acme/x.git", CASES["hasconfig (git decides)"][1])
    assert read_git_ref(str(repo / "train.py")).repo_url == "https://mirror.example.com/acme/x"
    assert sum("config" in c for c in calls) == 1


def test_worktree_matches_includeif_by_its_own_git_directory(tmp_path, monkeypatch):
    """In a linked worktree git matches `gitdir:` against .git/worktrees/<name> of the main checkout."""
    repo = _setup(
        tmp_path,
        monkeypatch,
        "gh:acme/x",
        {
            "home/.gitconfig": '[includeIf "gitdir:{repo}/"]\n\tpath = main-rules\n'
            '[includeIf "gitdir:**/wt/"]\n\tpath = wt-rules\n',
            "home/main-rules": '[url "https://github.com/"]\n\tinsteadOf = gh:\n',
            "home/wt-rules": '[url "https://gitlab.example.com/"]\n\tinsteadOf = gh:acme/\n',
        },
    )
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "exp", str(wt))
    for checkout in (repo, wt):
        assert read_git_ref(str(checkout / "train.py")).repo_url == urls.normalize_remote(get_url(checkout))
    assert read_git_ref(str(wt / "train.py")).repo_url == "https://github.com/acme/x"


def test_without_git_a_hasconfig_include_is_skipped_not_fatal(tmp_path, monkeypatch):
    repo = _setup(
        tmp_path,
        monkeypatch,
        "gh:acme/x",
        {
            "local": '[url "https://github.com/"]\n\tinsteadOf = gh:\n',
            "home/.gitconfig": '[includeIf "hasconfig:remote.*.url:gh:**"]\n\tpath = work\n',
            "home/work": "[core]\n\tautocrlf = false\n",
        },
    )
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert read_git_ref(str(repo / "train.py")).repo_url == "https://github.com/acme/x"
