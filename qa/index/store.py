"""The index on disk: layout, manifest, atomic publish, lock, and checked loading.

Layout under the index folder::

    CURRENT            name of the live build (replaced atomically)
    builds/<id>/       manifest.json, docs.jsonl, chunks.jsonl, dense.faiss, sentences.npy, bm25/,
                       late_vectors.npy, late_offsets.npy, late_spans.npy (ColBERT token vectors, if built:
                       float16, or uint8 codes of the codec in late_codec.npy)
    cache/             embeddings by content hash (see embed.EmbeddingCache)
    .lock              held while building

A build is written into ``builds/<id>.tmp-<pid>`` and renamed into place, then
``CURRENT`` is replaced with ``os.replace``: a crash at any point leaves the
previous build live and loadable. Loading checks every file against the sizes
and hashes in the manifest, so a truncated or foreign file is never used.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import re
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ..errors import DiskFullError, IndexBusyError, IndexCorruptError, IndexMissingError
from ..records import SPAN_DTYPE, Chunk, Document, Heading, Page, TokenIndex, stored_spans

FORMAT_VERSION = 2
"""2: documents carry back_matter spans, and structure found by this version (reference sections, captions)."""
KEEP_BUILDS = 2  # the live build and the one before, so a reader that just opened the old one is not cut off
LOCK_TIMEOUT_S = 1800


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


def sha256_file(path: str | Path) -> str:
    """The sha256 of a file's bytes, read in 1 MB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def file_table(folder: Path) -> dict[str, dict]:
    """{relative path: {bytes, sha256}} of every file below ``folder`` except the manifest."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            out[path.relative_to(folder).as_posix()] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
    return out


@contextmanager
def build_lock(index_dir: Path, timeout: float = LOCK_TIMEOUT_S):
    """Hold the index folder's build lock; a second builder waits, then sees the first's result."""
    from filelock import FileLock, Timeout

    index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(index_dir / ".lock"))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise IndexBusyError(
            f"Another process has been building the index in {index_dir} for over {timeout:.0f} s. "
            "Wait for it, or stop it and run `python -m qa index` again."
        ) from None
    try:
        yield
    finally:
        lock.release()


INDEX_MARKS = ("CURRENT", ".lock", "builds")
"""What only an index folder holds: a folder with none of them is not one, and no build writes into it
unless it is new or empty (qa/engine.py)."""


def is_index_dir(path: Path) -> bool:
    """Whether ``path`` is a folder an index was (or is being) built in, or holds an index's embedding cache
    (``cache/<16 hex digits>.npz``, embed.EmbeddingCache) ready for its first build."""
    if any((path / name).exists() for name in INDEX_MARKS):
        return True
    try:
        return any(re.fullmatch(r"[0-9a-f]{16}\.npz", p.name) for p in (path / "cache").iterdir())
    except OSError:
        return False


def new_build_dir(index_dir: Path) -> tuple[Path, str]:
    build_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:8]
    tmp = index_dir / "builds" / f"{build_id}.tmp-{os.getpid()}"
    tmp.mkdir(parents=True)
    return tmp, build_id


def write_json(path: Path, obj) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.flush()
        os.fsync(f.fileno())


def write_jsonl(path: Path, rows) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def publish(index_dir: Path, tmp: Path, build_id: str, manifest: dict) -> Path:
    """Seal ``tmp`` with its manifest, rename it into place and point CURRENT at it."""
    manifest = dict(manifest, build=build_id, files=file_table(tmp))
    write_json(tmp / "manifest.json", manifest)
    final = tmp.parent / build_id
    os.rename(tmp, final)
    _fsync_dir(final.parent)
    pointer = index_dir / f".CURRENT.{os.getpid()}.tmp"
    with open(pointer, "w") as f:
        f.write(build_id + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(pointer, index_dir / "CURRENT")
    _fsync_dir(index_dir)
    prune(index_dir, keep=build_id)
    return final


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` is running (one of another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, OverflowError):
        return False
    return True


def abandoned_builds(index_dir: Path) -> list[Path]:
    """Unfinished build folders (``<id>.tmp-<pid>``) whose process has ended, or is this one (which, holding the
    lock, is not writing one yet): left by a build that was killed or failed. Another live process's is not listed."""
    builds = index_dir / "builds"
    if not builds.is_dir():
        return []
    out = []
    for p in builds.iterdir():
        pid = p.name.rpartition(".tmp-")[2]
        if ".tmp-" in p.name and (not pid.isdigit() or int(pid) == os.getpid() or not _alive(int(pid))):
            out.append(p)
    return out


def remove_abandoned(index_dir: Path) -> None:
    """Remove abandoned_builds (call under the lock, before a build: a killed build's folder can be gigabytes)."""
    for p in abandoned_builds(index_dir):
        shutil.rmtree(p, ignore_errors=True)


def prune(index_dir: Path, keep: str) -> None:
    """Remove abandoned builds, stray temporary files and all but the newest KEEP_BUILDS finished builds (call under the lock)."""
    builds = index_dir / "builds"
    if not builds.is_dir():
        return
    finished = sorted(p for p in builds.iterdir() if p.is_dir() and ".tmp-" not in p.name)
    old = [p for p in finished if p.name != keep][: max(0, len(finished) - KEEP_BUILDS)]
    for p in abandoned_builds(index_dir) + old:
        shutil.rmtree(p, ignore_errors=True)
    for p in list(index_dir.glob(".CURRENT.*.tmp")) + list(index_dir.glob("cache/.*.tmp.npz")):
        p.unlink(missing_ok=True)  # left by a process killed while writing them


SHORT_WRITE = re.compile(r"\d+ requested and \d+ written|No space left on device|Disk quota exceeded", re.I)
"""How a full disk shows when it is not an ENOSPC OSError: numpy's short write ("267264 requested and 88000
written") and faiss's write error, which quotes strerror."""


def is_disk_full(e: BaseException) -> bool:
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(e, (OSError, RuntimeError)) and bool(SHORT_WRITE.search(str(e)))


@contextmanager
def disk_full_said(index_dir: Path):
    """Turn a full disk, however the writer reports it, into DiskFullError saying so and what to do."""
    try:
        yield
    except (OSError, RuntimeError) as e:
        if not is_disk_full(e):
            raise
        try:
            free = f"{shutil.disk_usage(index_dir).free / 2**20:.0f} MB free"
        except OSError:
            free = "free space unknown"
        raise DiskFullError(
            f"The disk holding {index_dir} is full ({free}): free space and run `python -m qa index` again. "
            "The index in use is unchanged."
        ) from e


def current_build(index_dir: Path) -> Path:
    pointer = index_dir / "CURRENT"
    if not pointer.exists():
        raise IndexMissingError(f"No index in {index_dir}: run `python -m qa index` to build one.")
    name = pointer.read_text().strip()
    path = index_dir / "builds" / name
    if not name or "/" in name or not path.is_dir():
        raise IndexCorruptError(
            f"{pointer} names build {name!r}, which is missing. Run `python -m qa index --force` to rebuild."
        )
    return path


def read_manifest(build: Path) -> dict:
    try:
        manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise IndexCorruptError(f"Index manifest in {build} is unreadable ({e}). Run `python -m qa index --force`.") from None
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexCorruptError(
            f"Index in {build} has format {manifest.get('format')}, this version reads {FORMAT_VERSION}. "
            "Run `python -m qa index --force`."
        )
    return manifest


def verify_files(build: Path, manifest: dict) -> None:
    """Every file the manifest lists is present with the same size and hash, and nothing else is."""
    listed = manifest.get("files") or {}
    found = file_table(build)
    problems = []
    for name, meta in listed.items():
        got = found.get(name)
        if got is None:
            problems.append(f"{name} is missing")
        elif got != meta:
            problems.append(f"{name} differs from the build that wrote the manifest ({got['bytes']} bytes, expected {meta['bytes']})")
    problems += [f"{name} was not written by this build" for name in found if name not in listed]
    if problems:
        raise IndexCorruptError(
            f"Index in {build} does not match its manifest: {'; '.join(problems[:3])}. "
            "Run `python -m qa index --force` to rebuild it."
        )


# -- the records: one schema, written and read side by side ----------------------------------------------


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


LATE_FILES = ("late_vectors.npy", "late_offsets.npy", "late_spans.npy")
LATE_CODEC = "late_codec.npy"  # the codec of late_vectors.npy's codes (qa/models/late_codec.py); absent: float16 vectors


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, array)
        f.flush()
        os.fsync(f.fileno())


class _Appended:
    """A .npy file of rows appended as they come: its header, written last, has room for any shape."""

    HEADER = 128

    def __init__(self, path: Path) -> None:
        self.path, self.f, self.rows, self.dtype, self.width = path, open(path, "wb"), 0, None, None
        self.f.write(b"\0" * self.HEADER)

    def add(self, array: np.ndarray) -> None:
        if self.dtype is None:
            self.dtype, self.width = array.dtype, array.shape[1]
        if array.dtype != self.dtype or array.shape[1] != self.width:
            raise ValueError(f"{self.path.name}: rows of {array.dtype} x {array.shape[1]} after {self.dtype} x {self.width}")
        self.f.write(np.ascontiguousarray(array).tobytes())
        self.rows += len(array)

    def close(self, dtype, width: int) -> None:
        """Write the header (``dtype`` and ``width`` when no row came) and sync."""
        d = {"descr": np.lib.format.dtype_to_descr(np.dtype(self.dtype or dtype)), "fortran_order": False,
             "shape": (self.rows, int(self.width or width))}
        text = repr(d).encode("latin1").ljust(self.HEADER - 11) + b"\n"
        self.f.seek(0)
        self.f.write(b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text)
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()


class LateWriter:
    """Writes a build's token rows chunk by chunk as late.build hands them over (its ``sink``), so they are
    never all in memory; ``close`` adds the offsets and the codec and returns the index, mapped from the files."""

    def __init__(self, build: Path) -> None:
        self.build = build
        self.vectors, self.spans = _Appended(build / LATE_FILES[0]), _Appended(build / LATE_FILES[2])
        self.lengths: list[int] = []

    def add(self, rows: np.ndarray, spans: np.ndarray) -> None:
        self.vectors.add(rows)
        self.spans.add(stored_spans(spans))
        self.lengths.append(len(rows))

    def close(self, codec) -> TokenIndex:
        self.vectors.close(np.float16 if codec is None else np.uint8, 384 if codec is None else codec.code_size)
        self.spans.close(SPAN_DTYPE, 2)
        _save_npy(self.build / LATE_FILES[1], np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64))
        if codec is not None:
            _save_npy(self.build / LATE_CODEC, codec.to_bytes())
        return read_late(self.build, widen=False)


def write_indexes(build: Path, dense, bm25, late: TokenIndex | None = None) -> None:
    """The FAISS index over chunk vectors, the bm25s index over chunk texts and, unless a LateWriter
    already wrote them, the token rows (read by ``load``)."""
    import faiss

    faiss.write_index(dense, str(build / "dense.faiss"))
    bm25.save(str(build / "bm25"), show_progress=False)
    if late is not None:
        writer = LateWriter(build)
        for i in range(len(late.offsets) - 1):
            sl = late.chunk_rows(i)
            writer.add(late.vectors[sl], late.spans[sl])
        writer.close(late.codec)


LATE_FLOAT32_MAX_BYTES = 512 * 2**20
"""Token vectors are stored in float16 or as a codec's codes; up to this size in float32 they are widened
(decoded) once at load, since MaxSim over float16 input spent 3.5x as long converting as multiplying
(134 vs 38 ms for 300 chunks, benchmarks/rerank_latency.py). Larger indexes stay as stored, mapped from
the file rather than read into memory (float16, 384 dimensions: 8 GB at 100k chunks; codes of rpq48 0.5 GB),
and widen only the rows a query scores."""


def widened(vectors: np.ndarray) -> np.ndarray | None:
    """float32 vectors a store holds in memory, when they take at most LATE_FLOAT32_MAX_BYTES, else None."""
    return np.array(vectors, dtype=np.float32) if vectors.size * 4 <= LATE_FLOAT32_MAX_BYTES else None


def read_late(build: Path, widen: bool = True) -> TokenIndex | None:
    """The token rows ``LateWriter`` wrote (or an older build's float16 vectors), mapped from the files;
    with ``widen``, also every vector as float32 when they fit (``LATE_FLOAT32_MAX_BYTES``)."""
    if not (build / LATE_FILES[0]).exists():
        return None
    vectors = np.load(build / LATE_FILES[0], allow_pickle=False, mmap_mode="r")
    offsets = np.load(build / LATE_FILES[1], allow_pickle=False)
    spans = np.load(build / LATE_FILES[2], allow_pickle=False, mmap_mode="r")
    codec = None
    if (build / LATE_CODEC).exists():
        from ..models import late_codec

        codec = late_codec.from_bytes(np.load(build / LATE_CODEC, allow_pickle=False))
    index = TokenIndex(vectors, offsets, spans, codec=codec)
    return with_floats(index) if widen else index


def with_floats(index: TokenIndex) -> TokenIndex:
    """``index`` with every vector in float32 (widened or decoded) when they fit in LATE_FLOAT32_MAX_BYTES."""
    if index.codec is None:
        return dataclasses.replace(index, floats=widened(index.vectors))
    if len(index.vectors) * index.codec.dim * 4 <= LATE_FLOAT32_MAX_BYTES:
        return dataclasses.replace(index, floats=index.codec.decode(index.vectors))
    return index


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
    if late_bad or dense.ntotal != n or bm25.scores["num_docs"] != n or (rows and max(max(r) for r in rows if r) >= len(sentences)):
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
    )
