"""Reading documents: exact text as loaded, titles from the catalogue, unreadable files skipped with a reason."""

from pathlib import Path

import pytest

from qa.errors import CorpusError
from qa.ingest.load import load_folder, read_document
from tests.pdfs import make_pdf

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


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
    (tmp_path / "notes.docx").write_bytes(b"not a zip, so not a Word file")
    (tmp_path / "notes.odt").write_bytes(b"ignored: unsupported suffix")
    warnings = []
    docs, skipped = load_folder(tmp_path, warn=warnings.append)
    assert [d.source for d in docs] == ["good.txt"]
    reasons = {s.path: s.reason for s in skipped}
    assert set(reasons) == {"latin1.txt", "empty.md", "binary.txt", "broken.pdf", "notes.docx"}
    assert "UTF-8" in reasons["latin1.txt"]
    assert "empty" in reasons["empty.md"]
    assert "binary" in reasons["binary.txt"]
    assert "PDF" in reasons["broken.pdf"]
    assert "not a zip archive" in reasons["notes.docx"]
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


def test_any_failure_in_one_file_skips_it_with_its_real_reason_and_the_rest_load(tmp_path, monkeypatch):
    import qa.ingest.load

    (tmp_path / "good.txt").write_text("Rivers\n\nThe Thames floods in winter, most years.\n", encoding="utf-8")
    (tmp_path / "bad.txt").write_text("Roads\n\nPotholes are filled in spring.\n", encoding="utf-8")
    real = qa.ingest.load.detect_structure

    def explode(text, **kw):
        if text.startswith("Roads"):
            raise RuntimeError("boom\nwith a second line")
        return real(text, **kw)

    monkeypatch.setattr(qa.ingest.load, "detect_structure", explode)
    docs, skipped = load_folder(tmp_path, warn=lambda s: None)
    assert [d.source for d in docs] == ["good.txt"]
    [s] = skipped
    assert s.path == "bad.txt" and "RuntimeError: boom with a second line" in s.reason
    assert "\n" not in s.reason and "report" in s.reason


def test_an_unreadable_sub_folder_is_reported_as_skipped(tmp_path, monkeypatch):
    import os

    import qa.ingest.load

    (tmp_path / "good.txt").write_text("Rivers\n\nThe Thames floods in winter, most years.\n", encoding="utf-8")
    (tmp_path / "private").mkdir()
    real_walk = os.walk

    def walk(top, onerror=None, followlinks=False):
        onerror(PermissionError(13, "Permission denied", str(tmp_path / "private")))
        yield from real_walk(top, onerror=onerror, followlinks=followlinks)

    monkeypatch.setattr(qa.ingest.load.os, "walk", walk)
    files, skipped = qa.ingest.load.list_files(tmp_path)
    assert [f.name for f in files] == ["good.txt"]
    assert [(s.path, s.reason) for s in skipped] == [("private/", "folder cannot be read (Permission denied); check its permissions")]
    docs, skipped = load_folder(tmp_path, warn=lambda s: None)
    assert [d.source for d in docs] == ["good.txt"] and [s.path for s in skipped] == ["private/"]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be"])
def test_byte_order_marks_never_reach_the_text_title_or_headings(tmp_path, encoding):
    import codecs

    body = "Rivers of England\r\n\r\n1 Floods\r\n\r\nThe Thames floods in winter, most years.\r\n\r\n2 Droughts\r\n\r\nSummers are drier.\r\n"
    bom = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}.get(encoding, b"")
    p = tmp_path / "rivers.txt"
    p.write_bytes(bom + body.encode(encoding))
    doc = read_document(p, "rivers.txt")
    assert doc.text == open(p, encoding="utf-8-sig" if encoding == "utf-8-sig" else "utf-16").read()
    assert "\ufeff" not in doc.text and doc.text.startswith("Rivers of England\n")
    assert doc.title == "Rivers of England"
    assert [(doc.text[h.start : h.end], h.title) for h in doc.headings] == [("1 Floods", "1 Floods"), ("2 Droughts", "2 Droughts")]


def test_utf16_without_a_bom_is_decoded_or_named_in_the_reason(tmp_path):
    good = tmp_path / "good.txt"
    good.write_bytes("Rivers\n\nThe Thames floods in winter, most years.\n".encode("utf-16-le"))
    assert read_document(good, "good.txt").text == open(good, encoding="utf-16-le").read()
    bad = tmp_path / "bad.txt"
    bad.write_bytes("Rivers\n\nThe Thames floods in winter.\n".encode("utf-16-le") + b"\x00\xd8")  # a lone surrogate
    docs, skipped = load_folder(tmp_path, warn=lambda s: None)
    assert [d.source for d in docs] == ["good.txt"]
    assert "UTF-16" in skipped[0].reason and "re-save it as UTF-8" in skipped[0].reason


def test_pdf_outline_becomes_headings_and_a_sensible_metadata_title_the_title(tmp_path):
    from qa.ingest.structure import section_at
    from tests.pdfs import pdf_with_outline

    pages = [
        ["Annual report", "Contents", "Money 2", "People 3"],
        ["Money", "We spent less on roads this year than last.", "Capital projects", "The bridge was finished late."],
        ["People", "Staff numbers rose by ten percent.", "References", "Smith J (2020). Roads. London: Press."],
    ]
    outline = [("Money", 1, [("Capital projects", 1, [])]), ("People", 2, []), ("References", 2, [])]
    p = tmp_path / "r.pdf"
    p.write_bytes(pdf_with_outline(pages, outline, title="Annual report of the river council"))
    doc = read_document(p, "r.pdf")
    assert doc.title == "Annual report of the river council"
    assert [(h.title, h.level) for h in doc.headings] == [("Money", 1), ("Capital projects", 2), ("People", 1), ("References", 1)]
    assert all(doc.text[h.start : h.end] == h.title for h in doc.headings)
    assert section_at(doc.headings, doc.text.index("The bridge")) == ("Money", "Capital projects")
    assert section_at(doc.headings, doc.text.index("Staff numbers")) == ("People",)
    [(a, b)] = doc.back_matter
    assert doc.text[a:b] == "References\nSmith J (2020). Roads. London: Press."

    p.write_bytes(pdf_with_outline(pages, outline, title="Microsoft Word - report_final.docx"))
    assert read_document(p, "r.pdf").title == "Money"  # a placeholder is not a title: the first level-1 heading is


def test_encrypted_pdfs_open_without_a_password_or_are_skipped_as_needing_one(tmp_path):
    from tests.pdfs import encrypt_pdf

    plain = make_pdf([["Budget report", "Money was tight in 2020."]])
    (tmp_path / "aes-open.pdf").write_bytes(encrypt_pdf(plain, user_password="", algorithm="AES-256"))
    (tmp_path / "rc4-open.pdf").write_bytes(encrypt_pdf(plain, user_password="", algorithm="RC4-128"))
    (tmp_path / "locked.pdf").write_bytes(encrypt_pdf(plain, user_password="secret", algorithm="AES-256"))
    docs, skipped = load_folder(tmp_path, warn=lambda s: None)
    assert sorted(d.source for d in docs) == ["aes-open.pdf", "rc4-open.pdf"]
    assert all("Money was tight in 2020." in d.text for d in docs)
    assert [(s.path, s.reason.split(" - ")[0]) for s in skipped] == [("locked.pdf", "encrypted; needs a password")]


def test_an_aes_pdf_is_read_by_pdfium_without_pypdf_or_the_cryptography_package(tmp_path, monkeypatch):
    import pypdf
    from pypdf.errors import DependencyError

    from tests.pdfs import encrypt_pdf

    (tmp_path / "aes.pdf").write_bytes(encrypt_pdf(make_pdf([["Budget report"]]), user_password="", algorithm="AES-256"))

    def no_aes(*a, **kw):
        raise DependencyError("cryptography>=3.1 is required for AES algorithm")

    monkeypatch.setattr(pypdf, "PdfReader", no_aes)  # loading never needed pypdf's AES (which needs cryptography)
    docs, skipped = load_folder(tmp_path, warn=lambda s: None)
    assert skipped == [] and [d.source for d in docs] == ["aes.pdf"]
    assert docs[0].text == "Budget report"


def test_pdf_reasons_are_true(tmp_path):
    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(200, 200)
    with open(tmp_path / "scan.pdf", "wb") as f:
        w.write(f)
    (tmp_path / "fonts-no-text.pdf").write_bytes(make_pdf([[""], [" "]]))
    (tmp_path / "good.txt").write_text("Rivers\n\nThe Thames floods in winter, most years.\n", encoding="utf-8")
    _, skipped = load_folder(tmp_path, warn=lambda s: None)
    reasons = {s.path: s.reason for s in skipped}
    assert "no text layer" in reasons["scan.pdf"] and "OCR it first" in reasons["scan.pdf"]
    assert "scanned" not in reasons["fonts-no-text.pdf"] and "fonts" in reasons["fonts-no-text.pdf"]


DOCS = Path(__file__).resolve().parents[1] / "docs"
DOCS_PDFS = {p.name for p in DOCS.glob("*.pdf")}  # real PDFs (tests/docs/README.md); read page by page in test_real_pdfs.py


@pytest.fixture
def real_folder(tmp_path):
    """tests/docs (third-party documents) plus PDFs made now and a UTF-16 copy of the Markdown file."""
    import shutil

    from tests.pdfs import encrypt_pdf, pdf_with_outline

    folder = tmp_path / "docs"
    folder.mkdir()
    for p in DOCS.iterdir():
        if p.name != "README.md":
            shutil.copy(p, folder / p.name)
    readme = (DOCS / "soupsieve-readme.md").read_text(encoding="utf-8")
    (folder / "soupsieve-readme-utf16.md").write_bytes(readme.encode("utf-16"))  # with a BOM
    pages = [
        ["Flood defences", "A short guide for the river council."],
        ["Barriers", "The barrier closes twice a year.", "Maintenance", "It is painted every ten years."],
        ["Further reading", "Smith J, Jones K (2016). Rivers of England. London: Water Press."],
    ]
    outline = [("Barriers", 1, [("Maintenance", 1, [])]), ("Further reading", 2, [])]
    pdf = pdf_with_outline(pages, outline, title="Flood defences: a guide")
    (folder / "outlined.pdf").write_bytes(pdf)
    (folder / "aes-empty-password.pdf").write_bytes(encrypt_pdf(pdf, user_password=""))
    (folder / "aes-password.pdf").write_bytes(encrypt_pdf(pdf, user_password="secret"))
    return folder


def test_real_third_party_documents_load_with_titles_sections_and_back_matter(real_folder):
    from qa.ingest.structure import section_at

    import shutil

    docs, skipped = load_folder(real_folder, warn=lambda s: None)
    docs = {d.source: d for d in docs}
    scan = "linnsequencer-brochure-scan.pdf"  # image only: read by OCR, or skipped as needing it
    ocr = shutil.which("tesseract") is not None
    assert sorted((s.path, "needs a password" in s.reason) for s in skipped) == [("aes-password.pdf", True)] + (
        [] if ocr else [(scan, False)])
    assert set(docs) == {
        "python-idle-docs.html", "bash-manpage-excerpt.txt", "soupsieve-readme.md",
        "soupsieve-readme-utf16.md", "outlined.pdf", "aes-empty-password.pdf", "docx4j-sample-docx.docx",
        "federal-register-2020-17221-p1-3.pdf", "gnu-maintain.pdf", "nics-firearm-checks-2015-11.pdf",
    } | ({scan} if ocr else set())

    idle = docs["python-idle-docs.html"]
    assert idle.title == "IDLE" and "¶" not in idle.text
    assert section_at(idle.headings, idle.text.index("Create a new file editing window.")) == (
        "IDLE", "Menus", "File menu (Shell and Editor)"
    )
    assert not any(h.title in ("Navigation", "Table of Contents", "Previous topic") for h in idle.headings)
    assert any(idle.text[a:b].startswith("© Copyright 2001-2024, Python Software Foundation.") for a, b in idle.back_matter)

    bash = docs["bash-manpage-excerpt.txt"]
    assert bash.title == "bash - GNU Bourne-Again SHell"
    assert [h.title for h in bash.headings if h.level == 1][:5] == ["NAME", "SYNOPSIS", "COPYRIGHT", "DESCRIPTION", "OPTIONS"]
    assert section_at(bash.headings, bash.text.index("A pipeline is a sequence")) == ("SHELL GRAMMAR", "Pipelines")
    assert {bash.text[a:b].split()[0] for a, b in bash.skipped} == {"BASH(1)", "GNU"}  # man header and footer
    back = [bash.text[a:b].split("\n")[0] for a, b in bash.back_matter]
    assert {"COPYRIGHT", "SEE ALSO", "AUTHORS"} <= set(back) and "BUGS" not in back

    for name in ("soupsieve-readme.md", "soupsieve-readme-utf16.md"):
        readme = docs[name]
        assert readme.title == "Soup Sieve"
        assert section_at(readme.headings, readme.text.index("You must have Beautiful Soup")) == ("Soup Sieve", "Installation")
        assert readme.text[readme.back_matter[-1][0] :].startswith("License\n\nMIT")
    assert docs["soupsieve-readme-utf16.md"].text == docs["soupsieve-readme.md"].text

    for name in ("outlined.pdf", "aes-empty-password.pdf"):
        pdf = docs[name]
        assert pdf.title == "Flood defences: a guide"
        assert section_at(pdf.headings, pdf.text.index("It is painted")) == ("Barriers", "Maintenance")
        assert [pdf.text[a:b].split("\n")[0] for a, b in pdf.back_matter] == ["Further reading"]

    word = docs["docx4j-sample-docx.docx"]
    assert word.title == "Docx sample document"
    assert section_at(word.headings, word.text.index("Cell text | | Shaded grey")) == ("Tables",)

    pdfs = {name: (len(d.pages), d.pages[0].label, d.pages[-1].label, sum(p.ocr for p in d.pages))
            for name, d in docs.items() if name in DOCS_PDFS}
    assert pdfs == {  # pages, first and last printed page label, pages read by OCR
        "federal-register-2020-17221-p1-3.pdf": (3, "1", "3", 0),
        "gnu-maintain.pdf": (55, "T-1", "50", 0),
        "nics-firearm-checks-2015-11.pdf": (1, "1", "1", 0),
        **({scan: (1, "1", "1", 1)} if ocr else {}),
    }
    maintain = docs["gnu-maintain.pdf"]
    assert section_at(maintain.headings, maintain.text.index("This release of the GNU Maintainer")) == ("1 About This Document",)

    for d in docs.values():  # offsets are the contract
        for h in d.headings:
            assert " ".join(d.text[h.start : h.end].split()).lower() == h.title.lower(), (d.source, h)
        for a, b in d.skipped + d.back_matter:
            assert 0 <= a < b <= len(d.text), (d.source, a, b)
        assert "\ufeff" not in d.title and all("\ufeff" not in h.title for h in d.headings)
