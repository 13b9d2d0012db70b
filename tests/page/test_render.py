"""The page's frame: the retrieval modes as the page names them, and the header saying what the documents are."""

import pytest

from qa.page import render
from qa.records import Document
from tests.page.sample import visible_text


def test_mode_names_accept_page_labels_and_engine_names():
    assert [render.mode_name(m) for m in ("Hybrid", "semantic", "keyword", "dense", "bm25")] == [
        "hybrid", "dense", "bm25", "dense", "bm25"]
    with pytest.raises(ValueError, match=r"hybrid \(hybrid\), semantic \(dense\), keyword \(bm25\)"):
        render.mode_name("fuzzy")


def test_header_says_what_the_documents_are():
    docs = [Document(source="a.txt", text="x", title="Report <A>", sha256="", author="Ann", date="2018"),
            Document(source="b.txt", text="x", title="Paper B", sha256="", publisher="Pub", date="c. 2020")]
    out = render.header_html(docs, "river floods", "1 Jan 2026, 10:00 UTC")
    text = visible_text(out)
    assert "2 documents on river floods (2018–2020)" in text and "Indexed 1 Jan 2026, 10:00 UTC." in text
    assert "Report <A> — Ann, 2018" in text and "Paper B — Pub, c. 2020" in text
