"""Bad files in the folder being indexed are skipped with a warning naming them; everything else is indexed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import qa.ingest.load
from qa import CorpusError, Engine

pytestmark = pytest.mark.model

GOOD = "Cats\n\nCats are small domesticated carnivores. They sleep for most of the day, often sixteen hours.\n"
PHRASE = "the river council approved the budget for road repairs and flood defences "


def _pdf(path: Path, pages: int) -> None:
    from pypdf import PdfWriter

    w = PdfWriter()
    for _ in range(pages):
        w.add_blank_page(200, 200)
    with open(path, "wb") as f:
        w.write(f)


def _check_slices(engine, answer) -> None:
    for p in answer.passages:
        assert engine.document(p.source).text[p.start : p.end] == p.text


@pytest.fixture
def bad_folder(tmp_path):
    """One good document among every kind of bad file; returns (folder, {file: words its reason must hold})."""
    d = tmp_path / "docs"
    d.mkdir()
    (d / "good.txt").write_text(GOOD, encoding="utf-8")
    (d / "latin1.txt").write_bytes("Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e\n".encode("latin-1"))
    (d / "empty.txt").write_bytes(b"")
    (d / "blank.md").write_text(" \n\n\t\n", encoding="utf-8")
    _pdf(d / "zero-pages.pdf", 0)
    _pdf(d / "blank-page.pdf", 1)
    (d / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\nendobj\ngarbage\x00\xff")
    (d / "truncated.pdf").write_bytes((d / "zero-pages.pdf").read_bytes()[:40])
    (d / "binary.txt").write_bytes(bytes(range(256)) * 40)
    (d / "image.html").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(512))
    os.symlink("loop-b.txt", d / "loop-a.txt")
    os.symlink("loop-a.txt", d / "loop-b.txt")
    os.symlink("missing-target.txt", d / "dangling.txt")
    sub = d / "sub"
    sub.mkdir()
    os.symlink("..", sub / "up")  # a directory link back to its parent: must not be walked forever
    (sub / "nested.md").write_text("# Dogs\n\nDogs were domesticated from wolves.\n", encoding="utf-8")
    (d / "vanishing.txt").write_text("This file is deleted while the index is built.\n", encoding="utf-8")
    reasons = {
        "latin1.txt": ["UTF-8"],
        "empty.txt": ["empty"],
        "blank.md": ["empty"],
        "zero-pages.pdf": ["no pages"],
        "blank-page.pdf": ["empty", "OCR"],
        "corrupt.pdf": ["PDF"],
        "truncated.pdf": ["PDF"],
        "binary.txt": ["binary"],
        "image.html": ["binary"],
        "loop-a.txt": ["symbolic links"],
        "loop-b.txt": ["symbolic links"],
        "dangling.txt": ["link to a file that does not exist"],
        "vanishing.txt": ["disappeared"],
    }
    return d, reasons


def test_bad_files_are_skipped_with_a_reason_and_the_rest_is_indexed(bad_folder, tmp_path, embedder, monkeypatch):
    folder, reasons = bad_folder
    real_read = qa.ingest.load.read_document

    def read_then_vanish(path, source, meta=None, *rest):
        if path.name == "vanishing.txt":
            path.unlink()  # listed, then gone before it is read
        return real_read(path, source, meta, *rest)

    monkeypatch.setattr(qa.ingest.load, "read_document", read_then_vanish)
    warnings = []
    engine = Engine(corpus=folder, index_dir=tmp_path / "index", embedder=embedder, warn=lambda s: warnings.append(str(s)))

    assert sorted(d.source for d in engine.documents) == ["good.txt", "sub/nested.md"]
    skipped = {s["path"]: s["reason"] for s in engine.status()["skipped"]}
    assert set(skipped) == set(reasons)
    for name, words in reasons.items():
        assert any(w in skipped[name] for w in words), (name, skipped[name])
        assert any(name in w for w in warnings), name  # the warning names the file
    assert len(warnings) == len(reasons)

    answer = engine.ask("How long do cats sleep?", k=2)
    assert not answer.abstained and answer.passages[0].source == "good.txt"
    _check_slices(engine, answer)

    # The file that vanished is gone from the folder, so the next open sees a changed folder and rebuilds.
    monkeypatch.setattr(qa.ingest.load, "read_document", real_read)
    again = Engine(corpus=folder, index_dir=tmp_path / "index", embedder=embedder, warn=lambda s: None)
    assert "vanishing.txt" not in {s["path"] for s in again.status()["skipped"]}


def test_a_folder_of_only_bad_files_is_an_error_that_says_what_to_do(tmp_path, embedder):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "empty.txt").write_bytes(b"")
    (d / "latin1.txt").write_bytes(b"caf\xe9\n")
    with pytest.raises(CorpusError) as err:
        Engine(corpus=d, index_dir=tmp_path / "index", embedder=embedder, warn=lambda s: None)
    assert "No readable documents" in str(err.value) and ".txt" in str(err.value)
    assert not (tmp_path / "index" / "CURRENT").exists()


def test_missing_folder_is_an_error_that_says_what_to_do(tmp_path, embedder):
    with pytest.raises(CorpusError, match="does not exist"):
        Engine(corpus=tmp_path / "nowhere", index_dir=tmp_path / "index", embedder=embedder)


@pytest.mark.timeout(480)
def test_a_2mb_single_line_is_chunked_within_the_model_limit(tmp_path, embedder):
    """A 2 MB file with no line break: indexed (in windows, not one 2 MB sentence) and every chunk fits the model."""
    d = tmp_path / "docs"
    d.mkdir()
    (d / "good.txt").write_text(GOOD, encoding="utf-8")
    huge = (PHRASE * (2_000_000 // len(PHRASE) + 1))[:2_000_000]
    (d / "one-line.txt").write_text(huge, encoding="utf-8")
    engine = Engine(corpus=d, index_dir=tmp_path / "index", embedder=embedder)

    assert {doc.source for doc in engine.documents} == {"good.txt", "one-line.txt"}
    chunks = [c for c in engine.index.chunks if c.source == "one-line.txt"]
    assert min(c.start for c in chunks) == 0 and max(c.end for c in chunks) == len(huge.rstrip())  # all of it
    limit = embedder.max_seq_length - 2
    sizes = embedder.count_tokens(sorted({c.embed_text for c in chunks}))
    assert max(sizes) <= limit
    for c in chunks[:50] + chunks[-50:]:
        assert huge[c.start : c.end] == c.text

    answer = engine.ask("What did the council approve for flood defences?", k=3)
    assert answer.passages[0].source == "one-line.txt"
    _check_slices(engine, answer)


def test_a_50kb_paragraph_is_split_into_its_real_sentences():
    """Long paragraphs are segmented in windows cut at sentence ends: no sentence is cut in two."""
    from qa.ingest.chunk import split_sentences

    sentences = [f"Meeting {i} of the board approved item {i * 3}, e.g. the budget of Dr. Smith's unit." for i in range(600)]
    text = "Intro\n\n" + " ".join(sentences) + "\n"
    start = text.index("Meeting")
    spans = split_sentences(text, start, len(text) - 1)
    assert [text[a:b] for a, b in spans] == sentences
