"""The source panel's page view: a PDF page as printed, rendered on demand and cached, with the passage and its
answering sentences marked by boxes placed from its characters' positions (never by searching for the text).

The boxes come from the extraction that produced the document's text (``Document.boxes``, kept in the build's
``boxes/``), so a box and the offsets it marks cannot disagree. The image is rendered from the file in the
corpus folder, and only while that file is the one that was indexed (same sha256); otherwise the page view
gives one line saying why and the panel shows the extracted text instead.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..index.build_dirs import sha256_file
from ..index.record_files import read_boxes
from ..records import Document, Span

log = logging.getLogger(__name__)

RENDER_WIDTH_PX = 1240
"""Pixels across a rendered page: a US Letter page at 150 dpi; sharp in a 600-px desktop panel at 2x and on a
390-px phone at 3x, and about 100-250 KB as PNG for a page of text."""
CACHE_MAX_FILES = 2000
"""Rendered pages kept on disk per index folder; the oldest go first (about 300 MB at 150 KB a page)."""

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1: fractions of the page's width and height, from its top left


class PageUnavailable(Exception):
    """The page view cannot be shown; the message is one line a reader can act on."""


@dataclass(frozen=True)
class PageView:
    doc: Document
    index: int  # the page shown, 0-based
    png: bytes
    passage: tuple[Rect, ...]  # the passage's boxes on this page
    highlights: tuple[Rect, ...]  # its answering sentences' boxes on this page
    spans: tuple[int, ...]  # every page the passage is printed on, 0-based

    @property
    def page(self):
        return self.doc.pages[self.index]


def pages_of(doc: Document, start: int, end: int) -> tuple[int, ...]:
    """The pages (0-based) the span ``[start, end)`` is printed on."""
    end = max(end, start + 1)
    return tuple(i for i, p in enumerate(doc.pages) if p.start < end and start < p.end)


def rects(doc: Document, boxes: np.ndarray, start: int, end: int, page: int) -> tuple[Rect, ...]:
    """The span's characters on ``page``, merged into one rectangle per run of characters on one line."""
    from ..ingest.pdf import page_boxes

    for index, found in page_boxes(boxes, doc.pages, start, end):
        if index == page:
            return tuple(tuple(float(v) for v in r) for r in found)
    return ()


class PageImages:
    """Rendered pages on disk below ``folder`` (one sub-folder per file hash), rendered once and reused."""

    def __init__(self, folder: Path, width_px: int = RENDER_WIDTH_PX, max_files: int = CACHE_MAX_FILES):
        self.folder, self.width_px, self.max_files = Path(folder), width_px, max_files
        self._lock = threading.Lock()
        self._checked: dict[tuple[str, int, int], str] = {}  # (path, mtime_ns, size) -> sha256

    def sha256(self, path: Path) -> str:
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size)
        if key not in self._checked:
            self._checked[key] = sha256_file(path)
        return self._checked[key]

    def png(self, path: Path, sha256: str, page: int) -> bytes:
        from ..ingest.pdf_render import render_page

        cached = self.folder / sha256[:32] / f"{page}-{self.width_px}.png"
        try:
            return cached.read_bytes()
        except OSError:
            pass
        data = render_page(path, page, self.width_px)
        with self._lock:
            try:
                cached.parent.mkdir(parents=True, exist_ok=True)
                tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
                tmp.write_bytes(data)
                os.replace(tmp, cached)
                self._trim()
            except OSError as e:  # a cache that cannot be written only costs a render next time
                log.debug("page cache not written (%s)", e)
        return data

    def _trim(self) -> None:
        files = sorted(self.folder.glob("*/*.png"), key=lambda p: p.stat().st_mtime)
        for old in files[: max(0, len(files) - self.max_files)]:
            old.unlink(missing_ok=True)


def source_file(corpus: Path, doc: Document) -> Path:
    """The indexed file of ``doc`` in ``corpus``, refusing anything that resolves outside the folder."""
    root = Path(corpus).resolve()
    path = (root / doc.source).resolve()
    if root not in path.parents:
        raise PageUnavailable("The page cannot be shown: the file lies outside the document folder.")
    return path


def page_view(doc: Document, build: Path, corpus: Path, images: PageImages, start: int, end: int,
              highlights: Sequence[Span] = (), page: int | None = None) -> PageView:
    """The page view of the passage ``[start, end)``: the page its first answering sentence is printed on (else
    the passage's first page) unless ``page`` (0-based) is given."""
    if not doc.pages:
        raise PageUnavailable("This document has no pages: it is shown as text.")
    boxes = read_boxes(Path(build), doc.source)
    if boxes is None or len(boxes) != len(doc.text):
        raise PageUnavailable("This index does not keep where the text is printed on the page (it was built before "
                              "pages were kept, or it is a Milvus store): run `python -m qa index --force` for a "
                              "local index to see pages.")
    spans = pages_of(doc, start, end)
    marked = [i for a, b in highlights[:1] for i in pages_of(doc, a, b)]
    index = (marked or spans)[0] if page is None else page
    if not 0 <= index < len(doc.pages):
        raise PageUnavailable(f"There is no page {index + 1}: the document has {len(doc.pages)}.")
    path = source_file(corpus, doc)
    try:
        if images.sha256(path) != doc.sha256:
            raise PageUnavailable("The file has changed since it was indexed, so its pages may not match the "
                                  "text; run `python -m qa index` to see them.")
        png = images.png(path, doc.sha256, index)
    except PageUnavailable:
        raise
    except FileNotFoundError:
        raise PageUnavailable("The file is no longer in the document folder, so only its indexed text can be "
                              "shown.") from None
    except Exception as e:  # pdfium raises its own kinds on a damaged page
        log.warning("page %d of %s not rendered: %s", index + 1, doc.source, e)
        raise PageUnavailable(f"Page {index + 1} could not be drawn ({e.__class__.__name__}); "
                              "its text is shown instead.") from None
    marked = tuple(r for a, b in highlights for r in rects(doc, boxes, a, b, index))
    return PageView(doc, index, png, rects(doc, boxes, start, end, index), marked, spans)
