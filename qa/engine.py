"""The engine: one object that owns the index and the model and answers questions.

The CLI, the page and the evals all go through ``Engine``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import threading
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .build import builder
from . import config
from .index import build_dirs, store
from .index.stores import Store, open_store
from .search.answer import make_answer
from .config import ChunkSettings, Settings, StoreSettings, check_k, check_mode
from .models.embed import Embedder
from .errors import (
    BadQuestionError,
    CorpusMismatchError,
    IndexCorruptError,
    IndexMissingError,
    IndexStaleError,
    UnknownDocumentError,
)
from .progress import Progress
from .records import Answer, Document, Hit
from .search.rerank import Reranker
from .search.retrieve import Retriever, body_first

if TYPE_CHECKING:
    from .build.ray_workers import RayWorkers

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000
"""Longer questions are cut: the model reads 256 word pieces (~1,000 characters) and BM25 gains nothing past that."""

BUILD_POLICIES = ("auto", "never", "force")


def normalise_question(question: object) -> str:
    """The question's text as searched, before it is cut: one rule for the engine and the page, so 5,000 control
    characters before a question are dropped, not counted against its length."""
    if not isinstance(question, str):
        raise BadQuestionError(f"A question must be text, not {type(question).__name__}.")
    q = question.encode("utf-8", "replace").decode("utf-8")  # lone surrogates become '?'
    q = unicodedata.normalize("NFKC", q)  # fullwidth and compatibility forms read as their plain letters
    q = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co") else c for c in q)
    return re.sub(r"\s+", " ", q).strip()


def check_sources(sources: object) -> list[str] | None:
    """``sources`` as a list of document names without repeats (None: all), or BadQuestionError saying what to
    pass: a single name is refused rather than read letter by letter. Names not in the index are the retriever's
    to refuse (it lists the indexed ones)."""
    if sources is None or (isinstance(sources, (list, tuple)) and not sources):
        return None
    if not isinstance(sources, (list, tuple)) or not all(isinstance(s, str) for s in sources):
        raise BadQuestionError('sources must be a list of document names such as ["002_x.txt"], or None for all.')
    return list(dict.fromkeys(sources))


def clean_question(question: object) -> str:
    """The searchable form of a question, or BadQuestionError saying what to type."""
    q = normalise_question(question)[:MAX_QUESTION_CHARS]
    if not q:
        raise BadQuestionError("The question is empty. Type a question about the documents.")
    if not any(c.isalnum() for c in q):
        raise BadQuestionError("The question has no words in it. Type a question about the documents.")
    return q


POOL = 10
"""The first stage hands on at least this many hits whatever ``k`` is: back matter goes after body text among them
before the first ``depth`` are reranked, so a smaller pool could let a reference list into the reranked passages.
With it, the page's 5 passages are the first 5 of ``qa eval``'s 10 (they differed for 8 of the first 60 dev
questions, the first three for 2, when the pool was ``max(k, depth)``)."""


class Engine:
    """Answers questions from one corpus folder with one index folder and one model."""

    def __init__(
        self,
        corpus: str | Path | None = None,
        index_dir: str | Path | None = None,
        model: str | None = None,
        settings: Settings | ChunkSettings | None = None,
        build: str = "auto",
        progress: Progress | None = None,
        warn: Callable | None = None,
        embedder: Embedder | None = None,
        switch_corpus: bool = False,
        preload: bool = True,
        storage: StoreSettings | None = None,
        workers: RayWorkers | None = None,
    ) -> None:
        """``settings``: every stage's settings (a ChunkSettings alone means defaults for the rest).

        The index knows its corpus: with no ``corpus`` (and no ``QA_CORPUS``) the folder recorded in the
        index is used. A ``corpus`` other than the recorded one is refused with what to run instead,
        unless ``switch_corpus`` (what ``qa index FOLDER`` says) or ``build="force"``.
        ``preload``: load the question embedder and second-stage models in the background now (False for a
        process that only builds).
        ``storage``: where the index is kept and searched (default: the local files under ``index_dir``).
        ``workers``: a Ray cluster's workers for a build's model work (qa/build/ray_workers.py; default: this process).
        """
        if build not in BUILD_POLICIES:
            raise ValueError(f"build must be one of {BUILD_POLICIES}, got {build!r}")
        self._corpus_given = corpus is not None or bool(os.environ.get("QA_CORPUS"))
        self._switch_corpus = switch_corpus
        self.corpus = config.corpus_dir(corpus)
        self.index_dir = config.index_dir(index_dir)
        self.embedder = embedder or Embedder(model)
        self.settings = Settings.of(settings)
        self.storage = storage or StoreSettings()
        self.store: Store = open_store(self.storage, self.index_dir)
        self.workers = workers
        self.reranker = Reranker(self.settings.rerank)
        self._progress = progress
        self._warn = warn
        self._lock = threading.Lock()
        self.index: store.LoadedIndex | None = None
        self.retriever: Retriever | None = None
        self.open(build)
        # Not a daemon: a process that ends while this thread is inside a model load would abort in native
        # code ("terminate called without an active exception"); the interpreter waits for it instead.
        self._loader = threading.Thread(target=self._load_second_stage, name="qa-load-models", daemon=False)
        if preload:
            self._loader.start()

    def _load_second_stage(self) -> None:
        """Load the question embedder, the cross-encoder and the ColBERT session the settings and index need,
        in the background: a page is ready for its first question sooner, and a cold `qa ask` waits only for
        the model it needs first. A failure here is left for the question that needs the model to report."""
        def late_encoder():
            from .models import late

            late.encoder().load()

        steps = [lambda: getattr(self.embedder, "query_model", None)]  # the first time, exported: a few seconds
        if self.settings.rerank.model != "none":
            steps.append(lambda: self.reranker.model)
            if self.settings.rerank.sentences == "fused":
                steps.append(lambda: self.reranker.answer_model)  # the same model with the answer head's outputs
        if self.index is not None and self.index.late is not None:
            steps.append(late_encoder)
        for step in steps:
            if not threading.main_thread().is_alive():
                return  # the process is ending: nobody will ask; a load begun now would race its shutdown
            try:
                step()
            except Exception:  # noqa: BLE001 - reported, with what to do, when the model is used
                log.debug("loading a model in the background failed", exc_info=True)

    # -- index lifecycle -------------------------------------------------------------------------

    def open(self, build: str = "auto") -> None:
        """Load the index; under ``auto`` build it first if missing, stale or broken."""
        if build == "force":
            self.rebuild(force=True)
            return
        try:
            index = self.store.load()
        except (IndexMissingError, IndexCorruptError) as e:
            if build == "never":
                raise
            if isinstance(e, IndexMissingError):
                self._check_may_build()
                log.warning("No index in %s yet: building it now.", self.store.where)
            else:
                log.warning("Rebuilding the index, the current one is unusable: %s", str(e).split(" Run `")[0])
            self.rebuild()
            return
        self._check_corpus(index.manifest)
        reasons = self._stale(index.manifest)
        if reasons:
            if build == "never":
                raise IndexStaleError(
                    f"The index in {self.index_dir} is stale ({'; '.join(reasons)}). Run `python -m qa index {self.corpus}`."
                )
            log.warning("index is stale (%s); rebuilding", "; ".join(reasons))
            self.rebuild()
            return
        self._use(index)

    def _check_corpus(self, manifest: dict) -> None:
        """Take the index's own corpus when none was named; refuse another one rather than rebuild it silently."""
        recorded = manifest.get("corpus")
        if not recorded or Path(recorded) == self.corpus.resolve():
            return
        if not self._corpus_given and Path(recorded).is_dir():
            self.corpus = Path(recorded)
            return
        if self._switch_corpus:
            return
        raise CorpusMismatchError(
            f"The index in {self.index_dir} was built from {recorded}, not {self.corpus.resolve()}. "
            f"To ask about {recorded}, leave out --corpus (and QA_CORPUS); to index {self.corpus} instead, run "
            f"`python -m qa index {self.corpus} --index-dir {self.index_dir}` (or give it an --index-dir of its own)."
        )

    def _check_may_build(self, force: bool = False) -> None:
        """IndexMissingError unless a build may write into ``index_dir``: an index folder; the project's own
        ``index/``; or a new or empty folder when the documents were named (``corpus``, ``qa index``, or
        ``build="force"``). Asking with a mistyped --index-dir never leaves a seed index, or any file, behind."""
        d = self.index_dir
        if build_dirs.is_index_dir(d):
            return
        default = d.resolve() == config.index_dir(config.PROJECT_ROOT / "index").resolve()
        if default:
            return
        if d.is_dir() and not all(self.store.owns(p) for p in d.iterdir()):
            raise IndexMissingError(
                f"{d} is not an index folder and is not empty, so no index is built there. Give --index-dir a new or "
                "empty folder, or the one `python -m qa index` built."
            )
        if not (self._corpus_given or self._switch_corpus or force):
            raise IndexMissingError(
                f"No index in {d}: run `python -m qa index FOLDER --index-dir {d}` to build one from the documents in "
                "FOLDER (or check the --index-dir)."
            )

    def rebuild(self, force: bool = False) -> None:
        """Build under the lock, then let the store make the build live; unless ``force``, use a fresh build another
        process made live meanwhile, and reuse the index folder's live build (its chunks and vectors)."""
        self._check_may_build(force)
        with build_dirs.build_lock(self.index_dir):
            if not force:
                live = self.store.live_manifest()  # loading a whole build only to learn it is stale costs seconds
                if live is not None and not self._stale(live):
                    try:
                        self._use(self.store.load())
                        return
                    except (IndexMissingError, IndexCorruptError):
                        pass
            local = None if force else self._local_build()
            if local is None or self._stale(local.manifest):
                builder.build(self.corpus, self.index_dir, self.embedder, self.settings, self._progress, self._warn,
                              previous=local, workers=self.workers)
                local = store.load(self.index_dir)
            self._use(self.store.publish_from(local, self._progress, rewrite=force))

    def _local_build(self) -> store.LoadedIndex | None:
        """The index folder's live build (for any store, the build it was made live from), or None if unusable."""
        try:
            return store.load(self.index_dir)
        except (IndexMissingError, IndexCorruptError):
            return None

    def _stale(self, manifest: dict) -> list[str]:
        """Why the build with ``manifest`` no longer matches the documents and settings ([] if fresh)."""
        return builder.stale_reasons(manifest, self.corpus, self.embedder, self.settings)

    def _use(self, index: store.LoadedIndex) -> None:
        with self._lock:
            self.index = index
            self.retriever = Retriever(index, self.embedder, self.settings.retrieval, self.settings.index)

    # -- documents ------------------------------------------------------------------------------

    @property
    def documents(self) -> list[Document]:
        return sorted(self.index.docs.values(), key=lambda d: d.source)

    def document(self, source: str) -> Document:
        """An indexed document by its source name; anything else (paths, '..') is refused."""
        doc = self.index.docs.get(source) if isinstance(source, str) else None
        if doc is None:
            raise UnknownDocumentError(f"No indexed document named {str(source)[:200]!r}.")
        return doc

    # -- questions ------------------------------------------------------------------------------

    def search(self, question: str, k: int = 5, mode: str = "hybrid", sources: list[str] | None = None) -> list[Hit]:
        """The first stage alone: up to max(``candidates``, ``max_k``) hits, before reranking."""
        st = self.settings.retrieval
        k = check_k(k, max(st.candidates, st.max_k))
        return self.retriever.search(clean_question(question), k=k, mode=check_mode(mode), sources=sources or None)

    def ask(self, question: str, k: int = 5, mode: str = "hybrid", sources: list[str] | None = None) -> Answer:
        """The extractive answer: top ``k`` passages, verbatim, with citations and highlighted sentences.

        With ``engine = Engine()`` over the seed documents (tests/test_doctests.py runs this on the seed index):

        >>> answer = engine.ask("How many leaders did Timmins interview?")
        >>> answer.short_text(), answer.passages[0].source
        ('16', '000_ca9353bd9b097081.txt')
        >>> doc = engine.document(answer.passages[0].source)
        >>> doc.text[answer.passages[0].start : answer.passages[0].end] == answer.passages[0].text
        True
        """
        t0 = time.perf_counter()
        q, hits, retriever, timings = self.ranked(question, k, mode, sources)
        asked = clean_question(question)
        st = self.settings.rerank
        lead_passages = st.sentence_passages if st.sentences not in ("cosine", "fused") else 1
        answer = make_answer(q, hits, retriever.index.docs, mode, self.settings.answer, build=retriever.index.path.name,
                             lead_passages=lead_passages, kind=self.score_kind(mode, retriever))
        timings["total_ms"] = (time.perf_counter() - t0) * 1e3
        return dataclasses.replace(answer, question=asked, searched=q if q != asked else "", timings=timings)

    def refusal_confidence(self, question: str, k: int = 5, mode: str = "hybrid") -> float:
        """The confidence ``ask`` would refuse on, when it is the first passage's logit (``score_kind`` "logit"),
        without measuring sentences: what ``qa eval --calibrate`` reads, at a fraction of an answer's cost."""
        if self.score_kind(mode) != "logit":
            raise ValueError(f"The confidence is {self.score_kind(mode)!r} under these options, not the first passage's logit.")
        _, hits, _, _ = self.ranked(question, k, mode, sentences=False)
        return float(hits[0].rerank) if hits and hits[0].rerank is not None else 0.0

    def ranked(self, question: str, k: int = 5, mode: str = "hybrid", sources: list[str] | None = None,
               sentences: bool = True) -> tuple[str, list[Hit], Retriever, dict]:
        """Both stages, before the answer is made: (the cleaned question, the top ``k`` hits reranked with their
        sentences measured (left as retrieved with ``sentences=False``), the retriever of the build that found them, the stages' timings). A word the
        documents never use is put right to the nearest one they do (qa/search/spelling.py), and the question is
        searched as corrected."""
        t0 = time.perf_counter()
        q = clean_question(question)
        check_mode(mode)
        k = check_k(k, self.settings.retrieval.max_k)
        st = self.settings.rerank
        retriever = self.retriever  # one build for the whole answer, even if another is swapped in meanwhile
        sources = check_sources(sources)
        if self.settings.retrieval.spelling:
            q = retriever.speller.correct(q)[0]
        qvec = retriever.embed_query(q, mode) if mode != "bm25" else None
        t1 = time.perf_counter()
        depth = max(k, st.depth, POOL) if st.model != "none" else max(k, POOL)
        hits = retriever.search(q, k=depth, mode=mode, sources=sources or None, qvec=qvec)
        t2 = time.perf_counter()
        timings = {"embed_ms": (t1 - t0) * 1e3, "search_ms": (t2 - t1) * 1e3}
        hits = body_first(self.reranker.rerank(q, body_first(hits), retriever.index.late, timings, sentences,
                                               retriever.index.docs))[:k]
        return q, hits, retriever, timings

    def score_kind(self, mode: str, retriever: Retriever | None = None) -> str:
        """What an answer's confidence is under these settings (qa/search/answer.py SCORE_KINDS), so it is read
        against the threshold calibrated for it."""
        st = self.settings.rerank
        if st.model != "none":
            return "logit"
        index = (retriever or self.retriever).index
        if st.sentences in ("late", "fused") and index.late is not None:
            return "late"
        if st.sentences == "cross-encoder":
            return "cross"
        return "terms" if mode == "bm25" else "cosine"

    def status(self) -> dict:
        m = self.index.manifest
        return {
            "index": str(self.index.path),
            "corpus": m.get("corpus"),
            "model": m.get("model"),
            "counts": m.get("counts"),
            "skipped": m.get("skipped"),
            "built": m.get("created"),
            "dense_index": m.get("dense_index"),
        }
