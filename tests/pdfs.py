"""Small PDFs for tests: `make_pdf` writes one by hand (text lines per page, or lines placed at given
positions; page labels; rotation); `pdf_with_outline` and `encrypt_pdf` post-process it with pypdf
(bookmarks, metadata title, encryption); `scanned_pdf` turns it into images only, `join_pdfs` joins PDFs."""

from __future__ import annotations

Placed = tuple  # (x, y, text) or (x, y, text, size): a line drawn with its baseline's start at (x, y) in points


def make_pdf(
    pages: list[list[str | Placed]],
    font: str = "Helvetica",
    size: float = 12,
    labels: list[tuple[int, str]] | None = None,
    rotate: int = 0,
) -> bytes:
    """A valid PDF whose page i shows pages[i] in ``font`` (a standard-14 font) on US Letter (612 x 792 pt).

    A page's strings are lines from (72, 720) down, 14 pt apart; ``(x, y, text[, size])`` tuples are drawn
    at that baseline position instead. ``labels`` sets /PageLabels: ``(first page index, style)`` with the
    PDF's styles ("D" 1 2 3, "r" i ii iii, "R", "a", "A"). ``rotate`` is every page's /Rotate.
    """
    objects: list[bytes] = []
    n = len(pages)
    # 1: catalog, 2: pages, 3: font, then per page: page object, content stream
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n))
    nums = " ".join(f"{first} << /S /{style} >>" for first, style in labels or ())
    page_labels = f" /PageLabels << /Nums [{nums}] >>" if labels else ""
    objects.append(f"<< /Type /Catalog /Pages 2 0 R{page_labels} >>".encode())
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode())
    objects.append(f"<< /Type /Font /Subtype /Type1 /BaseFont /{font} >>".encode())
    for i, lines in enumerate(pages):
        flowing = [line for line in lines if isinstance(line, str)]
        ops = [f"BT /F1 {size:g} Tf 72 720 Td 14 TL"]
        for line in flowing:
            ops.append(f"({_escape(line)}) Tj T*")
        ops.append("ET")
        for item in lines:
            if not isinstance(item, str):
                x, y, text, *rest = item
                ops.append(f"BT /F1 {rest[0] if rest else size:g} Tf {x:g} {y:g} Td ({_escape(text)}) Tj ET")
        stream = "\n".join(ops).encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Rotate {rotate} /Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for num, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % num + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _escape(line: str) -> str:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def scanned_pdf(data: bytes, dpi: int = 300) -> bytes:
    """``data``'s pages as images only (rendered by PDFium at ``dpi``), pages the same size: a scan without OCR."""
    import io

    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    images = [page.render(scale=dpi / 72, grayscale=True).to_pil() for page in pdf]
    out = io.BytesIO()
    images[0].save(out, format="PDF", save_all=True, append_images=images[1:], resolution=dpi)
    return out.getvalue()


def join_pdfs(*parts: bytes) -> bytes:
    """One PDF with the pages of ``parts`` in order."""
    import io

    import pypdfium2 as pdfium

    joined = pdfium.PdfDocument.new()
    for data in parts:
        joined.import_pages(pdfium.PdfDocument(data))
    out = io.BytesIO()
    joined.save(out)
    return out.getvalue()


def pdf_with_outline(pages: list[list[str]], outline: list, title: str | None = None) -> bytes:
    """``make_pdf(pages)`` with bookmarks and an optional metadata title, written by pypdf.

    ``outline`` holds ``(title, page_index, children)`` triples; children nest one level deeper.
    """
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(pages))))

    def add(items, parent=None):
        for name, page, children in items:
            item = writer.add_outline_item(title=name, page_number=page, parent=parent)
            add(children, item)

    add(outline)
    if title is not None:
        writer.add_metadata({"/Title": title})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypt_pdf(data: bytes, user_password: str = "", owner_password: str = "owner", algorithm: str = "AES-256") -> bytes:
    """``data`` encrypted by pypdf (AES needs the ``cryptography`` package); an empty user password opens it."""
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


COURIER_EM = 0.6  # Courier advances 0.6 em per character, every character


def typeset(text: str, size: float = 10, width_chars: int = 78, top: float = 720, bottom: float = 72,
            leading: float = 14, labels: list[tuple[int, str]] | None = None) -> tuple[bytes, list[tuple[int, float, float, str]]]:
    """``text`` set in Courier on US Letter pages, with the place of every line: ``(pdf, placed)`` where
    ``placed`` holds ``(page index, x, baseline y, line as printed)`` in points, in reading order.

    Paragraphs (split at blank lines) have their white space collapsed and are wrapped at spaces to
    ``width_chars`` characters, from x = 72 and ``top`` down by ``leading``, a blank line between them; a
    page ends before ``bottom``. Characters the standard fonts cannot show are folded to ASCII first
    (dashes, bullets, no-break spaces); curly single quotes are kept, as the font's StandardEncoding prints
    bytes 0x60 and 0x27 (‘ and ’), and straight double quotes stand for curly ones.
    """
    import textwrap

    fold = str.maketrans({"\u2018": "`", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "--",
                          "\u2022": "*", "\u00a0": " ", "\u2026": "..."})
    paragraphs = [" ".join(p.translate(fold).split()) for p in text.split("\n\n")]
    paragraphs = ["".join(c for c in p if " " <= c <= "~") for p in paragraphs]
    placed: list[tuple[int, float, float, str]] = []
    page, y = 0, top
    for para in filter(None, paragraphs):
        for line in textwrap.wrap(para, width_chars, break_long_words=True, break_on_hyphens=False):
            if y < bottom:
                page, y = page + 1, top
            placed.append((page, 72.0, y, line.replace("'", "\u2019").replace("`", "\u2018")))
            y -= leading
        y -= leading  # a blank line after each paragraph
    pages: list[list] = [[] for _ in range(page + 1)]
    for p, x, yy, line in placed:
        pages[p].append((x, yy, line.replace("\u2019", "'").replace("\u2018", "`")))
    return make_pdf(pages, font="Courier", size=size, labels=labels), placed
