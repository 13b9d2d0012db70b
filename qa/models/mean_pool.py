"""MeanPoolModel: a sentence-transformers folder that is only Transformer + mean pooling, run with transformers
directly (no sentence-transformers import), and BATCH_SIZE, the texts per forward pass. The Embedder (embed.py)
loads it for builds; embed_onnx exports it for questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .pooling import Ranges, pool_spans, strip_pools

BATCH_SIZE = 32
"""Texts per forward pass, of similar length (encode sorts them).

Measured with benchmarks/embed_batch.py on 600 of the seed build's texts
(CPU seconds, median of 2 rounds on the shared 2-core machine): length-sorted
batches of 16 / 32 / 64 took 9.8 / 10.1 / 11.1 s; the earlier hash-ordered
batches of 64 took 13.1 s. 16 and 32 are equal within noise; 32 keeps
longer uniform inputs efficient.
"""


class MeanPoolModel:
    """A sentence-transformers folder that is only a Transformer, mean pooling and (optionally) L2 normalisation,
    run with transformers directly: the same vectors as sentence-transformers (tests/test_embed.py checks them
    against it), without importing it. Importing sentence-transformers took ~6.4 s of a 10 s cold `qa ask`;
    transformers alone loads the model in ~5 s. Offers the part of SentenceTransformer's API the Embedder uses.
    """

    def __init__(self, path: str, tokenizer, model, max_seq_length: int, normalize: bool, dim: int) -> None:
        self.path, self.tokenizer, self.auto_model = path, tokenizer, model
        self.max_seq_length, self.normalize, self.dim = max_seq_length, normalize, dim

    @staticmethod
    def describe(path: str) -> tuple[int, bool, int] | None:
        """(max_seq_length, normalize, dim) if the folder at ``path`` is exactly that pipeline, else None.
        Reads only the folder's JSON files (no transformers import)."""
        import json

        folder = Path(path)
        try:
            modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
            types = [m["type"].rsplit(".", 1)[-1] for m in modules]
            if types not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]) or modules[0]["path"]:
                return None
            pooling = json.loads((folder / modules[1]["path"] / "config.json").read_text(encoding="utf-8"))
            if not pooling.get("pooling_mode_mean_tokens") or any(
                    v for k, v in pooling.items() if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens"):
                return None
            st_config = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
            if st_config.get("do_lower_case") or not st_config.get("max_seq_length"):
                return None
            return int(st_config["max_seq_length"]), types[-1] == "Normalize", int(pooling["word_embedding_dimension"])
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            return None

    @classmethod
    def load(cls, path: str) -> MeanPoolModel | None:
        """The model at ``path`` if its folder describes exactly that pipeline, else None (use sentence-transformers)."""
        spec = cls.describe(path)
        if spec is None:
            return None
        from transformers import AutoModel, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModel.from_pretrained(path).eval()
        max_len, normalize, dim = spec
        return cls(path, tokenizer, model, max_len, normalize, dim)

    def get_embedding_dimension(self) -> int:
        return self.dim

    def encode(self, texts: Sequence[str], batch_size: int = BATCH_SIZE, normalize_embeddings: bool = False,
               convert_to_numpy: bool = True, show_progress_bar: bool = False) -> np.ndarray:
        """Mean of the token vectors under the attention mask, as sentence-transformers computes it."""
        out = [self._mean(*self._forward(texts[i : i + batch_size])[:2], normalize_embeddings)
               for i in range(0, len(texts), batch_size)]
        return np.vstack(out) if out else np.zeros((0, self.dim), dtype=np.float32)

    def encode_spans(self, texts: Sequence[str], pools: Sequence[Sequence[Ranges]], batch_size: int = BATCH_SIZE,
                     special: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
        """``encode(texts, normalize_embeddings=True)`` and, from the same pass, each text's ``pool_spans``."""
        vecs, pooled = [], []
        for i in range(0, len(texts), batch_size):
            stripped = [strip_pools(str(t), p) for t, p in zip(texts[i : i + batch_size], pools[i : i + batch_size])]
            hidden, mask, offsets, marks = self._forward([t for t, _ in stripped], offsets=True)
            vecs.append(self._mean(hidden, mask, True))
            h, m = hidden.float().numpy(), mask.numpy()
            pooled += [pool_spans(h[j], m[j], offsets[j], marks[j], p, special) for j, (_, p) in enumerate(stripped)]
        return (np.vstack(vecs) if vecs else np.zeros((0, self.dim), dtype=np.float32)), pooled

    def _forward(self, texts: Sequence[str], offsets: bool = False) -> tuple:
        """(token states, attention mask[, character offsets, special-token marks as numpy]) of one batch."""
        import torch

        with torch.inference_mode():
            batch = self.tokenizer([str(t).strip() for t in texts], padding=True, truncation="longest_first",
                                   max_length=self.max_seq_length, return_tensors="pt",
                                   return_offsets_mapping=offsets, return_special_tokens_mask=offsets)
            extra = (batch.pop("offset_mapping").numpy(), batch.pop("special_tokens_mask").numpy().astype(bool)) if offsets else ()
            return (self.auto_model(**batch).last_hidden_state, batch["attention_mask"], *extra)

    def _mean(self, hidden, attention_mask, normalize: bool) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self._mean_of(hidden, attention_mask, normalize)

    def _mean_of(self, hidden, attention_mask, normalize: bool) -> np.ndarray:
        import torch

        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        vecs = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        if self.normalize or normalize:
            vecs = torch.nn.functional.normalize(vecs, p=2, dim=1)
        return vecs.float().numpy()
