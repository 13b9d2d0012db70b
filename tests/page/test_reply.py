"""The reply: escaping, answer sentences with markers that open their passages, cards, confidence in words, and the
Markdown copy."""

import dataclasses
import re

from qa.page import display, reply
from qa.records import Answer, Document, Passage
from tests.page.sample import doc, passage, text_doc, visible_text


def test_answer_escapes_document_text_and_titles():
    d = doc()
    out = reply.answer_html(Answer(question="q", passages=(passage(d),), abstained=False, confidence=0.8))
    assert "<script" not in out and "<b>" not in out and "<i>Scripts" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "Tags &amp; &lt;i&gt;Scripts&lt;/i&gt;" in out
    assert "\n" not in out  # one line: the chat's Markdown never reads inside it


def test_answer_quotes_best_sentence_with_a_marker_that_opens_its_passage():
    d = doc()
    p = passage(d)
    out = reply.answer_html(Answer(question="q", passages=(p,), abstained=False, confidence=0.8))
    quote = re.search(r'<p class="qa-lead">(.*?)</p>', out).group(1)
    assert visible_text(quote).startswith("“The answer sentence is this one.” [1]")
    assert re.search(r'<a class="qa-cite" role="button" href="#qa-source-1-1" data-turn="1" data-n="1"', quote)
    # the card shows the passage verbatim with the answering sentence marked
    card_text = re.search(r'<div class="qa-card-text">(.*?)</div>', out).group(1)
    assert " ".join(visible_text(card_text).split()) == " ".join(p.text.split())
    marked = re.findall(r'<mark class="qa-sentence"[^>]*>(.*?)</mark>', card_text)
    assert [visible_text(m) for m in marked] == ["The answer sentence is this one."]
    assert "Show in document" in out


def test_abstention_is_said_plainly_and_passages_are_not_called_an_answer():
    d = doc()
    a = Answer(question="q", passages=(passage(d),), abstained=True, message="The documents do not seem to answer this.")
    out = reply.answer_html(a)
    assert "No answer found." in out and "The documents do not seem to answer this." in out
    assert "Nearest passages (not an answer)" in out
    assert 'class="qa-lead"' not in out and "Low confidence" in out


# -- issue 11: the reply reads as an answer ------------------------------------------------------------

def _passage(d: Document, passage: str, sentences: list[str], scores: list[float], score: float = 0.1) -> Passage:
    start = d.text.index(passage)
    spans = tuple((d.text.index(x), d.text.index(x) + len(x)) for x in sentences)
    return Passage(source=d.source, title=d.title, section=("Part one",), start=start, end=start + len(passage),
                   text=passage, score=score, highlights=spans, highlight_scores=tuple(scores))


MANY = (
    "Alpha part. The first answer sentence says leaders need patience and trust. Filler text here.\n\n"
    "Beta part. Nothing highlighted in this one at all for the reader today.\n\n"
    "Gamma part. Leaders also need a shared purpose across organisations. ([Ham 2018](#))\n\n"
    "Delta part. The first answer sentence says leaders need patience and trust.\n"
)


def _many_answer() -> tuple[Document, Answer]:
    d = text_doc(MANY)
    paras = [x for x in MANY.split("\n\n")]
    p1 = _passage(d, paras[0], ["The first answer sentence says leaders need patience and trust."], [0.7])
    p2 = _passage(d, paras[1], [], [])
    p3 = dataclasses.replace(_passage(d, paras[2], ["Leaders also need a shared purpose across organisations.", "([Ham 2018](#))"],
                                      [0.6, 0.65]), quotable=(True, False))  # as the engine marks them (tests/test_answer.py)
    dup = paras[3].rstrip("\n")
    p4 = Passage(source=d.source, title=d.title, section=(), start=MANY.rindex("Delta"), end=MANY.rindex("Delta") + len(dup),
                 text=dup, score=0.05, highlights=((MANY.rindex("The first"), MANY.rindex("The first") + 63),),
                 highlight_scores=(0.69,), quotable=(False,))  # a repeat of passage 1's sentence
    return d, Answer(question="What do leaders need?", passages=(p1, p2, p3, p4), abstained=False, confidence=0.7, **HIGH)


HIGH = {"level": "high"} if "level" in getattr(Answer, "__dataclass_fields__", {}) else {}


def test_markers_run_1_to_n_without_gaps_duplicates_or_bare_reference_lines():
    d, a = _many_answer()
    out = reply.answer_html(a, turn=3)
    leads = re.findall(r'<p class="qa-(?:lead|also)">(.*?)</p>', out)
    texts = [visible_text(re.sub(r'<span class="qa-tip".*?</span></span>', "", x)) for x in leads]
    # the lead first, then the other sentence; what the engine would not quote (the repeat in passage 4, the
    # "([Ham 2018](#))" fragment) is not shown as an answer sentence
    assert len(texts) == 2
    assert texts[0].startswith("“The first answer sentence says leaders need patience and trust.” [1]")
    assert "Leaders also need a shared purpose across organisations." in texts[1] and texts[1].rstrip().endswith("[2]")
    assert "Ham 2018" not in "".join(texts)
    # hovering or focusing a marker previews its sentence: a tooltip the marker is described by
    tip = re.search(r'aria-describedby="(qa-tip-3-2)".*?<span class="qa-tip" role="tooltip" id="qa-tip-3-2">(.*?)</span></span>', out)
    assert tip and "Leaders also need a shared purpose" in visible_text(tip.group(2))
    # cards follow the marker numbers 1..n; markers carry the turn and number
    assert re.findall(r'<span class="qa-num"[^>]*>\[(\d+)\]</span>', out) == ["1", "2", "3", "4"]
    assert reply.citation_order(a) == [0, 2, 1, 3]
    assert 'data-turn="3" data-n="2"' in out


def test_the_lead_emphasises_the_answering_words_inside_their_whole_sentence():
    text = "Intro. We found that the budget was 4.5 million pounds in 2020, mostly for roads. End.\n"
    d = text_doc(text)
    hl = "the budget was 4.5 million pounds in 2020"
    p = _passage(d, text.strip(), [hl], [0.8])
    out = reply.answer_html(Answer(question="q", passages=(p,), abstained=False, confidence=0.8))
    lead = re.search(r'<p class="qa-lead">(.*?)</p>', out).group(1)
    assert visible_text(lead).startswith("“We found that the budget was 4.5 million pounds in 2020, mostly for roads.”")
    assert visible_text(re.search(r'<strong class="qa-hl"[^>]*>(.*?)</strong>', lead).group(1)) == hl


def test_cards_speak_in_words_and_keep_numbers_on_demand():
    d, a = _many_answer()
    out = reply.answer_html(a, dates={"d.md": "November 2019"})
    shown = visible_text(re.sub(r'<span class="qa-sr">[^<]*</span>', "", re.sub(r'<span class="qa-tip".*?</span></span>', "", out)))
    for raw in ("d.md", "[0:", "sentence match", "no section", "score 0.", "0.7"):
        assert raw not in shown, raw
    assert "Part one · November 2019" in shown and "High confidence" in shown
    level = re.search(r'<span class="qa-level[^"]*"[^>]*title="([^"]*)"', out).group(1)
    assert "similarity" not in level and "0.70" not in level, "the level's meaning, not a raw model score"
    assert level.startswith("How closely the passages match the question")  # not a calibrated chance: said so
    assert out.count("<details class=\"qa-card\"") == 4 and "<summary" in out


def test_confidence_level_comes_from_the_engine_when_it_has_one():
    class Old:  # an Answer from before the engine said its level
        abstained = False

    class Leveled(Old):
        level = "medium"

    assert reply.level_of(Old()) == "high" and reply.level_of(Leveled()) == "medium"
    Old.abstained = True
    assert reply.level_of(Old()) == "low"
    assert reply.LEVEL_WORDS[reply.level_of(Leveled())] == "Medium confidence"


def test_a_refusal_under_a_filter_says_so_and_offers_to_search_everything():
    d = doc()
    a = Answer(question="q", passages=(passage(d),), abstained=True, message="The documents do not seem to answer this.")
    settings = {"k": 3, "mode": "bm25", "sources": ["odd <name>.txt"]}
    out = reply.answer_html(a, turn=2, settings=settings, total_docs=5, titles={"odd <name>.txt": "Tags"})
    assert "The search was limited to 1 document: Tags." in visible_text(out)
    assert 'data-action="search-all" data-turn="2"' in out and "Search all documents" in out
    assert "Only 1 of 5 documents (Tags) · Keyword · 3 passages" in visible_text(out)
    plain = reply.answer_html(a, settings={"k": 5, "mode": "hybrid", "sources": []}, total_docs=5)
    assert "search-all" not in plain and "All 5 documents · Hybrid · 5 passages" in visible_text(plain)


def test_answer_as_markdown_has_quotes_and_references():
    d, a = _many_answer()
    md = reply.answer_markdown(a, {"k": 4, "mode": "hybrid", "sources": []}, {"d.md": "2019"})
    assert md.startswith("**Q:** What do leaders need?\n\n> “The first answer sentence says leaders need patience and trust.” [1]\n")
    assert "> “Leaders also need a shared purpose across organisations.” [2]" in md
    assert "References:\n1. Doc (Part one, 2019): “The first answer sentence" in md
    assert "<" not in md and "](#)" not in md


def test_the_short_answer_stands_first_and_bold_inside_its_sentence_and_in_the_markdown():
    text = "Leaders met in 2019. Through interviews with 16 leaders, the report looks at systems."
    d = Document(source="d.md", text=text, title="Report", sha256="x")
    a = text.index("Through")
    p = Passage("d.md", "Report", ("Part one",), 0, len(text), text, 1.0, ((a, len(text)),), (0.9,), (True,))
    s = text.index("16")
    answer = Answer(question="How many leaders?", passages=(p,), abstained=False, confidence=5.0, level="medium",
                    lead=(0, (a, len(text))), short=(s, s + 2), chance=0.64)
    out = reply.answer_html(answer)
    assert re.search(r'<p class="qa-short">.*?<strong class="qa-short-text">16</strong>', out)
    lead = re.search(r'<p class="qa-lead">(.*?)</p>', out).group(1)
    assert re.search(r'<strong class="qa-hl"[^>]*>Through interviews with <mark class="qa-short-mark"[^>]*>16</mark> leaders', lead)
    assert 'title="Answers like this one were right about 6 times in 10 on the evaluation set."' in out
    md = reply.answer_markdown(answer)
    assert "**A:** 16 [1]" in md and "> “Through interviews with **16** leaders, the report looks at systems.” [1]" in md
    del d


def test_quotes_keep_list_items_apart_hide_bold_across_lines_and_mark_a_cut_start():
    listed = display._flow("The panel:\n- Fiona Edwards, lead\n- Claire Fuller, lead\n1. Tim Goodson\nThat is all.")
    assert listed == "The panel:<br>- Fiona Edwards, lead<br>- Claire Fuller, lead<br>1. Tim Goodson That is all."
    assert display.display_text("Some **bold words\ncontinued** here.\n\nA **stray") == (
        "Some bold words\ncontinued here.\n\nA **stray")  # a marker never pairs across a paragraph break
    text = "and so the boards agreed to meet monthly. Then they met."
    p = Passage(source="a.txt", title="T", section=(), start=0, end=len(text), text=text, score=1.0,
                highlights=((0, 42),), highlight_scores=(0.9,), quotable=(True,))
    out = reply.answer_html(Answer(question="q", passages=(p,), abstained=False, confidence=5.0, lead=(0, (0, 42))))
    assert "“…and so the boards" in visible_text(out)
    assert "> “…and so the boards" in reply.answer_markdown(
        Answer(question="q", passages=(p,), abstained=False, confidence=5.0, lead=(0, (0, 42))))
