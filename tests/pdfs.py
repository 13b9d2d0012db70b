"""Small PDFs for tests: `make_pdf` writes one by hand (text lines per page); `pdf_with_outline`
and `encrypt_pdf` post-process it with pypdf (bookmarks, metadata title, encryption)."""

from __future__ import annotations


def make_pdf(pages: list[list[str]]) -> bytes:
    """A valid PDF whose page i shows the lines pages[i] in Helvetica."""
    objects: list[bytes] = []
    n = len(pages)
    # 1: catalog, 2: pages, 3: font, then per page: page object, content stream
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, lines in enumerate(pages):
        ops = ["BT /F1 12 Tf 72 720 Td 14 TL"]
        for line in lines:
            esc = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({esc}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
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
