"""The embedding cache: each text embedded once, saved as it goes, its pooled spans cached beside its vector."""

from __future__ import annotations

import numpy as np
import pytest

from qa.models.embed_cache import EmbeddingCache
from tests.fakes import FakeEmbedder


def test_cache_embeds_each_text_once_and_survives_a_save(tmp_path):
    emb = FakeEmbedder()
    cache = EmbeddingCache(tmp_path / "c.npz")
    vecs, n = cache.embed(emb, ["a b", "c d", "a b"])
    assert n == 2 and np.allclose(vecs[0], vecs[2])
    cache.save()
    again = EmbeddingCache(tmp_path / "c.npz")
    vecs2, n2 = again.embed(emb, ["c d", "a b"])
    assert n2 == 0 and np.allclose(vecs2, vecs[[1, 0]])


def test_a_damaged_cache_only_costs_embedding_again(tmp_path):
    (tmp_path / "c.npz").write_bytes(b"not a zip file")
    cache = EmbeddingCache(tmp_path / "c.npz")
    _, n = cache.embed(FakeEmbedder(), ["x"])
    assert n == 1


def test_an_interrupted_embedding_keeps_what_it_had_done(tmp_path, monkeypatch):
    from qa.models import embed_cache

    monkeypatch.setattr(embed_cache, "SAVE_EVERY", 2)
    monkeypatch.setattr(embed_cache, "SAVE_INTERVAL_S", 0.0)

    class Dies(FakeEmbedder):
        def encode(self, texts, progress=None):
            if sum(self.calls) >= 4:
                raise KeyboardInterrupt
            return super().encode(texts, progress)

    cache = EmbeddingCache(tmp_path / "c.npz")
    with pytest.raises(KeyboardInterrupt):
        cache.embed(Dies(), [f"text {i}" for i in range(8)])
    resumed = EmbeddingCache(tmp_path / "c.npz")
    emb = FakeEmbedder()
    _, n = resumed.embed(emb, [f"text {i}" for i in range(8)])
    assert n == 4, "the four texts embedded before the interruption were saved"


def test_the_cache_runs_a_text_once_for_its_vector_and_all_its_pools(tmp_path):
    emb = FakeEmbedder()
    cache = EmbeddingCache(tmp_path / "c.npz")
    text = "cats sleep. dogs bark."
    vecs, pooled, n = cache.embed_pooled(emb, [text, text], [[((0, 11),)], [((12, 22),)]])
    assert n == 1 and emb.calls == [1]
    assert np.allclose(pooled[0][0], emb.encode(["cats sleep."])[0]) and np.allclose(pooled[1][0], emb.encode(["dogs bark."])[0])
    cache.save()
    again = EmbeddingCache(tmp_path / "c.npz")
    _, _, n2 = again.embed_pooled(emb, [text], [[((12, 22),)]])
    _, _, n3 = again.embed_pooled(emb, [text], [[((0, 4),)]])  # a span not pooled before: the text runs again
    _, _, n4 = again.embed_pooled(emb, [text], [[((12, 22),)]], special=True)  # other tokens taken: again
    assert (n2, n3, n4) == (0, 1, 1)
