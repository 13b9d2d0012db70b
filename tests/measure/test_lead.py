"""Fitting the lead model, calibrating its chance, and telling a change from noise."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qa.config import AnswerSettings
from qa.measure import breakdown
from qa.measure import lead as fitting
from qa.measure.evalset import Question, Target
from qa.search.answer import lead_chance


def synthetic(n: int, seed: int, true_w=(2.0, -1.0, 0.0)) -> list[fitting.Sample]:
    """Questions whose right sentence is drawn from a softmax of known weights."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        x = rng.normal(size=(6, len(true_w)))
        s = x @ np.array(true_w)
        p = np.exp(s - s.max())
        p /= p.sum()
        y = np.zeros(6, dtype=bool)
        y[rng.choice(6, p=p)] = True
        out.append(fitting.Sample(f"q{i}", x, y, out_of_scope=False))
    return out


def test_the_fit_recovers_the_weights_that_made_the_data():
    w = fitting.fit_weights(synthetic(600, 0), l2=0.01)
    assert w[0] > 1.2 and w[1] < -0.5 and abs(w[2]) < 0.4, w
    assert np.corrcoef(w, [2.0, -1.0, 0.0])[0, 1] > 0.95


def test_a_question_without_a_right_candidate_teaches_nothing():
    samples = synthetic(50, 1)
    empty = fitting.Sample("none", np.ones((3, 3)), np.zeros(3, dtype=bool), True)
    assert np.allclose(fitting.fit_weights(samples), fitting.fit_weights(samples + [empty]))
    with pytest.raises(ValueError, match="nothing to fit"):
        fitting.fit_weights([empty])


def test_the_fit_prints_settings_whose_high_level_was_right_often_enough_on_what_it_saw():
    samples = synthetic(200, 2, true_w=(3.0, 0.0, 0.0))
    out = fitting.fit(samples)
    assert [name for name, _ in out["lead_weights"]][:3] == ["second", "third", "logit_gap"]
    assert out["medium_chance"] <= out["high_chance"] <= 1.0
    assert 0 < out["dev_lead_out_of_fold"] <= out["dev_lead_in_sample"] + 0.05


def test_calibration_bins_rise_with_the_probability_and_each_holds_enough_questions():
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 1, 300)
    right = rng.uniform(0, 1, 300) < p  # right as often as the probability says
    table = fitting.calibrate(p, right, min_bin=20)
    lows, chances = [lo for lo, _ in table], [c for _, c in table]
    assert lows == sorted(lows) and chances == sorted(chances) and len(table) >= 3
    edges = lows[1:] + [1.01]
    for (lo, chance), hi in zip(table, edges):
        inside = (p >= lo) & (p < hi)
        assert inside.sum() >= 20 and chance == pytest.approx(right[inside].mean(), abs=1e-4)
    assert all(lead_chance(x, AnswerSettings(chance_table=table)) == c for x, (_, c) in zip(lows, table))


def test_a_lucky_few_at_the_top_never_make_a_bin_of_their_own():
    p = np.linspace(0.5, 0.99, 40)
    right = np.array([False] * 37 + [True] * 3)  # only the three most sure leads were right
    table = fitting.calibrate(p, right, min_bin=15)
    assert table[-1][1] <= 0.2 and all(n >= 0 for n in np.diff([c for _, c in table]))


def test_the_sign_test_and_the_paired_comparison(tmp_path):
    assert breakdown.sign_test(8, 2) == pytest.approx(0.109375)
    assert breakdown.sign_test(11, 2) == pytest.approx(0.0225, abs=1e-4)
    assert breakdown.sign_test(5, 5) == 1.0
    qs = [Question(f"q{i}", "Who?", (Target("a.txt", "x"),), split="test") for i in range(4)]
    a = {f"q{i}": {"id": f"q{i}", "lead_hit": i < 1, "first_hit": 1} for i in range(4)}
    b = {f"q{i}": {"id": f"q{i}", "lead_hit": i < 3, "first_hit": 1 if i else 2} for i in range(4)}
    got = breakdown.compare(a, b, qs)["test"]
    assert (got["lead"]["b_won"], got["lead"]["a_won"], got["lead"]["n"]) == (2, 0, 4)
    assert (got["R@1"]["b_won"], got["R@1"]["a_won"]) == (0, 1)
    run = tmp_path / "old.jsonl"
    run.write_text(json.dumps({"id": "q0", "results": []}) + "\n")
    with pytest.raises(ValueError, match="no outcomes"):
        breakdown.read_run(run)


@pytest.mark.parametrize("question, kind", [
    ("How many leaders did Timmins interview?", "how many/much"),
    ("Who leads Surrey?", "who"),
    ("What does Claire Fuller say?", "what"),
    ("According to Fuller, why is it hard?", "why"),
    ("In which county is it?", "which"),
    ("Name the two councils.", "other"),
])
def test_question_types(question, kind):
    assert breakdown.question_type(question) == kind


