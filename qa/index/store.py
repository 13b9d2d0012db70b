"""The index on disk, loaded: ``LoadedIndex``, and the search indexes' files written (``write_indexes``) and every
file of the live build read back and checked (``load``).

A build folder, ``builds/<id>/`` under the index folder, holds::

    manifest.json      settings, versions, counts, and every file's size and hash (qa/index/build_dirs.py)
    docs.jsonl, chunks.jsonl, sentences.npy, boxes/
                       documents, chunks, sentence vectors, character boxes (qa/index/record_files.py)
    dense.faiss, bm25/ the FAISS index over chunk vectors and the bm25s index over chunk texts (here)
    late_vectors.npy, late_offsets.npy, late_spans.npy, late_codec.npy
                       ColBERT token vectors, if built: float16, or uint8 codes of the codec in late_codec.npy
                       (qa/index/late_files.py)
    second_chunks.npy, second_sentences.npy
                       bge-small-en vectors of every chunk and sentence row, if built (qa/models/second.py)

qa/index/build_dirs.py has the rest of the folder (``CURRENT``, the lock, the cache) and how a build is published.
Loading checks every file against the sizes and hashes in the manifest, so a truncated or foreign file is never used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from ..errors import IndexCorruptError
from ..models.second import SecondVectors
from ..records import Chunk, Document, TokenIndex
from .build_dirs import current_build, read_manifest, verify_files
from .late_files import LateWriter, read_late
from .record_files import read_records


@dataclass
class LoadedIndex:
    path: Path
    manifest: dict
    docs: dict[str, Document]
    chunks: list[Chunk]
    chunk_sentence_rows: list[list[int]]  # rows of ``sentences`` for each chunk's sentences
    sentences: np.ndarray  # unit vectors of every sentence, float32
    dense: object  # faiss index over chunk vectors; row i is chunks[i]
    bm25: object  # bm25s.BM25 over chunk embed_text; doc i is chunks[i]
    by_source: dict[str, np.ndarray] = field(default_factory=dict)  # chunk rows of each document
    late: TokenIndex | None = None  # ColBERT token vectors of every chunk, when the build has them
    second: SecondVectors | None = None  # bge-small-en vectors of every chunk and sentence, when the build has them
    first_stage: object | None = None  # the store's own candidate search (qa/index/first_stage.py FirstStage), e.g. Milvus; None: the build's files (LocalFirstStage)

    @cached_property
    def sentence_words(self) -> np.ndarray:
        """Words in each sentence row, counted once: dense scoring and highlighting both skip short ones."""
        words = np.zeros(len(self.sentences), dtype=np.int32)
        for c, rows in zip(self.chunks, self.chunk_sentence_rows):
            text = self.docs[c.source].text
            for (a, b), r in zip(c.sentences, rows):
                words[r] = len(text[a:b].split())
        return words


SECOND_FILES = ("second_chunks.npy", "second_sentences.npy")


def write_indexes(build: Path, dense, bm25, late: TokenIndex | None = None, second: SecondVectors | None = None) -> None:
    """The FAISS index over chunk vectors, the bm25s index over chunk texts, the bge vectors when built and, unless
    a LateWriter already wrote them, the token rows (read by ``load``)."""
    import faiss

    faiss.write_index(dense, str(build / "dense.faiss"))
    bm25.save(str(build / "bm25"), show_progress=False)
    if second is not None:
        for name, array in zip(SECOND_FILES, (second.chunks, second.sentences)):
            np.save(build / name, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
    if late is not None:
        writer = LateWriter(build)
        for i in range(len(late.offsets) - 1):
            sl = late.chunk_rows(i)
            writer.add(late.vectors[sl], late.spans[sl])
        writer.close(late.codec)


def load(index_dir: Path) -> LoadedIndex:
    """Load and verify the live build. Raises IndexMissingError or IndexCorruptError."""
    import bm25s
    import faiss

    build = current_build(index_dir)
    manifest = read_manifest(build)
    verify_files(build, manifest)
    try:
        docs, chunks, rows = read_records(build)
        sentences = np.load(build / "sentences.npy", allow_pickle=False)
        dense = faiss.read_index(str(build / "dense.faiss"))
        bm25 = bm25s.BM25.load(str(build / "bm25"), load_corpus=False, show_progress=False)
        late = read_late(build)
        second = None
        if (build / SECOND_FILES[0]).exists():
            second = SecondVectors(*(np.load(build / name, allow_pickle=False) for name in SECOND_FILES))
    except IndexCorruptError:
        raise
    except Exception as e:
        raise IndexCorruptError(
            f"Index in {build} cannot be read ({e.__class__.__name__}: {str(e)[:200]}). Run `python -m qa index --force`."
        ) from None
    n = len(chunks)
    late_bad = late is not None and (
        len(late.offsets) != n + 1 or late.offsets[-1] != len(late.vectors) or len(late.vectors) != len(late.spans)
        or (late.codec is None) != (late.vectors.dtype != np.uint8)
        or (late.codec is not None and late.vectors.shape[1] != late.codec.code_size)
    )
    second_bad = second is not None and (len(second.chunks) != n or len(second.sentences) != len(sentences))
    if late_bad or second_bad or dense.ntotal != n or bm25.scores["num_docs"] != n or (rows and max(max(r) for r in rows if r) >= len(sentences)):
        raise IndexCorruptError(
            f"Index in {build} is inconsistent ({n} chunks, {dense.ntotal} vectors, {bm25.scores['num_docs']} BM25 rows). "
            "Run `python -m qa index --force`."
        )
    by_source: dict[str, list[int]] = {}
    for i, c in enumerate(chunks):
        by_source.setdefault(c.source, []).append(i)
    return LoadedIndex(
        path=build,
        manifest=manifest,
        docs=docs,
        chunks=chunks,
        chunk_sentence_rows=rows,
        sentences=sentences,
        dense=dense,
        bm25=bm25,
        by_source={k: np.array(v, dtype=np.int64) for k, v in by_source.items()},
        late=late,
        second=second,
    )
