"""Late interaction: token vectors with the document spans they cover, MaxSim for chunks and sentences."""

from __future__ import annotations

import numpy as np
import pytest

from qa.models import late
from qa.records import Chunk

pytestmark = pytest.mark.model

TEXT = "Dr Claire Fuller leads Surrey Heartlands. The weather in Spain is mostly sunny."


def chunk(text=TEXT, start=100):
    a = text.index("The")
    return Chunk("c", "d.txt", start, start + len(text), text, (), ((start, start + a - 1), (start + a, start + len(text))), text)


def test_token_spans_point_into_the_document_and_cover_the_words():
    c = chunk()
    vecs, spans = late.encode_chunk(c)
    assert len(vecs) == len(spans) > 10 and vecs.dtype == late.DTYPE
    assert np.allclose(np.linalg.norm(vecs.astype(np.float32), axis=1), 1, atol=1e-2)
    for a, b in spans:
        assert c.start <= a < b <= c.end
        assert c.text[a - c.start : b - c.start].strip()  # every kept token covers text, no punctuation alone
    words = {c.text[a - c.start : b - c.start].lower() for a, b in spans}
    assert {"claire", "spain"} <= words


def test_the_sentence_that_answers_scores_above_the_other():
    c = chunk()
    index, encoded = late.build([c])
    assert encoded == 1 and list(index.offsets) == [0, len(index.vectors)]
    q = late.encode_query("Who is in charge of Surrey Heartlands?")
    s = late.score_spans(q, index, 0, c.sentences)
    assert s[0] > s[1]
    assert late.score_spans(q, index, 0, [(0, 5)])[0] == 0  # a span with no token


def test_a_previous_builds_vectors_are_reused_not_encoded_again():
    c = chunk()
    first, _ = late.build([c])
    again, encoded = late.build([c], reuse=lambda ch: (first.vectors, first.spans))
    assert encoded == 0 and np.array_equal(again.vectors, first.vectors)


def test_a_repeated_text_is_encoded_once_with_its_own_spans():
    a, b = chunk(start=0), chunk(start=500)
    index, encoded = late.build([a, b])
    assert encoded == 1
    first, second = index.spans[index.chunk_rows(0)], index.spans[index.chunk_rows(1)]
    assert (second == first + 500).all()


def test_vectors_saved_midway_survive_a_killed_build(tmp_path):
    """A build saves what it encoded as it goes; the next one (a new process) encodes none of it again."""
    a, b = chunk(start=0), chunk(TEXT.replace("Spain", "Norway"), start=300)
    cache = late.TokenCache(tmp_path, save_interval_s=0)  # save after every chunk
    first, encoded = late.build([a, b], cache=cache)
    assert encoded == 2 and len(cache.parts()) >= 1
    # the process dies here: no compaction, no publish; a new build at other offsets reads the parts
    moved = chunk(TEXT.replace("Spain", "Norway"), start=1000)
    again, encoded = late.build([moved], cache=late.TokenCache(tmp_path))
    assert encoded == 0
    assert np.array_equal(again.vectors, first.vectors[first.chunk_rows(1)])
    assert (again.spans == first.spans[first.chunk_rows(1)] + 700).all()


def test_the_cache_skips_a_damaged_part_and_clear_leaves_nothing(tmp_path):
    cache = late.TokenCache(tmp_path, save_interval_s=0)
    vec = np.ones((3, 384), dtype=late.DTYPE)
    for text in ("one", "two", "three"):
        cache.put(text, vec, np.array([[0, 1], [1, 2], [2, 3]]))
    assert len(cache.parts()) == 3
    (tmp_path / "late-colbert-99999999999999999999-1.npz").write_bytes(b"not a numpy file")
    reread = late.TokenCache(tmp_path)
    assert set(reread.entries) == {cache.key(t) for t in ("one", "two", "three")}
    assert reread.get("two")[0].shape == (3, 384)
    reread.clear()  # a published build holds the rows: the cache keeps no second copy
    assert not list(tmp_path.glob("late-*")) and not list(tmp_path.glob(".*.tmp.npz"))
