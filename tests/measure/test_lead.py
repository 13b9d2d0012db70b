"""Fitting the lead model, calibrating its chance, and telling a change from noise."""

from __future__ import annotations

import dataclasses
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




def _answer(considered, sources=("a.txt", "b.txt", "c.txt")):
    from qa.records import Answer, LeadReason, Passage

    passages = tuple(Passage(s, "T", (), 0, 500, "x" * 500, 1.0, ()) for s in sources)
    why = LeadReason(probability=considered[0][2], candidates=len(considered), features=(), considered=tuple(considered))
    return Answer("q?", passages, False, lead=considered[0][:2], lead_reason=why)


ON_A = Question("q1", "Who?", (Target("a.txt", "e", 100, 150),))


@pytest.mark.parametrize("considered, hits, lead_hit, stage, rank", [
    ([(0, (100, 140), 0.6), (0, (10, 40), 0.4)], (0, None, None), True, "right", 1),
    ([(0, (10, 40), 0.5), (1, (0, 20), 0.3), (0, (120, 160), 0.2)], (0, None, None), False, "choice, same passage", 3),
    ([(1, (0, 20), 0.7), (0, (130, 170), 0.3)], (0, None, None), False, "choice, other passage", 2),
    ([(0, (10, 40), 0.7), (0, (200, 260), 0.3)], (0, None, None), False, "no right sentence", None),
    ([(0, (10, 40), 0.7)], (None, None, None, None, 0), False, "order", None),
])
def test_the_stage_that_lost_a_lead_is_read_from_the_sentences_the_lead_model_weighed(considered, hits, lead_hit, stage, rank):
    from qa.measure.evals import lead_stage

    answer = _answer(considered)
    assert lead_stage(ON_A, answer, hits, lead_hit, None, 3) == (stage, rank)


def test_a_lead_lost_before_the_answer_stage_says_which_stage_and_out_of_scope_has_none():
    from qa.measure.evals import lead_stage

    answer = _answer([(0, (10, 40), 1.0)])
    none = (None,) * 10
    assert lead_stage(ON_A, answer, none, False, 37, 3) == ("first stage order", None)
    assert lead_stage(ON_A, answer, none, False, None, 3) == ("candidates", None)
    assert lead_stage(ON_A, answer, none, False, None, 3, looked=False) == ("not in the top k", None)
    assert lead_stage(Question("o", "Peru?", (), out_of_scope=True), answer, none, False, None, 3) == ("", None)
    plain = dataclasses.replace(answer, lead_reason=None)  # options without the lead model
    assert lead_stage(ON_A, plain, (0,) + none, False, 1, 3) == ("lead wrong", None)


def _result(qid, stage="", rank=None, confidence=0.0, abstained=False):
    from qa.measure.evals import Result

    return Result(qid, "hybrid", (), (), (), stage == "right", "", confidence, abstained, 1.0, lead_stage=stage, lead_rank=rank)


def test_the_breakdown_counts_each_stage_and_prices_refusing_more():
    qs = [Question(f"i{i}", "What?", (Target("a.txt", "e", 0, 1),), "test") for i in range(6)]
    qs += [Question(f"o{i}", "Peru?", (), "test", out_of_scope=True) for i in range(5)]
    rs = [_result("i0", "right", 1, 3.0), _result("i1", "choice, same passage", 2, 2.0),
          _result("i2", "choice, other passage", 4, -5.0), _result("i3", "order", None, -9.5, True),
          _result("i4", "right", 1, -7.0), _result("i5", "candidates", None, -6.0)]
    rs += [_result("o0", confidence=-11.0, abstained=True), _result("o1", confidence=-10.0, abstained=True),
           _result("o2", confidence=-9.0, abstained=True), _result("o3", confidence=-6.5), _result("o4", confidence=1.0)]
    lost = breakdown.lead_losses(qs, rs)
    assert lost["questions"] == 6 and lost["stages"] == {"right": 2, "choice, same passage": 1, "choice, other passage": 1,
                                                         "order": 1, "candidates": 1}
    assert lost["choice"] == 2 and lost["second"] == 1
    trade = breakdown.refusal_trade(qs, rs)
    assert (trade["refused_out_of_scope"], trade["refused_answerable"]) == (3, 1)
    # 4 of 5 out of scope (80%) need a bar at -6.5: answerable -9.5, -7.0 fall under it
    assert (trade["would_refuse_out_of_scope"], trade["would_refuse_answerable"]) == (4, 2)
    text = "\n".join(breakdown.lines(qs, rs, "test"))
    assert "| choice, other passage | 1 | 0.167 |" in text and "would refuse 2 answerable ones" in text
