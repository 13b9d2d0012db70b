"""A build's records as files, each written beside its reading: documents (``docs.jsonl``), chunks with their
sentence rows (``chunks.jsonl``), sentence vectors (``sentences.npy``) and paged documents' character boxes
(``boxes/``). The Milvus store keeps the same rows (``chunk_row``, ``doc_row``) in its collections."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path

import numpy as np

from ..records import Chunk, Document, Heading, Page


def write_jsonl(path: Path, rows) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, array)
        f.flush()
        os.fsync(f.fileno())


def chunk_row(c: Chunk, sentence_rows: list[int]) -> dict:
    """A chunk as stored: its text is not stored, it is ``doc.text[start:end]`` on reading."""
    return {
        "id": c.id,
        "source": c.source,
        "start": c.start,
        "end": c.end,
        "section": list(c.section),
        "sentences": [list(s) for s in c.sentences],
        "sentence_rows": sentence_rows,
        "embed_text": c.embed_text,
    }


def chunk_from_row(row: dict, docs: dict[str, Document]) -> tuple[Chunk, list[int]]:
    doc = docs[row["source"]]
    chunk = Chunk(
        id=row["id"],
        source=row["source"],
        start=row["start"],
        end=row["end"],
        text=doc.text[row["start"] : row["end"]],
        section=tuple(row["section"]),
        sentences=tuple(tuple(s) for s in row["sentences"]),
        embed_text=row["embed_text"],
    )
    return chunk, row["sentence_rows"]


def doc_row(d: Document) -> dict:
    """A document as stored: every field but its character boxes (kept in ``boxes/``, write_boxes)."""
    return {f.name: _plain(getattr(d, f.name)) for f in fields(d) if f.name != "boxes"}


def _plain(value):
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return asdict(value) if is_dataclass(value) else value


def doc_from_row(row: dict) -> Document:
    row = dict(row)
    row["headings"] = tuple(Heading(**h) for h in row.get("headings", ()))
    row["pages"] = tuple(Page(**p) for p in row.get("pages", ()))
    for name in ("skipped", "back_matter"):
        if name in row:
            row[name] = tuple(tuple(s) for s in row[name])
    return Document(**row)


def write_records(
    build: Path, docs: list[Document], chunks: list[Chunk], chunk_sentence_rows: list[list[int]], sentences: np.ndarray
) -> None:
    """Documents, chunks with their sentence rows, and sentence vectors: the part of a build that is not an index."""
    write_jsonl(build / "docs.jsonl", (doc_row(d) for d in docs))
    write_boxes(build, docs)
    write_jsonl(build / "chunks.jsonl", (chunk_row(c, rows) for c, rows in zip(chunks, chunk_sentence_rows)))
    with open(build / "sentences.npy", "wb") as f:
        np.save(f, np.ascontiguousarray(sentences, dtype=np.float32))
        f.flush()
        os.fsync(f.fileno())


def read_records(build: Path) -> tuple[dict[str, Document], list[Chunk], list[list[int]]]:
    """The documents, chunks and each chunk's sentence rows of a build (no vectors, no checks): write_records' reverse."""
    docs = {}
    with open(build / "docs.jsonl", encoding="utf-8") as f:
        for line in f:
            d = doc_from_row(json.loads(line))
            docs[d.source] = d
    chunks, rows = [], []
    with open(build / "chunks.jsonl", encoding="utf-8") as f:
        for line in f:
            c, r = chunk_from_row(json.loads(line), docs)
            chunks.append(c)
            rows.append(r)
    return docs, chunks, rows


BOXES_DIR = "boxes"


def boxes_path(build: Path, source: str) -> Path:
    """Where a paged document's character boxes lie in a build (named by a hash: sources may be any file name)."""
    return build / BOXES_DIR / (hashlib.sha256(source.encode("utf-8", "surrogateescape")).hexdigest()[:24] + ".npy")


def write_boxes(build: Path, docs: list[Document]) -> None:
    """Each paged document's character boxes (Document.boxes), float16: a page's width or height in 2,048 steps."""
    for d in docs:
        if d.boxes is None:
            continue
        path = boxes_path(build, d.source)
        path.parent.mkdir(exist_ok=True)
        _save_npy(path, np.asarray(d.boxes, dtype=np.float16))


def read_boxes(build: Path, source: str) -> np.ndarray | None:
    """A paged document's character boxes as written by write_boxes (float32), or None when it has none."""
    path = boxes_path(build, source)
    if not path.exists():
        return None
    return np.load(path, allow_pickle=False).astype(np.float32)
