"""The source panel: the document around the passage, marked at exact offsets, escaped, and only inside the document."""

import html
import re

import pytest

from qa.page import panel
from qa.records import Document, Heading
from tests.page.sample import TEXT, doc, passage, visible_text


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


def test_section_at_follows_heading_levels():
    d = Document(source="s", text="x" * 100, title="t", sha256="", headings=(
        Heading(0, 1, "A", 1), Heading(10, 11, "A.1", 2), Heading(20, 21, "A.1.a", 3), Heading(30, 31, "B", 1)))
    assert panel.section_at(d, 25) == ("A", "A.1", "A.1.a")
    assert panel.section_at(d, 35) == ("B",)
    assert panel.section_at(d, 5) == ("A",)


def test_panel_says_which_answer_and_marker_and_steps_between_sources():
    d = doc()
    p = passage(d)
    out = panel.panel_html(d, p.start, p.end, p.highlights, turn=2, n=2, total=3)
    assert ">Answer 2, source [2]</h2>" in out
    assert 'data-action="open" data-turn="2" data-n="1"' in out and 'data-action="open" data-turn="2" data-n="3"' in out
    assert 'data-action="close"' in out


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
