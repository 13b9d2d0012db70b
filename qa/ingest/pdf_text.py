"""One PDF page's text with a box per character, both from PDFium's text page, in reading order.

Every character of the page's text comes from one character of PDFium's text page (or is a line break
PDFium or this module put in), so a character's box is the box of the glyph it was read from: offsets and
boxes cannot disagree. Boxes are PDFium's loose boxes (the glyph's advance, from the font's descent to its
ascent), turned into fractions of the page as rendered (rotation applied) from its top left.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

LIGATURES = {0xFB00: "ff", 0xFB01: "fi", 0xFB02: "fl", 0xFB03: "ffi", 0xFB04: "ffl", 0xFB05: "st", 0xFB06: "st"}
# What PDFium reports for a hyphen that splits a word across lines (with FPDFText_IsHyphen true): 0x02 for
# a printed "-" at a line's end, the soft hyphen U+00AD, or U+FFFE from FPDFText_GetText.
HYPHEN_MARKS = frozenset({0x02, 0x2D, 0xAD, 0xFFFE})
NO_BOX = (np.nan,) * 4
# Two-column pages whose content stream interleaves the columns' lines (PDFium then reads across both):
# a gap at least this many line heights wide between two fragments of a line may be a gutter ...
GUTTER_LINE_HEIGHTS = 0.8
# ... and both fragments must be at least this share of the page's width (text columns are wide; table
# cells mostly are not, so a table's rows stay on one line each) ...
MIN_COLUMN_WIDTH = 0.2
# ... on at least this many lines in a row before the lines are read column by column.
MIN_COLUMN_LINES = 3


@dataclass(frozen=True)
class PageText:
    """A page's text and, per character, its box ``(x0, y0, x1, y1)`` as fractions of the page from its
    top left (NaN where a character has no box: line breaks, spaces PDFium or OCR put between words)."""

    text: str
    boxes: np.ndarray  # (len(text), 4) float32

    @staticmethod
    def empty() -> PageText:
        return PageText("", np.zeros((0, 4), np.float32))


def read_page_text(page, textpage) -> PageText:
    """The text of ``page`` from its PDFium ``textpage``, line by line, with a box per character."""
    import pypdfium2.raw as c

    n = textpage.count_chars()
    if n <= 0:
        return PageText.empty()
    tp = textpage.raw
    unicode_of, loose_box, generated = c.FPDFText_GetUnicode, c.FPDFText_GetLooseCharBox, c.FPDFText_IsGenerated
    codes = [unicode_of(tp, j) for j in range(n)]
    rects = (c.FS_RECTF * n)()  # left, top, right, bottom per character, filled in place
    missing = [j for j in range(n) if not loose_box(tp, j, rects[j])]
    raw = np.frombuffer(rects, np.float32).reshape(n, 4)[:, [0, 3, 2, 1]].astype(np.float64)  # l, b, r, t
    raw[missing] = np.nan
    frac = _to_page_fractions(page, raw)
    chars: list[str] = []
    rows: list[int] = []  # per output character: its row in ``frac``, or -1 for no box
    skip = False
    for j, u in enumerate(codes):
        if skip:
            skip = False
            continue
        if 0x20 < u < 0x7F and u != 0x2D:  # the bulk: printable ASCII other than a hyphen
            chars.append(chr(u))
            rows.append(j)
            continue
        nxt = codes[j + 1] if j + 1 < n else None
        if u in (0x0D, 0x0A):  # PDFium's "\r\n" between lines (or a lone one): one "\n" without a box
            chars.append("\n")
            rows.append(-1)
            skip = u == 0x0D and nxt == 0x0A
        elif u in HYPHEN_MARKS and c.FPDFText_IsHyphen(tp, j):
            chars.append("-")  # a word split across lines keeps its printed hyphen, as pypdf gave it
            rows.append(j)
            if nxt not in (0x0D, 0x0A, None):  # PDFium does not break the line after such a hyphen; the page did
                chars.append("\n")
                rows.append(-1)
        elif u == 0x20 or u == 0x09:
            chars.append(" ")  # a space PDFium put between words has no glyph, so no box
            rows.append(-1 if u == 0x20 and generated(tp, j) else j)
        elif u in LIGATURES:
            chars.extend(LIGATURES[u])
            rows.extend([j] * len(LIGATURES[u]))
        elif 0xD800 <= u < 0xDC00 and nxt is not None and 0xDC00 <= nxt < 0xE000:
            chars.append(chr(0x10000 + ((u - 0xD800) << 10) + (nxt - 0xDC00)))
            rows.append(j)
            skip = True
        elif u < 0x20 or 0x7F <= u < 0xA0 or u == 0xAD or 0xD800 <= u < 0xE000 or u in (0xFFFE, 0xFFFF):
            pass  # NULs, control characters, a soft hyphen inside a line (invisible), lone surrogates
        else:
            chars.append(chr(u))
            rows.append(j)
    boxes = np.full((len(chars), 4), np.nan, np.float32)
    idx = np.asarray(rows, np.int64)
    has = idx >= 0
    boxes[has] = frac[idx[has]]
    width, height = page.get_size()
    return _layout("".join(chars), boxes, width, height)


def _to_page_fractions(page, raw: np.ndarray) -> np.ndarray:
    """PDF user-space boxes (left, bottom, right, top) -> fractions of the rendered page from its top left."""
    import pypdfium2.raw as c

    width, height = page.get_size()  # after rotation, as rendered
    scale = 64  # device pixels per point: PDFium's mapping is to whole pixels
    sx, sy = max(1, round(width * scale)), max(1, round(height * scale))

    def device(x: float, y: float) -> tuple[float, float]:
        dx, dy = ctypes.c_int(), ctypes.c_int()
        c.FPDF_PageToDevice(page, 0, 0, sx, sy, 0, ctypes.c_double(x), ctypes.c_double(y), dx, dy)
        return dx.value / sx, dy.value / sy

    o, ex, ey = (np.array(device(x, y)) for x, y in ((0, 0), (1000, 0), (0, 1000)))
    m = np.stack([(ex - o) / 1000, (ey - o) / 1000], axis=1)  # fraction = m @ (x, y) + o
    out = np.empty_like(raw)
    for cols in ((0, 1), (2, 3)):
        pts = raw[:, cols] @ m.T + o
        out[:, cols] = pts
    x0, x1 = np.minimum(out[:, 0], out[:, 2]), np.maximum(out[:, 0], out[:, 2])
    y0, y1 = np.minimum(out[:, 1], out[:, 3]), np.maximum(out[:, 1], out[:, 3])
    return np.stack([x0, y0, x1, y1], axis=1).astype(np.float32)


def _layout(text: str, boxes: np.ndarray, width: float, height: float) -> PageText:
    """Lines without trailing spaces, two interleaved text columns read one after the other, the page
    without blank lines at its ends."""
    lines, pos = [], 0
    for line in text.split("\n"):
        lines.append(_strip_line(line, boxes[pos : pos + len(line)]))
        pos += len(line) + 1
    lines = _by_columns(lines, width, height)
    while lines and not lines[0][0]:
        lines.pop(0)
    while lines and not lines[-1][0]:
        lines.pop()
    if not lines:
        return PageText.empty()
    out_text = "\n".join(s for s, _ in lines)
    nl = np.full((1, 4), np.nan, np.float32)
    parts = []
    for k, (_, b) in enumerate(lines):
        if k:
            parts.append(nl)
        parts.append(b)
    return PageText(out_text, np.concatenate(parts).astype(np.float32))


def _strip_line(s: str, b: np.ndarray) -> tuple[str, np.ndarray]:
    t = s.rstrip()
    return t, b[: len(t)]


def _by_columns(lines: list[tuple[str, np.ndarray]], width: float, height: float) -> list[tuple[str, np.ndarray]]:
    """Lines as PDFium read them, except that runs of lines which each hold a line of a left and of a
    right text column (a content stream that interleaves two columns) are read left column first."""
    splits = [_gutter_split(s, b, width, height) for s, b in lines]
    out: list[tuple[str, np.ndarray]] = []
    i = 0
    while i < len(lines):
        if splits[i] is None or not splits[i][3]:
            out.append(lines[i])
            i += 1
            continue
        lo, hi = splits[i][1], splits[i][2]
        run, sided = [i], 1
        k = i + 1
        while k < len(lines):
            sp = splits[k]
            if sp is not None and sp[1] < hi and sp[2] > lo:
                lo, hi = max(lo, sp[1]), min(hi, sp[2])
                sided += sp[3]
            elif sp is None and _one_side(lines[k][1], lo, hi) is not None:
                pass
            else:
                break
            run.append(k)
            k += 1
        if sided < MIN_COLUMN_LINES:
            out.append(lines[i])
            i += 1
            continue
        left, right = [], []
        for r in run:
            s, b = lines[r]
            if splits[r] is not None:
                cut = splits[r][0]
                left.append(_strip_both(s[:cut], b[:cut]))
                right.append(_strip_both(s[cut:], b[cut:]))
            elif _one_side(b, lo, hi) == "right":
                right.append((s, b))
            else:
                left.append((s, b))
        out.extend(left + right)
        i = k
    return out


def _strip_both(s: str, b: np.ndarray) -> tuple[str, np.ndarray]:
    lead = len(s) - len(s.lstrip())
    t = s.strip()
    return t, b[lead : lead + len(t)]


def _one_side(b: np.ndarray, lo: float, hi: float) -> str | None:
    """"left" or "right" when a line's boxes lie wholly on one side of the gutter ``[lo, hi]``; an empty
    line goes with the left; None when it crosses the gutter."""
    xs = b[~np.isnan(b[:, 0])]
    if len(xs) == 0:
        return "left"
    if xs[:, 2].max() <= hi:
        return "left"
    if xs[:, 0].min() >= lo:
        return "right"
    return None


def _gutter_split(s: str, b: np.ndarray, width: float, height: float) -> tuple[int, float, float, bool] | None:
    """(cut, gap start, gap end, both fragments wide) when the line is two fragments with one wide gap
    between them (a gutter: a line of each column), else None."""
    ok = ~np.isnan(b[:, 0]) & (np.frombuffer(s.encode("utf-32-le"), np.uint32) != 0x20)  # glyphs, not spaces
    if ok.sum() < 2:
        return None
    pos = np.flatnonzero(ok)
    line_h = float((b[ok, 3] - b[ok, 1]).max()) * height
    gaps = (b[pos[1:], 0] - b[pos[:-1], 2]) * width
    wide = np.flatnonzero(gaps >= max(GUTTER_LINE_HEIGHTS * line_h, 1.0))
    if len(wide) != 1:
        return None
    g = wide[0]
    a, z = pos[g], pos[g + 1]  # last box of the left fragment, first of the right
    left_w = b[a, 2] - b[pos[0], 0]
    right_w = b[pos[-1], 2] - b[z, 0]
    return int(a + 1), float(b[a, 2]), float(b[z, 0]), bool(min(left_w, right_w) >= MIN_COLUMN_WIDTH)
