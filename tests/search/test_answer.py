"""The answer stage: which sentences are highlighted, in what order they are shown, and when to refuse."""

from __future__ import annotations

import numpy as np
import pytest

from qa.search.answer import NO_ANSWER, NOTHING, best_sentences, choose_highlights, confidence_level, make_answer, ranked_highlights
from qa.config import AnswerSettings
from qa.records import Chunk, Document, Hit, Scores

S = AnswerSettings()


def test_the_best_sentence_is_highlighted_and_a_close_second_too():
    words = np.array([10, 10, 10])
    assert choose_highlights(np.array([0.2, 0.6, 0.3]), words) == [1]
    # 0.58 is within the 0.05 margin of 0.60: both, in text order
    assert choose_highlights(np.array([0.58, 0.6, 0.3]), words) == [0, 1]
    # never more than max_highlights, even when all are within the margin
    assert choose_highlights(np.array([0.6, 0.6, 0.6]), words) == [0, 1]
    assert choose_highlights(np.array([0.6, 0.6, 0.6]), words, AnswerSettings(max_highlights=1)) == [0]


def test_a_short_lead_in_loses_to_a_longer_sentence_unless_all_are_short():
    # "Claire Fuller puts this eloquently:" (5 words, 0.7) against the quote that follows (20 words, 0.5)
    assert choose_highlights(np.array([0.7, 0.5]), np.array([5, 20])) == [1]
    # 0.7 - 2.0 (short_penalty) is far below 0.5: the short one is not even a close second
    assert choose_highlights(np.array([0.7, 0.5]), np.array([5, 20]), AnswerSettings(short_penalty=0.15)) == [0, 1]
    assert choose_highlights(np.array([0.7, 0.5]), np.array([3, 4])) == [0]
    assert choose_highlights(np.array([]), np.array([])) == []


def doc_and_hit(scores, text="One two three four five six. Seven eight nine ten eleven twelve thirteen.", score=0.5):
    doc = Document(source="d.txt", text=text, title="D", sha256="x")
    a = text.index("Seven")
    chunk = Chunk("c1", "d.txt", 0, len(text), text, ("Intro",), ((0, a - 1), (a, len(text))), text)
    return doc, Hit(chunk=chunk, score=score, row=0, sentence_scores=tuple(scores))


def test_answer_confidence_is_the_best_highlight_and_refuses_below_the_threshold():
    doc, hit = doc_and_hit([0.2, 0.4])
    answer = make_answer("q?", [hit], {"d.txt": doc}, "hybrid", AnswerSettings(abstain_threshold=0.3))
    assert answer.confidence == pytest.approx(0.4) and not answer.abstained and answer.message == ""
    assert answer.passages[0].highlights == ((doc.text.index("Seven"), len(doc.text)),)
    refused = make_answer("q?", [hit], {"d.txt": doc}, "hybrid", AnswerSettings(abstain_threshold=0.45))
    assert refused.abstained and refused.message == NO_ANSWER and refused.level == "low"
    assert refused.passages, "a refusal still lists the nearest passages"
    empty = make_answer("q?", [], {}, "hybrid")
    assert empty.abstained and empty.message == NOTHING


def test_a_chance_table_out_of_order_is_refused_with_what_to_run():
    with pytest.raises(ValueError, match="--fit-lead"):
        AnswerSettings(chance_table=((0.5, 0.3), (0.1, 0.9)))
    with pytest.raises(ValueError, match="ascending"):
        AnswerSettings(chance_table=())


def test_confidence_level_in_words():
    assert confidence_level(0.9, False, S) == "high"
    assert confidence_level(S.high_confidence - 0.01, False, S) == "medium"
    assert confidence_level(0.9, True, S) == "low"
    assert confidence_level(0.0, False, S, "logit", chance=S.high_chance) == "high"
    assert confidence_level(0.0, False, S, "logit", chance=S.medium_chance) == "medium"
    assert confidence_level(0.0, False, S, "logit", chance=S.medium_chance - 0.01) == "low"
    assert confidence_level(0.99, False, S, "late") == "medium", "no 'high' is calibrated for a ColBERT score"


@pytest.mark.parametrize("kind, threshold", [("late", S.abstain_late), ("cross", S.abstain_cross),
                                             ("cosine", S.abstain_threshold), ("terms", S.abstain_terms)])
def test_each_kind_of_confidence_is_read_against_its_own_threshold(kind, threshold):
    """A ColBERT score (--rerank none) was once compared with the cosine threshold, so nothing was ever refused."""
    below, above = threshold - 0.01, threshold + 0.01
    doc, hit = doc_and_hit([below - 1, below])
    assert make_answer("q?", [hit], {"d.txt": doc}, "hybrid", kind=kind).abstained
    doc, hit = doc_and_hit([below - 1, above])
    assert not make_answer("q?", [hit], {"d.txt": doc}, "hybrid", kind=kind).abstained
    with pytest.raises(ValueError, match="kind"):
        make_answer("q?", [hit], {"d.txt": doc}, "hybrid", kind="similarity")


def test_the_top_passage_leads_then_the_rest_by_score():
    doc, h1 = doc_and_hit([0.1, 0.35])
    _, h2 = doc_and_hit([0.9, 0.1])
    answer = make_answer("q?", [h1, h2], {"d.txt": doc}, "hybrid")
    order = ranked_highlights(answer)
    assert [(i, round(s, 2)) for i, _, s in order] == [(0, 0.35), (1, 0.9)]
    assert best_sentences(answer, 1) == [(1, "Seven eight nine ten eleven twelve thirteen.")]


@pytest.mark.parametrize(
    "text, ok",
    [
        ("Timmins N (2015). The practice of system leadership. London: The King's Fund.", False),
        ("Ham C, Alderwick H (2015). Place-based systems of care.", False),
        ("[12] Smith J. A study of things. BMJ 2019.", False),
        ("Available at: https://www.kingsfund.org.uk/publications", False),
        ("Claire Fuller puts this eloquently:", False),
        ("One two three four five six.", True),
        ("System leaders earn authority through relationships, not hierarchy.", True),
        ("In 2016, the NHS set out plans for 44 partnerships.", True),
    ],
)
def test_only_prose_can_be_quoted_as_the_answer(text, ok):
    from qa.search.quotable import quotable

    doc = Document(source="d.txt", text=text, title="D", sha256="x")
    assert quotable(doc, (0, len(text)), text) is ok


def test_back_matter_and_repeated_sentences_are_not_quoted():
    doc, hit = doc_and_hit([0.9, 0.4])
    doc = Document(source="d.txt", text=doc.text, title="D", sha256="x", back_matter=((0, 10),))
    answer = make_answer("q?", [hit, hit], {"d.txt": doc}, "hybrid")
    assert answer.passages[0].highlights == ((doc.text.index("Seven"), len(doc.text)),)
    # the second passage is the same chunk: its sentence was quoted already, so it is not quoted again
    assert [i for i, _, _ in ranked_highlights(answer)] == [0]


def _hit(doc: Document, sentences: list[str], scores: list[float], row: int) -> Hit:
    spans = tuple((doc.text.index(s), doc.text.index(s) + len(s)) for s in sentences)
    a, b = spans[0][0], spans[-1][1]
    chunk = Chunk(f"c{row}", doc.source, a, b, doc.text[a:b], (), spans, doc.text[a:b])
    return Hit(chunk=chunk, score=1.0 / (row + 1), row=row, sentence_scores=tuple(scores))


def test_the_engine_never_quotes_a_bare_citation_a_reference_entry_or_a_sentence_already_quoted():
    """What may lead a reply is decided here, once, for the page, the CLI and the evals alike."""
    text = ("Leaders need patience and trust across the whole system. ([Ham 2018](#))\n\n"
            "Leaders also need a shared purpose across organisations. Available at: www.kingsfund.org.uk/leaders\n\n"
            "As noted, leaders need patience and trust across the whole system. They meet each month.")
    doc = Document(source="d.md", text=text, title="D", sha256="x")
    hits = [
        _hit(doc, ["Leaders need patience and trust across the whole system.", "([Ham 2018](#))"], [0.5, 0.9], 0),
        _hit(doc, ["Leaders also need a shared purpose across organisations.",
                   "Available at: www.kingsfund.org.uk/leaders"], [0.4, 0.95], 1),
        _hit(doc, ["As noted, leaders need patience and trust across the whole system.", "They meet each month."], [0.8, 0.1], 2),
    ]
    answer = make_answer("What do leaders need?", hits, {"d.md": doc}, "hybrid", AnswerSettings(min_highlight_words=1))
    quoted = [answer.passages[i].text[a - answer.passages[i].start : b - answer.passages[i].start]
              for i, (a, b), _ in ranked_highlights(answer)]
    assert quoted[0] == "Leaders need patience and trust across the whole system."
    assert "Leaders also need a shared purpose across organisations." in quoted
    assert not any("Ham 2018" in q or "Available at" in q for q in quoted)  # fragment and reference entry
    assert not any(q.startswith("As noted") for q in quoted)  # contains a sentence already quoted


def test_a_reply_with_nothing_quotable_to_lead_is_a_refusal_never_neither():
    text = "Timmins N (2015). The practice of system leadership. London: The King's Fund. Available at: www.kingsfund.org.uk"
    doc = Document(source="d.txt", text=text, title="D", sha256="x")
    chunk = Chunk("c1", "d.txt", 0, len(text), text, (), ((0, 52), (53, len(text))), text)
    hit = Hit(chunk=chunk, score=1.0, row=0, sentence_scores=(0.9, 0.9), rerank=5.0)
    answer = make_answer("How many leaders?", [hit], {"d.txt": doc}, "hybrid")
    assert answer.lead is None and answer.abstained and answer.message == NO_ANSWER and answer.passages


def test_each_passage_carries_how_its_hit_was_ranked():
    doc, h = doc_and_hit([0.2, 0.6])
    h = Hit(chunk=h.chunk, score=0.03, dense=0.61, bm25=7.25, rank_dense=2, rank_bm25=4, rank_fused=3, row=0,
            sentence_scores=(0.2, 0.6), late=21.5, rank_late=1, second=0.78, rank_second=5, rerank=5.5)
    p = make_answer("q", [h], {"d.txt": doc}, "hybrid").passages[0]
    assert p.scores == Scores(rank=1, rank_fused=3, rerank=5.5, late=21.5, rank_late=1, second=0.78, rank_second=5, dense=0.61,
                              rank_dense=2, bm25=7.25, rank_bm25=4)
    assert make_answer("q", [h], {"d.txt": doc}, "hybrid").to_dict()["passages"][0]["scores"] == {
        "rank": 1, "rank_fused": 3, "rerank": 5.5, "late": 21.5, "rank_late": 1, "second": 0.78, "rank_second": 5, "dense": 0.61,
        "rank_dense": 2, "bm25": 7.25, "rank_bm25": 4}
