"""Read a PDF with pypdf: its text page by page, its outline as headings, its metadata title.

Pages are joined with a form feed on a line of its own (``"\\n\\f\\n"``), so
page-aware debris detection (running headers, page numbers) sees page edges.
Outline (bookmark) entries become headings at the place on their page where
their title is printed; their level is their nesting depth. A PDF that cannot
be read raises ``Unreadable`` with a reason that is true and says what to do.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import Unreadable
from ..records import Heading

log = logging.getLogger(__name__)

PAGE_BREAK = "\n\f\n"
MAX_OUTLINE_ITEMS = 2000
PLACEHOLDER_TITLES = re.compile(
    r"^(?:untitled.*|document\d*|title|no title|slide \d+|powerpoint presentation|pdf|\d+|"
    r"microsoft (?:word|powerpoint|excel)\b.*|.*\.(?:docx?|pdf|pptx?|xlsx?|indd|qxd|tex|dvi|rtf|txt|odt|pages|html?|ps|eps))$",
    re.I,
)


@dataclass
class PdfText:
    text: str
    title: str = ""
    headings: list[Heading] = field(default_factory=list)


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


def read_pdf(path: Path) -> PdfText:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted and not _opens_without_password(reader):
            raise Unreadable("encrypted; needs a password - save a copy without the password and index that")
        n = len(reader.pages)
    except Unreadable:
        raise
    except DependencyError:
        raise Unreadable(
            "encrypted with AES and the 'cryptography' package is missing; run `pip install cryptography`"
        ) from None
    except FileNotDecryptedError:
        raise Unreadable("encrypted; needs a password - save a copy without the password and index that") from None
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError, RecursionError) as e:
        raise Unreadable(f"not a readable PDF ({_one_line(e)}); re-save it from the program that made it") from None
    if n == 0:
        raise Unreadable("the PDF has no pages; re-save it from the program that made it")
    pages, errors = [], []
    for i, page in enumerate(reader.pages):
        try:
            pages.append((page.extract_text() or "").strip("\n"))
        except Exception as e:  # pypdf raises many kinds on damaged streams
            log.warning("%s: page %d unreadable (%s); left empty", path, i + 1, _one_line(e))
            errors.append(f"page {i + 1}: {_one_line(e)}")
            pages.append("")
    text = PAGE_BREAK.join(pages)
    if not text.strip():
        raise Unreadable(_why_no_text(reader, n, errors))
    starts, pos = [], 0
    for p in pages:
        starts.append(pos)
        pos += len(p) + len(PAGE_BREAK)
    title = ""
    try:
        title = sensible_title((reader.metadata or {}).get("/Title", ""))
    except Exception as e:
        log.debug("%s: metadata unreadable (%s)", path, e)
    return PdfText(text, title, outline_headings(reader, text, starts))


def _opens_without_password(reader) -> bool:
    from pypdf import PasswordType

    return reader.decrypt("") != PasswordType.NOT_DECRYPTED


def _one_line(e: BaseException) -> str:
    msg = re.sub(r"\s+", " ", str(e)).strip()
    return f"{e.__class__.__name__}: {msg[:200]}" if msg else e.__class__.__name__


def _why_no_text(reader, n: int, errors: list[str]) -> str:
    pages = f"{n} page{'s' if n != 1 else ''}"
    if len(errors) == n:
        return (
            f"it is empty: no text could be extracted from its {pages} ({errors[0]}); "
            "the PDF may be damaged - re-save it (e.g. print it to PDF) and index the copy"
        )
    if not any(_has_text_layer(p) for p in reader.pages):
        have = "has" if n == 1 else "have"
        return f"it is empty: its {pages} {have} no text layer, only images or drawings - is it a scanned PDF? OCR it first (e.g. with ocrmypdf)"
    return (
        f"it is empty: its {pages} {'uses' if n == 1 else 'use'} fonts but no text could be extracted (fonts without a Unicode map?); "
        "re-save it from the program that made it, or OCR it"
    )


def _has_text_layer(page) -> bool:
    """Fonts in the page's (or a form's) resources, or text operators in its content stream."""
    try:
        res = page.get("/Resources")
        res = res.get_object() if res is not None else {}
        if "/Font" in res:
            return True
        xobjects = res.get("/XObject")
        for ref in (xobjects.get_object().values() if xobjects is not None else ()):
            x = ref.get_object()
            sub = x.get("/Resources")
            if x.get("/Subtype") == "/Form" and sub is not None and "/Font" in sub.get_object():
                return True
        contents = page.get_contents()
        data = contents.get_data() if contents is not None else b""
        return b"BT" in data and (b"Tj" in data or b"TJ" in data)
    except Exception:
        return True  # unsure: do not claim there is no text layer


def outline_headings(reader, text: str, page_starts: list[int]) -> list[Heading]:
    """Outline entries placed where their title is printed on their page; level = nesting depth."""
    try:
        outline = reader.outline
    except Exception as e:
        log.debug("outline unreadable: %s", e)
        return []
    items: list[tuple[str, int, int | None]] = []

    def walk(nodes, depth: int) -> None:
        for node in nodes:
            if len(items) >= MAX_OUTLINE_ITEMS:
                return
            if isinstance(node, list):
                walk(node, depth + 1)
                continue
            try:
                page = reader.get_destination_page_number(node)
            except Exception:
                page = None
            title = clean_title(getattr(node, "title", ""))
            if title:
                items.append((title, min(depth, 6), page if page is not None and 0 <= page < len(page_starts) else None))

    try:
        walk(outline, 1)
    except RecursionError:
        pass
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
