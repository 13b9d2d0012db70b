"""Word (.docx): body text in order, headings from styles, lists, tables as rows, notes, and bad files skipped with a reason."""

import io
import shutil
import zipfile
from pathlib import Path

import pytest

from qa.config import ChunkSettings
from qa.errors import Unreadable
from qa.ingest import docx
from qa.ingest.chunk import chunk_document, paragraphs, split_sentences
from qa.ingest.docx import read_docx
from qa.ingest.load import load_folder, read_document

DOCS = Path(__file__).resolve().parents[1] / "docs"
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)
STYLES = (
    f'<w:styles xmlns:w="{W}">'
    '<w:style w:type="paragraph" w:styleId="Normal"><w:name w:val="Normal"/></w:style>'
    '<w:style w:type="paragraph" w:styleId="Title"><w:name w:val="Title"/><w:basedOn w:val="Normal"/></w:style>'
    # a localised id: the name says what it is
    '<w:style w:type="paragraph" w:styleId="berschrift1"><w:name w:val="heading 1"/>'
    '<w:pPr><w:outlineLvl w:val="0"/></w:pPr></w:style>'
    '<w:style w:type="paragraph" w:styleId="Heading2"><w:name w:val="heading 2"/>'
    '<w:pPr><w:outlineLvl w:val="1"/></w:pPr></w:style>'
    '<w:style w:type="paragraph" w:styleId="MyHeading"><w:name w:val="My Heading"/><w:basedOn w:val="Heading2"/></w:style>'
    '<w:style w:type="paragraph" w:styleId="Deep"><w:name w:val="Deep"/><w:pPr><w:outlineLvl w:val="2"/></w:pPr></w:style>'
    '<w:style w:type="paragraph" w:styleId="ListBullet"><w:name w:val="List Bullet"/>'
    '<w:pPr><w:numPr><w:numId w:val="3"/></w:numPr></w:pPr></w:style>'
    "</w:styles>"
)


def p(text: str = "", style: str = "", extra: str = "") -> str:
    ppr = f'<w:pPr><w:pStyle w:val="{style}"/>{extra}</w:pPr>' if style else (f"<w:pPr>{extra}</w:pPr>" if extra else "")
    return f'<w:p>{ppr}<w:r><w:t xml:space="preserve">{text}</w:t></w:r></w:p>'


def item(text: str, level: int = 0) -> str:
    return p(text, extra=f'<w:numPr><w:ilvl w:val="{level}"/><w:numId w:val="1"/></w:numPr>')


def cell(*paras: str) -> str:
    return "<w:tc>" + "".join(paras) + "</w:tc>"


def table(*rows: list[str]) -> str:
    return "<w:tbl>" + "".join("<w:tr>" + "".join(r) + "</w:tr>" for r in rows) + "</w:tbl>"


def make_docx(body: str, styles: str | None = STYLES, title: str | None = None, parts: dict | None = None) -> bytes:
    """A minimal .docx: [Content_Types].xml, word/document.xml and, when given, styles, core properties and more parts."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
        z.writestr("word/document.xml", f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{W}" '
                   f'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><w:body>{body}'
                   "<w:sectPr/></w:body></w:document>")
        if styles is not None:
            z.writestr("word/styles.xml", styles)
        if title is not None:
            z.writestr("docProps/core.xml", '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
                       'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/">'
                       f"<dc:title>{title}</dc:title></cp:coreProperties>")
        for name, data in (parts or {}).items():
            z.writestr(name, data)
    return buf.getvalue()


BODY = "".join([
    p("Flood Defences", "Title"),
    p("The river council keeps the barriers."),
    p("Barriers", "berschrift1"),
    # runs split mid-word, a tab, a soft line break, a soft hyphen, a no-break hyphen, a hyperlink,
    # a tracked insertion kept and a tracked deletion dropped, and a field code left out
    ('<w:p><w:r><w:t>The bar</w:t></w:r><w:r><w:t xml:space="preserve">rier closes</w:t><w:tab/><w:t>twice</w:t>'
     "<w:br/><w:t>a year in non</w:t><w:softHyphen/><w:t>tidal and</w:t><w:noBreakHyphen/><w:t>tidal reaches</w:t></w:r>"
     '<w:hyperlink r:id="rId9"><w:r><w:t xml:space="preserve"> (see the map)</w:t></w:r></w:hyperlink>'
     '<w:ins w:id="1" w:author="A"><w:r><w:t xml:space="preserve"> since 2010</w:t></w:r></w:ins>'
     '<w:del w:id="2" w:author="A"><w:r><w:delText xml:space="preserve"> since 1990</w:delText></w:r></w:del>'
     '<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> PAGE </w:instrText></w:r>'
     '<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>.</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r>'
     '<w:r><w:footnoteReference w:id="5"/></w:r></w:p>'),
    p(),  # an empty paragraph adds nothing
    p("Maintenance", "MyHeading"),
    p("The gates are checked:"),
    item("monthly by the keeper;"),
    item("yearly by an engineer.", level=1),
    p("painted every ten years", "ListBullet"),
    p("Costs", "Deep"),
    table(
        [cell(p("Item")), cell(p("Cost")), cell(p("Notes"))],
        [cell(p("Paint")), cell(p("£4,000")), cell(p("Every ten years"), p("in spring"))],
        [cell(p("Keeper")), cell(), cell(p("Part time"))],
        [cell(), cell(), cell()],  # an empty row is left out
        [cell(p("Spares")), cell(table([cell(p("Bolts")), cell(p("£10"))], [cell(p("Seals")), cell(p("£20"))]))],
    ),
    p("Further work", extra='<w:outlineLvl w:val="1"/>'),
    p("See the annex."),
])
NOTES = (f'<w:footnotes xmlns:w="{W}"><w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p>'
         '</w:footnote><w:footnote w:id="5"><w:p><w:r><w:footnoteRef/></w:r><w:r><w:t xml:space="preserve"> Tide tables, 2010 '
         "edition.</w:t></w:r></w:p></w:footnote></w:footnotes>")
HEADER = f'<w:hdr xmlns:w="{W}"><w:p><w:r><w:t>Running header of every page</w:t></w:r></w:p></w:hdr>'
EXPECTED = (
    "Flood Defences\n\n"
    "The river council keeps the barriers.\n\n"
    "Barriers\n\n"
    "The barrier closes\ttwice\na year in nontidal and-tidal reaches (see the map) since 2010.[1]\n\n"
    "Maintenance\n\n"
    "The gates are checked:\n\n"
    "- monthly by the keeper;\n"
    "  - yearly by an engineer.\n"
    "- painted every ten years\n\n"
    "Costs\n\n"
    "Item | Cost | Notes\n\n"
    "Paint | £4,000 | Every ten years in spring\n\n"
    "Keeper | | Part time\n\n"
    "Spares | Bolts / £10; Seals / £20\n\n"
    "Further work\n\n"
    "See the annex.\n\n"
    "Notes\n\n"
    "[1] Tide tables, 2010 edition."
)


def test_body_text_in_order_with_lists_tables_breaks_and_tracked_changes():
    word = read_docx(make_docx(BODY, title="Flood defences: a guide",
                               parts={"word/footnotes.xml": NOTES, "word/header1.xml": HEADER}))
    assert word.text == EXPECTED
    assert word.title == "Flood defences: a guide"
    assert "Running header" not in word.text and "1990" not in word.text and "PAGE" not in word.text


def test_headings_come_from_styles_outline_levels_and_inheritance_and_slice_the_text():
    word = read_docx(make_docx(BODY, parts={"word/footnotes.xml": NOTES}))
    assert [(h.title, h.level) for h in word.headings] == [
        ("Flood Defences", 1),  # Title
        ("Barriers", 1),  # a style named "heading 1" whatever its id
        ("Maintenance", 2),  # based on heading 2
        ("Costs", 3),  # the style's outline level 2 (0-based)
        ("Further work", 2),  # the paragraph's own outline level
        ("Notes", 1),  # footnotes appended
    ]
    for h in word.headings:
        assert word.text[h.start : h.end] == h.title


def test_without_styles_part_heading_style_ids_still_make_headings():
    word = read_docx(make_docx(p("Report", "Title") + p("Scope", "Heading2") + p("Body text."), styles=None))
    assert [(h.title, h.level) for h in word.headings] == [("Report", 1), ("Scope", 2)]


def test_table_rows_never_run_together_into_one_sentence(tmp_path):
    path = tmp_path / "costs.docx"
    path.write_bytes(make_docx(BODY, parts={"word/footnotes.xml": NOTES}))
    doc = read_document(path, "costs.docx")
    rows = ["Item | Cost | Notes", "Paint | £4,000 | Every ten years in spring", "Keeper | | Part time"]
    starts = [doc.text.index(r) for r in rows]
    sentences = [s for a, b in (span for span, _ in paragraphs(doc)) for s in split_sentences(doc.text, a, b)]
    for start, row in zip(starts, rows):
        assert (start, start + len(row)) in sentences  # each row is a sentence of its own
    chunks = chunk_document(doc, lambda texts: [len(t.split()) for t in texts], ChunkSettings(), 256)
    for c in chunks:
        for a, b in c.sentences:
            assert sum(r in doc.text[a:b] for r in rows) <= 1, doc.text[a:b]


def test_title_is_the_core_properties_title_unless_it_is_a_placeholder(tmp_path):
    path = tmp_path / "a.docx"
    path.write_bytes(make_docx(p("Flood Defences", "Title") + p("Text."), title="Flood defences: a guide"))
    assert read_document(path, "a.docx").title == "Flood defences: a guide"
    path.write_bytes(make_docx(p("Flood Defences", "Title") + p("Text."), title="Document1"))
    assert read_document(path, "a.docx").title == "Flood Defences"


def _zip(parts: dict[str, str | bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return buf.getvalue()


LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    f'<w:document xmlns:w="{W}"><w:body><w:p><w:r><w:t>&lol2;</w:t></w:r></w:p></w:body></w:document>'
)


@pytest.mark.parametrize("data, reason", [
    (b"Just some text, not a zip at all.", "not a zip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504, "encrypted or an old .doc"),
    (_zip({"xl/workbook.xml": "<workbook/>", "[Content_Types].xml": CONTENT_TYPES}), "an Excel or PowerPoint file"),
    (_zip({"notes.txt": "hello"}), "without word/document.xml"),
    (_zip({"word/document.xml": LAUGHS}), "DOCTYPE"),
    (_zip({"word/document.xml": "<w:document><w:body>"}), "not well-formed XML"),
])
def test_bad_files_raise_unreadable_with_what_to_do(data, reason):
    with pytest.raises(Unreadable, match=reason) as e:
        read_docx(data)
    assert "\n" not in str(e.value) and ("save" in str(e.value) or "suffix" in str(e.value))


def test_unzipping_stops_at_the_cap(monkeypatch):
    monkeypatch.setattr(docx, "MAX_UNZIPPED_BYTES", 100_000)
    bomb = make_docx(p("x" * 200_000))  # compresses to a few hundred bytes
    assert len(bomb) < 5_000
    with pytest.raises(Unreadable, match="unzips to more than"):
        read_docx(bomb)


def test_one_bad_docx_never_stops_the_build(tmp_path):
    (tmp_path / "good.docx").write_bytes(make_docx(p("Barriers", "Title") + p("The barrier closes twice a year.")))
    (tmp_path / "locked.docx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504)
    (tmp_path / "sheet.docx").write_bytes(_zip({"xl/workbook.xml": "<workbook/>"}))
    (tmp_path / "empty.docx").write_bytes(make_docx(p()))
    docs, skipped = load_folder(tmp_path, warn=lambda s: None)
    assert [d.source for d in docs] == ["good.docx"]
    reasons = {s.path: s.reason for s in skipped}
    assert "save it as .docx without a password" in reasons["locked.docx"]
    assert "Excel or PowerPoint" in reasons["sheet.docx"]
    assert "empty" in reasons["empty.docx"]


def test_real_docx4j_sample_loads_with_headings_table_rows_lists_and_tracked_changes(tmp_path):
    """tests/docs/docx4j-sample-docx.docx: docx4j's feature sample (Apache-2.0), images removed (tests/docs/README.md)."""
    shutil.copy(DOCS / "docx4j-sample-docx.docx", tmp_path)
    docs, skipped = load_folder(tmp_path)
    assert skipped == [] and len(docs) == 1
    doc = docs[0]
    assert doc.title == "Docx sample document"  # no dc:title: the Title-styled paragraph
    assert [(h.title, h.level) for h in doc.headings] == [
        ("Docx sample document", 1), ("This is style Heading 1", 1), ("Tables", 1), ("Paragraph properties", 1),
        ("Run properties", 1), ("Bullets & numbering", 1), ("Images", 1),
    ]
    for h in doc.headings:
        assert doc.text[h.start : h.end] == h.title
    assert ("Tables\n\nCell text | | Shaded grey\n\nVertical merge | | Shaded grey\n\n| Horizontal merge\n\n"
            "(There is another document which tests tables more thoroughly)") in doc.text
    assert "Bullets\n\n- Level 1\n  - Level 2\n\nNumbering\n\n- Level 1\n  - Level 2\n    - Level 3\n\n" in doc.text
    assert "Here is some change tracking. An insertion Followed by." in doc.text  # "A deletion" dropped
    assert "This line contains a soft return\nand here it continues" in doc.text
    assert "My header" not in doc.text  # the page header
