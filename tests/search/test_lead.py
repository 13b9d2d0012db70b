"""The fused lead: features read from the records, and the sentence the weights choose."""

from __future__ import annotations

import dataclasses

import numpy as np

from qa.config import AnswerSettings
from qa.records import Chunk, Document, Hit, SentenceSignals
from qa.search import lead
from qa.search.quotable import quotable_flags
from qa.search.answer import make_answer

TEXT = ("Claire Fuller leads the Surrey partnership in the south of England. "
        "She puts it this way: "
        "The hardest bit is keeping all of the plates spinning all of the time. "
        "Partnership boards meet every month in public.")


def sentences(text: str) -> tuple[tuple[int, int], ...]:
    out, at = [], 0
    for part in ("Claire Fuller leads the Surrey partnership in the south of England.", "She puts it this way:",
                 "The hardest bit is keeping all of the plates spinning all of the time.",
                 "Partnership boards meet every month in public."):
        a = text.index(part, at)
        out.append((a, a + len(part)))
        at = a + len(part)
    return tuple(out)


def hit(late, cross, context, rerank=5.0, source="d.txt", text=TEXT, answer=()) -> tuple[Document, Hit]:
    doc = Document(source=source, text=text, title="D", sha256="x")
    chunk = Chunk("c", source, 0, len(text), text, (), sentences(text), text)
    sig = SentenceSignals(late=tuple(late), cross=tuple(cross), context=tuple(context), answer=tuple(answer))
    return doc, Hit(chunk=chunk, score=1.0, row=0, sentence_scores=tuple(late), rerank=rerank, signals=sig)


def test_features_read_the_lead_in_the_names_and_the_position():
    doc, h = hit([0.9, 0.5, 0.6, 0.1], [3, 0, 1, -5], [2, 1, 4, -3])
    ok = quotable_flags([h], {"d.txt": doc})
    assert ok == [[True, False, True, True]], "a lead-in that ends with a colon may not lead"
    cands = lead.candidates([h], ok)
    x = lead.features("What does Claire Fuller find hardest?", [h], cands)
    col = {f: i for i, f in enumerate(lead.FEATURES)}
    assert [c.sentence for c in cands] == [0, 2, 3]
    assert x[:, col["after_lead_in"]].tolist() == [0, 1, 0]
    assert x[:, col["named_before"]].tolist() == [0, 1, 1], "named in one of the three sentences before, not in it"
    assert x[:, col["position"]].tolist() == [0, 2 / 3, 1]
    assert np.isclose(x[:, col["late"]].mean(), 0) and x[0, col["late"]] > x[1, col["late"]] > x[2, col["late"]]
    assert x[:, col["logit_gap"]].tolist() == [0, 0, 0]


def test_the_answer_head_is_a_z_scored_column_and_zero_when_it_did_not_run():
    col = lead.FEATURES.index("answer")
    doc, h = hit([0.9, 0.5, 0.6, 0.1], [3, 0, 1, -5], [2, 1, 4, -3], answer=[-2.0, 9.0, 1.0, 4.0])
    ok = quotable_flags([h], {"d.txt": doc})
    cands = lead.candidates([h], ok)
    x = lead.features("What is hardest?", [h], cands)
    assert np.isclose(x[:, col].mean(), 0) and np.isclose(x[:, col].std(), 1, atol=1e-3)
    assert x[0, col] < x[1, col] < x[2, col], "candidates 0, 2, 3 have answer scores -2, 1, 4"
    best, _ = lead.rank("What is hardest?", [h], ok, {"answer": 1.0})
    assert best[0].sentence == 3
    doc, h = hit([0.9, 0.5, 0.6, 0.1], [3, 0, 1, -5], [2, 1, 4, -3])
    assert not lead.features("What is hardest?", [h], cands)[:, col].any()


def test_the_weights_decide_which_sentence_leads():
    doc, h = hit([0.9, 0.5, 0.6, 0.1], [3, 0, 1, -5], [2, 1, 4, -3])
    ok = quotable_flags([h], {"d.txt": doc})
    q = "What does Claire Fuller find hardest?"
    by_late, p = lead.rank(q, [h], ok, {"late": 1.0})
    assert by_late[0].sentence == 0 and np.isclose(p.sum(), 1) and p[0] == p.max()
    by_context, _ = lead.rank(q, [h], ok, {"context": 1.0, "named_before": 1.0})
    assert by_context[0].sentence == 2


def test_the_answer_leads_with_the_fused_choice_highlights_it_and_marks_nothing_for_a_why():
    doc, h = hit([0.9, 0.5, 0.6, 0.1], [3, 0, 1, -5], [2, 1, 4, -3])
    settings = AnswerSettings(lead_weights=(("context", 1.0), ("named_before", 1.0)))
    answer = make_answer("What does Claire Fuller find hardest?", [h], {"d.txt": doc}, "hybrid", settings)
    span = sentences(TEXT)[2]
    assert answer.lead == (0, span)
    assert span in answer.passages[0].highlights, "the lead is one of its passage's highlights"
    assert answer.chance is not None and 0 < answer.chance < 1
    assert answer.short is None
    assert answer.to_dict()["lead"] == {"passage": 1, "start": span[0], "end": span[1]}


def test_the_short_answer_is_marked_inside_the_lead_in_document_offsets():
    text = "Leaders met often. Through interviews with 16 leaders, the report looks at systems. Boards meet monthly in public."
    doc = Document(source="d.txt", text=text, title="D", sha256="x")
    spans = ((0, 18), (19, 84), (85, len(text)))
    chunk = Chunk("c", "d.txt", 0, len(text), text, (), spans, text)
    sig = SentenceSignals(late=(0.1, 0.9, 0.2), cross=(0, 5, 0), context=(0, 5, 0))
    h = Hit(chunk=chunk, score=1.0, row=0, sentence_scores=(0.1, 0.9, 0.2), rerank=4.0, signals=sig)
    answer = make_answer("How many leaders were interviewed?", [h], {"d.txt": doc}, "hybrid")
    assert answer.lead == (0, spans[1])
    assert text[answer.short[0]:answer.short[1]] == "16"
    assert answer.to_dict()["short"] == {"start": answer.short[0], "end": answer.short[1], "text": "16"}


def test_a_refusal_marks_no_short_answer():
    text = "Leaders met often. Through interviews with 16 leaders, the report looks at systems."
    doc = Document(source="d.txt", text=text, title="D", sha256="x")
    chunk = Chunk("c", "d.txt", 0, len(text), text, (), ((0, 18), (19, len(text))), text)
    h = Hit(chunk=chunk, score=1.0, row=0, sentence_scores=(0.1, 0.9), rerank=-20.0)
    answer = make_answer("How many leaders were interviewed?", [h], {"d.txt": doc}, "hybrid")
    assert answer.abstained and answer.short is None and answer.level == "low"


def test_the_answer_says_why_its_lead_was_chosen_feature_by_feature():
    doc, h = hit([0.9, 0.5, 0.6, 0.1], [3, 0, 1, -5], [2, 1, 4, -3])
    weights = {"context": 1.0, "named_before": 2.0}
    q = "What does Claire Fuller find hardest?"
    answer = make_answer(q, [h], {"d.txt": doc}, "hybrid", AnswerSettings(lead_weights=tuple(weights.items())))
    why = answer.lead_reason
    ok = quotable_flags([h], {"d.txt": doc})
    cands = lead.candidates([h], ok)
    x = lead.features(q, [h], cands)  # rows in candidate order: sentences 0, 2, 3
    best = [c.sentence for c in cands].index(2)
    assert answer.lead == (0, cands[best].span) and why.candidates == 3
    assert why.probability == lead.rank(q, [h], ok, weights)[1][0]
    assert [f for f, _, _ in why.features] == list(lead.FEATURES)
    assert [v for _, v, _ in why.features] == x[best].tolist()
    assert {f: w for f, _, w in why.features if w} == weights
    # value x weight, summed, is the lead's score; the softmax of the scores is its probability
    w = np.array([weights.get(f, 0.0) for f in lead.FEATURES])
    assert np.isclose(sum(v * wt for _, v, wt in why.features), (x @ w)[best])
    assert np.isclose(why.probability, lead.softmax(x @ w)[best])
    col = lead.FEATURES.index("context")
    assert answer.to_dict()["lead_reason"]["features"][col] == {"name": "context", "value": round(x[best, col], 4),
                                                                "weight": 1.0}


def test_without_the_lead_model_there_is_no_reason_to_give():
    doc, h = hit([0.9, 0.5, 0.6, 0.1], [3, 0, 1, -5], [2, 1, 4, -3])
    answer = make_answer("What is hard?", [h], {"d.txt": doc}, "hybrid", AnswerSettings(lead_weights=()))
    assert answer.lead is not None and answer.lead_reason is None and answer.to_dict()["lead_reason"] is None


def test_every_feature_is_put_in_words_with_its_scale():
    assert list(lead.FEATURE_WORDS) == list(lead.FEATURES)
    assert {scale for _, scale in lead.FEATURE_WORDS.values()} <= {"yes/no", "logit", "position", "z", "share"}


def test_the_reason_lists_every_sentence_weighed_best_first_with_its_share():
    doc, h = hit([0.9, 0.5, 0.6, 0.1], [3, 0, 1, -5], [2, 1, 4, -3])
    weights = {"context": 1.0, "cross": 0.5}
    q = "What does Claire Fuller find hardest?"
    answer = make_answer(q, [h], {"d.txt": doc}, "hybrid", AnswerSettings(lead_weights=tuple(weights.items())))
    considered = answer.lead_reason.considered
    cands, p = lead.rank(q, [h], quotable_flags([h], {"d.txt": doc}), weights)
    assert [(c.passage, c.span) for c in cands] == [(i, s) for i, s, _ in considered]
    assert np.allclose([x for _, _, x in considered], p) and np.isclose(sum(p), 1.0)
    assert considered[0][:2] == answer.lead and considered[0][2] == answer.lead_reason.probability
    first = answer.to_dict()["lead_reason"]["considered"][0]
    assert first == {"passage": 1, "start": answer.lead[1][0], "end": answer.lead[1][1],
                     "probability": round(answer.lead_reason.probability, 4)}


def test_the_passage_the_lead_is_from_comes_first_then_the_others_weighed_by_their_share():
    d1, h1 = hit([0.9, 0.5, 0.6, 0.1], [3, 0, 1, -5], [2, 1, 4, -3], rerank=6.0, source="a.txt")
    d2, h2 = hit([0.1, 0.5, 0.2, 0.1], [0, 0, 0, 0], [0, 0, 0, 0], rerank=2.0, source="b.txt")
    d3, h3 = hit([0.1, 0.5, 0.2, 0.9], [0, 0, 0, 9], [0, 0, 0, 0], rerank=1.0, source="c.txt")
    d4, h4 = hit([0.1, 0.5, 0.2, 0.9], [0, 0, 0, 9], [0, 0, 0, 0], rerank=0.5, source="e.txt")
    docs = {d.source: d for d in (d1, d2, d3, d4)}
    hits = [h1, h2, h3, h4]
    weights = (("cross", 1.0),)
    q = "Which boards meet in public?"
    ranked = make_answer(q, hits, docs, "hybrid", AnswerSettings(lead_weights=weights, passage_order="rerank"))
    led = make_answer(q, hits, docs, "hybrid", AnswerSettings(lead_weights=weights))
    assert [p.source for p in ranked.passages] == ["a.txt", "b.txt", "c.txt", "e.txt"]
    assert ranked.lead[0] == 2, "the cross-encoder's best sentence is the third passage's last"
    # shown: the lead's passage, then the first (its sentences' shares outweigh the second's), then the rest as ranked
    assert [p.source for p in led.passages] == ["c.txt", "a.txt", "b.txt", "e.txt"]
    assert [p.scores.rank for p in led.passages] == [3, 1, 2, 4], "each passage still says where the reranker put it"
    assert led.lead == (0, ranked.lead[1]) and led.passages[0].text == ranked.passages[2].text
    assert led.confidence == ranked.confidence == 6.0, "the confidence stays the reranker's first passage's logit"
    shown = [(led.passages[i].source, span, share) for i, span, share in led.lead_reason.considered]
    assert shown == [(ranked.passages[i].source, span, share) for i, span, share in ranked.lead_reason.considered]
    assert led.lead_reason.considered[0][:2] == led.lead


def test_passage_order_with_one_passage_weighed_keeps_the_rest_as_ranked():
    from qa.records import LeadReason
    why = LeadReason(1.0, 1, (), ((1, (0, 4), 1.0),))
    assert lead.passage_order(why, 4) == [1, 0, 2, 3]


def test_the_reply_quotes_the_lead_models_runner_up_second_highlighted_even_where_colbert_ranks_it_low():
    from qa.search.answer import ranked_highlights

    # ColBERT (the highlight order) prefers sentences 0 and 3 of the first passage; the cross-encoder 2, then 3
    d1, h1 = hit([0.9, 0.5, 0.1, 0.8], [0, 0, 7, 5], [0, 0, 0, 0], rerank=6.0, source="a.txt")
    other = "Sussex has a partnership board of its own now. It meets every other month in private session."
    d2 = Document(source="b.txt", text=other, title="B", sha256="y")
    spans2 = ((0, 46), (47, len(other)))
    chunk2 = Chunk("c2", "b.txt", 0, len(other), other, (), spans2, other)
    h2 = Hit(chunk=chunk2, score=1.0, row=1, sentence_scores=(0.9, 0.2), rerank=2.0,
             signals=SentenceSignals(late=(0.9, 0.2), cross=(6, 0), context=(0, 0)))
    docs = {"a.txt": d1, "b.txt": d2}
    q = "Which boards meet in public?"
    answer = make_answer(q, [h1, h2], docs, "hybrid", AnswerSettings(lead_weights=(("cross", 1.0),)))
    spans = sentences(TEXT)
    assert answer.lead == (0, spans[2]) and answer.lead_reason.considered[1][:2] == (1, spans2[0])
    assert [(i, span) for i, span, _ in ranked_highlights(answer)[:2]] == [(0, spans[2]), (1, spans2[0])], \
        "a runner-up in another passage is quoted second"
    h2 = dataclasses.replace(h2, signals=SentenceSignals(late=(0.9, 0.2), cross=(0, 0), context=(0, 0)))
    answer = make_answer(q, [h1, h2], docs, "hybrid", AnswerSettings(lead_weights=(("cross", 1.0),)))
    assert answer.lead == (0, spans[2]) and answer.lead_reason.considered[1][:2] == (0, spans[3])
    assert set(answer.passages[0].highlights) == {spans[2], spans[3]}, "the lead and the runner-up, not ColBERT's best"
    assert [(i, span) for i, span, _ in ranked_highlights(answer)[:2]] == [(0, spans[2]), (0, spans[3])]
