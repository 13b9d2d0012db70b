"""The "How this answer was chosen" view: closed by default, every figure labelled with what it is and its scale,
measures no passage has left out, and never in the copied Markdown."""

from __future__ import annotations

import dataclasses

import html
import re

from qa.page import conversation, details, reply
from qa.page.turns import Turn
from qa.records import Answer, LeadReason, Passage, Scores
from qa.search import lead
from qa.search.answer import SCORE_KINDS

TEXT = "Leaders met often. Through interviews with 16 leaders, the report looks at systems. Boards meet in public."
LEAD = (19, 84)


def passage(title: str, scores: Scores | None, start: int = 0) -> Passage:
    return Passage(source="d.txt", title=title, section=(), start=start, end=len(TEXT), text=TEXT[start:],
                   score=1.0, highlights=(LEAD,), highlight_scores=(0.9,), quotable=(True,), scores=scores)


FIRST = Scores(rank_fused=2, rerank=7.0045, late=27.23, rank_late=1, second=0.81, rank_second=3, dense=0.71, rank_dense=2,
               bm25=4.18, rank_bm25=4)
SECOND = Scores(rank_fused=1, rerank=-0.154, late=26.72, rank_late=2, second=0.84, rank_second=1, dense=0.74, rank_dense=1,
                bm25=None, rank_bm25=None)
WHY = LeadReason(probability=0.8121, candidates=8, features=tuple(
    (f, {"kind_match": 1.0, "late": 1.0496, "second": 0.0, "position": 0.4}.get(f, 0.0), w)
    for f, w in (("second", -1.5111), ("third", -0.7227), ("logit_gap", 0.1569), ("after_lead_in", 0.7085),
                 ("kind_match", 1.5509), ("position", 1.6522), ("context", 0.6364), ("cross", 0.3707),
                 ("late", 1.1708), ("named_before", 0.6029))))


def answer(**kw) -> Answer:
    fields = dict(question="How many leaders?", passages=(passage("A <b>report</b>", FIRST), passage("Other", SECOND)),
                  abstained=False, confidence=7.0045, level="medium", lead=(0, LEAD), short=(43, 45), chance=0.7397,
                  kind="logit", lead_reason=WHY)
    return Answer(**{**fields, **kw})


def visible(markup: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def rows(markup: str) -> dict[str, list[str]]:
    """The table's rows: {row header without its scale: [cell texts]}."""
    out = {}
    for row in re.findall(r"<tr><th scope=\"row\">(.*?)</tr>", markup):
        head, _, cells = row.partition("</th>")
        label = visible(head.split('<span class="qa-details-scale">')[0])
        out[label] = [visible(c) for c in re.findall(r"<td>(.*?)</td>", cells)]
    return out


def test_the_view_is_closed_under_the_reply_and_never_copied():
    a = answer()
    view = details.details_html(a)
    assert view.startswith('<details class="qa-details"><summary>How this answer was chosen</summary>')
    assert "<details class=\"qa-details\" open" not in view and "\n" not in view
    md = reply.answer_markdown(a)
    turn = Turn(1, a.question, kind="answer", html=reply.answer_html(a), details=view, text=md)
    page = conversation.turn_html(turn)
    assert page.index('class="qa-answer') < page.index("qa-details") < page.index("qa-tools")
    assert "How this answer was chosen" not in md and "7.00" not in md and "logit" not in md
    assert "logit" not in html.unescape(re.search(r'data-text="([^"]*)"', page).group(1))
    # an error has no view, whatever it was given
    assert "qa-details" not in conversation.turn_html(Turn(2, "?", kind="error", html="<p>bad</p>", details=view))


def test_each_passage_shows_its_ranks_and_scores_under_labels_that_say_what_and_on_what_scale():
    view = details.details_html(answer())
    table = rows(view)
    assert table == {
        "Rank after reranking": ["1", "2"],
        "Rank after fusion": ["2", "1"],
        "Cross-encoder relevance": ["7.00", "−0.15"],
        "ColBERT late-interaction score": ["27.2", "26.7"],
        "Rank in the ColBERT list": ["1", "2"],
        "Rank in the semantic list": ["2", "1"],
        "Rank in the bge list": ["3", "1"],
        "Rank in the keyword list": ["4", "— not measured"],
    }
    text = visible(view)
    assert "Cross-encoder relevance (a logit: higher is more relevant; not a probability)" in text
    assert "ColBERT late-interaction score (up to 32:" in text
    assert "Rank after fusion (1 is first; the semantic, keyword, ColBERT and bge lists fused by reciprocal rank)" in text
    without = details.details_html(dataclasses.replace(answer(), passages=tuple(
        dataclasses.replace(p, scores=dataclasses.replace(p.scores, rank_late=None, rank_second=None)) for p in answer().passages)))
    assert "(1 is first; the semantic and keyword lists fused by reciprocal rank)" in visible(without)
    assert "— : not measured for that passage" in text
    # columns by marker, each naming its passage for a screen reader; titles escaped
    assert '<th scope="col">[1]<span class="qa-sr"> A &lt;b&gt;report&lt;/b&gt;</span></th>' in view
    assert "<b>" not in view


def test_the_lead_shows_its_calibrated_chance_its_share_and_the_features_that_chose_it():
    text = visible(details.details_html(answer()))
    assert "The sentence it leads with, “Through interviews with 16 leaders, the report looks at systems.” [1]" in text
    assert ("Calibrated chance that it answers 74%: leads scored like this were right about 7 in 10 times on the "
            "evaluation set") in text
    assert ("The lead model's share for it 0.81 of the whole, shared by the 8 quotable sentences of the first passages "
            "that it weighed (not calibrated)") in text
    kind, late, position = (lead.FEATURE_WORDS[f][0] for f in ("kind_match", "late", "position"))
    # largest contribution first: 1.55 (kind), 1.23 (late, 1.0496 x 1.1708), 0.66 (position, 0.4 x 1.6522)
    assert (f"{kind}: yes × weight 1.55 = +1.55 "
            f"{late}: +1.05 standard deviations from the candidates' mean × weight 1.17 = +1.23 "
            f"{position}: 0.40 (0 first, 1 last) × weight 1.65 = +0.66") in text
    assert lead.FEATURE_WORDS["second"][0] not in text, "a feature that added nothing is not listed"
    assert ("Whether to answer at all It reads the first passage's cross-encoder relevance (a logit; higher is more "
            "relevant, not a probability): 7.00, above the level") in text


def test_every_figure_in_the_view_has_a_label_beside_it():
    view = details.details_html(answer())
    for dd in re.findall(r"<div><dt>[^<]+</dt><dd>(.*?)</dd></div>", view):
        assert dd  # each description has its term
    assert view.count("<dd>") == view.count("<dt>") == len(re.findall(r"<div><dt>[^<]+</dt><dd>", view))
    body = re.search(r"<tbody>(.*)</tbody>", view).group(1)
    for row in re.findall(r"<tr>(.*?)</tr>", body):
        assert re.match(r'<th scope="row">[^<]+ <span class="qa-details-scale">\([^<]+\)</span></th>', row), row
    # outside the table and the lists, no figure stands alone
    rest = re.sub(r"<table>.*</table>|<dl .*?</dl>", "", view)
    assert not re.search(r"\d", visible(rest).replace("[1]", "").replace("16 leaders", "")), visible(rest)


def test_measures_no_passage_has_are_left_out_and_a_refusal_says_what_it_read():
    bm25_only = Scores(rank_fused=1, bm25=3.2, rank_bm25=1)
    a = answer(mode="bm25", passages=(passage("A", bm25_only), passage("B", Scores(rank_fused=2, bm25=1.0, rank_bm25=2))),
               abstained=True, message="none", chance=None, lead_reason=None, kind="terms", confidence=0.1234)
    view = details.details_html(a)
    assert rows(view) == {"Rank in the answer": ["1", "2"], "Rank after the first stage": ["1", "2"],
                          "Rank in the keyword list": ["1", "2"]}
    text = visible(view)
    assert "the keyword list alone" in text and "not measured" not in text
    assert "The sentence it leads with" not in text, "a refusal leads with nothing"
    assert ("It reads the share of the question's keywords in the best sentence (0 to 1): 0.12, below the level "
            "calibrated on the evaluation set") in text


def test_without_the_lead_model_the_lead_says_how_it_was_chosen_instead():
    text = visible(details.details_html(answer(chance=None, lead_reason=None)))
    assert "Calibrated chance that it answers not calibrated under these search settings" in text
    assert "What chose it the best-scoring quotable sentence of the first passages" in text


def test_every_kind_of_confidence_is_put_in_words():
    assert set(details.KIND_WORDS) == set(SCORE_KINDS)


def test_an_answer_without_passages_has_no_view():
    assert details.details_html(answer(passages=(), abstained=True, lead=None, short=None)) == ""


def test_the_sentence_weighed_second_is_named_as_the_next_place_to_look():
    second = (1, (0, 18), 0.1234)  # "Leaders met often." in the second passage
    why = LeadReason(WHY.probability, WHY.candidates, WHY.features, considered=((0, LEAD, WHY.probability), second))
    text = visible(details.details_html(answer(lead_reason=why)))
    assert ("Next in line “Leaders met often.” [2], share 0.12: the sentence it weighed second, the first place to look "
            "when the lead does not answer") in text
    assert "Next in line" not in visible(details.details_html(answer())), "one sentence weighed: nothing is next"
