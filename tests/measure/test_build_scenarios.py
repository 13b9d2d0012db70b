"""The build scenarios' stand-ins (qa/measure/build_scenarios.py): what an approximated build keeps of the real one."""

import pytest

pytestmark = pytest.mark.model


def test_approximated_colbert_vectors_keep_each_chunks_word_pieces_and_spans():
    """Past --approx-late-above a store collection's chunks borrow each word piece's vector from the real ones: same
    number of vectors and the same spans as ColBERT would give, each vector one ColBERT gave that word piece."""
    import numpy as np

    from qa.models import late
    from qa.measure.build_scenarios import _approximate_late
    from qa.records import Chunk

    def chunk(text: str, start: int) -> Chunk:
        return Chunk(id=f"c{start}", source="a.txt", start=start, end=start + len(text), text=text, section=(),
                     sentences=((start, start + len(text)),), embed_text=text)

    real, again = chunk("Leaders of systems share power, and leaders listen.", 0), chunk("Systems leaders listen.", 100)
    counts = {}
    encode = _approximate_late(1, counts)
    (vecs, _), = encode([real])
    (got, spans), = encode([again])
    want, want_spans = late.encode_chunk(again)
    assert counts == {"real": 1, "approximated": 1}
    assert got.shape == want.shape and np.array_equal(spans, want_spans)
    pieces = dict(zip(late.chunk_tokens(real)[0][late.chunk_tokens(real)[1]].tolist(), vecs))
    seq, body, _ = late.chunk_tokens(again)
    assert all(np.array_equal(v, pieces[i]) for i, v in zip(seq[body].tolist(), got) if i in pieces)


def test_a_build_scenario_takes_how_its_vectors_are_made_from_its_arguments():
    from qa.config import IndexSettings
    from qa.measure.build_scenarios import settings_for

    assert settings_for({}).index == IndexSettings()
    other = next(k for k in ("encoded", "sentence-mean") if k != IndexSettings().chunk_vectors)
    s = settings_for({"chunk_vectors": other, "sentence_vectors": "pooled", "ann_threshold": 7})
    assert (s.index.chunk_vectors, s.index.sentence_vectors, s.index.ann_threshold) == (other, "pooled", 7)
    assert settings_for({"approx_embed": "x", "sentence_vectors": "pooled"}).index.sentence_vectors == "separate"
