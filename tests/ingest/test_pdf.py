"""Reading PDFs: each page's text where its Page says, a box per character where the glyph is printed,
printed page labels, reading order (columns, tables), scanned pages read by OCR, highlight rectangles."""

from __future__ import annotations

import logging
import re
import shutil

import numpy as np
import pytest

from qa.errors import Unreadable
from qa.ingest import ocr
from qa.ingest.pdf import PAGE_BREAK, page_boxes, read_pdf
from qa.ingest.pdf_render import render_page
from tests.pdfs import join_pdfs, make_pdf, scanned_pdf

W, H = 612, 792  # make_pdf's page, in points
needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-eng)")


def read(tmp_path, data: bytes, **kw):
    p = tmp_path / "x.pdf"
    p.write_bytes(data)
    return read_pdf(p, **kw)


def word_boxes(text: str, boxes: np.ndarray, page_w: float, page_h: float):
    """Each word of ``text`` with the union of its characters' boxes, in points from the page's top left."""
    for m in re.finditer(r"\S+", text):
        b = boxes[m.start() : m.end()]
        assert not np.isnan(b).any(), m.group()
        yield m.group(), (b[:, 0].min() * page_w, b[:, 1].min() * page_h, b[:, 2].max() * page_w, b[:, 3].max() * page_h)


def test_pages_spans_labels_and_boxes_agree_with_the_text(tmp_path):
    pages = [["Preface", "Why this book."], ["Contents"], ["Rivers", "The Thames floods."], ["Bridges", "Paint them."]]
    pdf = read(tmp_path, make_pdf(pages, labels=[(0, "r"), (2, "D")]))
    assert [p.label for p in pdf.pages] == ["i", "ii", "1", "2"]
    assert [p.number for p in pdf.pages] == [1, 2, 3, 4]
    assert all((p.width, p.height, p.ocr) == (W, H, False) for p in pdf.pages)
    assert pdf.text == PAGE_BREAK.join("\n".join(lines) for lines in pages)
    for p, lines in zip(pdf.pages, pages):
        assert pdf.text[p.start : p.end] == "\n".join(lines)
    assert pdf.boxes.shape == (len(pdf.text), 4) and pdf.boxes.dtype == np.float32
    glyph = np.array([c not in "\n\f" for c in pdf.text])
    assert not np.isnan(pdf.boxes[glyph]).any()
    assert np.isnan(pdf.boxes[~glyph]).all()  # line and page breaks have no box
    assert ((pdf.boxes[glyph] >= 0) & (pdf.boxes[glyph] <= 1)).all()
    assert read(tmp_path, make_pdf([["a"], ["b"]])).pages[1].label == "2"  # no /PageLabels: the physical number


def test_every_words_box_is_where_it_is_printed(tmp_path):
    size, lines = 11, [(72, 700, "Budget report for the river council"), (300, 500, "Money was tight in 2020."),
                       (100, 120, "Staff (numbers) rose by ten percent.")]
    pdf = read(tmp_path, make_pdf([lines], font="Courier", size=size))
    assert pdf.text == "\n".join(t for _, _, t in lines)
    starts = [pdf.text.index(t) for _, _, t in lines]
    for (x, y, line), start in zip(lines, starts):
        for word, (x0, top, x1, bottom) in word_boxes(line, pdf.boxes[start : start + len(line)], W, H):
            i = line.index(word)
            # Courier advances 0.6 em per character; the box spans the font's descent to its ascent
            assert abs(x0 - (x + 0.6 * size * i)) < 2 and abs(x1 - (x + 0.6 * size * (i + len(word)))) < 2, word
            assert H - y - 1.0 * size < top < H - y - 0.5 * size and H - y < bottom < H - y + 0.4 * size, word


def test_a_rotated_pages_boxes_are_where_it_is_shown(tmp_path):
    pdf = read(tmp_path, make_pdf([[(72, 720, "Turned")]], rotate=90))
    [page] = pdf.pages
    assert (page.width, page.height) == (H, W)
    x0, y0, x1, y1 = pdf.boxes[0]  # turned a quarter clockwise: up the page is right on screen
    assert abs(x0 * H - 720 + 3) < 3 and abs(y0 * W - 72) < 2 and x1 > x0 and y1 > y0


def test_a_word_split_across_lines_keeps_its_hyphen_and_its_box(tmp_path):
    pdf = read(tmp_path, make_pdf([["The river coun-", "cil met in May."]]))
    assert pdf.text == "The river coun-\ncil met in May."
    hyphen = pdf.text.index("-")
    assert not np.isnan(pdf.boxes[hyphen]).any() and np.isnan(pdf.boxes[hyphen + 1]).all()


def test_control_characters_are_dropped(tmp_path):
    assert read(tmp_path, make_pdf([["ctl\x01chars\x07 here"]])).text == "ctlchars here"


def test_two_interleaved_columns_are_read_column_by_column(tmp_path):
    left = ["Rivers rise in the spring when the snow", "melts on the hills above the valley and",
            "the rain falls for many days on end.", "Floods follow."]
    right = ["Bridges need a new coat of paint every", "ten years or so, or they rust away in the",
             "salty air that blows in from the sea", "every winter."]
    title, foot = (72, 740, "Two columns on one page"), (72, 600, "A footer line that spans the page from left to right")
    interleaved = [title] + [item for i in range(4) for item in ((72, 700 - 14 * i, left[i], 10), (320, 700 - 14 * i, right[i], 10))] + [foot]
    by_column = [title] + [(x, 700 - 14 * i, t, 10) for x, col in ((72, left), (320, right)) for i, t in enumerate(col)] + [foot]
    want = "\n".join([title[2], *left, *right, foot[2]])
    for layout in (interleaved, by_column):
        pdf = read(tmp_path, make_pdf([layout]))
        assert pdf.text == want
        for word, (x0, _, _, _) in word_boxes(pdf.text, pdf.boxes, W, H):
            if word in ("Bridges", "Rivers"):
                assert abs(x0 - (320 if word == "Bridges" else 72)) < 2


def test_a_tables_rows_are_lines_and_its_cells_stay_on_their_row(tmp_path):
    cells = [(72 + 150 * j, 600 - 20 * i, f"r{i}c{j} cell") for i in range(3) for j in range(3)]
    pdf = read(tmp_path, make_pdf([cells]))
    assert pdf.text.split("\n") == [" ".join(f"r{i}c{j} cell" for j in range(3)) for i in range(3)]
    gaps = [k for k, c in enumerate(pdf.text) if c == " " and np.isnan(pdf.boxes[k]).all()]
    assert len(gaps) == 6  # the spaces PDFium put between cells have no box; the cells' own spaces do


def test_page_boxes_mark_a_span_line_by_line_on_each_page(tmp_path):
    pdf = read(tmp_path, make_pdf([["First line here.", "Second line is longer."], ["Third line.", "Fourth."]]))
    start, end = pdf.text.index("line here"), pdf.text.index("Third line") + len("Third line")
    marks = page_boxes(pdf.boxes, pdf.pages, start, end)
    assert [i for i, _ in marks] == [0, 1]
    (_, first), (_, second) = marks
    assert len(first) == 2 and len(second) == 1
    x0, y0, x1, y1 = first[0]
    want = pdf.boxes[start : start + len("line here.")]
    assert (x0, y0, x1, y1) == pytest.approx((want[:, 0].min(), want[:, 1].min(), want[:, 2].max(), want[:, 3].max()))
    assert first[1][1] > first[0][3] - 0.005  # the second line's rectangle is below the first's
    assert first[1][0] == pytest.approx(pdf.boxes[pdf.text.index("Second"), 0])
    assert page_boxes(pdf.boxes, pdf.pages, pdf.pages[0].end, pdf.pages[1].start) == []  # the page break


def test_render_page_draws_a_png_of_the_width_asked(tmp_path):
    import io

    from PIL import Image

    p = tmp_path / "x.pdf"
    p.write_bytes(make_pdf([["Page one"], ["Page two"]]))
    image = Image.open(io.BytesIO(render_page(p, 1, 300)))
    assert image.format == "PNG" and image.width == 300 and abs(image.height - 300 * H / W) <= 1
    with pytest.raises(ValueError, match="pages 0..1"):
        render_page(p, 2, 300)


def test_tesseract_tsv_becomes_lines_and_paragraphs_with_boxes_shared_by_characters():
    head = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
    rows = [(1, 1, 1, 1, 1, 10, 20, 40, 10, "Rivers"), (1, 1, 1, 1, 2, 60, 20, 20, 10, "rise"),
            (1, 1, 1, 2, 1, 10, 40, 30, 10, "fast."), (1, 2, 1, 1, 1, 10, 80, 20, 10, "Next")]
    tsv = head + "2\t1\t1\t0\t0\t0\t10\t20\t70\t30\t-1\t\n" + "".join(
        f"5\t{p}\t{b}\t{q}\t{ln}\t{w}\t{x}\t{y}\t{wd}\t{ht}\t96\t{t}\n" for p, b, q, ln, w, x, y, wd, ht, t in rows)
    page = ocr.parse_tsv(tsv, 100, 100)
    assert page.text == "Rivers rise\nfast.\n\nNext"
    assert page.boxes.shape == (len(page.text), 4)
    assert np.isnan(page.boxes[6]).all()  # the space between words
    r = page.text.index("rise")
    assert page.boxes[r] == pytest.approx([0.60, 0.20, 0.65, 0.30]) and page.boxes[r + 3] == pytest.approx([0.75, 0.20, 0.80, 0.30])


@needs_tesseract
def test_a_scanned_page_is_read_by_ocr_with_boxes_where_the_words_are(tmp_path):
    size, lines = 14, [(72, 700, "Budget report for the river council"), (72, 660, "Money was tight in 2020"),
                       (200, 400, "Staff numbers rose by ten percent")]
    scan = scanned_pdf(make_pdf([lines], font="Courier", size=size))
    calls = []
    pdf = read(tmp_path, join_pdfs(make_pdf([["A text page first."]]), scan), progress=lambda *a: calls.append(a))
    assert calls == [(1, 1)]
    first, second = pdf.pages
    assert (first.ocr, second.ocr) == (False, True) and second.label == "2"
    assert pdf.text[first.start : first.end] == "A text page first."
    page_text, page_boxes_ = pdf.text[second.start : second.end], pdf.boxes[second.start : second.end]
    found = dict(word_boxes(page_text, page_boxes_, second.width, second.height))
    for x, y, line in lines:
        for word in line.split():
            assert word in found, (word, page_text)
            x0, top, x1, bottom = found[word]
            i = line.index(word)
            tol = 0.02 * W  # within 2% of the page
            assert abs(x0 - (x + 0.6 * size * i)) < tol and abs(x1 - (x + 0.6 * size * (i + len(word)))) < tol, word
            assert top > H - y - size - tol and bottom < H - y + 0.4 * size + tol, word


@needs_tesseract
def test_a_scan_on_which_ocr_reads_nothing_is_unreadable_and_says_so(tmp_path):
    with pytest.raises(Unreadable, match=r"no text layer and OCR \(tesseract\) read no words.*OCR it first"):
        read(tmp_path, scanned_pdf(make_pdf([[""]])))  # a white image: OCR finds nothing


def test_without_tesseract_scanned_pages_are_left_empty_with_a_warning_that_says_what_to_install(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(ocr, "TESSERACT", "tesseract-not-installed-here")
    scan = scanned_pdf(make_pdf([["Money was tight."]]), dpi=72)
    with caplog.at_level(logging.WARNING, logger="qa.ingest.pdf"):
        pdf = read(tmp_path, join_pdfs(make_pdf([["Text page."]]), scan))
    assert pdf.text == "Text page." + PAGE_BREAK and [p.ocr for p in pdf.pages] == [False, False]
    assert "apt-get install tesseract-ocr tesseract-ocr-eng" in caplog.text
    with pytest.raises(Unreadable, match=r"no text layer.*apt-get install tesseract-ocr tesseract-ocr-eng"):
        read(tmp_path, scan)
