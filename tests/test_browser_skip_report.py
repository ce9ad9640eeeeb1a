"""What a local ``make test`` without a browser says about the browser tests: one line at the end that
names the missing browser and how to install it, not one line per test."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from conftest import ROOT
from fixtures.browser import BROWSER_ENV


def test_browser_tests_without_a_browser_are_one_line_at_the_end(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CI" and not k.startswith(("PYTEST", "MLFLOW_"))}
    env[BROWSER_ENV] = str(tmp_path / "no-such-chromium")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-ra", "-p", "no:cacheprovider", "tests/test_ui.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    skipped = [line for line in text.splitlines() if line.startswith("SKIPPED")]
    collected = int(re.search(r"(\d+) skipped", text).group(1))
    assert collected >= 10, text[-3000:]
    assert skipped == [f"SKIPPED [{collected}] tests/test_ui.py: no Chromium at {env[BROWSER_ENV]} ({BROWSER_ENV})"]
    assert text.rstrip().splitlines()[-1].startswith(f"{collected} skipped"), text[-3000:]
