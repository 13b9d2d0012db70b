"""A build's ColBERT token vectors as files (qa/index/late_files.py): written chunk by chunk, read back mapped,
widened to float32 when they fit."""

import pytest

from qa.index import late_files


def test_token_spans_are_written_as_int32_and_a_build_with_int64_spans_still_reads(tmp_path):
    import numpy as np

    vectors = np.ones((3, 384), dtype=np.float16)
    spans = np.array([[0, 4], [5, 9], [2**31 - 2, 2**31 - 1]], dtype=np.int64)  # the last pair: the most int32 holds
    new = tmp_path / "new"
    new.mkdir()
    writer = late_files.LateWriter(new)
    writer.add(vectors[:1], spans[:1])
    writer.add(vectors[1:], spans[1:])
    got = writer.close(None)
    assert np.load(new / late_files.LATE_FILES[2]).dtype == np.int32 and got.spans.dtype == np.int32
    assert np.array_equal(got.spans, spans) and np.array_equal(got.offsets, [0, 1, 3])
    old = tmp_path / "old"  # as LateWriter wrote them before: int64 pairs
    old.mkdir()
    for name, array in zip(late_files.LATE_FILES, (vectors, np.array([0, 1, 3], dtype=np.int64), spans)):
        np.save(old / name, array)
    assert np.array_equal(late_files.read_late(old).spans, spans)
    with pytest.raises(ValueError, match="2 GiB"):
        late_files.LateWriter(tmp_path).add(vectors[:1], np.array([[2**31 - 1, 2**31]], dtype=np.int64))


def test_large_token_vectors_are_mapped_from_their_file_and_small_ones_widened_in_memory(tmp_path, monkeypatch):
    import numpy as np

    vectors = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float16)
    offsets, spans = np.array([0, 20, 50], dtype=np.int64), np.arange(100, dtype=np.int64).reshape(50, 2)
    for name, array in zip(late_files.LATE_FILES, (vectors, offsets, spans)):
        np.save(tmp_path / name, array)
    small = late_files.read_late(tmp_path)  # a build written before codecs: float16, no late_codec.npy
    assert small.codec is None and small.floats.dtype == np.float32 and not isinstance(small.floats, np.memmap)
    assert np.array_equal(small.rows(small.chunk_rows(1)), vectors[20:50].astype(np.float32))
    monkeypatch.setattr(late_files, "LATE_FLOAT32_MAX_BYTES", 50 * 8 * 4 - 1)  # one byte short of widening
    large = late_files.read_late(tmp_path)
    assert large.floats is None
    assert isinstance(large.vectors, np.memmap) and large.vectors.dtype == np.float16 and not large.vectors.flags.writeable
    assert np.array_equal(large.vectors, vectors) and np.array_equal(large.spans, spans)
    assert np.array_equal(large.vectors[large.chunk_rows(1)], vectors[20:50])
