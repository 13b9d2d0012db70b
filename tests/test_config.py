"""Settings records: checked up front with messages that say what is allowed, and written whole."""

from __future__ import annotations

import pytest

from qa.config import MAX_K, AnswerSettings, ChunkSettings, IndexSettings, RetrievalSettings, Settings, check_k, check_mode


@pytest.mark.parametrize("k", [1, 5, MAX_K, 5.0])
def test_k_in_range_is_accepted(k):
    assert check_k(k) == int(k)


@pytest.mark.parametrize("k", [0, MAX_K + 1, -3, "abc", "5", None, [5], 5.9, True])
def test_k_out_of_range_or_not_a_whole_number_is_refused_with_the_range(k):
    with pytest.raises(ValueError, match=f"between 1 and {MAX_K}"):
        check_k(k)


def test_mode_names_the_choices():
    assert check_mode("bm25") == "bm25"
    with pytest.raises(ValueError, match="hybrid, dense, bm25"):
        check_mode("fuzzy")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: ChunkSettings(max_tokens=8), "max_tokens"),
        (lambda: ChunkSettings(max_tokens=64, overlap_tokens=64), "overlap_tokens"),
        (lambda: ChunkSettings(paragraph_fill=0), "paragraph_fill"),
        (lambda: IndexSettings(ivf_probe_fraction=0), "ivf_probe_fraction"),
        (lambda: RetrievalSettings(candidates=0), "candidates"),
        (lambda: RetrievalSettings(max_shared=1.5), "max_shared"),
        (lambda: AnswerSettings(max_highlights=0), "max_highlights"),
    ],
)
def test_bad_settings_fail_at_construction_naming_the_field(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_settings_are_written_whole_and_read_back():
    s = Settings(chunk=ChunkSettings(max_tokens=100, overlap_tokens=20), retrieval=RetrievalSettings(rrf_k=30))
    d = s.to_dict()
    assert d["chunk"]["max_tokens"] == 100 and d["retrieval"]["rrf_k"] == 30
    assert set(d) == {"chunk", "index", "retrieval", "rerank", "answer"}
    assert ChunkSettings.from_dict(d["chunk"]) == s.chunk
    assert RetrievalSettings.from_dict({**d["retrieval"], "unknown": 1}) == s.retrieval


def test_settings_of_accepts_chunk_settings_alone():
    assert Settings.of(None) == Settings()
    assert Settings.of(ChunkSettings(max_tokens=64, overlap_tokens=8)).chunk.max_tokens == 64
    with pytest.raises(TypeError):
        Settings.of({"max_tokens": 64})


def test_k_and_the_candidate_depth_are_settings_not_constants():
    from qa.config import MAX_K, RetrievalSettings, check_k

    assert check_k(100, max_k=100) == 100
    with pytest.raises(ValueError, match="between 1 and 50"):
        check_k(MAX_K + 1)
    with pytest.raises(ValueError, match="max_k"):
        RetrievalSettings(max_k=0)


def test_candidates_on_the_command_line_raise_the_largest_k():
    import argparse

    from qa.options import add_answer_options, settings_from_args

    p = argparse.ArgumentParser()
    add_answer_options(p)
    st = settings_from_args(p.parse_args(["--candidates", "200"])).retrieval
    assert (st.candidates, st.max_k) == (200, 200)
    assert settings_from_args(p.parse_args([])).retrieval == RetrievalSettings()
