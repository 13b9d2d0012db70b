"""Chunking: offsets round-trip, the model's length limit, sentence boundaries, overlap, settings."""

from pathlib import Path

import pytest

from qa.ingest.chunk import SPECIAL_TOKENS, chunk_document, split_sentences
from qa.config import ChunkSettings
from qa.ingest.load import load_folder, read_document

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


def words(texts):
    """A stand-in token counter for hand-checkable tests: one token per word."""
    return [len(t.split()) for t in texts]


def doc_from(tmp_path, text, name="d.txt"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return read_document(p, name)


def test_every_seed_chunk_slices_out_of_its_document_and_fits_the_model(embedder):
    docs, _ = load_folder(SEEDS)
    settings = ChunkSettings(contextual=True)  # the prefix on: the tighter fit to the model
    total = 0
    for doc in docs:
        chunks = chunk_document(doc, embedder.count_tokens, settings, embedder.max_seq_length)
        assert chunks, doc.source
        lengths = embedder.count_tokens([c.embed_text for c in chunks])
        for c, n in zip(chunks, lengths):
            assert doc.text[c.start : c.end] == c.text
            assert c.text == c.text.strip() and c.text
            assert n + SPECIAL_TOKENS <= embedder.max_seq_length, (c.source, c.start, n)
            assert all(c.start <= a < b <= c.end for a, b in c.sentences)
            assert c.sentences[0][0] == c.start and c.sentences[-1][1] == c.end
            assert c.embed_text.startswith(doc.title)
        total += len(chunks)
    assert total > 100


def test_no_chunk_contains_debris_or_its_own_heading(embedder):
    docs, _ = load_folder(SEEDS)
    scie = next(d for d in docs if d.source.startswith("003_"))
    chunks = chunk_document(scie, embedder.count_tokens, ChunkSettings(), embedder.max_seq_length)
    assert not any("Skip to content" in c.text for c in chunks)
    report = next(d for d in docs if d.source.startswith("002_"))
    chunks = chunk_document(report, embedder.count_tokens, ChunkSettings(), embedder.max_seq_length)
    assert not any("Foreword\t3" in c.text for c in chunks)  # the table of contents
    gov = [c for c in chunks if c.section[-1:] == ("Governance",)]
    assert gov and all(c.section[0].startswith("4 Governance") for c in gov)


def test_sentences_are_found_by_offsets_and_line_wraps_do_not_split_them():
    text = "Dr Smith arrived at 9 a.m. sharp. She left at noon.\nThen, wrapped\nacross lines, a third one."
    spans = split_sentences(text, 0, len(text))
    assert [text[a:b] for a, b in spans] == [
        "Dr Smith arrived at 9 a.m. sharp.",
        "She left at noon.",
        "Then, wrapped\nacross lines, a third one.",
    ]


def test_packing_respects_budget_sections_and_overlap(tmp_path):
    body = " ".join(f"Sentence number {i} has exactly seven words." for i in range(10))
    doc = doc_from(tmp_path, f"First part\n\n{body}\n\nSecond part\n\nShort closing sentence here.\n")
    settings = ChunkSettings(max_tokens=21, overlap_tokens=7, contextual=False)
    chunks = chunk_document(doc, words, settings, max_seq_tokens=512)
    first = [c for c in chunks if c.section == ("First part",)]
    # 10 sentences of 7 words, 3 per chunk, each chunk after the first repeats one sentence.
    assert [len(c.sentences) for c in first] == [3, 3, 3, 3, 2]
    for a, b in zip(first, first[1:]):
        assert a.sentences[-1] == b.sentences[0]
    assert all(sum(words([doc.text[s:e] for s, e in c.sentences])) <= 21 for c in chunks)
    assert chunks[-1].section == ("Second part",) and chunks[-1].text == "Short closing sentence here."


def test_a_sentence_longer_than_the_budget_is_cut_at_words(tmp_path):
    doc = doc_from(tmp_path, "word " * 100)
    chunks = chunk_document(doc, words, ChunkSettings(max_tokens=30, overlap_tokens=0, contextual=False), 512)
    assert sum(len(c.text.split()) for c in chunks) == 100
    assert all(len(c.text.split()) <= 30 for c in chunks)
    assert all(doc.text[c.start : c.end] == c.text for c in chunks)


def test_contextual_prefix_counts_against_the_model_limit(tmp_path):
    doc = doc_from(tmp_path, "Heading\n\n" + " ".join(f"Item {i} is here." for i in range(60)))
    settings = ChunkSettings(max_tokens=200, overlap_tokens=0, contextual=True)
    chunks = chunk_document(doc, words, settings, max_seq_tokens=40)
    for c in chunks:
        assert len(c.embed_text.split()) + SPECIAL_TOKENS <= 40
        assert c.embed_text.splitlines()[0] == "Heading"


@pytest.mark.parametrize(
    "kwargs, message",
    [({"max_tokens": 8}, "max_tokens must be at least 16"), ({"max_tokens": 50, "overlap_tokens": 50}, "less than max_tokens")],
)
def test_settings_are_checked_up_front(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ChunkSettings(**kwargs)


@pytest.fixture(scope="module")
def wordpieces():
    """The default model's own tokenizer (its tokenizer.json alone: no model is loaded), as a token counter."""
    from tokenizers import Tokenizer

    from qa.models.embed import resolve_model

    tok = Tokenizer.from_file(str(Path(resolve_model()) / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return lambda texts: [len(e) for e in tok.encode_batch(list(texts), add_special_tokens=False)]


def test_a_long_line_without_a_sentence_end_is_chunked_in_bounded_memory(tmp_path, wordpieces):
    """A 50 MB single-line file took 12.2 GB to chunk: the line was one sentence, split into words all at once
    and each word counted in one call. Long sentences are now cut into bounded windows before counting, so the
    memory Python holds while chunking does not grow with the line (1 MB of text: 91 MB beside the chunks before,
    a few MB now). 300 KB is enough to tell the two apart against the 8 MB bound (the code before held 27 MB),
    in a third of the time tracemalloc took over 1 MB (10 s)."""
    import tracemalloc

    phrase = "the river council approved the budget for road repairs and flood defences "
    text = (phrase * (300_000 // len(phrase) + 1))[:300_000]
    d = doc_from(tmp_path, text)
    tracemalloc.start()
    try:
        chunks = chunk_document(d, wordpieces, ChunkSettings(), 256)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    out = sum(len(c.text) + len(c.embed_text) + 200 for c in chunks)  # what the chunks themselves hold
    assert peak - out < 8_000_000, f"{(peak - out) / 1e6:.0f} MB beside the chunks"
    assert chunks[0].start == 0 and chunks[-1].end == len(text.rstrip())
    assert all(not text[a.end : b.start].strip() for a, b in zip(chunks, chunks[1:]))  # nothing left out between chunks
    assert max(wordpieces([c.embed_text for c in chunks])) + SPECIAL_TOKENS <= 256
    assert all(d.text[c.start : c.end] == c.text for c in chunks)
