"""Word (.docx) to plain text with heading offsets, using only the standard library.

Why zipfile + ElementTree and not python-docx: python-docx (MIT) would add a
dependency (and lxml) yet leave the work to us: its paragraph text leaves out runs
inside tracked insertions and content controls, and it has no footnotes. What is
needed is one walk over ``word/document.xml`` in body order, a look-up of style
ids in ``word/styles.xml``, and a cap on what is unzipped: a few hundred lines.

The text, block by block in body order, blocks separated by a blank line:

- a paragraph is its runs' text: ``w:t``, tabs as ``\\t``, line breaks (``w:br``,
  ``w:cr``) as ``\\n``, no-break hyphens as ``-``; soft hyphens, field codes and
  drawings (images, shapes, text boxes) are left out. Text in tracked insertions,
  hyperlinks, fields and content controls is kept, tracked deletions are dropped.
- a heading is a paragraph whose style (or a style it is based on) is "heading
  1".."heading 9" (level 1-9), "Title" (level 1) or has an outline level, or
  whose own properties give an outline level; it becomes a ``Heading``.
- a list item (a paragraph numbered directly or by its style) is ``"- "`` plus its
  text, indented two spaces per list level; items of one list are on consecutive
  lines.
- a table is its rows, one row a block: its cells' text joined by ``" | "`` (an
  empty cell keeps its place, ``"a | | c"``; empty rows are left out). Rows
  are separated by a blank line, like paragraphs, because the chunker joins
  consecutive lines into one paragraph and reads their line breaks as spaces, so
  two rows on adjacent lines would become one sentence. Inside a cell, paragraphs
  and line breaks become spaces; a table nested in a cell becomes its rows joined
  by ``"; "``, its cells by ``" / "``.
- footnotes and endnotes referenced in the body are numbered ``[1]``, ``[2]`` ... in
  the order they are referenced, and appended under a level-1 heading "Notes",
  one paragraph each.

Headers, footers, comments and text boxes are skipped. The title is
``docProps/core.xml``'s ``dc:title``, as written (the loader filters it).

A file that is not a .docx, is encrypted (an OLE file, as is an old .doc), has no
main document, unzips to more than ``MAX_UNZIPPED_BYTES``, or has XML with a
DOCTYPE (entity expansion) raises ``Unreadable`` saying what to do.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from ..errors import Unreadable
from ..records import Heading

MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
"""At most this much is unzipped from one file (all parts read, together): a zip bomb stops here.
The text of a 1,000-page report is a few MB of XML; 200 MB is the loader's limit for any file."""

OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # an OLE compound file: an encrypted .docx, or an old binary .doc
W_NS = ("http://schemas.openxmlformats.org/wordprocessingml/2006/main",
        "http://purl.oclc.org/ooxml/wordprocessingml/main")  # transitional and strict OOXML
MC_NS = "http://schemas.openxmlformats.org/markup-compatibility/2006"
DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"
HEADING_NAME = re.compile(r"^heading ([1-9])$", re.IGNORECASE)
CONTAINERS = {"ins", "moveTo", "hyperlink", "smartTag", "customXml", "sdt", "sdtContent", "fldSimple", "r", "dir", "bdo"}


@dataclass(frozen=True)
class DocxText:
    text: str
    title: str = ""
    headings: tuple[Heading, ...] = ()


@dataclass(frozen=True)
class _Style:
    name: str
    based_on: str
    outline: int | None  # 0-based outline level from the style's own pPr (9 = body text)
    numbered: bool | None  # the style's own pPr numbers its paragraphs (None: says nothing)
    list_level: int


def _local(tag: str) -> str:
    """The local name of a WordprocessingML element; "" for other namespaces."""
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return name if ns in W_NS else ""
    return tag


def _attr(el: ET.Element | None, name: str) -> str | None:
    if el is None:
        return None
    for ns in W_NS:
        v = el.get(f"{{{ns}}}{name}")
        if v is not None:
            return v
    return el.get(name)


def _int(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0


def _child(el: ET.Element | None, name: str) -> ET.Element | None:
    if el is None:
        return None
    return next((c for c in el if _local(c.tag) == name), None)


class _Package:
    """The zip's parts, read under one budget of unzipped bytes."""

    def __init__(self, data: bytes) -> None:
        if data[:4] == OLE_MAGIC:
            raise Unreadable("encrypted or an old .doc (an OLE file, not a .docx zip); "
                             "open it in Word and save it as .docx without a password")
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, ValueError, OSError):
            raise Unreadable("not a Word .docx file (it is not a zip archive); open it in Word and save it as .docx") from None
        self.names = set(self.zip.namelist())
        self.left = MAX_UNZIPPED_BYTES
        self.parsed: dict[str, ET.Element] = {}

    def read(self, name: str) -> bytes | None:
        """A part's bytes, or None when absent; Unreadable past the budget or when damaged."""
        if name not in self.names:
            return None
        try:
            with self.zip.open(name) as f:
                data = f.read(self.left + 1)
        except RuntimeError:  # a password-protected zip entry
            raise Unreadable("its parts are encrypted; open it in Word and save it as .docx without a password") from None
        except NotImplementedError:
            raise Unreadable(f"{name} is compressed with a method Python cannot read; re-save it from Word as .docx") from None
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
            raise Unreadable(f"damaged zip ({e.__class__.__name__} reading {name}); open and re-save it in Word") from None
        if len(data) > self.left:
            raise Unreadable(f"unzips to more than {MAX_UNZIPPED_BYTES // (1024 * 1024)} MB (a zip bomb or a huge file); "
                             "split it, or save it without embedded objects")
        self.left -= len(data)
        return data

    def xml(self, name: str) -> ET.Element | None:
        if name in self.parsed:
            return self.parsed[name]
        data = self.read(name)
        if data is None:
            return None
        probe = data.decode("utf-16", "replace").encode() if data[:2] in (b"\xff\xfe", b"\xfe\xff") else data
        if re.search(rb"<!DOCTYPE|<!ENTITY", probe, re.IGNORECASE):
            raise Unreadable(f"{name} declares a DOCTYPE (refused: its entities could expand without end); "
                             "open and re-save it in Word")
        try:
            self.parsed[name] = ET.fromstring(data)
        except ET.ParseError as e:
            raise Unreadable(f"{name} is not well-formed XML ({e}); the file is damaged - open and re-save it in Word") from None
        return self.parsed[name]

    def related(self, source: str, kind: str) -> str | None:
        """The part that ``source`` links to with a relationship whose type ends in ``/kind``."""
        folder, base = posixpath.split(source)
        rels = self.xml(posixpath.join(folder, "_rels", base + ".rels"))
        for rel in rels if rels is not None else ():
            if rel.get("Type", "").endswith("/" + kind) and rel.get("TargetMode") != "External":
                target = rel.get("Target", "")
                path = target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target)
                return posixpath.normpath(path)
        return None


def _styles(root: ET.Element | None) -> dict[str, _Style]:
    out: dict[str, _Style] = {}
    for st in root if root is not None else ():
        if _local(st.tag) != "style" or _attr(st, "type") not in (None, "paragraph"):
            continue
        ppr = _child(st, "pPr")
        outline = _attr(_child(ppr, "outlineLvl"), "val")
        num = _child(ppr, "numPr")
        num_id = _attr(_child(num, "numId"), "val")
        out[_attr(st, "styleId") or ""] = _Style(
            name=_attr(_child(st, "name"), "val") or "",
            based_on=_attr(_child(st, "basedOn"), "val") or "",
            outline=int(outline) if outline and outline.isdigit() else None,
            numbered=None if num_id is None else num_id != "0",
            list_level=_int(_attr(_child(num, "ilvl"), "val")),
        )
    return out


def _style_chain(styles: dict[str, _Style], style_id: str) -> list[tuple[str, _Style | None]]:
    chain, seen = [], set()
    while style_id and style_id not in seen and len(chain) < 20:
        seen.add(style_id)
        st = styles.get(style_id)
        chain.append((style_id, st))
        style_id = st.based_on if st else ""
    return chain


def _heading_level(styles: dict[str, _Style], style_id: str, own_outline: str | None) -> int:
    """1-9 for a heading, 0 for body text."""
    if own_outline and own_outline.isdigit():
        return int(own_outline) + 1 if int(own_outline) < 9 else 0
    for sid, st in _style_chain(styles, style_id):
        name = st.name if st else re.sub(r"^heading(\d)$", r"heading \1", sid, flags=re.IGNORECASE)  # no styles.xml: the id
        m = HEADING_NAME.match(name.strip())
        if m:
            return int(m.group(1))
        if name.strip().lower() == "title":
            return 1
        if st and st.outline is not None:
            return st.outline + 1 if st.outline < 9 else 0
    return 0


def _list_level(styles: dict[str, _Style], style_id: str, ppr: ET.Element | None) -> int | None:
    """The list level (0-based) of a numbered or bulleted paragraph, None when it is not a list item."""
    num = _child(ppr, "numPr")
    if num is not None and _attr(_child(num, "numId"), "val") is not None:
        if _attr(_child(num, "numId"), "val") == "0":
            return None
        return _int(_attr(_child(num, "ilvl"), "val"))
    for _, st in _style_chain(styles, style_id):
        if st and st.numbered is not None:
            level = _attr(_child(num, "ilvl"), "val")
            return (_int(level) if level is not None else st.list_level) if st.numbered else None
    return None


class _Reader:
    def __init__(self, styles: dict[str, _Style], notes: dict[str, dict[str, ET.Element]]) -> None:
        self.styles = styles
        self.notes = notes  # "footnote"/"endnote" -> id -> element
        self.referenced: list[ET.Element] = []  # notes in order of first reference
        self.numbers: dict[tuple[str, str], int] = {}

    def inline(self, el: ET.Element, out: list[str]) -> None:
        """The text of ``el``'s inline content, appended to ``out``."""
        for c in el:
            name = _local(c.tag)
            if name == "t":
                out.append(c.text or "")
            elif name == "tab" or name == "ptab":
                out.append("\t")
            elif name in ("br", "cr"):
                out.append("\n")
            elif name == "noBreakHyphen":
                out.append("-")
            elif name in ("footnoteReference", "endnoteReference"):
                kind = name.removesuffix("Reference")
                note = self.notes.get(kind, {}).get(_attr(c, "id") or "")
                if note is not None:
                    key = (kind, _attr(c, "id") or "")
                    if key not in self.numbers:
                        self.numbers[key] = len(self.numbers) + 1
                        self.referenced.append(note)
                    out.append(f"[{self.numbers[key]}]")
            elif c.tag == f"{{{MC_NS}}}AlternateContent":
                choice = next(iter(c), None)  # Choice and Fallback say the same; read one
                if choice is not None:
                    self.inline(choice, out)
            elif name in CONTAINERS:
                self.inline(c, out)
            # anything else adds no text: w:del, w:moveFrom, w:instrText (field codes), w:drawing, w:pict, w:object,
            # w:softHyphen, w:sym, properties, bookmarks, comment and note marks, other namespaces

    def paragraph_text(self, p: ET.Element) -> str:
        out: list[str] = []
        self.inline(p, out)
        lines = [line.strip() for line in "".join(out).replace("\r", "\n").split("\n")]
        return "\n".join(line for line in lines if line)

    def blocks(self, parent: ET.Element, out: list[tuple[str, str, int]]) -> None:
        """Body-level blocks of ``parent`` as (kind, text, level): kind "p", "h" (level 1-9), "li" (level 0-8) or "row"."""
        for c in parent:
            name = _local(c.tag)
            if name == "p":
                text = self.paragraph_text(c)
                if not text:
                    continue
                ppr = _child(c, "pPr")
                style = _attr(_child(ppr, "pStyle"), "val") or ""
                level = _heading_level(self.styles, style, _attr(_child(ppr, "outlineLvl"), "val"))
                if level:
                    out.append(("h", " ".join(text.split()), level))
                    continue
                item = _list_level(self.styles, style, ppr)
                if item is not None:
                    out.append(("li", "  " * min(item, 8) + "- " + text.replace("\n", " "), item))
                else:
                    out.append(("p", text, 0))
            elif name == "tbl":
                for row in self.table_rows(c):
                    cells = list(row)
                    while cells and not cells[-1]:
                        cells.pop()
                    if cells:  # an empty cell keeps its place: "a | | c"
                        out.append(("row", " |".join(f" {x}" if x else "" for x in cells).strip(), 0))
            elif name in ("sdt", "sdtContent", "customXml", "ins", "moveTo"):
                self.blocks(c, out)

    def table_rows(self, tbl: ET.Element) -> list[list[str]]:
        rows = []
        for tr in self._all(tbl, "tr"):
            rows.append([" ".join(self.cell_text(tc).split()) for tc in self._all(tr, "tc")])
        return rows

    def _all(self, el: ET.Element, name: str) -> list[ET.Element]:
        """Children named ``name``, also those wrapped in content controls, custom XML or tracked insertions."""
        out = []
        for c in el:
            local = _local(c.tag)
            if local == name:
                out.append(c)
            elif local in ("sdt", "sdtContent", "customXml", "ins", "moveTo"):
                out += self._all(c, name)
        return out

    def cell_text(self, tc: ET.Element) -> str:
        parts = []
        for c in tc:
            name = _local(c.tag)
            if name == "p":
                parts.append(self.paragraph_text(c))
            elif name == "tbl":
                rows = [" / ".join(x for x in row if x) for row in self.table_rows(c)]
                parts.append("; ".join(r for r in rows if r))
            elif name in ("sdt", "sdtContent", "customXml", "ins", "moveTo"):
                parts.append(self.cell_text(c))
        return " ".join(p for p in parts if p)

    def note_text(self, note: ET.Element) -> str:
        out: list[tuple[str, str, int]] = []
        self.blocks(note, out)
        return " ".join(" ".join(text.split()) for _, text, _ in out)


def _assemble(blocks: list[tuple[str, str, int]]) -> tuple[str, list[Heading]]:
    text, headings, prev = "", [], ""
    for kind, block, level in blocks:
        if text:
            text += "\n" if kind == prev == "li" else "\n\n"
        if kind == "h":
            headings.append(Heading(len(text), len(text) + len(block), block, level))
        text += block
        prev = kind
    return text, headings


def read_docx(data: bytes) -> DocxText:
    """Text, title and headings of a .docx file's bytes; ``Unreadable`` with what to do when it cannot be read."""
    pkg = _Package(data)
    main = pkg.related("", "officeDocument") or "word/document.xml"
    root = pkg.xml(main)
    if root is None:
        if "xl/workbook.xml" in pkg.names or "ppt/presentation.xml" in pkg.names:
            what = "an Excel or PowerPoint file named .docx"
        else:
            what = "a zip without word/document.xml, so not a Word document"
        raise Unreadable(f"{what}; open it in Word and save it as .docx, or give it its own suffix")
    body = _child(root, "body")
    if body is None:
        raise Unreadable(f"{main} has no body (it is not a Word document's main part); open and re-save it in Word")
    styles = _styles(pkg.xml(pkg.related(main, "styles") or "word/styles.xml"))
    notes = {}
    for kind in ("footnote", "endnote"):
        part = pkg.xml(pkg.related(main, kind + "s") or f"word/{kind}s.xml")
        notes[kind] = {_attr(n, "id") or "": n for n in (part if part is not None else ()) if _local(n.tag) == kind}
    reader = _Reader(styles, notes)
    blocks: list[tuple[str, str, int]] = []
    try:
        reader.blocks(body, blocks)
        if reader.referenced:
            blocks.append(("h", "Notes", 1))
            for i, note in enumerate(reader.referenced, 1):  # a note may reference another: the list grows
                blocks.append(("p", f"[{i}] {reader.note_text(note)}".rstrip(), 0))
    except RecursionError:
        raise Unreadable("its tables or content controls are nested too deeply to read; simplify it in Word") from None
    text, headings = _assemble(blocks)
    core = pkg.xml(pkg.related("", "core-properties") or "docProps/core.xml")
    title = core.findtext(DC_TITLE, "") if core is not None else ""
    return DocxText(text=text, title=" ".join(title.split()), headings=tuple(headings))
