"""Ground truth we made ourselves: a seed document typeset into an 18-page PDF (``tests.pdfs.typeset``), every
line's page and position known, read back with ``read_document`` and chunked. Each chunk's page range names
exactly the pages its lines were placed on, and every sentence's boxes lie on the lines it was set on."""

from __future__ import annotations

import pytest

from qa.config import ChunkSettings
from qa.ingest.chunk import chunk_document
from qa.ingest.load import read_document
from qa.ingest.pdf import PAGE_BREAK, page_boxes
from qa.records import page_range
from tests.conftest import SEEDS
from tests.fakes import FakeEmbedder
from tests.pdfs import COURIER_EM, typeset

W, H = 612, 792  # US Letter, in points
SIZE = 10  # Courier 10 pt: every character 6 pt wide
LABELS = [(0, "r"), (2, "D")]  # i, ii, then 1, 2, ...
SEED = "003_70f488a89c03ae0b.txt"  # SCIE's "Leadership in integrated care systems", 46 kB


@pytest.fixture(scope="module")
def typeset_seed(tmp_path_factory):
    data, placed = typeset((SEEDS / SEED).read_text(encoding="utf-8"), size=SIZE, labels=LABELS)
    path = tmp_path_factory.mktemp("typeset") / "seed.pdf"
    path.write_bytes(data)
    doc = read_document(path, "seed.pdf")
    # where each placed line starts in the text we expect: lines joined by "\n", pages by PAGE_BREAK
    starts, pos, last_page = [], 0, 0
    for page, _, _, line in placed:
        if starts:
            pos += len(PAGE_BREAK) if page != last_page else 1
        starts.append(pos)
        pos += len(line)
        last_page = page
    return doc, placed, starts


def label(i: int) -> str:
    return ["i", "ii"][i] if i < 2 else str(i - 1)


def test_the_text_is_the_lines_as_placed_and_pages_carry_their_labels(typeset_seed):
    doc, placed, starts = typeset_seed
    pages = placed[-1][0] + 1
    assert pages == 18 and len(doc.pages) == pages
    assert doc.text == PAGE_BREAK.join("\n".join(line for p, _, _, line in placed if p == i) for i in range(pages))
    assert [p.label for p in doc.pages] == [label(i) for i in range(pages)]
    for (page, _, _, line), start in zip(placed, starts):
        p = doc.pages[page]
        assert p.start <= start and start + len(line) <= p.end and doc.text[start : start + len(line)] == line


def test_every_chunk_names_the_pages_its_text_was_placed_on(typeset_seed):
    doc, placed, starts = typeset_seed
    chunks = chunk_document(doc, FakeEmbedder().count_tokens, ChunkSettings(), max_seq_tokens=256)
    assert len(chunks) > 30
    crossing = 0
    for chunk in chunks:
        on = sorted({page for (page, _, _, line), s in zip(placed, starts) if s < chunk.end and chunk.start < s + len(line)})
        want = f"p. {label(on[0])}" if len(on) == 1 else f"pp. {label(on[0])}-{label(on[-1])}"
        assert doc.page_range(chunk.start, chunk.end) == want, chunk.text[:60]
        assert on == list(range(on[0], on[-1] + 1))
        crossing += len(on) > 1
    assert crossing >= 5  # chunks run over page breaks, and say "pp."
    assert page_range(doc.pages, 0, 1) == "p. i"


def test_every_sentences_boxes_lie_on_the_lines_it_was_set_on(typeset_seed):
    doc, placed, starts = typeset_seed
    chunks = chunk_document(doc, FakeEmbedder().count_tokens, ChunkSettings(), max_seq_tokens=256)
    sentences = sorted({s for c in chunks for s in c.sentences})
    assert len(sentences) > 200
    em = COURIER_EM * SIZE
    for a, b in sentences:
        want = []  # per line the sentence touches: its page and where its characters there are printed
        for (page, x, y, line), s in zip(placed, starts):
            lo, hi = max(a, s), min(b, s + len(line))
            if lo < hi:
                want.append((page, (x + em * (lo - s)) / W, (x + em * (hi - s)) / W, y))
        got = [(page, r) for page, rects in page_boxes(doc.boxes, doc.pages, a, b) for r in rects]
        assert len(got) == len(want), doc.text[a:b]
        for (page, x0, x1, y), (got_page, (gx0, gy0, gx1, gy1)) in zip(want, got):
            assert got_page == page
            assert abs(gx0 - x0) * W < 1 and abs(gx1 - x1) * W < 1, (doc.text[a:b], x0, gx0)
            # the glyphs' loose boxes run from the font's descent below the baseline to its ascent above
            assert H - y - 1.0 * SIZE < gy0 * H < H - y - 0.5 * SIZE and H - y < gy1 * H < H - y + 0.4 * SIZE
