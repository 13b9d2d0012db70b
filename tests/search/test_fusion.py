import pytest

from qa.search.fusion import RRF_K, ranked, rrf


def test_rrf_sums_reciprocal_ranks_by_hand():
    scores = rrf([["a", "b", "c"], ["c", "a"]])
    assert scores["a"] == pytest.approx(1 / (60 + 1) + 1 / (60 + 2))
    assert scores["b"] == pytest.approx(1 / (60 + 2))
    assert scores["c"] == pytest.approx(1 / (60 + 3) + 1 / (60 + 1))
    assert ranked(scores) == ["a", "c", "b"]
    assert RRF_K == 60


def test_rrf_weights_and_k():
    scores = rrf([["x"], ["y"]], k=0, weights=[2.0, 1.0])
    assert scores == {"x": 2.0, "y": 1.0}


def test_rrf_rejects_bad_settings():
    with pytest.raises(ValueError, match="weights"):
        rrf([["a"]], weights=[1, 2])
    with pytest.raises(ValueError, match="k must be"):
        rrf([["a"]], k=-1)


def test_ranked_breaks_ties_deterministically():
    assert ranked({"b": 1.0, "a": 1.0, "c": 2.0}) == ["c", "a", "b"]
