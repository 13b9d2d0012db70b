"""Compressed token vectors: the codec's round trip, MaxSim on codes against exact, and a build that streams codes.

No model: token vectors are clustered random data (tests/fakes.py fake_tokens: 64 topics, 96 dimensions), each
chunk's drawn from a few topics.
"""

from __future__ import annotations

import numpy as np
import pytest

from qa.index import late_files
from qa.models import late, late_codec
from qa.models.onnx_models import maxsim
from qa.records import Chunk
from tests.fakes import TOKEN_DIM, fake_token_texts, fake_tokens, unit

def fake_encode(chunks):
    """What late.encode_here gives, from ``fake_tokens``: (float16 vectors, document spans)."""
    out = []
    for c in chunks:
        v = fake_tokens(c.text)
        out.append((v.astype(late.DTYPE), np.array([(c.start + i, c.start + i + 1) for i in range(len(v))], dtype=np.int64)))
    return out


def chunks(n: int, repeat_every: int = 0):
    texts = [t if not repeat_every or i % repeat_every else "the repeated text" for i, t in enumerate(fake_token_texts(n))]
    return [Chunk(f"c{i}", "d.txt", 100 * i, 100 * i + 50, t, (), (), t) for i, t in enumerate(texts)]


@pytest.fixture(scope="module")
def corpus(token_codec):
    """200 chunks of 30 tokens (6,000 vectors, more than late_codec.MIN_TRAIN_TOKENS) and the codec trained on them."""
    cs = chunks(200)
    return cs, np.concatenate([fake_tokens(c.text) for c in cs]), token_codec


def test_codes_are_small_and_decode_close_to_the_vectors(corpus):
    _, vectors, codec = corpus
    codes = codec.encode(vectors)
    assert codes.dtype == np.uint8 and codes.shape == (len(vectors), 2 + 48)  # centroid id, 48 residual bytes
    back = codec.decode(codes)
    err = np.linalg.norm(back - vectors, axis=1)
    assert err.mean() < 0.25 and np.percentile(err, 99) < 0.5  # unit vectors: 1.41 apart when unrelated
    assert late_codec.from_bytes(codec.to_bytes()).key == codec.key  # saved and read back, the same codec


def test_maxsim_over_codes_ranks_chunks_as_the_exact_vectors_do(corpus):
    cs, vectors, codec = corpus
    offsets = np.arange(0, len(vectors) + 1, 30, dtype=np.int64)
    codes = codec.encode(vectors)
    decoded = codec.decode(codes)  # once: decoding every chunk's codes for each of 200 questions took 10 s
    rng = np.random.default_rng(2)
    same, n = 0, 200
    for i in range(n):  # a question: 8 of one chunk's tokens, moved a little
        d = rng.integers(len(cs))
        q = unit(vectors[rng.choice(np.arange(30 * d, 30 * d + 30), 8)] + 0.3 * rng.standard_normal((8, TOKEN_DIM)))
        exact = maxsim(q, vectors, offsets)
        approx = maxsim(q, decoded, offsets)
        if i < 5:  # what a question does: decode the codes it scores
            assert np.allclose(maxsim(q, codes, offsets, decode=codec.decode), approx, atol=1e-5)
            rows = np.random.default_rng(i).choice(len(cs), 20, replace=False)
            assert np.allclose(maxsim(q, codes, offsets, rows, decode=codec.decode), approx[rows], atol=1e-5)
        same += np.argmax(exact) == np.argmax(approx)
    assert same / n > 0.95


def test_too_small_a_sample_keeps_float16_and_an_unknown_codec_is_refused():
    assert late_codec.train(np.ones((late_codec.MIN_TRAIN_TOKENS - 1, TOKEN_DIM), np.float32), "rpq48") is None
    with pytest.raises(ValueError, match="choose one of: none, pq48, rpq48"):
        late_codec.train(np.ones((10, TOKEN_DIM), np.float32), "pq4096")


def test_a_build_streamed_to_its_files_holds_the_codes_of_a_build_in_memory(corpus, tmp_path):
    cs, _, codec = corpus
    cs = chunks(200, repeat_every=7)  # repeated texts are encoded once, written at each place
    whole, encoded = late.build(cs, encode=fake_encode, block_size=1000, codec_name="rpq48", codec=codec)
    streamed, _ = late.build(cs, encode=fake_encode, block_size=3, codec_name="rpq48", codec=codec,
                             sink=late_files.LateWriter(tmp_path))
    assert encoded == len({c.text for c in cs}) and whole.codec is codec
    read = late_files.read_late(tmp_path)
    for got in (streamed, read):
        assert np.array_equal(got.vectors, whole.vectors) and np.array_equal(got.offsets, whole.offsets)
        assert np.array_equal(got.spans, whole.spans)
    assert read.codec.key == codec.key and read.vectors.dtype == np.uint8
    assert np.allclose(read.floats, codec.decode(whole.vectors))  # small: decoded once at load
    assert (read.spans[read.chunk_rows(14)] - read.spans[read.chunk_rows(7)] == 700).all()  # one text, its own place


@pytest.mark.slow  # two codec trainings
def test_a_codec_trained_midway_writes_what_training_first_would(monkeypatch, tmp_path):
    """Rows wait while the first chunks' vectors train the codec, then every row is written as codes."""
    monkeypatch.setattr(late_codec, "TRAIN_TOKENS", 4_500)  # 150 of the 200 chunks: training happens mid-build
    cs = chunks(200)
    built, _ = late.build(cs, encode=fake_encode, block_size=16, codec_name="rpq48", sink=late_files.LateWriter(tmp_path))
    codec = late_codec.train(np.concatenate([fake_tokens(c.text).astype(late.DTYPE) for c in cs[:150]]), "rpq48")
    assert built.codec.key == codec.key
    expected = codec.encode(np.concatenate([fake_tokens(c.text).astype(late.DTYPE) for c in cs]))
    assert np.array_equal(late_files.read_late(tmp_path).vectors, expected)


def test_the_cache_holds_codes_a_killed_build_resumes_from_and_clear_leaves_one_copy(corpus, tmp_path):
    cs, _, codec = corpus
    cache = late.TokenCache(tmp_path / "cache", save_interval_s=0)
    late.build(cs, encode=fake_encode, cache=cache, codec_name="rpq48", codec=codec)
    parts = cache.parts()
    assert parts and all(np.load(p)["vectors"].dtype == np.uint8 for p in parts)  # codes, not float16
    # a new process after a kill: the saved codec reads the saved codes, nothing is encoded again
    again = late.TokenCache(tmp_path / "cache")
    saved = again.saved_codec("rpq48")
    assert saved.key == codec.key and again.saved_codec("pq48") is None
    rebuilt, encoded = late.build(cs, encode=fake_encode, cache=again, codec_name="rpq48", codec=saved)
    assert encoded == 0
    again.clear()  # the build is published: it holds the rows
    assert not list((tmp_path / "cache").iterdir())
