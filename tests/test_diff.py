"""`mlflow-lineage diff A B`: two versions (or runs, LoggedModels) compared section by section, on real git
repositories and real SQLite stores. The code section is checked against git itself: the files it names are
what `git diff` says between the two exact trees (commit + kept patch), and the user's working tree, index
and object store are left exactly as they were."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import git
from mlflow import MlflowClient
from test_checkout import make_project

from mlflow_lineage_plugin.cli import main
from mlflow_lineage_plugin.resolve import diff

pytestmark = pytest.mark.usefixtures("git_available")

MLMODEL = """flavors:
  python_function:
    loader_module: mlflow.pyfunc.model
    python_version: {python}
  sklearn:
    sklearn_version: 1.3.0
mlflow_version: {mlflow}
"""


def train(
    tmp: Path,
    *,
    params: dict,
    metrics: dict,
    requirements: str,
    dataset: str = "churn",
    rows: int = 3,
    python: str = "3.11.7",
    mlflow_version: str = "3.17.2",
    register: str | None = "fraud",
) -> str:
    """A run as a training script makes one: params, metrics, a dataset, a small model (MLmodel +
    requirements.txt), registered as the next version of ``register``."""
    model = tmp / f"model-{os.urandom(4).hex()}"
    model.mkdir()
    (model / "MLmodel").write_text(MLMODEL.format(python=python, mlflow=mlflow_version))
    (model / "requirements.txt").write_text(requirements)
    with mlflow.start_run() as run:
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        frame = pd.DataFrame({"x": list(range(rows))})
        mlflow.log_input(mlflow.data.from_pandas(frame, name=dataset), context="training")
        mlflow.log_artifacts(str(model), "model")
    if register:
        MlflowClient().create_model_version(register, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    return run.info.run_id


def cli(*args: str):
    return CliRunner().invoke(main, ["diff", *args], catch_exceptions=False)


def untouched(repo: Path) -> tuple[str, str, int]:
    """What diff must leave as it was: status, the index file's bytes, the number of objects."""
    index = hashlib.sha256((repo / ".git" / "index").read_bytes()).hexdigest()
    objects = sum(len(files) for _, _, files in os.walk(repo / ".git" / "objects"))
    return git(repo, "status", "--porcelain"), index, objects


def test_two_clean_versions_three_commits_apart(repos, provider_for, sqlite_uri, tmp_path):
    repo = make_project(repos)
    provider_for(repo / "train.py")
    MlflowClient().create_registered_model("fraud")
    reqs = "mlflow==3.17.2\nscikit-learn==1.3.0\nnumpy>=1.24\n"
    train(tmp_path, params={"lr": "0.1", "depth": "3"}, metrics={"auc": 0.81}, requirements=reqs)
    c1 = git(repo, "rev-parse", "HEAD")
    git(repo, "mv", "lib/old_name.py", "lib/new_name.py")
    git(repo, "rm", "-q", "gone.txt")
    git(repo, "commit", "-q", "-m", "rename and delete")
    (repo / "model.bin").write_bytes(bytes(range(255, -1, -1)) * 4)
    os.chmod(repo / "run.sh", 0o755)
    git(repo, "commit", "-q", "-am", "binary and mode")
    sub = repo / "vendor/lib"
    (sub / "lib.py").write_text("v2\n")
    git(sub, "commit", "-q", "-am", "v2")
    git(repo, "commit", "-q", "-am", "bump submodule")
    c2 = git(repo, "rev-parse", "HEAD")
    reqs2 = "mlflow==3.17.2\nscikit-learn==1.4.0\npandas\n"
    train(
        tmp_path,
        params={"lr": "0.2", "depth": "3", "seed": "7"},
        metrics={"auc": 0.85},
        requirements=reqs2,
        rows=5,
        python="3.12.1",
    )
    before = untouched(repo)

    d = diff("models:/fraud/1", "models:/fraud/2", repo=str(repo))

    code = d.code
    assert code.known == "exact" and code.a.commit == c1 and code.b.commit == c2 and code.same_repository
    assert [c.subject for c in code.a_to_b] == ["bump submodule", "binary and mode", "rename and delete"]
    assert not code.b_to_a and code.merge_base == c1
    files = {f.path: f for f in code.files}
    expected = git(repo, "diff", "--name-only", "-M", c1, c2).splitlines()
    assert sorted(files) == sorted(expected)
    assert files["lib/new_name.py"].status == "R" and files["lib/new_name.py"].old_path == "lib/old_name.py"
    assert files["gone.txt"].status == "D" and files["model.bin"].binary
    assert (files["run.sh"].old_mode, files["run.sh"].new_mode) == ("100644", "100755")
    assert files["vendor/lib"].submodule
    params = {(c.group, c.name): c for c in d.section("params").changes}
    assert (params[("param", "lr")].a, params[("param", "lr")].b) == ("0.1", "0.2")
    assert params[("param", "seed")].status == "added" and ("param", "depth") not in params
    assert params[("metric", "auc")].delta == pytest.approx(0.04)
    data = d.section("data").changes
    assert [(c.name, c.status) for c in data] == [("trained on: churn", "changed")]
    env = {(c.group, c.name): c for c in d.section("env").changes}
    assert env[("requirement", "scikit-learn")].a == "==1.3.0" and env[("requirement", "scikit-learn")].b == "==1.4.0"
    assert env[("requirement", "numpy")].status == "removed" and env[("requirement", "pandas")].status == "added"
    assert env[("model", "python version")].b == "3.12.1" and ("model", "mlflow version") not in env
    assert d.section("env").known == "exact"
    assert untouched(repo) == before

    out = cli("models:/fraud/1", "models:/fraud/2", "--repo", str(repo))
    assert out.exit_code == 0, out.output
    assert "code: exact · 7 files changed" in out.output or "code: exact ·" in out.output
    assert "R  lib/old_name.py → lib/new_name.py" in out.output and "model.bin  (binary)" in out.output
    assert "commits A..B: 3" in out.output and "param lr: 0.1 → 0.2" in out.output
    as_json = json.loads(cli("models:/fraud/1", "models:/fraud/2", "--repo", str(repo), "--format", "json").output)
    assert as_json["schema"] == 1 and as_json["sections"]["code"]["known"] == "exact"
    assert {f["path"] for f in as_json["sections"]["code"]["files"]} == set(expected)
    gate = cli("models:/fraud/1", "models:/fraud/2", "--repo", str(repo), "--fail-on", "code")
    assert gate.exit_code == 1 and "--fail-on code: differs" in gate.output
    assert untouched(repo) == before


def test_one_side_dirty_the_diff_is_exactly_its_patch(repos, provider_for, sqlite_uri, tmp_path):
    repo = make_project(repos)
    provider_for(repo / "train.py")
    clean = train(tmp_path, params={}, metrics={}, requirements="", register=None)
    (repo / "train.py").write_text("print('train v2')\n")
    (repo / "new.py").write_text("x = 1\n")
    git(repo, "add", "new.py")
    dirty = train(tmp_path, params={}, metrics={}, requirements="", register=None)
    before = untouched(repo)

    d = diff(clean, dirty, repo=str(repo), patch=True)

    assert d.code.known == "exact" and d.code.a.commit == d.code.b.commit
    assert sorted(f.path for f in d.code.files) == ["new.py", "train.py"] == sorted(d.code.b.patch_files)
    assert "+print('train v2')" in (d.code.patch or "") and not d.code.a_to_b
    back = diff(dirty, clean, repo=str(repo))
    assert {f.path: f.status for f in back.code.files} == {"new.py": "D", "train.py": "M"}
    only_data = cli(clean, dirty, "--repo", str(repo), "--fail-on", "data,params")
    assert only_data.exit_code == 0, only_data.output
    assert untouched(repo) == before


def test_both_dirty_same_commit_and_different_commits(repos, provider_for, sqlite_uri, tmp_path):
    repo = make_project(repos)
    provider_for(repo / "train.py")
    (repo / "train.py").write_text("print('a')\n")
    a = train(tmp_path, params={}, metrics={}, requirements="", register=None)
    git(repo, "checkout", "-q", "--", "train.py")
    (repo / "staged.py").write_text("a = 9\n")
    b = train(tmp_path, params={}, metrics={}, requirements="", register=None)
    d = diff(a, b, repo=str(repo))
    assert d.code.known == "exact"
    assert sorted(f.path for f in d.code.files) == ["staged.py", "train.py"]
    git(repo, "commit", "-q", "-am", "staged 9")
    (repo / "train.py").write_text("print('c')\n")
    c = train(tmp_path, params={}, metrics={}, requirements="", register=None)
    d = diff(a, c, repo=str(repo))
    assert [x.subject for x in d.code.a_to_b] == ["staged 9"]
    assert {f.path for f in d.code.files} == {"staged.py", "train.py"}
    text = d.render("text")
    assert "kept patch (1 file)" in text


def test_patch_not_kept_is_named_and_the_rest_still_compared(repos, provider_for, sqlite_uri, tmp_path, monkeypatch):
    repo = make_project(repos)
    provider_for(repo / "train.py")
    a = train(tmp_path, params={"lr": "1"}, metrics={}, requirements="", register=None)
    repos.commit(repo, "lib/util.py", "def f():\n    return 2\n")
    (repo / "train.py").write_text("print('big')\n" * 200)
    monkeypatch.setenv("MLFLOW_LINEAGE_DIFF_MAX_BYTES", "100")
    b = train(tmp_path, params={"lr": "2"}, metrics={}, requirements="", register=None)
    d = diff(a, b, repo=str(repo))
    assert d.code.known == "partly" and not d.code.b.exact
    assert any("B is not exact: the uncommitted changes were larger than the capture limit" in w for w in d.code.why)
    assert [f.path for f in d.code.files] == ["lib/util.py"]
    assert d.section("params").changes[0].name == "lr"
    gate = cli(a, b, "--repo", str(repo), "--fail-on", "code")
    assert gate.exit_code == 1 and "B is not exact" in gate.output


def test_different_repositories_compare_no_code_but_the_rest(repos, provider_for, sqlite_uri, tmp_path):
    one = repos.make("one", files={"train.py": "print(1)\n"}, remote="https://github.com/example/one.git")
    two = repos.make("two", files={"train.py": "print(1)\n"}, remote="https://github.com/example/two.git")
    provider_for(one / "train.py")
    a = train(tmp_path, params={"lr": "1"}, metrics={}, requirements="", register=None)
    provider_for(two / "train.py")
    b = train(tmp_path, params={"lr": "2"}, metrics={}, requirements="", register=None)
    d = diff(a, b, repo=str(one))
    assert d.code.known == "unknown" and d.code.same_repository is False and not d.code.files
    assert "different repositories (https://github.com/example/one, https://github.com/example/two)" in d.code.why[0]
    assert d.section("params").changes and d.section("data").known == "exact"
    out = cli(a, b, "--fail-on", "code")
    assert out.exit_code == 1 and "code: unknown · not compared" in out.output


def test_side_without_git_reference_is_unknown_code(repos, provider_for, sqlite_uri, tmp_path):
    repo = repos.make("p", files={"train.py": "print(1)\n"})
    provider_for(repo / "train.py")
    a = train(tmp_path, params={"lr": "1"}, metrics={}, requirements="", register=None)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "nb.py").write_text("print(1)\n")
    provider_for(outside / "nb.py")
    b = train(tmp_path, params={"lr": "1"}, metrics={}, requirements="", register=None)
    d = diff(a, b)
    assert d.code.known == "unknown" and d.code.why[0].startswith("B: ")
    assert "no git reference" in d.code.why[0]
    assert d.section("params").known == "exact" and not d.section("params").changes


def test_logged_models_and_run_uris(repos, provider_for, sqlite_uri, tmp_path):
    repo = repos.make("p", files={"train.py": "print(1)\n"})
    provider_for(repo / "train.py")
    a = train(tmp_path, params={}, metrics={}, requirements="numpy==1\n", register=None)
    repos.commit(repo, "train.py", "print(2)\n")
    b = train(tmp_path, params={}, metrics={}, requirements="numpy==2\n", register=None)
    with mlflow.start_run(run_id=b):
        model = mlflow.initialize_logged_model(name="m")
    d = diff(f"runs:/{a}/model", f"runs:/{b}/model", repo=str(repo))
    assert [f.path for f in d.code.files] == ["train.py"]
    assert d.section("env").changes[0].name == "numpy"
    d = diff(f"runs:/{a}/model", f"models:/{model.model_id}", repo=str(repo))
    assert d.b.label.startswith("LoggedModel m") and [f.path for f in d.code.files] == ["train.py"]
    assert d.section("env").known == "unknown" and any("B: its MLmodel is not there" in w for w in d.section("env").why)


def test_bad_input_is_one_line_exit_2(repos, provider_for, sqlite_uri, tmp_path):
    repo = repos.make("p", files={"train.py": "print(1)\n"})
    other = repos.make("other", files={"x": "1\n"})
    provider_for(repo / "train.py")
    a = train(tmp_path, params={}, metrics={}, requirements="", register=None)
    unknown = cli(a, "0" * 32)
    assert unknown.exit_code == 2 and unknown.output.count("\n") == 1 and "not found" in unknown.output
    same = cli(a, a)
    assert same.exit_code == 0 and "identical: A and B are the same target" in same.output
    not_repo = cli(a, a, "--repo", str(tmp_path))
    assert not_repo.exit_code == 2 and "is not a git repository" in not_repo.output
    missing = cli(a, a, "--repo", str(other))
    assert missing.exit_code == 2 and missing.output.count("\n") == 1
    assert f"commit {git(repo, 'rev-parse', 'HEAD')} (A) is not in {other}; fetch it: git -C {other} fetch" in (
        missing.output
    )
    (tmp_path / "ro").mkdir()
    os.chmod(tmp_path / "ro", 0o555)
    if not os.access(tmp_path / "ro", os.W_OK):  # root writes anywhere
        ro = cli(a, a, "--output", str(tmp_path / "ro" / "out.html"))
        assert ro.exit_code == 2 and "is not writable" in ro.output
    bad_gate = cli(a, a, "--fail-on", "code,weather")
    assert bad_gate.exit_code == 2 and "--fail-on: unknown section weather" in bad_gate.output
    out = cli(a, a, "--output", str(tmp_path / "d.json"), "--format", "json")
    assert out.exit_code == 0 and json.loads((tmp_path / "d.json").read_text())["identical"] is True


HOSTILE = "<script>alert(1)</script>[x](javascript:alert(1))"


def test_markdown_and_html_escape_every_name(repos, provider_for, sqlite_uri, tmp_path):
    repo = repos.make("p", files={"train.py": "print(1)\n"})
    provider_for(repo / "train.py")
    a = train(tmp_path, params={"p": "1"}, metrics={}, requirements="", register=None)
    (repo / "<img src=x onerror=alert(1)>.py").write_text("x = 1\n")
    (repo / "train.py").write_text("print(2)\nprint('<b>')\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", HOSTILE)
    b = train(tmp_path, params={"p": HOSTILE}, metrics={}, requirements="", register=None)
    d = diff(a, b, repo=str(repo), patch=True)

    page = cli(a, b, "--repo", str(repo), "--format", "html").output
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x onerror=alert(1)&gt;.py" in page
    assert "<link" not in page and " src=" not in page.replace("&lt;img src=", "")  # nothing fetched
    assert '<td class="n">2</td><td class="add">print(&#x27;&lt;b&gt;&#x27;)</td>' in page
    assert '<td class="n">1</td><td class="del">print(1)</td>' in page
    assert d._repr_html_().startswith('<div class="lineage-diff">')

    md = d.render("markdown")
    prose = re.sub(r"(`+).*?\1", "", md.split("<details>")[0])  # code spans show their text literally
    assert "<script" not in prose and "](javascript:" not in prose and "<img" not in prose
    assert "\\[x\\]\\(javascript:alert\\(1\\)\\)" in md
    assert "#### Code: exact · 2 files changed" in md and "```diff\n" in md


def test_a_huge_change_is_cut_in_markdown_and_html_and_whole_in_text_and_json(
    repos, provider_for, sqlite_uri, tmp_path
):
    """A pull-request comment holds at most 65,536 characters: the Markdown keeps under it, says what it
    left out and where the whole patch is; the text and JSON formats hold every line."""
    repo = repos.make("p", files={"train.py": "print(1)\n"})
    provider_for(repo / "train.py")
    a = train(tmp_path, params={}, metrics={}, requirements="", register=None)
    for i in range(400):
        (repo / f"gen_{i:03}.py").write_text("".join(f"value_{n} = {n} * {i}\n" for n in range(40)))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "generated")
    b = train(tmp_path, params={}, metrics={}, requirements="", register=None)
    d = diff(a, b, repo=str(repo), patch=True)
    assert d.code.patch is not None and len(d.code.patch) > 200_000 and len(d.code.files) == 400

    md = d.render("markdown")
    assert len(md) < 65_536, len(md)
    assert "… and 100 more files" in md
    assert re.search(r"the patch is [\d,]+ characters: the first [\d,]+ are shown, \d+ files not", md)
    assert md.count("diff --git ") < 400 and "```diff\ndiff --git a/gen_000.py" in md
    fenced = md.split("```diff\n", 1)[1].split("\n```", 1)[0]
    assert re.search(r"\+value_39 = 39 \* \d+$", fenced), fenced[-200:]  # cut where a file starts

    text = cli(a, b, "--repo", str(repo), "--patch").output
    assert text.count("diff --git ") == 400 and "value_39 = 39 * 399" in text
    doc = json.loads(cli(a, b, "--repo", str(repo), "--patch", "--format", "json").output)
    assert json.dumps(doc).count("diff --git ") == 400
    page = cli(a, b, "--repo", str(repo), "--patch", "--format", "html").output
    assert page.count('<div class="file">') == 400 and "are shown" not in page  # under the page's limit


def test_without_repo_the_recorded_repository_is_cloned_and_secrets_left_out_are_named(
    repos, provider_for, sqlite_uri, tmp_path
):
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    repo = repos.make("project", files={"train.py": "print(1)\n", ".env": "A=1\n"}, remote=str(origin))
    git(repo, "push", "-q", "origin", "main")
    provider_for(repo / "train.py")
    a = train(tmp_path, params={}, metrics={}, requirements="", register=None)
    (repo / "train.py").write_text("print(2)\n")
    (repo / ".env").write_text("A=2\n")
    b = train(tmp_path, params={}, metrics={}, requirements="", register=None)

    d = diff(a, b)  # no --repo: a bare clone of the recorded URL, in a temporary directory

    assert d.code.known == "partly" and [f.path for f in d.code.files] == ["train.py"]
    assert d.code.b.reason.startswith("1 changed file left out as likely secrets")
    assert d.code.b.reason.endswith("what is not in its patch is not compared")
    out = cli(a, b)
    assert out.exit_code == 0 and "! B is not exact: 1 changed file left out as likely secrets" in out.output


def test_a_recorded_repository_that_cannot_be_cloned_leaves_the_code_unknown_and_says_why(sqlite_uri, monkeypatch):
    from mlflow_lineage_plugin import tags as T

    monkeypatch.setenv("MLFLOW_LINEAGE_DISABLE", "true")
    own = {T.MLFLOW_GIT_REPO_URL: "https://x-access-token:ghp_SECRET@127.0.0.1:1/acme/widgets.git"}
    a = mlflow.initialize_logged_model(name="m", tags={**own, T.MLFLOW_GIT_COMMIT: "1" * 40})
    b = mlflow.initialize_logged_model(name="m", tags={**own, T.MLFLOW_GIT_COMMIT: "2" * 40})
    monkeypatch.delenv("MLFLOW_LINEAGE_DISABLE")
    d = diff(f"models:/{a.model_id}", f"models:/{b.model_id}")
    assert d.code.known == "unknown" and len(d.code.why) == 1
    assert d.code.why[0].startswith("git clone of https://127.0.0.1:1/acme/widgets.git failed: ")
    assert d.code.why[0].endswith("; give --repo PATH (a local clone)") and "SECRET" not in d.code.why[0]
    for form in ("text", "json", "markdown", "html"):  # the repository each shows is the recorded one, no token
        out = cli(f"models:/{a.model_id}", f"models:/{b.model_id}", "--format", form)
        assert out.exit_code == 0 and "127.0.0.1:1/acme/widgets" in out.output, form
        assert "SECRET" not in out.output and "x-access-token" not in out.output, form


def test_an_ssh_remote_is_cloned_by_ssh_not_turned_into_https(repos, sqlite_uri, tmp_path, monkeypatch):
    """A repository reachable only by ssh key: diff clones the scp-style URL as recorded (here reaching a
    local repository through the user's url.insteadOf, which rewrites only that spelling), and names it
    as show does; without the rewrite, the failure names the scp form, not an https one."""
    from mlflow_lineage_plugin import tags as T

    recorded = "git@example.invalid:acme/widgets.git"
    repo = repos.make("project", files={"train.py": "print(1)\n"})
    first = git(repo, "rev-parse", "HEAD")
    second = repos.commit(repo, "train.py", "print(2)\n")
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(origin))
    (tmp_path / "gitconfig").write_text(f'[url "{origin}"]\n\tinsteadOf = {recorded}\n')
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("MLFLOW_LINEAGE_DISABLE", "true")
    own = {T.MLFLOW_GIT_REPO_URL: recorded, T.MLFLOW_GIT_DIRTY: "false"}
    a = mlflow.initialize_logged_model(name="m", tags={**own, T.MLFLOW_GIT_COMMIT: first})
    b = mlflow.initialize_logged_model(name="m", tags={**own, T.MLFLOW_GIT_COMMIT: second})
    monkeypatch.delenv("MLFLOW_LINEAGE_DISABLE")
    d = diff(f"models:/{a.model_id}", f"models:/{b.model_id}")
    assert d.code.known == "exact" and [f.path for f in d.code.files] == ["train.py"], d.code.why
    assert d.code.a.repo_url == "https://example.invalid/acme/widgets"
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-such-config"))
    d = diff(f"models:/{a.model_id}", f"models:/{b.model_id}")
    assert d.code.known == "unknown"
    assert d.code.why[0].startswith("git clone of example.invalid:acme/widgets.git failed: ")


def test_without_git_on_path_diff_with_repo_says_so(repos, sqlite_uri, tmp_path, monkeypatch):
    repo = repos.make("project", files={"train.py": "print(1)\n"})
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    out = CliRunner().invoke(main, ["diff", "0" * 32, "1" * 32, "--repo", str(repo)])
    assert (out.exit_code, out.output) == (2, "mlflow-lineage: error: git is not on PATH\n")


def test_mlflow_own_diff_tag_on_a_logged_model_is_folded_in(repos, sqlite_uri, tmp_path, monkeypatch):
    import subprocess

    from mlflow_lineage_plugin import tags as T

    repo = repos.make("project", files={"train.py": "print(1)\n"})
    commit = git(repo, "rev-parse", "HEAD")
    (repo / "train.py").write_text("print(2)\n")
    text = subprocess.run(["git", "diff"], cwd=repo, capture_output=True, text=True, check=True).stdout
    monkeypatch.setenv("MLFLOW_LINEAGE_DISABLE", "true")  # only MLflow's own tags, as its git versioning writes
    own = {T.MLFLOW_GIT_COMMIT: commit, T.MLFLOW_GIT_REPO_URL: str(repo)}
    clean = mlflow.initialize_logged_model(name="m", tags={**own, T.MLFLOW_GIT_DIRTY: "false"})
    dirty = mlflow.initialize_logged_model(name="m", tags={**own, T.MLFLOW_GIT_DIRTY: "true", T.MLFLOW_GIT_DIFF: text})
    monkeypatch.delenv("MLFLOW_LINEAGE_DISABLE")
    d = diff(f"models:/{clean.model_id}", f"models:/{dirty.model_id}")
    assert d.code.known == "exact" and d.code.b.patch_files == ("train.py",)
    assert [(f.path, f.added, f.deleted) for f in d.code.files] == [("train.py", 1, 1)]
    assert d.section("params").known == "unknown"  # logged outside any run
    assert "A has no run, so its parameters and metrics are unknown" in d.section("params").why[0]
