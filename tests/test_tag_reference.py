"""The tag reference (docs/tags.md) names every key ``tags.py`` defines: one vocabulary, documented once."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlflow_lineage_plugin import tags as T

DOC = (Path(__file__).resolve().parent.parent / "docs" / "tags.md").read_text(encoding="utf-8")
KEYS = sorted(
    {
        value
        for name, value in vars(T).items()
        if name.isupper() and isinstance(value, str) and value.startswith(("lineage_", "mlflow."))
    }
)


@pytest.mark.parametrize("key", KEYS)
def test_every_key_is_in_the_tag_reference(key):
    # Databricks keys are listed by their last part after "the mlflow.databricks.* keys".
    short = key.rsplit(".", 1)[-1] if key.startswith("mlflow.databricks.") else key
    assert f"`{short}`" in DOC, f"{key} is not documented in docs/tags.md"
