"""What a person sees: the MLflow UI in headless Chromium, showing what the plugin wrote.

Two real `mlflow server` processes with the plugin installed stand in for two workspaces: server A
tracks the run and holds model ``churn``; server B is a shared registry holding ``churn-shared``,
whose run lives on A. The runs come from a training script and a Jupyter notebook (real kernel),
run in subprocesses from a real git repository whose remote is on GitHub. Every assertion reads the
rendered page (text, titles, hrefs, the tag dialog, the page a link opens), and every expected value
comes from git or from the script, not from the plugin.

Screenshots go to a temporary folder; ``LINEAGE_UPDATE_SCREENSHOTS=1`` also refreshes the ones the
README shows (``docs/ui-*.png``).
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest
from conftest import GIT_ENV, RepoFactory, git
from fixtures.browser import save_for_docs
from fixtures.mlflow_server import start_mlflow_server

from mlflow_lineage_plugin import tags as T

pytest_plugins = ("fixtures.browser",)  # the `ui` fixture
pytestmark = pytest.mark.browser

REMOTE = "https://github.com/acme/churn.git"
REPO_WEB = "https://github.com/acme/churn"
BRANCH = "feature/retrain"
SCRIPT_PATH = "src/train.py"
RUN_NAME = "train-churn"

TRAIN_SCRIPT = '''\
"""Train a tiny churn model, log it and register it twice: in this server's registry and in a
shared registry on another server. Nothing here mentions lineage: the plugin adds it."""
import json
import os

import mlflow
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

mlflow.set_experiment("churn")
X, y = [[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1]
with mlflow.start_run(run_name="train-churn") as run:
    model = LogisticRegression().fit(X, y)
    mlflow.log_param("C", 1.0)
    mlflow.log_metric("accuracy", model.score(X, y))
    info = mlflow.sklearn.log_model(model, name="model", registered_model_name="churn",
                                    pip_requirements=["scikit-learn"], serialization_format="cloudpickle")

# The shared registry cannot read this server's LoggedModels, so the model goes there by an
# artifact location both can name (here: where a copy job would have put it).
shared_registry = MlflowClient(registry_uri=os.environ["SHARED_REGISTRY_URI"])
shared_registry.create_registered_model("churn-shared")
shared = shared_registry.create_model_version(
    "churn-shared", f"s3://acme-models/churn/{info.model_id}", run_id=run.info.run_id
)
print("RESULT " + json.dumps({
    "run_id": run.info.run_id, "experiment_id": run.info.experiment_id, "model_id": info.model_id,
    "shared_version": shared.version,
}))
'''


NOTEBOOK_PATH = "notebooks/explore.ipynb"
NOTEBOOK_RUN_NAME = "explore-notebook"
NOTEBOOK_CELLS = (
    "import mlflow",
    "mlflow.set_experiment('churn-notebooks')\n"
    "with mlflow.start_run(run_name='explore-notebook') as run:\n"
    "    mlflow.log_metric('rows', 4)\n"
    "print('RESULT ' + run.info.experiment_id + ' ' + run.info.run_id)",
)
# Runs the notebook in a real Jupyter kernel (nbclient), with the notebook's folder as the kernel's
# working directory and its path handed over the way jupyter_server does (JPY_SESSION_NAME).
NOTEBOOK_RUNNER = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
for cell in nb.cells:
    for o in cell.get("outputs", []):
        print(o.get("text", ""), end="")
"""


def notebook_json() -> str:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in NOTEBOOK_CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(nb)


@dataclass(frozen=True)
class World:
    a: str  # tracking server + registry of the run ("workspace A")
    b: str  # shared registry on another server ("workspace B")
    commit: str
    run_id: str
    experiment_id: str
    model_id: str
    shared_version: str
    notebook_experiment_id: str
    notebook_run_id: str

    @property
    def run_page(self) -> str:
        return f"{self.a}/#/experiments/{self.experiment_id}/runs/{self.run_id}"

    @property
    def notebook_run_page(self) -> str:
        return f"{self.a}/#/experiments/{self.notebook_experiment_id}/runs/{self.notebook_run_id}"

    @property
    def source_url(self) -> str:
        return f"{REPO_WEB}/blob/{self.commit}/{SCRIPT_PATH}"


def _result(proc: subprocess.Popen, what: str) -> str:
    try:
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"{what} failed:\n{out}\n{err[-4000:]}"
    return lines[-1][len("RESULT ") :]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ui")
    quiet = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    # The UI needs no background job runners (7 extra processes per server in MLflow 3.17).
    server_env = {**quiet, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with cf.ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(start_mlflow_server, tmp / name, env=server_env, timeout=240) for name in ("a", "b")]
        servers = [f.result() for f in futures]
    a, b = servers
    try:
        files = {SCRIPT_PATH: TRAIN_SCRIPT, NOTEBOOK_PATH: notebook_json(), "README.md": "# churn\n"}
        repo = RepoFactory(tmp / "repos").make("churn", files=files, remote=REMOTE, branch=BRANCH)
        env = {**os.environ, **quiet, **GIT_ENV, "MLFLOW_TRACKING_URI": a.url, "SHARED_REGISTRY_URI": b.url}
        for name in list(env):
            if name.startswith("MLFLOW_LINEAGE_") or name in ("MLFLOW_REGISTRY_URI", "JPY_SESSION_NAME"):
                env.pop(name)
        nb_file = repo / NOTEBOOK_PATH
        popen = dict(cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        script = subprocess.Popen([sys.executable, SCRIPT_PATH], env=env, **popen)
        notebook = subprocess.Popen(
            [sys.executable, "-c", NOTEBOOK_RUNNER, str(nb_file), str(nb_file.parent)],
            env={**env, "JPY_SESSION_NAME": str(nb_file)},
            **popen,
        )
        res = json.loads(_result(script, "training script"))
        nb_experiment_id, nb_run_id = _result(notebook, "notebook").split()
        yield World(
            a=a.url,
            b=b.url,
            commit=git(repo, "rev-parse", "HEAD"),
            run_id=res["run_id"],
            experiment_id=res["experiment_id"],
            model_id=res["model_id"],
            shared_version=str(res["shared_version"]),
            notebook_experiment_id=nb_experiment_id,
            notebook_run_id=nb_run_id,
        )
    finally:
        for s in servers:
            s.stop()


# --- page readers -----------------------------------------------------------------------------------


def run_page_tags(page) -> dict[str, str]:
    """The run page's Tags box as a person reads it: each chip's key and its full value (the chip
    shows the value cut to fit; its tooltip title holds all of it)."""
    chips = page.locator("h4:text-is('Tags') + div [data-component-type='tag'][role='status']")
    out = {}
    for i in range(chips.count()):
        spans = chips.nth(i).locator("span[title]")
        key = spans.nth(0).get_attribute("title")
        value = spans.nth(1).get_attribute("title") if spans.count() > 1 else ""
        out[key] = value
    return out


def version_page_tags(page) -> dict[str, str]:
    """The model version page's Tags table (MLflow sorts it by key and scrolls it past ~5 rows)."""
    rows = page.locator("[data-testid='editable-table'] tbody tr[data-row-key]")
    out = {}
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td")
        out[cells.nth(0).inner_text().strip()] = cells.nth(1).inner_text().strip()
    return out


def described(page, label: str):
    """The value cell of a ``Label: value`` item in a page header (model version page)."""
    item = page.locator("[data-testid='descriptions-item']").filter(
        has=page.locator("[data-testid='descriptions-item-label']", has_text=label)
    )
    return item.locator("[data-testid='descriptions-item-content']")


def absolute_href(link) -> str:
    return link.evaluate("a => a.href")


def region(page, top, bottom, pad: int = 12) -> dict:
    """A screenshot clip from the top of one locator to the bottom of another."""
    t, b = top.bounding_box(), bottom.bounding_box()
    x = min(t["x"], b["x"]) - pad
    width = max(t["x"] + t["width"], b["x"] + b["width"]) - x + pad
    height = b["y"] + b["height"] - t["y"] + pad + 1
    return {"x": max(0, x), "y": max(0, t["y"] - pad), "width": width, "height": height}


# --- run page -----------------------------------------------------------------------------------------


def test_run_page_source_box_shows_mlflows_own_branch_and_commit_of_a_script(ui, world):
    """MLflow's own git provider writes these tags for a script, plugin or not: this checks that the
    plugin leaves them as MLflow draws them. The notebook test below shows what only the plugin adds."""
    page = ui.open(world.run_page, ready="About this run")
    source = page.get_by_test_id("key-value-Source")
    source.wait_for()
    text = source.inner_text()
    assert "train.py" in text
    assert BRANCH in text
    assert world.commit[:7] in text
    assert world.commit not in text  # a badge with the short form, as MLflow draws it
    page.close()


def test_notebook_run_page_shows_git_reference_mlflow_alone_does_not_record(ui, world):
    """For a script MLflow's own provider also writes the branch and commit; for a Jupyter notebook
    it writes nothing, so what this page shows comes from the plugin."""
    page = ui.open(world.notebook_run_page, ready="About this run")
    source = page.get_by_test_id("key-value-Source")
    source.wait_for()
    text = source.inner_text()
    assert BRANCH in text
    assert world.commit[:7] in text
    page.locator("h4:text-is('Tags')").wait_for()
    tags = run_page_tags(page)
    assert tags.get(T.GIT_PATH) == NOTEBOOK_PATH
    assert tags.get(T.SOURCE_URL) == f"{REPO_WEB}/blob/{world.commit}/{NOTEBOOK_PATH}"
    ui.shot(page, "notebook-run")
    page.close()


def test_run_page_tags_box_lists_visible_lineage_tags(ui, world):
    page = ui.open(world.run_page, ready="About this run")
    page.locator("h4:text-is('Tags')").wait_for()
    tags = run_page_tags(page)
    assert tags.get(T.SOURCE_URL) == world.source_url
    assert tags.get(T.WORKSPACE_URI) == world.a
    assert tags.get(T.GIT_PATH) == SCRIPT_PATH
    assert tags.get(T.SCHEMA)
    # MLflow hides its own keys here, which is why the plugin also writes visible lineage_ keys.
    assert not [k for k in tags if k.startswith("mlflow.")]
    # The chip is too narrow for a URL; a click opens the full value, ready to copy.
    page.locator(f"[role='status'][title='{T.SOURCE_URL}']").click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    assert f"Tag: {T.SOURCE_URL}" in dialog.inner_text()
    assert dialog.locator("pre").inner_text().strip() == world.source_url
    dialog.get_by_role("button", name="Close").first.click()
    dialog.wait_for(state="hidden")
    clip = region(page, page.get_by_text("About this run", exact=True), page.locator("h4:text-is('Tags') + div"))
    save_for_docs(ui.shot(page, "run-page", clip=clip), "ui-run.png")
    page.close()


# --- model version pages ------------------------------------------------------------------------------


def test_model_version_page_shows_lineage_tags_and_source_run(ui, world):
    page = ui.open(f"{world.a}/#/models/churn/versions/1", ready="Source Run")
    page.locator("[data-testid='editable-table']").wait_for()
    tags = version_page_tags(page)
    assert tags.get(T.WORKSPACE_URI) == world.a
    assert tags.get(T.RUN_ID) == world.run_id
    assert tags.get(T.GIT_COMMIT) == world.commit
    assert tags.get(T.GIT_REPO_URL) == REPO_WEB
    assert tags.get(T.SOURCE_URL) == world.source_url
    assert tags.get(T.RUN_URL) == world.run_page
    model = described(page, "Source Model").locator("a")  # MLflow 3: the LoggedModel
    assert absolute_href(model) == f"{world.a}/#/experiments/{world.experiment_id}/models/{world.model_id}"
    link = described(page, "Source Run").locator("a")
    assert absolute_href(link) == world.run_page
    _open_link_and_check_run(page, link, world)
    page.close()


def test_shared_registry_version_links_to_run_on_other_server(ui, world):
    page = ui.open(f"{world.b}/#/models/churn-shared/versions/{world.shared_version}", ready="Source Run")
    page.locator("[data-testid='editable-table']").wait_for()
    tags = version_page_tags(page)
    assert tags.get(T.WORKSPACE_URI) == world.a
    assert tags.get(T.RUN_ID) == world.run_id
    assert tags.get(T.GIT_COMMIT) == world.commit
    assert tags.get(T.RUN_URL) == world.run_page
    link = described(page, "Source Run").locator("a")
    assert absolute_href(link) == world.run_page  # server A, not this server
    assert link.inner_text().startswith(world.a)  # MLflow shows run_link's first 37 characters
    # The table shows about five rows, sorted by key; the cross-workspace pointers sort last, so the
    # picture scrolls to them as a reader would.
    table = page.locator("[data-testid='editable-table']")
    table.locator(".du-bois-light-table-body").evaluate("el => { el.scrollTop = el.scrollHeight }")
    clip = region(page, page.get_by_text("Registered Models", exact=True).first, table)
    save_for_docs(ui.shot(page, "shared-version", clip=clip), "ui-model-version.png")
    _open_link_and_check_run(page, link, world)
    page.close()


def _open_link_and_check_run(page, link, world: World) -> None:
    """Follow a Source Run link the way a person does and check the run page that opens."""
    if link.get_attribute("target") == "_blank":
        with page.context.expect_page() as new:
            link.click()
        run_page = new.value
    else:
        link.click()
        run_page = page
    run_page.get_by_text("About this run", exact=True).wait_for()
    assert run_page.url.startswith(world.a)
    assert world.run_id in run_page.get_by_test_id("key-value-Run ID").inner_text()
    assert RUN_NAME in run_page.inner_text("main")
    if run_page is not page:
        run_page.close()


# --- LoggedModel page (MLflow 3) ----------------------------------------------------------------------


def test_logged_model_page_shows_mlflows_own_git_reference_of_a_script(ui, world):
    """MLflow copies a script run's git tags onto the LoggedModel itself, plugin or not: this checks
    that the plugin leaves MLflow's *Logged from* box intact, not the plugin's own effect."""
    page = ui.open(f"{world.a}/#/experiments/{world.experiment_id}/models/{world.model_id}", ready="Logged from")
    logged_from = page.get_by_test_id("key-value-Logged from")
    text = logged_from.inner_text()
    assert "train.py" in text
    assert BRANCH in text
    assert world.commit[:7] in text
    run_link = page.get_by_test_id("key-value-Source run").locator("a")
    assert absolute_href(run_link) == world.run_page
    ui.shot(page, "logged-model")
    page.close()


# --- the resolver's HTML, as a notebook shows it -------------------------------------------------------

NOTEBOOK_CELL = """<!doctype html><html><head><meta charset="utf-8"><title>lineage</title></head>
<body style="margin:16px;background:#fff"><div class="output_html">{}</div></body></html>"""


def test_resolver_html_shows_the_chain_with_working_links(ui, world):
    from mlflow_lineage_plugin.resolve import resolve

    lineage = resolve(f"models:/churn-shared/{world.shared_version}", registry_uri=world.b, tracking_uri=world.b)
    page = ui.context.new_page()
    page.set_content(NOTEBOOK_CELL.format(lineage._repr_html_()))  # what Jupyter puts in the output cell
    box = page.locator(".mlflow-lineage")
    text = box.inner_text()
    links = dict(box.locator("a").evaluate_all("els => els.map(a => [a.href, a.textContent])"))
    assert world.run_page in links  # the run, on server A, reached from the registry on server B
    assert RUN_NAME in links[world.run_page]
    assert world.source_url in links
    assert f"{REPO_WEB}/commit/{world.commit}" in links
    assert BRANCH in text
    assert box.locator(".sev-error").count() == 0
    save_for_docs(ui.shot(page, "resolver-html", clip=box), "ui-resolver.png")
    page.close()


# --- the model version's description (the plugin's Markdown line, rendered by MLflow) ---------------------


def description_links(page) -> dict[str, str]:
    """The links MLflow drew from the version's Markdown description: text → absolute href."""
    box = page.get_by_test_id("note-editor-preview-content")
    box.locator("a").first.wait_for()
    return dict(box.locator("a").evaluate_all("els => els.map(a => [a.textContent, a.href])"))


def test_version_description_links_the_run_and_the_file_at_the_commit(ui, world):
    page = ui.open(f"{world.a}/#/models/churn/versions/1", ready="Source Run")
    links = description_links(page)
    assert links[RUN_NAME] == world.run_page
    assert links[f"{SCRIPT_PATH} @ {world.commit[:7]}"] == world.source_url
    assert links["acme/churn"] == REPO_WEB
    assert links[world.a.split("://")[1]] == f"{world.a}/"
    text = page.get_by_test_id("note-editor-preview-content").inner_text()
    assert f"on {BRANCH}" in text and "uncommitted changes: none" in text
    run_link = page.get_by_test_id("note-editor-preview-content").get_by_role("link", name=RUN_NAME, exact=True)
    _open_link_and_check_run(page, run_link, world)  # a person's click lands on the run page
    page.close()


def test_shared_registry_description_leads_to_the_run_on_the_other_server(ui, world):
    page = ui.open(f"{world.b}/#/models/churn-shared/versions/{world.shared_version}", ready="Source Run")
    links = description_links(page)
    assert links[RUN_NAME] == world.run_page  # server A, written by the registry on server B
    assert links[f"{SCRIPT_PATH} @ {world.commit[:7]}"] == world.source_url
    box = page.get_by_test_id("note-editor-preview-content")
    clip = region(page, page.get_by_text("Registered Models", exact=True).first, box)
    save_for_docs(ui.shot(page, "shared-version-description", clip=clip), "ui-model-version-description.png")
    _open_link_and_check_run(page, box.get_by_role("link", name=RUN_NAME, exact=True), world)
    page.close()


# Names a person or a script chose, each holding every shape a GitHub-flavoured renderer turns into a link,
# a mention or an emoji (issue 23 item 1). Each stays under the line's 80-character cut.
HOSTILE_RUN = "see http://evil.example/x www.evil.example @mallory #123 :smile: ~~s~~"
HOSTILE_PATH = "https://evil.example/a ftp.evil.example m@evil.example mailto:m@x.io"
HOSTILE_BRANCH = "www.evil.example/@mallory"


def test_version_description_shows_hostile_names_as_text_with_only_the_plugins_links(ui, world):
    from urllib.parse import quote

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=world.a, registry_uri=world.a)
    source_url = f"{REPO_WEB}/blob/{world.commit}/{quote(HOSTILE_PATH)}"
    run = client.create_run(
        world.experiment_id,
        run_name=HOSTILE_RUN,
        tags={
            T.MLFLOW_GIT_COMMIT: world.commit,
            T.MLFLOW_GIT_REPO_URL: REMOTE,
            T.MLFLOW_GIT_BRANCH: HOSTILE_BRANCH,
            T.MLFLOW_GIT_DIRTY: "false",
            T.GIT_PATH: HOSTILE_PATH,
            T.SOURCE_URL: source_url,
        },
    )
    client.create_registered_model("churn-hostile")
    mv = client.create_model_version("churn-hostile", "s3://acme-models/hostile", run.info.run_id)
    run_page = f"{world.a}/#/experiments/{world.experiment_id}/runs/{run.info.run_id}"
    page = ui.open(f"{world.a}/#/models/churn-hostile/versions/{mv.version}", ready="Source Run")
    links = description_links(page)
    assert links.get(HOSTILE_RUN) == run_page, links
    assert links.get(f"{HOSTILE_PATH} @ {world.commit[:7]}") == source_url, links
    assert links["acme/churn"] == REPO_WEB
    assert links[world.a.split("://")[1]] == f"{world.a}/"
    assert len(links) == 4, links  # no autolink, mention or e-mail link of its own
    box = page.get_by_test_id("note-editor-preview-content")
    assert box.locator("a").count() == 4
    text = " ".join(box.inner_text().split())
    assert HOSTILE_RUN in text and HOSTILE_PATH in text and f"on {HOSTILE_BRANCH}" in text
    page.close()


# --- uncommitted changes (issue 11) ---------------------------------------------------------------------

DIRTY_SCRIPT = """\
import mlflow

mlflow.set_experiment("churn-dirty")
with mlflow.start_run(run_name="train-dirty") as run:
    mlflow.log_metric("accuracy", 0.75)
print("RESULT " + run.info.experiment_id + " " + run.info.run_id)
"""


def test_run_artifacts_tab_shows_the_uncommitted_patch(ui, tmp_path):
    """A run started from a dirty checkout: its Artifacts tab lists lineage/uncommitted.patch, and the
    download the tab offers is the patch git itself prints. (MLflow previews only a fixed list of file
    extensions, ``.patch`` not among them: the tab shows the file and its download, not its text.)"""
    quiet = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    server = start_mlflow_server(tmp_path / "server", env=quiet, timeout=240)
    try:
        repo = RepoFactory(tmp_path / "repos").make(
            "churn", files={SCRIPT_PATH: DIRTY_SCRIPT, "src/features.py": "WINDOW = 7\n"}, remote=REMOTE
        )
        (repo / "src/features.py").write_text("WINDOW = 14  # longer window for the retrain\n")
        expected = subprocess.run(
            ["git", "diff", "HEAD", "--binary"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout
        env = {**os.environ, **quiet, **GIT_ENV, "MLFLOW_TRACKING_URI": server.url}
        for name in list(env):
            if name.startswith("MLFLOW_LINEAGE_") or name == "MLFLOW_REGISTRY_URI":
                env.pop(name)
        proc = subprocess.Popen(
            [sys.executable, SCRIPT_PATH], cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        experiment_id, run_id = _result(proc, "dirty training script").split()
        url = f"{server.url}/#/experiments/{experiment_id}/runs/{run_id}/artifactPath/{T.DIFF_ARTIFACT_PATH}"
        page = ui.open(url)
        page.get_by_text("uncommitted.patch", exact=True).first.wait_for(state="visible")
        page.get_by_text("lineage", exact=True).first.wait_for(state="visible")
        body = page.locator("body").inner_text()
        assert "Artifacts" in body
        import requests

        download = requests.get(
            f"{server.url}/get-artifact", params={"path": T.DIFF_ARTIFACT_PATH, "run_uuid": run_id}, timeout=30
        )
        assert download.status_code == 200 and download.text == expected
        assert "WINDOW = 14  # longer window for the retrain" in download.text
        save_for_docs(ui.shot(page, "run-patch"), "ui-run-patch.png")
        page.close()
    finally:
        server.stop()
