"""The abstention threshold in the code is the one calibration chooses on the dev split."""

from __future__ import annotations

import json

import pytest

from qa.config import AnswerSettings
from qa.measure import cli as measure_cli

pytestmark = pytest.mark.model


def test_the_threshold_in_the_code_is_what_calibration_prints(engine, capsys):
    args = measure_cli.parser("eval").parse_args(["--calibrate", "--no-progress"])
    assert measure_cli.eval_main(args, engine=engine) == 0
    out = capsys.readouterr().out
    chosen = json.loads(out[: out.rindex("}") + 1])
    assert engine.settings.rerank.model == "cross-encoder"
    lo, hi = chosen["same_decisions"]
    assert lo < AnswerSettings().abstain_logit <= hi, out  # the code's threshold refuses what calibration refuses
    assert chosen["in_scope_answered"] >= 0.95
    assert f"AnswerSettings.abstain_logit = {chosen['threshold']}" in out
