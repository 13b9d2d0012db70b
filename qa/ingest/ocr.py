"""Read a page image with Tesseract: its words with their boxes, laid out as lines and paragraphs.

Runs the ``tesseract`` program (``tesseract - - --psm 3 tsv``) on the image and lays its words out as
text: words of a line joined by single spaces, lines by "\\n", paragraphs and blocks by a blank line. Each
character of a word gets an equal share of the word's box; the spaces and line breaks between words get
no box (NaN).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess

import numpy as np

from .pdf_text import LIGATURES, PageText

TESSERACT = "tesseract"
TIMEOUT_S = 120  # per page: a clean 300 dpi page takes a few seconds; a page still going after 2 min is stuck
INSTALL_HINT = (
    "install Debian's tesseract-ocr and tesseract-ocr-eng (apt-get install tesseract-ocr tesseract-ocr-eng) "
    "to read scanned pages"
)


class OcrError(Exception):
    """Tesseract could not read a page; the message says why (and what to do)."""


def tesseract_available() -> bool:
    return shutil.which(TESSERACT) is not None


def ocr_image(image, timeout: float = TIMEOUT_S) -> PageText:
    """The text Tesseract reads on ``image`` (a PIL image of a page), with boxes as fractions of the image."""
    exe = shutil.which(TESSERACT)
    if exe is None:
        raise OcrError(f"the `{TESSERACT}` program is not installed; {INSTALL_HINT}")
    png = io.BytesIO()
    image.save(png, format="PNG", compress_level=1)
    # One thread: Tesseract's OpenMP threads slow it down on a shared machine more than they help.
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        proc = subprocess.run(
            [exe, "-", "-", "--psm", "3", "tsv"], input=png.getvalue(), capture_output=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        raise OcrError(f"tesseract took over {timeout:g} s on the page and was stopped; the page is left empty") from None
    except OSError as e:
        raise OcrError(f"tesseract could not be run ({e.strerror or e}); {INSTALL_HINT}") from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise OcrError(f"tesseract failed ({err[-1] if err else f'exit status {proc.returncode}'}); the page is left empty")
    return parse_tsv(proc.stdout.decode("utf-8", "replace"), image.width, image.height)


def parse_tsv(tsv: str, width: int, height: int) -> PageText:
    """Tesseract's TSV output as text with a box per character (fractions of a ``width`` x ``height`` image)."""
    chars: list[str] = []
    boxes: list[tuple[float, float, float, float]] = []
    last: tuple[str, str, str, str] | None = None
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        if row.get("level") != "5":
            continue
        word = "".join(LIGATURES.get(ord(ch), ch) for ch in (row.get("text") or "").strip())
        word = "".join(ch for ch in word if ch.isprintable() and not ch.isspace())
        if not word:
            continue
        where = (row["page_num"], row["block_num"], row["par_num"], row["line_num"])
        if last is not None:
            sep = " " if where == last else "\n" if where[:3] == last[:3] else "\n\n"
            chars.extend(sep)
            boxes.extend([(np.nan,) * 4] * len(sep))
        last = where
        left, top, w, h = (float(row[k]) for k in ("left", "top", "width", "height"))
        step = w / len(word)
        for k, ch in enumerate(word):
            chars.append(ch)
            boxes.append(((left + k * step) / width, top / height, (left + (k + 1) * step) / width, (top + h) / height))
    if not chars:
        return PageText.empty()
    return PageText("".join(chars), np.asarray(boxes, np.float32).reshape(-1, 4))
