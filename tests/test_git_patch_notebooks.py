"""Notebook outputs do not push the code out (issue 29.3): over the size cap the kept patch holds every
non-notebook change, then each notebook's cell sources with its new outputs and execution counts left
out, and says what it left out; `checkout` says "exact except the outputs of these notebooks". Under
the cap nothing changes."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner
from conftest import git
from test_patch import start_run

from mlflow_lineage_plugin import tags as T
from mlflow_lineage_plugin.checkout import checkout
from mlflow_lineage_plugin.cli import main
from mlflow_lineage_plugin.git import process
from mlflow_lineage_plugin.git.patch import DEFAULT_MAX_BYTES, DiffState, capture_patch

pytestmark = pytest.mark.usefixtures("git_available")


def jupyter(cells: list[dict]) -> str:
    """A notebook as Jupyter writes it (nbformat: one-space indent, sorted keys, UTF-8, final newline)."""
    nb = {"cells": cells, "metadata": {"kernelspec": {"name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def code_cell(i: int, source: str, outputs: list, count) -> dict:
    return {
        "cell_type": "code",
        "execution_count": count,
        "id": f"cell-{i}",
        "metadata": {},
        "outputs": outputs,
        "source": source.splitlines(keepends=True),
    }


def image(i: int, size: int) -> dict:
    data = base64.b64encode(hashlib.sha256(str(i).encode()).digest() * (size // 32 + 1))[:size].decode()
    return {"data": {"image/png": data, "text/plain": ["<Figure>"]}, "metadata": {}, "output_type": "display_data"}


def stream(text: str) -> dict:
    return {"name": "stdout", "output_type": "stream", "text": [text]}


SOURCES = [f"import numpy as np\nx{i} = np.arange({i})\nprint(x{i}.sum())\n" for i in range(20)]
PY = {f"pkg/mod{i}.py": "".join(f"def f{j}():\n    return {j}\n" for j in range(100)) for i in range(5)}


def committed_notebook() -> str:
    return jupyter([code_cell(i, s, [stream(f"{i}\n")], i + 1) for i, s in enumerate(SOURCES)])


def rerun_notebook() -> tuple[str, list[str]]:
    """Two sources edited, one cell added, every cell re-run with a plot: about 3 MB of image outputs."""
    sources = list(SOURCES)
    sources[3] = sources[3].replace("arange", "linspace")
    sources[7] += "print('more')\n"
    sources.append("print('a new cell')\n")
    cells = [code_cell(i, s, [image(i, 150_000)], 100 + i) for i, s in enumerate(sources)]
    return jupyter(cells), sources


def make(repos) -> Path:
    return repos.make(
        "nbproject",
        files={"nb/analysis.ipynb": committed_notebook(), "nb/compact.ipynb": '{"cells": []}', **PY},
    )


def dirty(repo: Path) -> list[str]:
    text, sources = rerun_notebook()
    (repo / "nb/analysis.ipynb").write_text(text)
    # not laid out as Jupyter writes it: cannot be rewritten, left out whole when it does not fit
    (repo / "nb/compact.ipynb").write_text(json.dumps({"cells": [code_cell(0, "1", [image(0, 400_000)], 1)]}))
    for i, rel in enumerate(PY):
        (repo / rel).write_text(PY[rel].replace("return 5\n", f"return {i} + 5\n") + "# changed\n")
    return sources


def cell_sources(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]]


def test_over_the_cap_the_code_and_every_cell_source_are_kept(repos, tmp_path):
    repo = make(repos)
    commit = git(repo, "rev-parse", "HEAD")
    sources = dirty(repo)
    full = subprocess.run(["git", "diff", "HEAD", "--binary"], cwd=repo, env=process.git_env(), capture_output=True)
    assert len(full.stdout) > 3_000_000  # far over the default 1 MiB: today nothing at all is kept

    got = capture_patch(str(repo), commit)
    assert got.state is DiffState.CAPTURED and 0 < got.size <= DEFAULT_MAX_BYTES and got.size == len(got.patch)
    assert got.left_out == "nb/analysis.ipynb: 21 outputs; nb/compact.ipynb: all changes"
    assert got.files == 6 and hashlib.sha256(got.patch).hexdigest() == got.sha256

    clean = tmp_path / "clean"
    git(tmp_path, "clone", "-q", str(repo), str(clean))
    git(clean, "checkout", "-q", "--detach", commit)
    (tmp_path / "p.patch").write_bytes(got.patch)
    git(clean, "apply", "--index", str(tmp_path / "p.patch"))
    for rel in PY:
        assert (clean / rel).read_bytes() == (repo / rel).read_bytes()
    assert cell_sources(clean / "nb/analysis.ipynb") == cell_sources(repo / "nb/analysis.ipynb") == sources
    rebuilt = json.loads((clean / "nb/analysis.ipynb").read_text())["cells"]
    assert rebuilt[0]["outputs"] == [stream("0\n")] and rebuilt[20]["outputs"] == []  # the commit's, or none
    assert (clean / "nb/compact.ipynb").read_text() == '{"cells": []}'


def test_under_the_cap_nothing_changes(repos):
    repo = make(repos)
    commit = git(repo, "rev-parse", "HEAD")
    dirty(repo)
    full = subprocess.run(["git", "diff", "HEAD", "--binary"], cwd=repo, env=process.git_env(), capture_output=True)
    got = capture_patch(str(repo), commit, max_bytes=len(full.stdout))
    assert got.patch == full.stdout and got.left_out is None


def test_the_run_says_what_was_left_out_and_checkout_names_the_notebooks(
    repos, provider_for, sqlite_uri, tmp_path, monkeypatch
):
    repo = make(repos)
    (repo / "nb/compact.ipynb").unlink()
    git(repo, "commit", "-qam", "drop the compact notebook")
    text, _ = rerun_notebook()
    (repo / "nb/analysis.ipynb").write_text(text)
    (repo / "pkg/mod0.py").write_text("fixed = True\n")
    provider_for(repo / "pkg/mod0.py")
    run_id = start_run()
    tags = mlflow.get_run(run_id).data.tags
    assert tags[T.GIT_DIFF] == "captured" and tags[T.GIT_DIFF_LEFT_OUT] == "nb/analysis.ipynb: 21 outputs"
    restored = checkout(run_id, str(tmp_path / "rebuilt"), repo=str(repo))
    assert not restored.exact
    assert restored.reason == "exact except the outputs of these notebooks: nb/analysis.ipynb"
    assert (tmp_path / "rebuilt/pkg/mod0.py").read_text() == "fixed = True\n"
    assert os.path.getsize(tmp_path / "rebuilt/nb/analysis.ipynb") < 100_000
    gate = CliRunner().invoke(main, ["check", run_id, "--require", "exact"])
    assert gate.exit_code == 1 and "left out to fit the size cap: nb/analysis.ipynb: 21 outputs" in gate.output
