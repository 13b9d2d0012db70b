"""Reading real PDFs (tests/docs, sources in its README): pages and printed page labels, each known sentence
in the Page it is printed on with boxes where it is printed, three text columns read column by column, a
table's rows one line each, a scanned page read by OCR.

Every expected value was read off the pages as PDFium renders them (``render_page``), and each sentence's
boxes are checked against PDFium's own text inside them (``get_text_bounded``): the rectangles that
``page_boxes`` gives for a sentence hold exactly that sentence's characters.
"""

from __future__ import annotations

import itertools
import re
import shutil
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from qa.ingest.pdf import PdfText, page_boxes, read_pdf

DOCS = Path(__file__).resolve().parents[1] / "docs"
FEDREG = DOCS / "federal-register-2020-17221-p1-3.pdf"
MAINTAIN = DOCS / "gnu-maintain.pdf"
NICS = DOCS / "nics-firearm-checks-2015-11.pdf"
SCAN = DOCS / "linnsequencer-brochure-scan.pdf"
needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-eng)")


@pytest.fixture(scope="module")
def read():
    done: dict[Path, PdfText] = {}

    def get(path: Path) -> PdfText:
        if path not in done:
            done[path] = read_pdf(path)
        return done[path]

    return get


def squeeze(s: str) -> str:
    """Text without white space and line-end hyphens (PDFium marks those "\\x02"), to compare readings."""
    return re.sub(r"[\s\x02\u00ad-]", "", s)


def page_of(pdf: PdfText, start: int) -> int:
    """The 0-based index of the Page whose text holds offset ``start``."""
    [index] = [i for i, p in enumerate(pdf.pages) if p.start <= start < p.end]
    return index


def printed_in(path: Path, index: int, rects) -> list[str]:
    """PDFium's text inside each rectangle (fractions of page ``index`` from its top left)."""
    doc = pdfium.PdfDocument(str(path))
    try:
        page = doc[index]
        assert page.get_rotation() == 0
        left, bottom, right, top = page.get_cropbox()
        textpage = page.get_textpage()
        w, h = right - left, top - bottom
        return [textpage.get_text_bounded(left + x0 * w, top - y1 * h, left + x1 * w, top - y0 * h) for x0, y0, x1, y1 in rects]
    finally:
        doc.close()


def assert_printed(path: Path, pdf: PdfText, sentence: str, pages: list[int]) -> list:
    """``sentence`` is in the text once, on the Pages ``pages`` (0-based), as PDFium prints them, and its
    rectangles hold exactly its characters. Returns its rectangles per page."""
    start = pdf.text.index(sentence)
    assert pdf.text.count(sentence) == 1
    end = start + len(sentence)
    marks = page_boxes(pdf.boxes, pdf.pages, start, end)
    assert [i for i, _ in marks] == pages and page_of(pdf, start) == pages[0] and page_of(pdf, end - 1) == pages[-1]
    inside = "".join(t for i, rects in marks for t in printed_in(path, i, rects))
    assert squeeze(inside) == squeeze(sentence), (sentence, inside)
    return marks


def near(rect, want, tol=0.01):
    return all(abs(a - b) <= tol for a, b in zip(rect, want))


# -- three columns: the Federal Register --------------------------------------------------------------------


def test_federal_register_pages_and_sentences_are_where_they_are_printed(read):
    pdf = read(FEDREG)
    assert [(p.number, p.label, p.width, p.height, p.ocr) for p in pdf.pages] == [
        (1, "1", 612, 792, False), (2, "2", 612, 792, False), (3, "3", 612, 792, False)]  # no /PageLabels
    # page 1 (47698): the page's title block and the middle column
    marks = assert_printed(FEDREG, pdf, "The FAA invites you to participate in\nthis rulemaking by submitting written\n"
                           "comments, data, or views about this\nproposal.", [0])
    [(_, rects)] = marks
    assert len(rects) == 4 and near(rects[0], (0.377, 0.874, 0.630, 0.885))  # "Comments Invited", the middle column
    assert_printed(FEDREG, pdf, "Airworthiness Directives; The Boeing\nCompany Airplanes", [0])
    # the last line of page 1's right column ends "Soekarno-"; page 2 goes on "Hatta International Airport"
    [(_, [last])] = assert_printed(FEDREG, pdf, "accident after takeoff from Soekarno-", [0])
    assert near(last, (0.652, 0.925, 0.901, 0.936))
    assert_printed(FEDREG, pdf, "Hatta International Airport in Jakarta,\nIndonesia, resulting in 189 fatalities.", [1])
    assert_printed(FEDREG, pdf, "Proposed Design Changes", [2])


def test_federal_register_columns_are_read_column_by_column(read):
    pdf = read(FEDREG)
    # page 2: a sentence that runs from the foot of the left column to the head of the middle one is one
    # piece of text, and so is one that wraps over lines inside a column
    across = ("These effects include stall warning\nactivation, airspeed disagree alert, and\naltitude disagree alert,5 "
              "and may affect\nthe flightcrew’s ability to accomplish\ncontinued safe flight and landing.")
    [(_, rects)] = assert_printed(FEDREG, pdf, across, [1])
    # read off the render: two lines at the foot of the left column, three at the head of the middle one
    assert len(rects) == 5
    assert near(rects[0], (0.088, 0.457, 0.323, 0.469)) and near(rects[1], (0.074, 0.470, 0.333, 0.481))
    assert all(r[0] > 0.36 and r[3] < 0.12 for r in rects[2:])
    assert_printed(FEDREG, pdf, "Investigation of the accident has been\ncompleted by the Indonesian authorities\n"
                   "(Komite Nasional Keselamatan\nTransportasi (KNKT)) with assistance", [1])
    # the columns in order: left, middle, right
    page = pdf.text[pdf.pages[1].start : pdf.pages[1].end]
    heads = ["Hatta International Airport", "On November 7, 2018, the FAA issued", "and the Ethiopian Civil Aviation",
             "In addition to these four design"]
    assert [page.index(h) for h in heads] == sorted(page.index(h) for h in heads)


# -- page labels: a Texinfo manual --------------------------------------------------------------------------


def test_texinfo_manual_has_its_printed_page_labels(read):
    pdf = read(MAINTAIN)
    assert len(pdf.pages) == 55
    assert [p.label for p in pdf.pages] == ["T-1", "T-2", "i", "ii", "iii"] + [str(n) for n in range(1, 51)]
    assert [p.number for p in pdf.pages] == list(range(1, 56))
    for p in pdf.pages[2:]:  # every page after the title pages prints its label in its running head
        assert p.label in pdf.text[p.start : p.end].split("\n")[0].split(), p


def test_texinfo_manual_sentences_are_on_the_pages_that_print_them(read):
    pdf = read(MAINTAIN)
    found = {}
    for sentence, label in [
        ("Information for Maintainers of GNU\nSoftware", "T-1"),
        ("Permission is granted to copy, distribute and/or modify this document under the terms of", "T-2"),
        ("Table of Contents", "i"),
        ("This release of the GNU Maintainer Information was last updated February 26, 2022.", "1"),
        ("Please send corrections or suggestions for this document to bug-standards@gnu.org.", "1"),
    ]:
        index = next(i for i, p in enumerate(pdf.pages) if p.label == label)
        found[sentence] = assert_printed(MAINTAIN, pdf, sentence, [index])
    # read off page 1's render: the last line of "About This Document", indented as a paragraph's first line
    [(_, [rect])] = found["This release of the GNU Maintainer Information was last updated February 26, 2022."]
    assert near(rect, (0.171, 0.557, 0.839, 0.570))


# -- a table: the FBI's NICS checks ---------------------------------------------------------------------------


def test_table_rows_are_lines_with_their_cells_on_their_row(read):
    pdf = read(NICS)
    [page] = pdf.pages
    assert (page.width, page.height, page.label) == (1008, 612, "1")
    lines = pdf.text.split("\n")
    assert lines[0].startswith("State / Territory Permit Handgun Long Gun *Other **Multiple Admin") and lines[0].endswith(" Totals")
    assert lines[1] == "Alabama 18,870 23,022 22,650 859 1,178 0 14 15 0 2,179 2,307 11 0 0 0 13 14 0 3 2 0 71,137"
    assert lines[55] == "Wyoming 383 1,745 2,372 87 104 1 0 4 0 132 184 0 0 0 0 1 2 0 0 2 0 5,017"
    assert lines[56] == ("Totals 804,006 671,330 636,903 26,597 23,015 1,281 218 249 13 29,905 38,487 102 1,656 533 44 "
                         "0 0 1,067 905 65 31 45 5 2,236,457")
    rows = [re.fullmatch(r"([A-Z][A-Za-z .]+?)((?: [\d,]+)+)", line) for line in lines[1:56]]
    assert all(rows), [line for line, m in zip(lines[1:56], rows) if not m]
    assert len(rows) == 55 and rows[8].group(1) == "District of Columbia"  # 50 states, DC and 4 territories
    # a row's 21 cells add up to its Totals cell, so none went to another row; known exceptions:
    # California prints "98 452" (a space for a thousands comma), and in four rows two adjacent cells are
    # printed so close that PDFium reads them as one number (Guam's "3" "0" as "30")
    off = {m.group(1) for m in rows if sum(int(c.replace(",", "")) for c in m.group(2).split()[:-1]) != int(m.group(2).split()[-1].replace(",", ""))}
    assert off <= {"California", "Guam", "Maryland", "New Hampshire", "Virgin Islands"} and len(off) <= 5
    # each row is marked by one rectangle, each below the one before, where the render shows the rows
    starts = [sum(len(x) + 1 for x in lines[:k]) for k in range(len(lines))]
    bands = []
    for k in range(1, 57):
        [(_, [rect])] = page_boxes(pdf.boxes, pdf.pages, starts[k], starts[k] + len(lines[k]))
        bands.append(rect)
    assert all(b[1] >= a[3] - 0.002 for a, b in itertools.pairwise(bands))
    assert near(bands[0], (0.043, 0.130, 0.966, 0.141)) and near(bands[-1], (0.064, 0.778, 0.966, 0.788))
    assert squeeze("".join(printed_in(NICS, 0, [bands[0]]))) == squeeze(lines[1])


# -- a scan: OCR -------------------------------------------------------------------------------------------


@needs_tesseract
@pytest.mark.slow  # Tesseract over a 300-dpi page (tests/ingest/test_pdf.py OCRs a small one in the fast suite)
def test_scanned_page_is_read_by_ocr_with_words_where_they_are_printed(read):
    pdf = read(SCAN)
    [page] = pdf.pages
    assert page.ocr and (page.width, page.height, page.label) == (612, 792, "1")
    # where the render of the 1985 brochure shows these words (fractions of the page from its top left)
    printed = {
        "LinnSequencer": (0.415, 0.037, 0.649, 0.065),  # the title's first line, after "The"
        "TIMING CORRECTION": (0.150, 0.326, 0.356, 0.338),
        "Recording a Sequence": (0.135, 0.390, 0.294, 0.403),
        "Composition Without Compromise": (0.507, 0.605, 0.765, 0.618),
        "Additional Features": (0.135, 0.694, 0.276, 0.706),
        "Oxnard Street": (0.648, 0.955, 0.725, 0.964),
    }
    for words, want in printed.items():
        start = pdf.text.index(words)
        [(_, [rect])] = page_boxes(pdf.boxes, pdf.pages, start, start + len(words))
        assert near(rect, want, tol=0.02), (words, rect)  # within 2% of the page
    for words in ("state-of-the-art composition and performance tool", "Tarzana, CA 91356",
                  "To record a sequence, simply press RECORD and PLAY,"):
        assert words in pdf.text


def test_a_title_page_gives_the_whole_title_in_its_largest_type(read):
    """The manual has no /Title; its title page sets the title over two lines in large type (the first heading
    gave only "Information for Maintainers of GNU"). Pages with no type that stands out give no title this way."""
    assert read(MAINTAIN).title == "Information for Maintainers of GNU Software"
    assert read(NICS).title == ""  # one size throughout the table: the loader falls back to the text's own


def test_largest_type_title_on_a_made_page():
    from qa.ingest.pdf import largest_type
    from tests.pdfs import make_pdf

    pdf = pdfium.PdfDocument(make_pdf([[(72, 700, "Annual Report", 28), (72, 664, "of the Harbour Board", 28),
                                        (72, 600, "The board met nine times this year.", 11),
                                        (72, 586, "It approved the dredging plan.", 11)]]))
    assert largest_type(pdf[0].get_textpage()) == "Annual Report of the Harbour Board"
    plain = pdfium.PdfDocument(make_pdf([["Just body text here.", "And more of it."]]))
    assert largest_type(plain[0].get_textpage()) == ""
