"""Target parsing: every accepted form, and malformed input rejected with a reason before any request."""

from __future__ import annotations

import pytest

from mlflow_lineage_plugin.resolve.target import (
    ALIAS,
    LOGGED_MODEL,
    MODEL,
    RUN,
    STAGE,
    VERSION,
    TargetError,
    parse_target,
)

RUN_ID = "0123456789abcdef0123456789abcdef"
MODEL_ID = "m-" + "ab" * 16


@pytest.mark.parametrize(
    "text, kind, fields",
    [
        ("models:/fraud/3", VERSION, {"name": "fraud", "version": "3"}),
        ("models:/fraud/03", VERSION, {"name": "fraud", "version": "3"}),
        ("models:/main.ml.fraud/12", VERSION, {"name": "main.ml.fraud", "version": "12"}),
        ("models:/fraud@champion", ALIAS, {"name": "fraud", "alias": "champion"}),
        ("models:/fraud@v-2_b", ALIAS, {"name": "fraud", "alias": "v-2_b"}),
        ("models:/fraud/Production", STAGE, {"name": "fraud", "stage": "Production"}),
        ("models:/fraud/staging", STAGE, {"name": "fraud", "stage": "Staging"}),
        ("models:/fraud/latest", STAGE, {"name": "fraud", "stage": "latest"}),
        ("models:/fraud", MODEL, {"name": "fraud"}),
        ("models:/fraud/", MODEL, {"name": "fraud"}),
        ("models:/my model", MODEL, {"name": "my model"}),
        (f"models:/{MODEL_ID}", LOGGED_MODEL, {"model_id": MODEL_ID}),
        (f"runs:/{RUN_ID}/model", RUN, {"run_id": RUN_ID, "path": "model"}),
        (f"runs:/{RUN_ID}", RUN, {"run_id": RUN_ID, "path": None}),
        (f"runs:/{RUN_ID}/a/b/", RUN, {"run_id": RUN_ID, "path": "a/b"}),
        (RUN_ID, RUN, {"run_id": RUN_ID}),
        (f"  {RUN_ID}\n", RUN, {"run_id": RUN_ID}),
    ],
)
def test_accepted_forms(text, kind, fields):
    t = parse_target(text)
    assert t.kind == kind
    for k, v in fields.items():
        assert getattr(t, k) == v, k


@pytest.mark.parametrize(
    "text, says",
    [
        ("", "empty target"),
        ("   ", "empty target"),
        ("models:", "starts with 'models:/'"),
        ("models:/", "no model name"),
        ("models://", "--registry-uri"),
        ("models:/fraud/0", "start at 1"),
        ("models:/fraud/-1", "not a positive whole number"),
        ("models:/fraud/1.5", "not a positive whole number"),
        ("models:/fraud/Prod", "neither a version number nor a stage"),
        ("models:/fraud@", "empty alias"),
        ("models:/@champion", "name is empty"),
        ("models:/fraud@champ ion", "may contain only"),
        ("models:/fraud@champion/3", "nothing after the alias"),
        ("models:/a/b/3", "too many '/'"),
        ("models:/m-123", "LoggedModel id"),
        ("models:/m-" + "z" * 32, "LoggedModel id"),
        ("models:/fra'ud/1", "quotes"),
        ("models:/ fraud/1", "leading or trailing spaces"),
        ("models://prof@databricks/fraud/1", "--registry-uri"),
        ("runs:", "runs:/<run_id>"),
        ("runs:/", "no run id"),
        ("runs://abc/model", "runs:/<run_id>"),
        ("runs:/../etc/model", "not a valid run id"),
        ("run:/" + RUN_ID, "unsupported URI"),
        ("s3://bucket/model", "unsupported URI"),
        ("https://example.com/#/models/fraud", "unsupported URI"),
        ("0123456789abcdef", "not a run id"),
        (RUN_ID.upper(), "not a run id"),
        ("fraud", "not a model URI or run id"),
        ("fraud/3", "not a model URI or run id"),
    ],
)
def test_malformed_targets_say_why(text, says):
    with pytest.raises(TargetError) as err:
        parse_target(text)
    message = str(err.value)
    assert says in message
    assert "\n" not in message
