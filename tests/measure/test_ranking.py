"""Ranking metrics by hand, as trec_eval defines them, and TREC files read back in their ranked order."""

from __future__ import annotations

import math

import pytest

from qa.measure import ranking

QRELS = {"a": {"d1": 1}, "b": {"d2": 1, "d3": 1, "x": 0}, "c": {"d4": 1}, "d": {"d5": 1}, "judged-none": {"y": 0}}
RUN = {"a": ["x", "d1"], "b": ["d2", "x", "d3"], "c": [f"z{i}" for i in range(10)] + ["d4"], "extra": ["d1"]}
"""d: nothing found; c: past the cut of 10; "extra" is not in the qrels; "judged-none" has no relevant id."""


def test_recall_counts_the_share_of_each_querys_relevant_ids():
    assert ranking.recall(RUN, QRELS, 1) == pytest.approx((0 + 1 / 2 + 0 + 0) / 4)
    assert ranking.recall(RUN, QRELS, 3) == pytest.approx((1 + 1 + 0 + 0) / 4)
    assert ranking.recall(RUN, QRELS, 11) == pytest.approx((1 + 1 + 1 + 0) / 4)


def test_mrr_is_one_over_the_first_relevant_rank_within_the_cut():
    assert ranking.mrr(RUN, QRELS, 10) == pytest.approx((1 / 2 + 1 + 0 + 0) / 4)
    assert ranking.mrr(RUN, QRELS, 1) == pytest.approx(1 / 4)
    assert ranking.mrr(RUN, QRELS, 11) == pytest.approx((1 / 2 + 1 + 1 / 11 + 0) / 4)


def test_ndcg_discounts_by_log2_of_rank_plus_one_against_the_ideal_order():
    expected = (1 / math.log2(3) + (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))) / 4
    assert ranking.ndcg(RUN, QRELS, 10) == pytest.approx(expected, abs=1e-12)
    assert ranking.ndcg({"q": ["lo", "hi"]}, {"q": {"hi": 3, "lo": 1}}, 10) == pytest.approx(
        (1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3)))
    assert ranking.ndcg({}, {"q": {"y": 0}}, 10) != ranking.ndcg({}, {"q": {"y": 0}}, 10)  # nothing judged: nan


def test_trec_files_read_back_by_score_then_file_order(tmp_path):
    run, qrels = tmp_path / "r.trec", tmp_path / "r.qrels"
    run.write_text("q1 Q0 b 2 0.5 t\nq1 Q0 a 1 0.9 t\nq1 Q0 c 3 0.5 t\n\nq2 Q0 z 1 1 t\n", encoding="utf-8")
    qrels.write_text("q1 0 c 1\nq1 0 a 0\nq2 0 z 2\n", encoding="utf-8")
    assert ranking.read_trec_run(run) == {"q1": ["a", "b", "c"], "q2": ["z"]}
    assert ranking.read_qrels(qrels) == {"q1": {"c": 1, "a": 0}, "q2": {"z": 2}}
    assert ranking.mrr(ranking.read_trec_run(run), ranking.read_qrels(qrels), 10) == pytest.approx((1 / 3 + 1) / 2)
