"""HTML for the page: escaping, citation references, and passages marked at their exact offsets."""

import html
import re

import pytest

from qa import render
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
    out = render.answer_html(Answer(question="q", passages=(passage(d),), abstained=False, confidence=0.8))
    assert "<script" not in out and "<b>" not in out and "<i>Scripts" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "Tags &amp; &lt;i&gt;Scripts&lt;/i&gt;" in out
    assert "\n" not in out  # one line: the chat's Markdown never reads inside it


def test_answer_quotes_best_sentence_with_a_marker_that_opens_its_passage():
    d = doc()
    p = passage(d)
    out = render.answer_html(Answer(question="q", passages=(p,), abstained=False, confidence=0.8))
    quote = re.search(r'<div class="qa-quote">(.*?)</div>', out).group(1)
    assert "“The answer sentence is this one.”" in visible_text(quote)
    href = html.unescape(re.search(r'href="([^"]+)"', quote).group(1))
    assert render.parse_ref(render.ref_from_href(href)) == (p.source, p.start, p.end, p.highlights)
    # the card shows the passage verbatim with the answering sentence marked
    card_text = re.search(r'<div class="qa-card-text">(.*?)</div>', out).group(1)
    assert " ".join(visible_text(card_text).split()) == " ".join(p.text.split())
    marked = re.findall(r'<mark class="qa-sentence">(.*?)</mark>', card_text)
    assert [visible_text(m) for m in marked] == ["The answer sentence is this one."]
    assert "Show in document" in out


def test_abstention_is_said_plainly_and_passages_are_not_called_an_answer():
    d = doc()
    a = Answer(question="q", passages=(passage(d),), abstained=True, message="The documents do not seem to answer this.")
    out = render.answer_html(a)
    assert "No answer found." in out and "The documents do not seem to answer this." in out
    assert "Nearest passages (not an answer)" in out
    assert 'class="qa-quote"' not in out


def test_panel_marks_passage_and_sentence_at_exact_offsets_in_the_whole_escaped_text():
    d = doc()
    p = passage(d)
    out = render.panel_html(d, p.start, p.end, p.highlights)
    body = re.search(r'<div class="qa-doc-text" id="qa-doc-text">(.*)</div></div>$', out, re.S).group(1)
    assert "<script" not in body and "<b>" not in body
    assert html.unescape(re.sub(r"<[^>]+>", "", body)) == d.text  # the whole document, nothing lost or added
    head = body.index('<mark class="qa-passage" id="qa-focus">')
    tail = html.escape(d.text[p.end:])
    assert body.endswith(tail)
    assert html.unescape(re.sub(r"<[^>]+>", "", body[:head])) == d.text[: p.start]
    assert html.unescape(re.sub(r"<[^>]+>", "", body[head : len(body) - len(tail)])) == d.text[p.start : p.end]
    sentence = re.search(r'<mark class="qa-sentence">(.*?)</mark>', body).group(1)
    assert html.unescape(sentence) == d.text[p.highlights[0][0] : p.highlights[0][1]]
    # header: title, author (publisher equal to it is not repeated), date, section at the passage
    assert "Tags &amp; &lt;i&gt;Scripts&lt;/i&gt;" in out
    assert "A. Author · 2020" in out and "Danger" in out
    assert "odd &lt;name&gt;.txt" in out


@pytest.mark.parametrize(
    "ref",
    ["", "x", "a|b|c|d", "f.txt|1|2|3", "f.txt|1|2|3-x", None, 5, "f.txt|1|2|" + "1-2," * 400],
)
def test_parse_ref_refuses_what_a_card_did_not_write(ref):
    with pytest.raises(render.BadReferenceError, match="not valid"):
        render.parse_ref(ref)


def test_parse_ref_keeps_separators_inside_the_source_name():
    assert render.parse_ref("a|b.txt|3|9|4-6,7-8") == ("a|b.txt", 3, 9, ((4, 6), (7, 8)))


@pytest.mark.parametrize("start,end,hl", [(-1, 5, ()), (5, 5, ()), (0, len(TEXT) + 1, ()), (10, 20, ((5, 12),))])
def test_panel_refuses_spans_outside_the_document(start, end, hl):
    with pytest.raises(render.BadReferenceError, match="outside"):
        render.panel_html(doc(), start, end, hl)


def test_mode_names_accept_page_labels_and_engine_names():
    assert [render.mode_name(m) for m in ("Hybrid", "semantic", "keyword", "dense", "bm25")] == [
        "hybrid", "dense", "bm25", "dense", "bm25"]
    with pytest.raises(ValueError, match=r"hybrid \(hybrid\), semantic \(dense\), keyword \(bm25\)"):
        render.mode_name("fuzzy")


def test_section_at_follows_heading_levels():
    d = Document(source="s", text="x" * 100, title="t", sha256="", headings=(
        Heading(0, 1, "A", 1), Heading(10, 11, "A.1", 2), Heading(20, 21, "A.1.a", 3), Heading(30, 31, "B", 1)))
    assert render.section_at(d, 25) == ("A", "A.1", "A.1.a")
    assert render.section_at(d, 35) == ("B",)
    assert render.section_at(d, 5) == ("A",)
