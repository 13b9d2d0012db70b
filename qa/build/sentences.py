"""Sentence vectors of a build: each distinct sentence once, embedded on its own or pooled from its chunk's pass.

``IndexSettings.sentence_vectors`` says how. ``separate`` embeds every sentence's text (with its title/section
prefix, as its chunk has) in a pass of its own, so the model reads each word piece twice, once in its chunk and
once in its sentence: on BEIR SciFact 63,043 texts for 15,256 chunks. The ``pooled`` kinds read each word
piece once ("late chunking", Günther et al., 2024): the chunk's pass also averages the token states of each
sentence's word pieces (found by the tokenizer's character offsets, embed.pool_spans), so a sentence's vector
also sees the rest of its chunk.

Which chunk pools a sentence that several hold (the overlap): the one where it is most central, i.e. with the
most of the chunk on its poorer side (ties: the first). A sentence at a chunk's edge sees context on one side
only; the overlap exists so that edge sentences also sit inside the next chunk. A sentence that no chunk holds
whole in its pass (cut by truncation, or its cleaned text not found in its chunk's) is embedded on its own, as
``separate`` would.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..ingest.chunk import clean, model_text

log = logging.getLogger(__name__)
_REFUSALS: dict[tuple, str | None] = {}  # (embedder class, model name) -> why it cannot pool, or None; said once


def effective_mode(embedder, wanted: str) -> str:
    """``wanted``, or ``separate`` when the model cannot pool its sentences (said once in the log, with why)."""
    if wanted == "separate":
        return wanted
    key = (type(embedder), getattr(embedder, "name", ""))
    if key not in _REFUSALS:
        refuse = getattr(embedder, "cannot_pool", None)
        _REFUSALS[key] = refuse() if refuse else f"{key[1] or 'this model'} cannot pool spans"
        if _REFUSALS[key]:
            log.warning("sentence_vectors %r: %s", wanted, _REFUSALS[key])
    return "separate" if _REFUSALS[key] else wanted


@dataclass
class Plan:
    """Every distinct sentence of a build, a row each, and where its vector comes from."""

    texts: list[str] = field(default_factory=list)  # each row's own text (prefix + cleaned sentence): ``separate``
    chunk_rows: list[list[int]] = field(default_factory=list)  # each chunk's sentence rows, in its order
    pools: list[list[tuple[int, tuple]]] = field(default_factory=list)  # per chunk: (row, character ranges) it pools


def locate(chunk, doc_text: str) -> tuple[int, list[tuple[int, int] | None]]:
    """(where the chunk's body starts in its ``embed_text``, each sentence's span in it or None if not found).

    ``embed_text`` is ``model_text(chunk.text, prefix)``: the prefix and a line break, then the cleaned text;
    each sentence's cleaned text is looked for there in order. Cleaning joins a word hyphenated across a line
    end, so a sentence ending at such a break is not found (it is embedded on its own)."""
    body = clean(chunk.text)
    if not chunk.embed_text.endswith(body):
        return 0, [None] * len(chunk.sentences)
    start = len(chunk.embed_text) - len(body)
    spans: list[tuple[int, int] | None] = []
    at = 0
    for a, b in chunk.sentences:
        piece = clean(doc_text[a:b])
        found = body.find(piece, at) if piece else -1
        if found < 0:
            spans.append(None)
            continue
        spans.append((start + found, start + found + len(piece)))
        at = found + len(piece)
    return start, spans


def plan(chunks: list, docs: dict, prefixers: dict, mode: str) -> Plan:
    """The sentence rows of ``chunks`` (first-seen order) and, unless ``mode`` is ``separate``, which chunk's
    pass pools each (most central holder) over which ranges of its ``embed_text``."""
    p = Plan()
    rows: dict[tuple[str, int, int], int] = {}
    best: dict[int, tuple[int, int, tuple]] = {}  # row -> (context on its poorer side, chunk, ranges)
    for ci, c in enumerate(chunks):
        prefix = prefixers[c.source](c.section)[0]
        mine = []
        for a, b in c.sentences:
            key = (c.source, a, b)
            if key not in rows:
                rows[key] = len(p.texts)
                p.texts.append(model_text(docs[c.source].text[a:b], prefix))
            mine.append(rows[key])
        p.chunk_rows.append(mine)
        if mode == "separate":
            continue
        start, spans = locate(c, docs[c.source].text)
        lead = ((0, start - 1),) if mode != "pooled" and start > 1 else ()  # the prefix, without its line break
        for row, span in zip(mine, spans):
            if span is None:
                continue
            room = min(span[0] - start, len(c.embed_text) - span[1])
            if row not in best or room > best[row][0]:
                best[row] = (room, ci, lead + (span,))
    p.pools = [[] for _ in chunks]
    for row, (_, ci, ranges) in sorted(best.items()):
        p.pools[ci].append((row, ranges))
    return p


def chunk_mode(sentence_mode: str, wanted: str) -> str:
    """How this build makes its chunk vectors: ``wanted``, except that pooled sentence vectors come from the
    chunk's own pass, which then gives the chunk's vector as well (``encoded``)."""
    return wanted if sentence_mode == "separate" else "encoded"


def sentence_means(p: Plan, sentence_vectors: np.ndarray) -> np.ndarray:
    """Each chunk's vector as the mean of its sentences' vectors, scaled to unit length like the model's own.

    A chunk is a run of whole sentences (or of the pieces a sentence too long for one chunk is cut into), so its
    sentences cover its text. Weighting each sentence by its word pieces, as mean pooling over the chunk would,
    measured no better on the seed eval's dev split (evals/README.md)."""
    out = np.zeros((len(p.chunk_rows), sentence_vectors.shape[1]), dtype=np.float32)
    for i, rows in enumerate(p.chunk_rows):
        if not rows:  # left zero: ``embed`` gives such a chunk its own pass
            continue
        v = sentence_vectors[rows].mean(axis=0)
        out[i] = v / max(float(np.linalg.norm(v)), 1e-12)
    return out


def embed(p: Plan, chunks: list, mode: str, cache, embedder, encode=None, encode_pooled=None,
          progress: Callable[[int, int], None] | None = None,
          chunks_from: str = "encoded") -> tuple[np.ndarray, np.ndarray, int, set[str]]:
    """(chunk vectors, sentence vectors, texts embedded, the cache keys this build uses) through ``cache``.

    ``separate``: chunk and sentence texts in one ``cache.embed``, or with ``chunks_from="sentence-mean"`` the
    sentence texts alone, each chunk's vector their mean (``sentence_means``). Pooled: each chunk text once with
    its pools (``cache.embed_pooled``), then, on their own, the sentences no pass pooled."""
    from ..models.embed import text_key
    from ..models.pooling import pool_key

    chunk_texts = [c.embed_text for c in chunks]
    if mode == "separate":
        if chunk_mode(mode, chunks_from) == "sentence-mean":
            bare = [i for i, rows in enumerate(p.chunk_rows) if not rows]  # a chunk without sentences: its own pass
            texts = p.texts + [chunk_texts[i] for i in bare]
            vectors, embedded = cache.embed(embedder, texts, progress=progress, encode=encode)
            sent_vecs = vectors[: len(p.texts)]
            chunk_vecs = sentence_means(p, sent_vecs)
            chunk_vecs[bare] = vectors[len(p.texts) :]
            return chunk_vecs, sent_vecs, embedded, {text_key(t) for t in texts}
        texts = chunk_texts + p.texts
        vectors, embedded = cache.embed(embedder, texts, progress=progress, encode=encode)
        return vectors[: len(chunks)], vectors[len(chunks) :], embedded, {text_key(t) for t in texts}
    special = mode == "pooled-special"
    ranges = [[r for _, r in pools] for pools in p.pools]
    chunk_vecs, pooled, embedded = cache.embed_pooled(embedder, chunk_texts, ranges, special, progress=progress,
                                                      encode=encode_pooled)
    keep = {text_key(t) for t in chunk_texts}
    sent_vecs = np.full((len(p.texts), chunk_vecs.shape[1]), np.nan, dtype=np.float32)
    for t, pools, rows in zip(chunk_texts, p.pools, pooled):
        for (row, r), v in zip(pools, rows):
            sent_vecs[row] = v
            keep.add(pool_key(t, r, special))
    alone = [i for i in range(len(p.texts)) if np.isnan(sent_vecs[i]).any()]
    if alone:
        vecs, n = cache.embed(embedder, [p.texts[i] for i in alone], encode=encode)
        sent_vecs[alone] = vecs
        embedded += n
        keep |= {text_key(p.texts[i]) for i in alone}
    return chunk_vecs, sent_vecs, embedded, keep
