"""Vectors of character spans of a text from the encoder's pass over the whole text ("late chunking").

Pure functions over one text's token states and the tokenizer's character offsets, shared by both runtimes
(mean_pool.MeanPoolModel, torch; embed_onnx.OnnxMeanPool, onnxruntime) so a build's pooled vectors do not depend on
which computes them; qa/build/sentences.py says which spans a build pools.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

Ranges = tuple[tuple[int, int], ...]
"""One pool: character ranges of a text whose word pieces are averaged into one vector (embed.pool_spans)."""


def strip_pools(text: str, pools: Sequence[Ranges]) -> tuple[str, list[Ranges]]:
    """``text`` stripped as the models strip it, with the pools' character ranges moved to match."""
    lead = len(text) - len(text.lstrip())
    return text.strip(), [tuple((a - lead, b - lead) for a, b in ranges) for ranges in pools]


def pool_spans(hidden: np.ndarray, mask: np.ndarray, offsets: np.ndarray, special: np.ndarray,
               pools: Sequence[Ranges], with_special: bool = False) -> np.ndarray:
    """Unit-length means of one text's token states over each pool's word pieces: one row per pool.

    ``hidden`` [tokens, dim] is the encoder's output for the text, ``mask`` its attention mask, ``offsets``
    [tokens, 2] each token's character span in the text and ``special`` which tokens the tokenizer added
    ([CLS], [SEP], padding). A word piece belongs to a range when their characters overlap; ``with_special``
    adds [CLS] and [SEP]. A pool that reaches past the last word piece the model read (the text was cut at
    ``max_seq_length``) or holds none is a row of NaN: its text must be embedded on its own.
    """
    real = (np.asarray(mask) > 0) & ~np.asarray(special, dtype=bool)
    starts, ends = np.asarray(offsets)[:, 0], np.asarray(offsets)[:, 1]
    last = int(ends[real].max()) if real.any() else 0
    out = np.full((len(pools), hidden.shape[-1]), np.nan, dtype=np.float32)
    for j, ranges in enumerate(pools):
        if not ranges or any(b > last or b <= a for a, b in ranges):
            continue
        take = np.zeros(len(real), dtype=bool)
        for a, b in ranges:
            take |= real & (starts < b) & (ends > a)
        if not take.any():
            continue
        if with_special:
            take |= (np.asarray(mask) > 0) & np.asarray(special, dtype=bool)
        v = hidden[take].astype(np.float32).mean(0)
        out[j] = v / max(float(np.linalg.norm(v)), 1e-12)
    return out


def pool_key(text: str, ranges: tuple[tuple[int, int], ...], special: bool) -> str:
    """Cache key of a vector pooled over ``ranges`` of ``text``'s pass: the text, the ranges and the tokens taken."""
    where = ";".join(f"{a}-{b}" for a, b in ranges)
    return hashlib.sha256(f"pooled\0{int(special)}\0{where}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()
