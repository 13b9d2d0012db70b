"""Reading documents: exact text as loaded, titles from the catalogue, unreadable files skipped with a reason."""

from pathlib import Path

import pytest

from qa.errors import CorpusError
from qa.load import load_folder, read_document
from tests.pdfs import make_pdf

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def test_seed_text_is_exactly_what_python_reads_and_titles_come_from_the_catalogue():
    docs, skipped = load_folder(SEEDS)
    assert skipped == []
    assert len(docs) == 5
    for d in docs:
        assert d.text == open(SEEDS / d.source, encoding="utf-8").read()
        assert d.title and d.title != Path(d.source).stem
    report = next(d for d in docs if d.source.startswith("002_"))
    assert report.title.startswith("Leading for integrated care")
    assert report.author == "Nicholas Timmins" and report.date == "November 2019" and report.kind == "report"


def test_crlf_text_is_read_with_universal_newlines(tmp_path):
    p = tmp_path / "a.txt"
    p.write_bytes(b"Title line\r\n\r\nBody text here.\r\n")
    doc = read_document(p, "a.txt")
    assert doc.text == open(p, encoding="utf-8").read() == "Title line\n\nBody text here.\n"


def test_unreadable_files_are_skipped_with_a_reason_and_the_rest_load(tmp_path):
    (tmp_path / "good.txt").write_text("A good document about rivers and floods.\n", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("Café au lait".encode("latin-1"))
    (tmp_path / "empty.md").write_text("  \n\n", encoding="utf-8")
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    (tmp_path / "notes.docx").write_bytes(b"ignored: unsupported suffix")
    warnings = []
    docs, skipped = load_folder(tmp_path, warn=warnings.append)
    assert [d.source for d in docs] == ["good.txt"]
    reasons = {s.path: s.reason for s in skipped}
    assert set(reasons) == {"latin1.txt", "empty.md", "binary.txt", "broken.pdf"}
    assert "UTF-8" in reasons["latin1.txt"]
    assert "empty" in reasons["empty.md"]
    assert "binary" in reasons["binary.txt"]
    assert "PDF" in reasons["broken.pdf"]
    assert [str(w) for w in warnings] == [str(s) for s in skipped]
    assert all(str(s).startswith(f"skipped {s.path}: ") for s in skipped)


def test_folder_with_nothing_readable_says_what_to_do(tmp_path):
    with pytest.raises(CorpusError, match="No readable documents"):
        load_folder(tmp_path)
    with pytest.raises(CorpusError, match="does not exist"):
        load_folder(tmp_path / "missing")


def test_pdf_pages_are_read_in_order_with_page_breaks(tmp_path):
    p = tmp_path / "r.pdf"
    p.write_bytes(make_pdf([["Budget report", "Money was tight in 2020."], ["Staff numbers rose by ten percent."]]))
    doc = read_document(p, "r.pdf")
    assert "Money was tight in 2020." in doc.text
    assert doc.text.index("Money") < doc.text.index("Staff")
    assert "\f" in doc.text


def test_html_text_keeps_markup_as_text_and_headings(tmp_path):
    p = tmp_path / "page.html"
    p.write_text(
        "<html><head><title>Guide</title><script>alert('x')</script></head><body>"
        "<h1>Roses</h1><p>Prune in &lt;b&gt;winter&lt;/b&gt;.</p><h2>Pests</h2><p>Aphids.</p></body></html>",
        encoding="utf-8",
    )
    doc = read_document(p, "page.html")
    assert doc.title == "Guide"
    assert "alert" not in doc.text
    assert "Prune in <b>winter</b>." in doc.text
    assert [(doc.text[h.start : h.end], h.level) for h in doc.headings] == [("Roses", 1), ("Pests", 2)]


def test_markdown_headings(tmp_path):
    p = tmp_path / "m.md"
    p.write_text("# Rivers\n\nThe Thames.\n\n## Floods\n\nThe barrier.\n", encoding="utf-8")
    doc = read_document(p, "m.md")
    assert [(h.title, h.level) for h in doc.headings] == [("Rivers", 1), ("Floods", 2)]
    assert doc.title == "Rivers"
