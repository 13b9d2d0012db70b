"""Load a folder of documents: .txt, .md, .html, .pdf and .docx, plus its catalogue.

Every document's ``text`` is the text as loaded; all offsets downstream point
into it. For .txt and .md that is what ``open(path, encoding="utf-8-sig").read()``
returns: UTF-8 with universal newlines and without a leading byte-order mark
(a UTF-8 BOM is dropped, so it never reaches a title or heading). Files that
start with a UTF-16 or UTF-32 byte-order mark are decoded as that, BOM dropped,
as ``open(path, encoding="utf-16")`` would; UTF-16 without a BOM is recognised
by its NUL bytes at alternate positions. HTML becomes text in ``qa/ingest/html.py``,
PDF in ``qa/ingest/pdf.py``, Word (.docx) in ``qa/ingest/docx.py``.

A document's title is, in order: the catalogue's, the file's own metadata
(a PDF's sensible /Title, a .docx's sensible dc:title, an HTML page's
``<title>`` or first ``<h1>``), a man page's NAME line, the first real level-1
heading, the first line.
Headings, layout debris and back matter are offsets into ``text``
(``qa/ingest/structure.py``, ``qa/ingest/backmatter.py``).

One bad file never stops a build: any failure while reading, parsing or
finding the structure of a file skips that file with a warning naming it and
saying why (one line); the rest load.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import SUPPORTED_SUFFIXES
from ..errors import CorpusError, Unreadable
from ..records import Document, Heading
from .structure import detect_structure, drop_captions_and_names, structure_title

log = logging.getLogger(__name__)

CATALOG_NAME = "catalog.toml"
OCR_STAGE = "reading scanned pages (OCR)"
MAX_FILE_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"skipped {self.path}: {self.reason}"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def source_name(path: Path, folder: Path) -> str:
    """The name a file is indexed and cited under: its path below ``folder``, with ``/`` between folders.

    A byte of the name that is not UTF-8 (a Latin-1 "caf\\xe9.txt" made on another system) is written as
    Python writes it, ``\\xe9``: Python hands such a name over with a lone surrogate, which no index file,
    Milvus row or web page can encode, so the name kept is always text and still shows the byte.
    """
    return os.fsencode(path.relative_to(folder).as_posix()).decode("utf-8", "backslashreplace")


def _outside_link(path: Path, root: Path) -> str:
    """The target of a file link that leads out of ``root`` (the resolved corpus folder), else ""."""
    if not path.is_symlink():
        return ""
    try:
        target = path.resolve()
    except (OSError, RuntimeError):  # a loop: reading it says so
        return ""
    return "" if target.is_relative_to(root) else str(target)


def list_files(folder: Path) -> tuple[list[Path], list[Skipped]]:
    """Supported files below ``folder``, sorted, without following directory links.

    Files with other suffixes are not listed (nor reported); sub-folders that
    cannot be read, and links to files outside ``folder`` (an index must hold only
    what was put in its folder), are returned as skipped, with the reason.
    """
    if not folder.is_dir():
        raise CorpusError(f"Document folder {folder} does not exist. Give a folder of .txt, .md, .html, .pdf or .docx files.")
    files: list[Path] = []
    skipped: list[Skipped] = []
    resolved = folder.resolve()

    def unreadable_dir(e: OSError) -> None:
        where = Path(e.filename) if e.filename else folder
        try:
            rel = source_name(where, folder) + "/"
        except ValueError:
            rel = str(where)
        skipped.append(Skipped(rel, f"folder cannot be read ({e.strerror or e}); check its permissions"))

    for root, dirs, names in os.walk(folder, onerror=unreadable_dir, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith(".") or name == CATALOG_NAME:
                continue
            path = Path(root) / name
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            target = _outside_link(path, resolved)
            if target:
                skipped.append(Skipped(source_name(path, folder), f"it is a link to a file outside the folder ({target}); "
                                                                  "copy the file in if it should be indexed"))
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


BOMS = (  # longest first: a UTF-32-LE BOM begins with the UTF-16-LE one
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)
CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def _utf16_without_bom(data: bytes) -> str | None:
    """The codec, if NUL bytes sit at alternate positions as in UTF-16 text without a BOM
    (Latin-script text in UTF-16 has a NUL in every other byte)."""
    sample = data[:8192]
    even, odd = sample[0::2], sample[1::2]
    if len(sample) < 4:
        return None
    nul_even, nul_odd = even.count(0) / len(even), odd.count(0) / max(1, len(odd))
    if nul_odd >= 0.3 and nul_even <= nul_odd / 5:
        return "utf-16-le"
    if nul_even >= 0.3 and nul_odd <= nul_even / 5:
        return "utf-16-be"
    return None


def _decode_text(data: bytes, html: bool = False) -> str:
    """Text as ``open(path, encoding="utf-8-sig")`` (or the BOM's UTF-16/32) reads it, universal newlines."""
    for bom, codec, name in BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom) :].decode(codec)
            except UnicodeDecodeError as e:
                raise Unreadable(
                    f"starts with a {name} byte-order mark but is not valid {name} (at byte {e.start + len(bom)}); re-save it as UTF-8"
                ) from None
            return _newlines(text)
    if b"\x00" in data[:8192]:
        codec = _utf16_without_bom(data)
        if codec is None:
            raise Unreadable(
                "looks like a binary file (it contains NUL bytes), not text; move it out of the folder or save it as .txt, .md, .html, .pdf or .docx"
            )
        try:
            text = data.decode(codec)
        except UnicodeDecodeError as e:
            raise Unreadable(
                f"looks like UTF-16 text without a byte-order mark but does not decode as {codec.upper()} "
                f"(at byte {e.start}); re-save it as UTF-8"
            ) from None
        if re.search(r"[\x00-\x08\x0e-\x1f]", text[:4096]):
            raise Unreadable("looks like UTF-16 text without a byte-order mark but decodes to control characters; re-save it as UTF-8")
        return _newlines(text)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        declared = CHARSET.search(data[:4096]) if html else None
        if declared:
            try:
                return _newlines(data.decode(declared.group(1).decode("ascii")))
            except (LookupError, UnicodeDecodeError):
                pass
        raise Unreadable(
            f"not valid UTF-8 (byte 0x{data[e.start]:02x} at position {e.start}); re-save it as UTF-8"
        ) from None
    return _newlines(text)


def _newlines(text: str) -> str:
    # Universal newlines, exactly as open(path, encoding=...).read() gives.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise Unreadable(f"{size} bytes is over the {MAX_FILE_BYTES} byte limit; split it")
        return path.read_bytes()
    except FileNotFoundError:
        raise Unreadable(
            "it is a link to a file that does not exist; fix or remove the link" if path.is_symlink()
            else "it disappeared while indexing; index again once the folder is settled"
        ) from None
    except IsADirectoryError:
        raise Unreadable("it is a folder, not a file; rename it if it is not a document") from None
    except OSError as e:
        raise Unreadable(f"cannot be read ({e.strerror or e}); check that it is a readable file") from None


def read_document(path: Path, source: str, meta: dict | None = None,
                  ocr_progress: Callable[[int, int], None] | None = None) -> Document:
    """Read one file into a Document, or raise Unreadable. ``ocr_progress(done, total)``: after each scanned
    page of a PDF read by OCR."""
    from .backmatter import find_back_matter
    from .pdf import sensible_title

    data = _read_bytes(path)
    suffix = path.suffix.lower()
    given: list[Heading] = []
    footers: list = []
    meta_title = ""
    pages, boxes = (), None
    if suffix == ".pdf":
        from .pdf import read_pdf

        pdf = read_pdf(path, progress=ocr_progress)
        text, meta_title, given, pages, boxes = pdf.text, pdf.title, pdf.headings, pdf.pages, pdf.boxes
    elif suffix in (".html", ".htm"):
        from .html import html_to_text

        page = html_to_text(_decode_text(data, html=True))
        text, meta_title, footers = page.text, page.title, page.footers
        given = drop_captions_and_names(page.headings, text)
    elif suffix == ".docx":
        from .docx import read_docx

        word = read_docx(data)
        text, meta_title, given = word.text, word.title, list(word.headings)
    else:
        text = _decode_text(data)
    if not text.strip():
        raise Unreadable("it is empty (no text could be extracted); add text to it or move it out of the folder")
    headings, skipped = detect_structure(text, markdown=suffix in (".md", ".markdown"), given=given, pages=pages)
    meta = meta or {}
    title = (
        str(meta.get("title") or "").strip()
        or sensible_title(meta_title)
        or structure_title(text, headings, skipped)
        or Path(source).stem  # the name as indexed: always text, even when the file's is not UTF-8
    )
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
        back_matter=tuple(find_back_matter(text, headings, footers)),
        pages=pages,
        boxes=boxes,
    )


def _failure_reason(e: Exception) -> str:
    """One line for an unexpected failure: the exception's class and message, and what to do."""
    msg = re.sub(r"\s+", " ", str(e)).strip()[:200]
    what = f"{e.__class__.__name__}: {msg}" if msg else e.__class__.__name__
    return f"could not be loaded ({what}); the file may be damaged - re-save it, or report this as a bug in qa with the file"


def load_folder(
    folder: str | os.PathLike, warn: Callable[[Skipped], None] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[list[Document], list[Skipped]]:
    """Load every supported file below ``folder``. Returns (documents, skipped).

    ``progress(stage, done, total)``: "loading documents" per file, and "reading scanned pages (OCR)" per page
    of a PDF that has no text layer (several seconds a page)."""
    folder = Path(folder)
    catalog = load_catalog(folder)
    files, skipped = list_files(folder)
    docs = []
    say = progress or (lambda stage, done, total: None)
    ocr = (lambda done, total: say(OCR_STAGE, done, total)) if progress else None
    seen: set[str] = set()
    for i, path in enumerate(files):
        say("loading documents", i, len(files))
        source = source_name(path, folder)
        if source in seen:  # "caf\\xe9.txt" beside a file that is not UTF-8 named "caf\xe9.txt"
            skipped.append(Skipped(source, "another file whose name is not UTF-8 is indexed under this name; rename one"))
            continue
        seen.add(source)
        try:
            docs.append(read_document(path, source, catalog.get(source), ocr))
        except Unreadable as e:
            skipped.append(Skipped(source, str(e)))
        except Exception as e:  # one bad file never stops a build
            log.debug("failed to load %s", path, exc_info=True)
            skipped.append(Skipped(source, _failure_reason(e)))
    say("loading documents", len(files), len(files))
    for s in skipped:
        (warn or (lambda s: log.warning("%s", s)))(s)
    if not docs:
        raise CorpusError(
            f"No readable documents in {folder}. Put .txt, .md, .html, .pdf or .docx files there"
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
            out[source_name(path, folder)] = sha256_bytes(path.read_bytes())
        except OSError:
            continue
    return out
