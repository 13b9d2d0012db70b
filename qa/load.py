"""Load a folder of documents: .txt, .md, .html and .pdf, plus its catalogue.

Every document's ``text`` is the text as loaded (for .txt and .md, what
``open(path, encoding="utf-8").read()`` returns); all offsets downstream point
into it. A file that cannot be read is skipped with a warning naming it and
saying why; the rest load.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .config import SUPPORTED_SUFFIXES
from .errors import CorpusError
from .records import Document, Heading
from .structure import detect_structure

log = logging.getLogger(__name__)

CATALOG_NAME = "catalog.toml"
MAX_FILE_BYTES = 200 * 1024 * 1024


class Unreadable(Exception):
    """A file that is skipped; the message says why."""


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"skipped {self.path}: {self.reason}"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def list_files(folder: Path) -> tuple[list[Path], list[Skipped]]:
    """Supported files below ``folder``, sorted, without following directory links."""
    if not folder.is_dir():
        raise CorpusError(f"Document folder {folder} does not exist. Give a folder of .txt, .md, .html or .pdf files.")
    files, skipped = [], []
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith(".") or name == CATALOG_NAME:
                continue
            path = Path(root) / name
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            files.append(path)
    return files, skipped


def load_catalog(folder: Path) -> dict[str, dict]:
    path = folder / CATALOG_NAME
    if not path.exists():
        return {}
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        log.warning("ignoring %s: %s (fix the TOML to get titles in citations)", path, e)
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)}


def _decode_text(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise Unreadable("looks like a binary file (it contains NUL bytes), not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Unreadable(
            f"not valid UTF-8 (byte 0x{data[e.start]:02x} at position {e.start}); re-save it as UTF-8"
        ) from None
    # Universal newlines, exactly as open(path, encoding="utf-8").read() gives.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _read_pdf(path: Path) -> tuple[str, str]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        n = len(reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as e:
        raise Unreadable(f"not a readable PDF ({e.__class__.__name__}: {e})") from None
    if n == 0:
        raise Unreadable("the PDF has no pages")
    pages = []
    for i, page in enumerate(reader.pages):
        try:
            pages.append(page.extract_text() or "")
        except Exception as e:  # pypdf raises many kinds on damaged streams
            log.warning("%s: page %d unreadable (%s); left empty", path, i + 1, e)
            pages.append("")
    title = ""
    try:
        title = (reader.metadata or {}).get("/Title", "") or ""
    except Exception:
        pass
    # Pages are separated by a form feed on a line of its own, so page-aware
    # debris detection (running headers, page numbers) can see page edges.
    return "\n\f\n".join(p.strip("\n") for p in pages), str(title)


def _read_html(data: bytes) -> tuple[str, str, list[Heading]]:
    from .html import html_to_text

    return html_to_text(_decode_text(data))


def read_document(path: Path, source: str, meta: dict | None = None) -> Document:
    """Read one file into a Document, or raise Unreadable."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise Unreadable(f"{size} bytes is over the {MAX_FILE_BYTES} byte limit; split it")
        data = path.read_bytes()
    except FileNotFoundError:
        raise Unreadable("it is a link to a file that does not exist" if path.is_symlink() else "it disappeared while indexing") from None
    except OSError as e:
        raise Unreadable(f"cannot be read ({e.strerror or e})") from None
    suffix = path.suffix.lower()
    given: list[Heading] = []
    meta_title = ""
    if suffix == ".pdf":
        text, meta_title = _read_pdf(path)
    elif suffix in (".html", ".htm"):
        text, meta_title, given = _read_html(data)
    else:
        text = _decode_text(data)
    if not text.strip():
        raise Unreadable("it is empty (no text could be extracted)" + (" - is it a scanned PDF? OCR it first" if suffix == ".pdf" else ""))
    headings, skipped = detect_structure(text, markdown=suffix in (".md", ".markdown"), given=given)
    meta = meta or {}
    title = meta.get("title") or meta_title.strip() or _first_line_title(text, headings) or path.stem
    return Document(
        source=source,
        text=text,
        title=title,
        sha256=sha256_bytes(data),
        author=str(meta.get("author", "")),
        publisher=str(meta.get("publisher", "")),
        date=str(meta.get("date", "")),
        kind=str(meta.get("kind", "")),
        headings=tuple(headings),
        skipped=tuple(skipped),
    )


def _first_line_title(text: str, headings: list[Heading]) -> str:
    if headings and headings[0].level == 1:
        return headings[0].title
    for line in text.splitlines():
        line = line.strip().strip("#*").strip()
        if line and line.lower() != "skip to content":
            return line if len(line) <= 120 else ""
    return ""


def load_folder(
    folder: str | os.PathLike, warn: Callable[[Skipped], None] | None = None
) -> tuple[list[Document], list[Skipped]]:
    """Load every supported file below ``folder``. Returns (documents, skipped)."""
    folder = Path(folder)
    catalog = load_catalog(folder)
    files, skipped = list_files(folder)
    docs = []
    for path in files:
        source = path.relative_to(folder).as_posix()
        try:
            docs.append(read_document(path, source, catalog.get(source)))
        except Unreadable as e:
            skipped.append(Skipped(source, str(e)))
    for s in skipped:
        (warn or (lambda s: log.warning("%s", s)))(s)
    if not docs:
        raise CorpusError(
            f"No readable documents in {folder}. Put .txt, .md, .html or .pdf files there"
            + (f" ({len(skipped)} skipped: {skipped[0]})" if skipped else "")
        )
    return docs, skipped


def corpus_fingerprint(folder: str | os.PathLike) -> dict[str, str]:
    """sha256 of every supported file below ``folder`` (and of the catalogue), for staleness checks."""
    folder = Path(folder)
    files, _ = list_files(folder)
    out = {}
    for path in files + [folder / CATALOG_NAME]:
        try:
            out[path.relative_to(folder).as_posix()] = sha256_bytes(path.read_bytes())
        except OSError:
            continue
    return out
