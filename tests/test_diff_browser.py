"""The HTML diff of two versions, opened in headless Chromium: every section is there and folds, the changed
file's lines sit side by side with their line numbers and are highlighted, the commits link to the repository's
web pages, and the page asks the network for nothing."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from conftest import git
from fixtures.browser import save_for_docs
from test_diff import train

from mlflow_lineage_plugin.cli import main

pytest_plugins = ("fixtures.browser",)  # the `ui` fixture
pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("git_available")]

REPO = "https://github.com/example/fraud"


def test_html_diff_of_two_versions_in_a_browser(ui, repos, provider_for, sqlite_uri, tmp_path):
    from mlflow import MlflowClient

    repo = repos.make("fraud", files={"train.py": "lr = 0.1\ndepth = 3\nprint(lr)\n"}, remote=f"{REPO}.git")
    provider_for(repo / "train.py")
    MlflowClient().create_registered_model("fraud")
    train(tmp_path, params={"lr": "0.1"}, metrics={"auc": 0.81}, requirements="scikit-learn==1.3.0\n")
    commit = repos.commit(repo, "train.py", "lr = 0.2\ndepth = 3\nprint(lr)\n", "Raise the learning rate")
    train(tmp_path, params={"lr": "0.2"}, metrics={"auc": 0.84}, requirements="scikit-learn==1.4.0\n")
    out = tmp_path / "diff.html"
    args = ["models:/fraud/1", "models:/fraud/2", "--repo", str(repo), "--format", "html", "--output", str(out)]
    done = CliRunner().invoke(main, ["diff", *args])
    assert done.exit_code == 0, done.output

    requested: list[str] = []
    page = ui.context.new_page()
    page.on("request", lambda r: requested.append(r.url))
    page.goto(out.as_uri(), wait_until="load")
    box = page.locator(".lineage-diff")
    sections = box.locator("details[data-section]").evaluate_all("els => els.map(e => e.dataset.section)")
    assert sections == ["code", "patch", "data", "params", "env", "lineage"]  # the side-by-side view is in code
    assert "Raise the learning rate" in box.inner_text()

    new = page.locator("td.add", has_text="lr = 0.2")
    old = page.locator("td.del", has_text="lr = 0.1")
    assert new.count() == 1 and old.count() == 1
    assert new.evaluate("td => getComputedStyle(td).backgroundColor") == "rgb(230, 255, 236)"
    assert old.evaluate("td => getComputedStyle(td).backgroundColor") == "rgb(255, 235, 233)"
    assert new.evaluate("td => td.previousElementSibling.textContent") == "1"  # B's line number
    assert page.locator("td.add").count() == 1  # only the changed line is highlighted

    links = dict(box.locator("a").evaluate_all("els => els.map(a => [a.textContent, a.href])"))
    assert links[commit[:12]] == f"{REPO}/commit/{commit}"
    assert any(text.startswith(commit[:12]) and href == f"{REPO}/commit/{commit}" for text, href in links.items())

    params = page.locator('details[data-section="params"]')
    assert params.locator("table").is_visible()
    params.locator("summary").click()
    assert not params.locator("table").is_visible()  # folded
    params.locator("summary").click()
    assert requested == [out.as_uri()]  # inline CSS, no script, no fetch
    save_for_docs(ui.shot(page, "diff-html", clip=box), "ui-diff.png")
    page.close()
    assert git(repo, "status", "--porcelain") == ""
