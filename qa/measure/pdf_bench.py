"""The ``pdf`` section of ``qa bench``: how fast PDFs are read, OCR'd and drawn for the page view.

- **Reading**: ``read_pdf`` (text, a box per character, labels, outline) on a generated 50-page text PDF
  (seed sentences in Helvetica, 47 lines a page) and on each real PDF with a text layer in ``tests/docs``;
  pages/s from the median of ``--pdf-runs`` reads of each file (``--pdf-dir`` for another folder).
- **OCR**: ``read_pdf`` on the scanned page in ``tests/docs`` (rendered at 300 dpi and read by Tesseract),
  seconds per page over ``--ocr-runs`` reads; only when the ``tesseract`` program is installed.
- **Page view**: one page rendered to PNG at the page view's width (``RENDER_WIDTH_PX``), every page of
  every file (at most ``--render-pages`` a file): cold (``render_page``: open, draw, encode), then through ``PageImages`` the first time
  (render and write to its cache) and again (read from the cache).

Run in this process, one file at a time (PDFium is not thread-safe); no model is loaded.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from .meters import summary
from .scenarios import ROOT
from .synthetic import sentence_pool
from .tables import fmt as _f
from .tables import table as _table

GENERATED_PAGES = 50
LINES_PER_PAGE = 47  # 12-pt leading from y = 740 down to the bottom margin
REAL_PDFS = ROOT / "tests" / "docs"


def text_pdf(path: Path, pages: int, sentences: list[str]) -> Path:
    """A plain PDF of ``pages`` US Letter pages, each ``LINES_PER_PAGE`` lines of ``sentences`` in 10-pt Helvetica."""
    words = " ".join(sentences).encode("latin-1", "replace").decode("latin-1").split()
    lines, line = [], ""
    for w in words:
        if len(line) + len(w) + 1 > 95:
            lines.append(line)
            line = ""
        line = f"{line} {w}".strip()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               f"<< /Type /Pages /Kids [{' '.join(f'{4 + 2 * i} 0 R' for i in range(pages))}] /Count {pages} >>".encode(),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for i in range(pages):
        body = [lines[(i * LINES_PER_PAGE + k) % len(lines)] for k in range(LINES_PER_PAGE)]
        esc = [s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for s in body]
        stream = ("BT /F1 10 Tf 60 740 Td 12 TL " + " ".join(f"({s}) Tj T*" for s in esc) + " ET").encode("latin-1")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
                       f"/Contents {5 + 2 * i} 0 R >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def _timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def _ms(seconds: list[float]) -> dict:
    return summary(1000 * x for x in seconds)


def pdf_section(opt, work: Path, inproc=None) -> dict:
    from ..errors import Unreadable
    from ..index.build_dirs import sha256_file
    from ..ingest.ocr import tesseract_available
    from ..ingest.pdf import read_pdf
    from ..ingest.pdf_render import render_page
    from ..page.pages import RENDER_WIDTH_PX, PageImages

    runs = max(1, opt.pdf_runs)
    sentences = [x for _, sents in sentence_pool(Path(opt.corpus)) for x in sents]
    generated = text_pdf(work / f"generated-{GENERATED_PAGES}-pages.pdf", GENERATED_PAGES, sentences)
    reading, ocr, pages = [], [], {}
    for path in [generated, *sorted(Path(opt.pdf_dir).glob("*.pdf"))]:
        try:
            first = read_pdf(path)
        except Unreadable:  # a scan without Tesseract, a PDF with a password: nothing read, nothing to time
            continue
        scanned = sum(p.ocr for p in first.pages)
        reads = runs if not scanned else max(1, min(runs, opt.ocr_runs))
        times = summary(_timed(read_pdf, path) for _ in range(reads))
        n = len(first.pages)
        (ocr if scanned else reading).append({
            "name": path.name, "pages": n, "ocr_pages": scanned, "chars": len(first.text), "bytes": path.stat().st_size,
            "read_s": times, "pages_per_s": n / times["p50"], "s_per_page": {k: times[k] / n for k in ("p50", "p95")}})
        pages[path] = n
    cold, first_cached, cached = [], [], []
    images = PageImages(work / "page-cache", RENDER_WIDTH_PX)
    for path, n in pages.items():
        sha = sha256_file(path)
        for page in range(min(n, opt.render_pages)):
            cold.append(_timed(render_page, path, page, RENDER_WIDTH_PX))
            first_cached.append(_timed(images.png, path, sha, page))
            cached.append(_timed(images.png, path, sha, page))
    shutil.rmtree(work / "page-cache", ignore_errors=True)
    return {"runs": runs, "width_px": RENDER_WIDTH_PX, "reading": reading, "ocr": ocr, "tesseract": tesseract_available(),
            "render_ms": {"cold": _ms(cold), "cache_miss": _ms(first_cached), "cache_hit": _ms(cached)}}


def render(p: dict) -> list[str]:
    out = _table(f"Reading PDFs (`read_pdf`, median of {p['runs']} reads per file)",
                 ("file", "pages", "KB", "read p50 / p95 (s)", "pages/s (p50)", "ms per page p50 / p95"),
                 [(x["name"], str(x["pages"]), f"{x['bytes'] / 1024:.0f}", f"{_f(x['read_s']['p50'], 3)} / {_f(x['read_s']['p95'], 3)}",
                   _f(x["pages_per_s"], 0), f"{_f(1000 * x['s_per_page']['p50'], 1)} / {_f(1000 * x['s_per_page']['p95'], 1)}")
                  for x in p["reading"]])
    if p["ocr"]:
        out += _table("OCR (Tesseract, 300 dpi, one thread)", ("file", "pages", "s per page p50 / p95", "reads"),
                      [(x["name"], str(x["pages"]), f"{_f(x['s_per_page']['p50'], 2)} / {_f(x['s_per_page']['p95'], 2)}",
                        str(x["read_s"]["n"])) for x in p["ocr"]])
    else:
        out += ["OCR: not measured (tesseract is not installed).", ""]
    r = p["render_ms"]
    out += _table(f"Page view: one page as a PNG {p['width_px']} px wide (every page of every file above)",
                  ("", "p50 (ms)", "p95 (ms)", "pages"),
                  [(name, _f(r[k]["p50"], 1), _f(r[k]["p95"], 1), str(r[k]["n"])) for k, name in
                   (("cold", "cold: `render_page`"), ("cache_miss", "`PageImages.png`, not yet cached (render + write)"),
                    ("cache_hit", "`PageImages.png`, from its cache"))])
    return out


def add_arguments(p) -> None:
    p.add_argument("--pdf-dir", default=str(REAL_PDFS), help="folder of real PDFs the pdf section reads and renders (default: tests/docs)")
    p.add_argument("--pdf-runs", type=int, default=5, help="reads of each text PDF in the pdf section")
    p.add_argument("--ocr-runs", type=int, default=3, help="reads of each scanned PDF (OCR) in the pdf section")
    p.add_argument("--render-pages", type=int, default=60, help="pages of each PDF the pdf section renders")
