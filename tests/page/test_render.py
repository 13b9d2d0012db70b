"""HTML for the page: escaping, citation references, and passages marked at their exact offsets."""

import dataclasses
import html
import re

import pytest

from qa.page import conversation, display, panel, render, reply
from qa.page.turns import Turn
from qa.records import Answer, Document, Heading, Passage

TEXT = (
    "Intro\n\nA page about <b>tags</b> & things.\n\n"
    "Danger\n\nSome documents hold <script>alert(1)</script> in their text. "
    "The answer sentence is this one. After it, more text follows.\n"
)


def doc() -> Document:
    danger = TEXT.index("Danger")
    return Document(
        source="odd <name>.txt", text=TEXT, title="Tags & <i>Scripts</i>", sha256="0" * 64,
        author="A. Author", publisher="A. Author", date="2020",
        headings=(Heading(0, 5, "Intro", 1), Heading(danger, danger + 6, "Danger", 1)),
    )


def passage(d: Document) -> Passage:
    start = d.text.index("Some documents")
    end = d.text.index("follows.") + len("follows.")
    a = d.text.index("The answer sentence")
    b = a + len("The answer sentence is this one.")
    return Passage(
        source=d.source, title=d.title, section=("Danger",), start=start, end=end, text=d.text[start:end],
        score=0.5, highlights=((a, b),), highlight_scores=(0.8,),
    )


def visible_text(markup: str) -> str:
    """What a browser shows for ``markup`` (tags dropped, entities decoded, <br> as a newline)."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup.replace("<br>", "\n")))


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


def test_panel_marks_passage_and_sentence_at_exact_offsets_in_the_whole_escaped_text():
    d = doc()
    p = passage(d)
    out = panel.panel_html(d, p.start, p.end, p.highlights)
    body = re.search(r'<div class="qa-doc-text" id="qa-doc-text"[^>]*>(.*)</div></div>$', out, re.S).group(1)
    assert "<script" not in body and "<b>" not in body
    assert html.unescape(re.sub(r"<[^>]+>", "", body)) == d.text  # the whole document, nothing lost or added
    head = body.index('<mark class="qa-passage" id="qa-focus"')
    tail = html.escape(d.text[p.end:])
    assert body.endswith(tail)
    assert html.unescape(re.sub(r"<[^>]+>", "", body[:head])) == d.text[: p.start]
    assert html.unescape(re.sub(r"<[^>]+>", "", body[head : len(body) - len(tail)])) == d.text[p.start : p.end]
    sentence = re.search(r'<mark class="qa-sentence"[^>]*>(.*?)</mark>', body).group(1)
    assert html.unescape(sentence) == d.text[p.highlights[0][0] : p.highlights[0][1]]
    # header: title, author (publisher equal to it is not repeated), date, section at the passage
    assert "Tags &amp; &lt;i&gt;Scripts&lt;/i&gt;" in out
    assert "A. Author · 2020" in out and "Danger" in out
    assert 'data-source="odd &lt;name&gt;.txt"' in out


@pytest.mark.parametrize("start,end,hl", [(-1, 5, ()), (5, 5, ()), (0, len(TEXT) + 1, ()), (10, 20, ((5, 12),))])
def test_spans_outside_the_document_are_refused(start, end, hl):
    """What the source panel checks before it shows either view (qa/page/app.py cite_panel)."""
    with pytest.raises(panel.BadReferenceError, match="outside"):
        panel.check_span(doc(), start, end, hl)


def test_mode_names_accept_page_labels_and_engine_names():
    assert [render.mode_name(m) for m in ("Hybrid", "semantic", "keyword", "dense", "bm25")] == [
        "hybrid", "dense", "bm25", "dense", "bm25"]
    with pytest.raises(ValueError, match=r"hybrid \(hybrid\), semantic \(dense\), keyword \(bm25\)"):
        render.mode_name("fuzzy")


def test_section_at_follows_heading_levels():
    d = Document(source="s", text="x" * 100, title="t", sha256="", headings=(
        Heading(0, 1, "A", 1), Heading(10, 11, "A.1", 2), Heading(20, 21, "A.1.a", 3), Heading(30, 31, "B", 1)))
    assert panel.section_at(d, 25) == ("A", "A.1", "A.1.a")
    assert panel.section_at(d, 35) == ("B",)
    assert panel.section_at(d, 5) == ("A",)


# -- issue 11: the reply reads as an answer ------------------------------------------------------------

def _doc(text: str, source: str = "d.md", title: str = "Doc", date: str = "2019") -> Document:
    return Document(source=source, text=text, title=title, sha256="0" * 64, date=date)


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
    d = _doc(MANY)
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
    d = _doc(text)
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


def test_markdown_debris_is_hidden_for_display_only():
    text = 'See ([Ham 2018](#)) and *NHS five year forward view* with ""quoted"" words.\n\n\n\n\nNext **bold** para.\n'
    assert display.display_text(text) == 'See (Ham 2018) and NHS five year forward view with "quoted" words.\n\nNext bold para.\n'
    assert display.display_text("snake_case_name and 2*3*4 stay") == "snake_case_name and 2*3*4 stay"
    assert display.display_text("Intro:\n• Building commitment\n## Next") == "Intro:\nBuilding commitment\nNext"
    d = _doc(text)
    start, end = text.index("and *NHS"), text.index("words.") + len("words.")
    a = text.index("*NHS")
    b = a + len("*NHS five year forward view*")
    out = panel.panel_html(d, start, end, [(a, b)])
    body = re.search(r'id="qa-doc-text"[^>]*>(.*)</div></div>$', out, re.S).group(1)
    assert visible_text(body) == display.display_text(text)
    mark = re.search(r'<mark class="qa-passage" id="qa-focus" data-start="(\d+)" data-end="(\d+)">', body)
    assert (int(mark.group(1)), int(mark.group(2))) == (start, end)  # offsets stay exact
    sent = re.search(r'<mark class="qa-sentence" data-start="(\d+)" data-end="(\d+)">(.*?)</mark>', body)
    assert (int(sent.group(1)), int(sent.group(2))) == (a, b) and visible_text(sent.group(3)) == "NHS five year forward view"


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


def test_long_questions_are_clamped_and_cut_questions_say_so():
    out = conversation.question_html("x" * 1300, note="Your question was cut to its first 2,000 characters (it had 5,000).")
    assert "qa-clamped" in out and "Show more" in out and "cut to its first 2,000 characters" in out
    assert "qa-clamped" not in conversation.question_html("short?")


def test_errors_get_no_thumbs_and_answers_do():
    err = conversation.turn_html(Turn(1, "q", kind="error", html=reply.error_html("bad")))
    assert "qa-thumb" not in err and "Copy answer" not in err
    ok = conversation.turn_html(Turn(2, "q", kind="answer", html="<div></div>", text="**Q:** q"))
    assert ok.count("qa-thumb") == 2 and 'data-md="**Q:** q"' in ok and "What was wrong?" in ok
    assert 'aria-label="Answer 2"' in ok and 'aria-label="Question 2"' in ok


def test_panel_says_which_answer_and_marker_and_steps_between_sources():
    d = doc()
    p = passage(d)
    out = panel.panel_html(d, p.start, p.end, p.highlights, turn=2, n=2, total=3)
    assert ">Answer 2, source [2]</h2>" in out
    assert 'data-action="open" data-turn="2" data-n="1"' in out and 'data-action="open" data-turn="2" data-n="3"' in out
    assert 'data-action="close"' in out


def test_header_says_what_the_documents_are():
    docs = [Document(source="a.txt", text="x", title="Report <A>", sha256="", author="Ann", date="2018"),
            Document(source="b.txt", text="x", title="Paper B", sha256="", publisher="Pub", date="c. 2020")]
    out = render.header_html(docs, "river floods", "1 Jan 2026, 10:00 UTC")
    text = visible_text(out)
    assert "2 documents on river floods (2018–2020)" in text and "Indexed 1 Jan 2026, 10:00 UTC." in text
    assert "Report <A> — Ann, 2018" in text and "Paper B — Pub, c. 2020" in text


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


def test_panel_of_a_5mb_document_shows_a_window_around_the_passage_and_says_what_is_left_out():
    """Opening a citation rendered the whole document (13.9 s for 50 MB); it shows up to PANEL_CONTEXT_CHARS each
    side, cut at paragraph breaks, and says how many characters are not shown."""
    para = "Filler words about nothing in particular, repeated to make the document long. " * 10 + "\n\n"
    half = para * (2_500_000 // len(para))
    answer = "The budget for road repairs was 4.5 million pounds. It was approved in May."
    text = half + answer + "\n\n" + half
    d = Document(source="big.txt", text=text, title="Big", sha256="0" * 64)
    start = len(half)
    end = start + len(answer)
    hl = (start, start + answer.index(" It was"))
    out = panel.panel_html(d, start, end, (hl,))
    assert len(out) < 3 * panel.PANEL_CONTEXT_CHARS + 5_000
    body = re.search(r'<div class="qa-doc-text" id="qa-doc-text"[^>]*>(.*)</div></div>$', out, re.S).group(1)
    focus = re.search(r'<mark class="qa-passage" id="qa-focus" data-start="(\d+)" data-end="(\d+)">', body)
    assert (int(focus.group(1)), int(focus.group(2))) == (start, end)
    assert re.search(r'<mark class="qa-sentence"[^>]*>The budget for road repairs was 4.5 million pounds.</mark>', body)
    shown = visible_text(body)
    before, after = re.search(r"… ([\d,]+) characters before not shown", shown), re.search(r"… ([\d,]+) characters after not shown", shown)
    assert before and after
    n_before, n_after = int(before.group(1).replace(",", "")), int(after.group(1).replace(",", "")),
    assert 0 < start - n_before <= panel.PANEL_CONTEXT_CHARS and 0 < len(text) - end - n_after <= panel.PANEL_CONTEXT_CHARS
    assert text[n_before - 2 : n_before] == "\n\n" and text[len(text) - n_after : len(text) - n_after + 2] == "\n\n"
    # what is shown is exactly the text between the two notes
    inner = shown[shown.index("not shown") + len("not shown") : shown.rindex("…")]
    assert inner.strip() == text[n_before : len(text) - n_after].strip()


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
