"""Read a PDF with PDFium (pypdfium2): its text page by page with a box per character, its pages' printed
numbers and sizes, its outline as headings, its metadata title; pages without a text layer are read by OCR.

Pages are joined with a form feed on a line of its own (``"\\n\\f\\n"``), so
page-aware debris detection (running headers, page numbers) sees page edges.
The text and the boxes come from the same characters of PDFium's text page
(``qa/ingest/pdf_text.py``), so a span of the text always has boxes that mark
it (``page_boxes``). A page with no characters but an image on it (a scan) is
rendered at 300 dpi and read by Tesseract (``qa/ingest/ocr.py``); without
Tesseract it is left empty with a warning that says what to install.
Outline (bookmark) entries become headings at the place on their page where
their title is printed; their level is their nesting depth. A PDF that cannot
be read raises ``Unreadable`` with a reason that is true and says what to do.

pypdf is not used here: PDFium opens encrypted PDFs (AES included) itself and
gives the outline, page labels and metadata. PDFium is not thread-safe: read
one PDF at a time per process.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import Unreadable
from ..records import Heading, Page
from .pdf_text import PageText, read_page_text

log = logging.getLogger(__name__)

PAGE_BREAK = "\n\f\n"
MAX_OUTLINE_ITEMS = 2000
PLACEHOLDER_TITLES = re.compile(
    r"^(?:untitled.*|document\d*|title|no title|slide \d+|powerpoint presentation|pdf|\d+|"
    r"microsoft (?:word|powerpoint|excel)\b.*|.*\.(?:docx?|pdf|pptx?|xlsx?|indd|qxd|tex|dvi|rtf|txt|odt|pages|html?|ps|eps))$",
    re.I,
)
# Merging character boxes into highlight rectangles (page_boxes): a box joins the rectangle before it when it
# overlaps it vertically by at least this share of the shorter of the two ...
SAME_LINE_OVERLAP = 0.5
# ... and does not start left of the rectangle's right edge by more than this share of the page's width.
BACKWARDS = 0.01
LOCKED = "encrypted; needs a password - save a copy without the password and index that"


@dataclass(frozen=True)
class PdfText:
    text: str
    title: str = ""
    headings: list[Heading] = field(default_factory=list)
    pages: tuple[Page, ...] = ()
    # per character of ``text``: (x0, y0, x1, y1) as fractions of its page from the top left; NaN for none
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32), compare=False, repr=False)
def clean_title(raw) -> str:
    """Metadata or outline text as one line, without NULs, BOMs or control characters."""
    s = str(raw or "").replace("\x00", "").replace("\ufeff", "")
    return re.sub(r"\s+", " ", re.sub(r"[\x01-\x1f\x7f]", " ", s)).strip()


def sensible_title(title: str) -> str:
    """``title`` if it reads like a document title, else "" (placeholders, file names, junk)."""
    title = clean_title(title)
    if not title or len(title) > 200 or sum(c.isalpha() for c in title) < 3 or PLACEHOLDER_TITLES.match(title):
        return ""
    return title


def read_pdf(path: Path, progress: Callable[[int, int], None] | None = None) -> PdfText:
    """The PDF's text, pages, boxes, outline headings and title; ``progress(done, total)`` after each OCR'd page."""
    pdf = _open(path)
    try:
        return _read(pdf, path, progress)
    finally:
        pdf.close()


def _open(path: Path):
    """The PDF opened by PDFium, or Unreadable saying why not (no pages, a password, damage)."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as c

    # Opened with PDFium's own call, not PdfDocument(path): PdfDocument reports a PDF without pages with
    # PDFium's last error, which is then that of the last PDF that failed to open.
    raw = c.FPDF_LoadDocument(str(Path(path).resolve()).encode("utf-8", "surrogateescape"), None)
    if not raw:
        code = c.FPDF_GetLastError()
        if code == c.FPDF_ERR_PASSWORD:
            raise Unreadable(LOCKED)
        if code == c.FPDF_ERR_SECURITY:
            raise Unreadable("encrypted with a security handler PDFium does not support; save a copy without the password and index that")
        if code == c.FPDF_ERR_FILE:
            raise Unreadable("cannot be opened (PDFium: file access error); check that it is a readable file")
        why = {c.FPDF_ERR_FORMAT: "PDFium: damaged or not a PDF", c.FPDF_ERR_PAGE: "PDFium: page not found or content error"}
        raise Unreadable(f"not a readable PDF ({why.get(code, f'PDFium error {code}')}); re-save it from the program that made it")
    if c.FPDF_GetPageCount(raw) < 1:
        c.FPDF_CloseDocument(raw)
        raise Unreadable("the PDF has no pages; re-save it from the program that made it")
    return pdfium.PdfDocument(raw)


def _read(pdf, path: Path, progress: Callable[[int, int], None] | None) -> PdfText:
    from .ocr import INSTALL_HINT, OcrError, ocr_image, tesseract_available
    from .pdf_render import ocr_page_image

    n = len(pdf)
    if n == 0:
        raise Unreadable("the PDF has no pages; re-save it from the program that made it")
    texts: list[PageText] = []
    sizes, errors, scanned, fonts = [], [], [], 0
    title = ""
    try:
        title = sensible_title(pdf.get_metadata_value("Title"))
    except Exception as e:
        log.debug("%s: metadata unreadable (%s)", path, e)
    for i in range(n):
        try:
            page = pdf[i]
            sizes.append(page.get_size())
            textpage = page.get_textpage()
            chars = textpage.count_chars()
            texts.append(read_page_text(page, textpage))
            if i == 0 and not title:
                try:
                    title = largest_type(textpage)
                except Exception as e:  # a title is a nicety: the document's first line stands in
                    log.debug("%s: first page's type sizes unreadable (%s)", path, e)
            if not texts[-1].text:  # what is on it says why: fonts without text, or a scan to OCR
                kinds = _object_kinds(page)
                fonts += "text" in kinds
                if chars == 0 and "image" in kinds:
                    scanned.append(i)
        except Exception as e:  # PDFium raises on damaged pages; one page never stops the rest
            log.warning("%s: page %d unreadable (%s); left empty", path, i + 1, _one_line(e))
            errors.append(f"page {i + 1}: {_one_line(e)}")
            sizes.extend([(0.0, 0.0)] * (i + 1 - len(sizes)))
            texts.append(PageText.empty())
    ocr_done: set[int] = set()
    if scanned and not tesseract_available():
        log.warning("%s: %d page(s) without a text layer left empty; %s", path, len(scanned), INSTALL_HINT)
    elif scanned:
        for k, i in enumerate(scanned):
            try:
                texts[i] = ocr_image(ocr_page_image(pdf[i]))
                ocr_done.add(i)
            except OcrError as e:
                log.warning("%s: page %d: %s", path, i + 1, e)
            except Exception as e:
                log.warning("%s: page %d could not be rendered for OCR (%s); left empty", path, i + 1, _one_line(e))
            if progress is not None:
                progress(k + 1, len(scanned))
    text = PAGE_BREAK.join(t.text for t in texts)
    if not text.strip():
        raise Unreadable(_why_no_text(n, errors, fonts, scanned, ocr_ran=bool(ocr_done)))
    pages, parts, pos = [], [], 0
    gap = np.full((len(PAGE_BREAK), 4), np.nan, np.float32)
    for i, t in enumerate(texts):
        if i:
            parts.append(gap)
            pos += len(PAGE_BREAK)
        w, h = sizes[i]
        pages.append(Page(pos, pos + len(t.text), i + 1, _label(pdf, i), float(w), float(h), i in ocr_done))
        parts.append(t.boxes)
        pos += len(t.text)
    boxes = np.concatenate(parts).astype(np.float32)
    return PdfText(text, title, outline_headings(pdf, text, [p.start for p in pages]), tuple(pages), boxes)


TITLE_TYPE_RATIO = 1.4
"""A first page's largest type is taken as its title when it is at least this much larger than the page's
median type (a report's cover or a manual's title page); otherwise the page has no display title."""


def largest_type(textpage) -> str:
    """The words set in the largest type of a page (the first page's PDFium ``textpage``, as read for its text), in
    reading order, when that type stands out (title pages, covers); "" otherwise. A title broken over two lines is
    one title ("Information for Maintainers of GNU Software", where the first heading gave only its first line)."""
    import pypdfium2.raw as c

    tp = textpage.raw
    n = textpage.count_chars()
    if n <= 0:
        return ""
    codes = [c.FPDFText_GetUnicode(tp, j) for j in range(n)]
    sizes = np.array([c.FPDFText_GetFontSize(tp, j) for j in range(n)], dtype=np.float64)
    printed = np.array([chr(u).strip() != "" for u in codes])
    if not printed.any():
        return ""
    top = sizes[printed].max()
    if top < TITLE_TYPE_RATIO * np.median(sizes[printed]):
        return ""
    big = [j for j in range(n) if printed[j] and sizes[j] >= 0.95 * top]
    words, last = [], None
    for j in range(big[0], big[-1] + 1):
        if printed[j] and sizes[j] < 0.95 * top:
            break  # the first run of the largest type only: not a running head set as large further down
        ch = chr(codes[j])
        words.append(ch if printed[j] else " ")
        last = j
    return sensible_title(re.sub(r"\s+", " ", "".join(words[: (last or 0) - big[0] + 1])))


def _label(pdf, i: int) -> str:
    """The number printed on page ``i`` (0-based) by the PDF's /PageLabels, else its physical number."""
    try:
        label = clean_title(pdf.get_page_label(i))
    except Exception:
        label = ""
    return label or str(i + 1)


def _object_kinds(page) -> set[str]:
    """Which kinds of objects the page draws ("text", "image", "path", ...), looking inside forms."""
    import pypdfium2.raw as c

    names = {c.FPDF_PAGEOBJ_TEXT: "text", c.FPDF_PAGEOBJ_IMAGE: "image", c.FPDF_PAGEOBJ_PATH: "path",
             c.FPDF_PAGEOBJ_SHADING: "shading", c.FPDF_PAGEOBJ_FORM: "form"}
    kinds: set[str] = set()
    for obj in page.get_objects(max_depth=8):
        kinds.add(names.get(obj.type, "other"))
        if {"text", "image"} <= kinds:
            break
    return kinds


def _one_line(e: BaseException) -> str:
    msg = re.sub(r"\s+", " ", str(e)).strip()
    return f"{e.__class__.__name__}: {msg[:200]}" if msg else e.__class__.__name__


def _why_no_text(n: int, errors: list[str], fonts: int, scanned: list[int], ocr_ran: bool) -> str:
    from .ocr import INSTALL_HINT, tesseract_available

    pages = f"{n} page{'s' if n != 1 else ''}"
    have = "has" if n == 1 else "have"
    if len(errors) == n:
        return (
            f"it is empty: no text could be extracted from its {pages} ({errors[0]}); "
            "the PDF may be damaged - re-save it (e.g. print it to PDF) and index the copy"
        )
    if scanned and not tesseract_available():
        return f"it is empty: its {pages} {have} no text layer, only images - a scanned PDF? {INSTALL_HINT}, or OCR it first (e.g. with ocrmypdf)"
    if scanned:
        return (
            f"it is empty: its {pages} {have} no text layer and OCR (tesseract) read no words on "
            f"{'it' if n == 1 else 'them'}{'' if ocr_ran else ' (it failed; see the warnings)'}; "
            "if it is a scan, OCR it first (e.g. with ocrmypdf) and index the copy"
        )
    if not fonts:
        return f"it is empty: its {pages} {have} no text layer, only images or drawings - is it a scanned PDF? OCR it first (e.g. with ocrmypdf)"
    return (
        f"it is empty: its {pages} {'uses' if n == 1 else 'use'} fonts but no text could be extracted (fonts without a Unicode map?); "
        "re-save it from the program that made it, or OCR it"
    )


def outline_headings(pdf, text: str, page_starts: list[int]) -> list[Heading]:
    """Outline entries placed where their title is printed on their page; level = nesting depth."""
    items: list[tuple[str, int, int | None]] = []
    try:
        for mark in itertools.islice(pdf.get_toc(), MAX_OUTLINE_ITEMS):
            dest = mark.get_dest()
            page = dest.get_index() if dest is not None else None
            title = clean_title(mark.get_title())
            if title:
                items.append((title, min(mark.level + 1, 6), page if page is not None and 0 <= page < len(page_starts) else None))
    except Exception as e:
        log.debug("outline unreadable: %s", e)
    headings: list[Heading] = []
    taken: set[int] = set()
    for title, level, page in items:
        span = _find_title(text, title, page_starts, page, taken)
        if span is None:
            log.debug("outline entry %r not found on page %s", title, page)
            continue
        taken.add(span[0])
        headings.append(Heading(span[0], span[1], title, level))
    return sorted(headings, key=lambda h: h.start)


def _find_title(text: str, title: str, page_starts: list[int], page: int | None, taken: set[int]) -> tuple[int, int] | None:
    """Where ``title`` is printed: on its page (or the next), at a line start and in its own case first."""
    words = [re.escape(w) for w in title.split()]
    if not words:
        return None
    body = r"\s+".join(words)
    if page is None:
        ranges = [(0, len(text))]
    else:  # its own page first, then the next (a title at a page's foot may be printed on the next)
        ends = page_starts[1:] + [len(text)]
        ranges = [(page_starts[p], ends[p]) for p in (page, page + 1) if p < len(page_starts)]
    for a, b in ranges:
        segment = text[a:b]
        for flags in (0, re.I):
            for pattern in (rf"^[ \t]*({body})", rf"({body})"):
                for m in re.finditer(pattern, segment, flags | re.M):
                    if a + m.start(1) not in taken:
                        return a + m.start(1), a + m.end(1)
    return None


def page_boxes(
    boxes: np.ndarray, pages: tuple[Page, ...] | list[Page], start: int, end: int
) -> list[tuple[int, list[tuple[float, float, float, float]]]]:
    """The rectangles that mark the span ``[start, end)`` of a paged document's text: per page (0-based
    index, in order) its characters' boxes merged line by line, as fractions of the page from its top left.

    Consecutive boxes on one line make one rectangle; a new one starts where the box's vertical range
    moves off the rectangle's (less than half the shorter height shared) or the box starts left of it.
    Characters without a box (line and page breaks) are passed over.
    """
    out: list[tuple[int, list[tuple[float, float, float, float]]]] = []
    for index, page in enumerate(pages):
        a, b = max(start, page.start), min(end, page.end)
        if a >= b:
            continue
        rects: list[list[float]] = []
        for x0, y0, x1, y1 in boxes[a:b].tolist():
            if math.isnan(x0):  # no box
                continue
            if rects:
                r = rects[-1]
                shared = min(r[3], y1) - max(r[1], y0)
                if x0 >= r[2] - BACKWARDS and shared >= SAME_LINE_OVERLAP * min(r[3] - r[1], y1 - y0):
                    r[0], r[1], r[2], r[3] = min(r[0], x0), min(r[1], y0), max(r[2], x1), max(r[3], y1)
                    continue
            rects.append([x0, y0, x1, y1])
        if rects:
            out.append((index, [tuple(r) for r in rects]))
    return out
