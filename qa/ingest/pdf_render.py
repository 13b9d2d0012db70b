"""Page images of a PDF, drawn by PDFium: for OCR, and for the source panel to draw highlight boxes on."""

from __future__ import annotations

import io
from pathlib import Path

OCR_DPI = 300  # Tesseract reads body text best at about 300 dpi (its documentation's advice)
MAX_WIDTH_PX = 8000


def page_image(page, scale: float, grayscale: bool = False):
    """``page`` (a pypdfium2 page) as a PIL image, ``scale`` pixels per point, rotation applied."""
    return page.render(scale=scale, grayscale=grayscale).to_pil()


def ocr_page_image(page):
    """``page`` at ``OCR_DPI`` in grey, as Tesseract reads it."""
    return page_image(page, OCR_DPI / 72, grayscale=True)


def render_page(path: str | Path, page_index: int, width_px: int) -> bytes:
    """Page ``page_index`` (0-based) of the PDF at ``path`` as a PNG ``width_px`` pixels wide."""
    import pypdfium2 as pdfium

    if not 1 <= width_px <= MAX_WIDTH_PX:
        raise ValueError(f"width_px must be 1..{MAX_WIDTH_PX} pixels, not {width_px}")
    pdf = pdfium.PdfDocument(str(path))
    try:
        if not 0 <= page_index < len(pdf):
            raise ValueError(f"page_index {page_index} is not a page of {Path(path).name}: it has pages 0..{len(pdf) - 1}")
        page = pdf[page_index]
        width, _ = page.get_size()
        image = page_image(page, width_px / width)
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()
    finally:
        pdf.close()
