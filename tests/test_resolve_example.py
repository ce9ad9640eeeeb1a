"""``examples/resolve_lineage.py`` runs as a user would run it and shows this checkout's commit."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT, git
from fixtures.services import need


def test_example_demo_resolves_to_this_checkout(tmp_path):
    need((ROOT / ".git").exists(), "the example tags runs with the commit of the checkout it runs from")
    head = git(ROOT, "rev-parse", "HEAD")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    p = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "resolve_lineage.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    # The demo's lineage is complete (a commit, a reachable run): the example's gate must say 0.
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    out = p.stdout
    assert "lineage of models:/demo-model@champion" in out
    assert "registered model demo-model" in out and "run demo-training" in out
    assert f"commit {head[:12]}" in out
    assert "entry script" in out and "resolve_lineage.py" in out
    assert not list(tmp_path.glob("mlruns")), "the demo keeps its artifacts in its temporary store"
    assert f"also from commit {head[:12]}:" in out and "models:/demo-model/1" in out
