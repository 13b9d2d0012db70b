"""Synthetic collections for the benchmarks, built from the seed text: documents made of the seed documents'
titles and sentences, the same for the same number."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path


def sentence_pool(corpus: Path) -> list[tuple[str, list[str]]]:
    """(title, sentences) of each seed document, sentences as the chunker sees them."""
    from ..ingest.chunk import clean, paragraphs, split_sentences
    from ..ingest.load import load_folder

    docs, _ = load_folder(corpus)
    pool = []
    for d in docs:
        sents = [clean(d.text[a:b]) for (ps, pe), _ in paragraphs(d) for a, b in split_sentences(d.text, ps, pe)]
        sents = [s for s in sents if 40 <= len(s) <= 400 and s[-1] in ".!?”\"'’)"]
        if sents:
            pool.append((d.title, sents))
    return pool


def synthetic_doc(k: int, pool) -> str:
    """Document k: a seed title and 10-20 paragraphs of 1-4 sentences drawn from that seed document."""
    rng = random.Random(k)
    title, sents = pool[k % len(pool)]
    paras = [" ".join(rng.choice(sents) for _ in range(rng.randint(1, 4))) for _ in range(rng.randint(10, 20))]
    return f"# {title}\n\n" + "\n\n".join(paras) + "\n"


def write_collection(folder: Path, docs: int, pool) -> Path:
    """Documents 0..docs-1 in ``folder`` (existing ones kept: they are deterministic)."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(docs):
        path = folder / f"syn{k:06d}.md"
        if not path.exists():
            path.write_text(synthetic_doc(k, pool), encoding="utf-8")
    for extra in sorted(folder.glob("syn*.md"))[docs:]:
        extra.unlink()
    return folder


def write_long_text(path: Path, mb: float, pool) -> Path:
    """One plain-text file of about ``mb`` MB: paragraphs of 1-6 seed sentences, a heading every ~200 paragraphs."""
    rng = random.Random(int(mb * 1000))
    target, size = int(mb * 1e6), 0
    with open(path, "w", encoding="utf-8") as f:
        n = 0
        while size < target:
            title, sents = pool[n % len(pool)]
            para = (f"Part {n // 200 + 1}\n\n" if n % 200 == 0 else "") + " ".join(
                rng.choice(sents) for _ in range(rng.randint(1, 6))) + "\n\n"
            size += len(para.encode("utf-8"))
            f.write(para)
            n += 1
    return path


def short_doc(k: int, pool) -> str:
    """Short document k, like an abstract: a title and one paragraph of 4-9 sentences from one seed document."""
    rng = random.Random(10_000 + k)
    title, sents = pool[k % len(pool)]
    return f"{title} ({k})\n\n" + " ".join(rng.choice(sents) for _ in range(rng.randint(4, 9))) + "\n"


def write_short_docs(folder: Path, docs: int, pool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(docs):
        (folder / f"short{k:06d}.txt").write_text(short_doc(k, pool), encoding="utf-8")
    return folder


def chunks_per_doc(pool, sample: int = 40) -> float:
    from ..ingest.chunk import chunk_document
    from ..config import ChunkSettings
    from ..models.embed import Embedder
    from ..ingest.load import read_document

    emb = Embedder()
    with tempfile.TemporaryDirectory() as tmp:
        n = 0
        for k in range(sample):
            path = Path(tmp) / f"syn{k:06d}.md"
            path.write_text(synthetic_doc(k, pool), encoding="utf-8")
            n += len(chunk_document(read_document(path, path.name), emb.count_tokens, ChunkSettings(), emb.max_seq_length))
    return n / sample
