"""The kept patch does not depend on anyone's git settings (issue 29.2): under each user or repository
setting that changes what `git diff` prints, the capture is the same bytes as with no settings at all,
and `git apply --index` on a clean clone of the commit rebuilds the dirty tree, submodule pointer included."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest
from conftest import git

from mlflow_lineage_plugin.git.patch import DiffState, capture_patch

pytestmark = pytest.mark.usefixtures("git_available")

# Long enough files that context, hunk merging, blank lines and indentation all show in the patch.
BODY = "".join(f"def f{i}():\n    return {i}\n\n" for i in range(40))
FILES = {
    "train.py": BODY,
    "lib/util.py": BODY,
    "lib/old_name.py": "x = 1\n" * 30,
    "naïve.py": "1\n",
    "z_first.py": "z\n",
}


def dirty(repo: Path, sub: Path) -> None:
    text = BODY.replace("return 3\n", "return 33\n").replace("return 9\n", "return 99\n")
    (repo / "train.py").write_text(text.replace("def f30", "def g30"))  # two nearby hunks, one far
    (repo / "lib/util.py").write_text(BODY.replace("\n\ndef f20", "\n\n\ndef f20"))  # blank lines, indentation
    git(repo, "mv", "lib/old_name.py", "lib/new_name.py")
    (repo / "lib/copy_of_util.py").write_text(BODY)  # a copy: a rename/copy setting must not change it
    git(repo, "add", "lib/copy_of_util.py")
    (repo / "naïve.py").write_text("2\n")
    (repo / "z_first.py").write_text("zz\n")
    (sub / "lib.py").write_text("v2\n")
    git(sub, "commit", "-q", "-am", "v2")
    (sub / "lib.py").write_text("v3, not committed\n")  # the submodule's own work tree is dirty too


def make(repos, name: str) -> tuple[Path, Path, str]:
    lib = repos.make(f"{name}-lib", files={"lib.py": "v1\n"})
    repo = repos.make(name, files=FILES)
    git(repo, "submodule", "add", "-q", str(lib), "vendor/lib")
    git(repo, "commit", "-q", "-m", "add submodule")
    return repo, repo / "vendor/lib", git(repo, "rev-parse", "HEAD")


def state(repo: Path) -> dict[str, object]:
    """Every tracked file's content hash and executable bit, and every submodule's commit."""
    out: dict[str, object] = {}
    for line in git(repo, "ls-files", "-s", "-z").split("\0"):
        if not line:
            continue
        meta, rel = line.split("\t", 1)
        mode, sha = meta.split()[:2]
        p = repo / rel
        if mode == "160000":  # a checked-out submodule's HEAD, else the pointer git apply --index wrote
            out[rel] = git(p, "rev-parse", "HEAD") if (p / ".git").exists() else sha
        elif p.is_file():
            out[rel] = (hashlib.sha256(p.read_bytes()).hexdigest(), bool(p.stat().st_mode & stat.S_IXUSR))
    return out


ORDER = "z_first.py\nlib/*\n"
EXTERNAL = "#!/bin/sh\necho external diff output\n"

# (where, what): "repo" settings go into .git/config, "user" ones into ~/.gitconfig, "env" ones into the
# environment; "attr" adds a line to .git/info/attributes.
SETTINGS = [
    ("repo", "diff.submodule=log"),
    ("user", "diff.submodule=diff"),
    ("repo", "diff.context=0"),
    ("user", "diff.context=10"),
    ("repo", "diff.interHunkContext=20"),
    ("repo", "diff.noprefix=true"),
    ("user", "diff.mnemonicPrefix=true"),
    ("repo", "diff.relative=true"),
    ("repo", "color.ui=always"),
    ("user", "color.diff=always"),
    ("repo", "diff.renames=false"),
    ("user", "diff.renames=copies"),
    ("repo", "diff.renameLimit=1"),
    ("repo", "diff.orderFile=ORDER"),
    ("repo", "diff.algorithm=patience"),
    ("user", "diff.indentHeuristic=false"),
    ("repo", "diff.suppressBlankEmpty=true"),
    ("repo", "diff.wsErrorHighlight=all"),
    ("repo", "core.whitespace=trailing-space,space-before-tab,indent-with-non-tab"),
    ("repo", "core.quotePath=false"),
    ("repo", "diff.ignoreSubmodules=all"),
    ("repo", "submodule.vendor/lib.ignore=all"),
    ("repo", "diff.external=EXTERNAL"),
    ("attr", "*.py diff=shout"),
    ("env", "GIT_DIFF_OPTS=--unified=0"),
    ("env", "GIT_EXTERNAL_DIFF=EXTERNAL"),
]


@pytest.mark.parametrize("where, setting", SETTINGS, ids=[s for _, s in SETTINGS])
def test_no_git_setting_changes_the_patch_and_it_rebuilds_the_tree(repos, tmp_path, monkeypatch, where, setting):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    for var in ("GIT_DIFF_OPTS", "GIT_EXTERNAL_DIFF", "GIT_CONFIG_GLOBAL"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "order").write_text(ORDER)
    (tmp_path / "external.sh").write_text(EXTERNAL)
    (tmp_path / "external.sh").chmod(0o755)

    repo, sub, commit = make(repos, "repo")
    dirty(repo, sub)
    expected = capture_patch(str(repo), commit)  # no settings at all
    assert expected.state is DiffState.CAPTURED and expected.files == 7
    key, value = setting.split("=", 1)
    value = value.replace("ORDER", str(tmp_path / "order")).replace("EXTERNAL", str(tmp_path / "external.sh"))
    if where == "repo":
        git(repo, "config", key, value)
    elif where == "user":
        (home / ".gitconfig").write_text(f"[{key.split('.')[0]}]\n\t{key.split('.', 1)[1]} = {value}\n")
    elif where == "attr":
        (repo / ".git/info/attributes").write_text(setting + "\n")
        git(repo, "config", "diff.shout.textconv", "tr a-z A-Z <")
    else:
        monkeypatch.setenv(key, value)

    got = capture_patch(str(repo), commit)
    assert got.state is DiffState.CAPTURED
    assert got.patch == expected.patch
    assert b"Subproject commit " + git(sub, "rev-parse", "HEAD").encode() in got.patch

    clean = tmp_path / "clean"
    git(tmp_path, "clone", "-q", "--no-checkout", str(repo), str(clean))
    git(clean, "checkout", "-q", "--detach", commit)
    (tmp_path / "p.patch").write_bytes(got.patch)
    git(clean, "apply", "--index", str(tmp_path / "p.patch"))
    rebuilt, original = state(clean), state(repo)
    assert rebuilt == original
