"""The second stage: the cross-encoder's order, sentence scores, and the engine's answers with it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from qa import Engine
from qa.config import RerankSettings, Settings
from qa.records import Chunk, Hit
from qa.search.rerank import Reranker

pytestmark = pytest.mark.model


def hit(text, score, row=0):
    spans, at = [], 0
    for part in text.split(". "):
        a = text.index(part, at)
        spans.append((a, a + len(part)))
        at = a + len(part)
    return Hit(Chunk(f"c{row}", "d.txt", 0, len(text), text, (), tuple(spans), text), score=score, row=row,
               sentence_scores=(0.0,) * len(spans))


def test_the_cross_encoder_puts_the_passage_that_answers_first():
    hits = [hit("The weather in Spain is mostly sunny. Paella is a rice dish", 0.9, 0),
            hit("Dr Claire Fuller is the senior responsible officer at Surrey Heartlands. She is a GP", 0.5, 1)]
    timings = {}
    out = Reranker(RerankSettings(depth=2, sentences="cross-encoder")).rerank("Who leads Surrey Heartlands?", hits, timings=timings)
    assert [h.row for h in out] == [1, 0]
    assert out[0].rerank > out[1].rerank
    assert out[0].sentence_scores[0] > out[0].sentence_scores[1]  # the sentence naming the leader
    assert timings["rerank_ms"] > 0


def test_hits_past_the_depth_keep_their_order_and_none_turns_it_off():
    hits = [hit("Alpha beta gamma. Delta", 0.9, i) for i in range(4)]
    out = Reranker(RerankSettings(depth=2)).rerank("alpha", hits)
    assert [h.row for h in out[2:]] == [2, 3] and out[2].rerank is None
    same = Reranker(RerankSettings(model="none", sentences="cosine")).rerank("alpha", hits)
    assert same == hits


class FixedLogits:
    """A cross-encoder stand-in that gives each passage a set logit."""

    def __init__(self, logits):
        self.logits = logits

    def score(self, question, texts, max_length=256):
        return np.array(self.logits[: len(texts)], dtype=np.float32)


@pytest.mark.parametrize("weight, order", [(0.0, [3, 1, 0, 2]), (0.5, [3, 0, 1, 2])])
def test_the_first_stage_rank_breaks_only_near_ties(weight, order):
    hits = [hit("Alpha beta gamma. Delta", 0.9, i) for i in range(4)]
    reranker = Reranker(RerankSettings(depth=4, rank_weight=weight, sentences="cosine"))
    reranker._model = FixedLogits([1.0, 1.2, -3.0, 5.0])
    out = reranker.rerank("alpha", hits)
    assert [h.row for h in out] == order  # 1.2 at rank 2 loses to 1.0 at rank 1 only when the rank counts; 5.0 wins anyway
    assert [h.rerank for h in out] == pytest.approx([[1.0, 1.2, -3.0, 5.0][i] for i in order])  # logits kept as they were


def test_an_answer_never_leads_with_a_reference_line(tmp_path, embedder):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "report.md").write_text(
        "# Leading systems\n\nSystem leaders earn authority through relationships and persuasion, not hierarchy.\n\n"
        "Budgets are pooled across the partners in the system.\n\n"
        "# References\n\nTimmins N (2015). The practice of system leadership: being comfortable with chaos. "
        "London: The King's Fund.\n\nHam C (2018). Making sense of integrated care systems. London: The King's Fund.\n",
        encoding="utf-8",
    )
    engine = Engine(corpus=folder, index_dir=tmp_path / "ix", embedder=embedder)
    doc = engine.document("report.md")
    assert doc.back_matter, "the reference list is back matter"
    for q in ("What is the practice of system leadership?", "How do system leaders get authority?"):
        answer = engine.ask(q, k=3)
        for i, (a, b), _ in __import__("qa.search.answer", fromlist=["x"]).ranked_highlights(answer)[:1]:
            assert not any(x < b and a < y for x, y in doc.back_matter), doc.text[a:b]


def test_bm25_alone_never_embeds_the_question(engine, monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("bm25 mode embedded the question")

    monkeypatch.setattr(engine.embedder, "encode", refuse)
    answer = engine.ask("Which place in New Zealand is held up as an example?", k=3, mode="bm25")
    assert answer.passages and "Canterbury" in " ".join(p.text for p in answer.passages)


def test_the_seed_answer_leads_with_the_sentence_that_answers(engine):
    answer = engine.ask("Where does Claire Fuller's authority come from?", k=5)
    from qa.search.answer import best_sentences

    lead = best_sentences(answer, 1)[0][1]
    assert "authority" in lead.lower()
    assert answer.timings["rerank_ms"] > 0 and not answer.abstained
    assert Settings().rerank.model == "cross-encoder"


def test_the_cross_encoder_reads_only_the_sentences_that_may_lead(engine):
    """A sentence the answer stage may not lead with (a lead-in, a fragment, back matter) is not read; every
    other sentence gets the very numbers it gets when all are read."""
    import math

    from qa.search.quotable import quotable_flags

    skipped = 0
    for q in ("How do chairs respond when asked what authority they have?", "What does Claire Fuller say about the vision?",
              "How many leaders did Timmins interview?"):
        text, hits, retriever, _ = engine.ranked(q, k=5)
        measured = [h for h in hits if h.signals is not None]
        assert measured
        ok = quotable_flags(measured, retriever.index.docs, len(measured))
        every = engine.reranker.signals(text, [dataclasses.replace(h, signals=None) for h in measured], retriever.index.late)
        for h, flags, full in zip(measured, ok, every):
            for name in ("cross", "context", "answer"):
                got, want = getattr(h.signals, name), getattr(full.signals, name)
                assert [math.isnan(x) for x in got] == [not f for f in flags], (q, name)
                assert [x for x, f in zip(got, flags) if f] == [x for x, f in zip(want, flags) if f], (q, name)
            assert h.signals.late == full.signals.late  # ColBERT still measures every sentence (the highlights)
            skipped += flags.count(False)
    assert skipped > 0, "the questions met no sentence that may not lead: the test proves nothing"
