"""``config``: every setting read at the moment it is needed, time limits with their defaults, and the
README's configuration table agreeing with the code (names and defaults)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlflow_lineage_plugin import config

ROOT = Path(__file__).resolve().parent.parent
_ROW = re.compile(r"^\|\s*`(MLFLOW_LINEAGE_[A-Z_]+)`\s*\|\s*([^|]*?)\s*\|")


def _documented() -> dict[str, str]:
    """Name → default cell of the configuration table, wherever the documentation keeps it."""
    rows: dict[str, str] = {}
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        if doc.is_file():
            for line in doc.read_text(encoding="utf-8").splitlines():
                m = _ROW.match(line)
                if m:
                    rows.setdefault(m.group(1), m.group(2).strip("`"))
    return rows


def test_every_setting_is_documented_and_every_documented_setting_exists():
    documented = _documented()
    assert set(documented) == set(config.ALL_SETTINGS)


@pytest.mark.parametrize("name", sorted(config.DEFAULT_SECONDS))
def test_documented_time_limit_defaults_are_the_codes(name):
    assert float(_documented()[name]) == config.DEFAULT_SECONDS[name]


# On/off switches document the state they default to; every other setting without a default says so.
_SWITCHES = {
    config.DISABLE: "off",
    config.DESCRIPTION: "on",
    config.DIFF: "on",
    config.DIFF_UNTRACKED: "off",
    config.OPENLINEAGE: "off",
    config.DEBUG: "off",
}


@pytest.mark.parametrize("name", sorted(_SWITCHES))
def test_switches_document_their_default(name):
    assert _documented()[name] == _SWITCHES[name]


def test_patch_size_cap_documents_the_codes_default():
    from mlflow_lineage_plugin.git.patch import DEFAULT_MAX_BYTES

    assert int(_documented()[config.DIFF_MAX_BYTES]) == DEFAULT_MAX_BYTES


def test_settings_without_a_default_say_so():
    documented = _documented()
    counted = set(config.DEFAULT_COUNTS) | {config.DIFF_MAX_BYTES}
    for name in set(config.ALL_SETTINGS) - set(config.DEFAULT_SECONDS) - set(_SWITCHES) - counted:
        assert documented[name] == "—", name


@pytest.mark.parametrize("name", sorted(config.DEFAULT_COUNTS))
def test_documented_count_defaults_are_the_codes(name):
    assert int(_documented()[name]) == config.DEFAULT_COUNTS[name]


def test_values_are_read_when_asked_and_stripped(monkeypatch):
    monkeypatch.delenv(config.GIT_BRANCH, raising=False)
    assert config.get(config.GIT_BRANCH) is None
    monkeypatch.setenv(config.GIT_BRANCH, "  main ")
    assert config.get(config.GIT_BRANCH) == "main"
    monkeypatch.setenv(config.GIT_BRANCH, "   ")
    assert config.get(config.GIT_BRANCH) is None


@pytest.mark.parametrize(
    "value, on",
    [
        ("true", True),
        ("1", True),
        ("YES", True),
        ("on", True),
        ("false", False),
        ("0", False),
        ("", False),
        ("maybe", False),
    ],
)
def test_flags(monkeypatch, value, on):
    monkeypatch.setenv(config.DISABLE, value)
    assert config.flag(config.DISABLE) is on
    assert config.disabled() is on


def test_seconds_take_override_then_setting_then_default(monkeypatch):
    name = config.RESOLVE_TIMEOUT
    monkeypatch.delenv(name, raising=False)
    assert config.seconds(name) == 30.0
    monkeypatch.setenv(name, "2.5")
    assert config.seconds(name) == 2.5
    assert config.seconds(name, 7) == 7.0
    assert config.seconds(name, 0) == 2.5, "a non-positive override means 'not given'"
    for bad in ("abc", "0", "-3"):
        monkeypatch.setenv(name, bad)
        assert config.seconds(name) == 30.0, bad


def test_required(monkeypatch):
    monkeypatch.delenv(config.REQUIRE, raising=False)
    assert config.required() == frozenset()
    monkeypatch.setenv(config.REQUIRE, " Commit, clean ,,")
    assert config.required() == frozenset({"commit", "clean"})


def test_every_setting_has_the_prefix_and_is_listed_once():
    assert len(set(config.ALL_SETTINGS)) == len(config.ALL_SETTINGS)
    assert all(name.startswith(config.ENV_PREFIX) for name in config.ALL_SETTINGS)
    assert set(config.DEFAULT_SECONDS) <= set(config.ALL_SETTINGS)
