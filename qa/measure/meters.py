"""What a benchmark scenario reads off: summaries of its timings, this process's memory, a folder's size on disk,
and an embedder that counts the time spent in its model and its tokenizer."""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import numpy as np


def summary(values) -> dict:
    v = np.asarray(list(values), dtype=float)
    if not len(v):
        return {"n": 0}
    p50, p95, p99 = np.percentile(v, [50, 95, 99])
    return {"n": int(len(v)), "p50": round(float(p50), 3), "p95": round(float(p95), 3), "p99": round(float(p99), 3),
            "mean": round(float(v.mean()), 3), "min": round(float(v.min()), 3), "max": round(float(v.max()), 3)}


def rss_mb() -> float:
    """Current resident memory of this process (MB)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def proc_status_mb(field: str, pid: int | str = "self") -> float:
    """A memory line of /proc/PID/status in MB (VmRSS, VmHWM, RssAnon...); nan when the process or line is not there."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def anon_rss_mb() -> float:
    """Resident memory of this process that is its own (RssAnon): without the pages of files it maps, such as
    large token vectors (late_files.read_late), which the kernel shares with its page cache and can drop at will."""
    return proc_status_mb("RssAnon")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def _embedder():
    from ..models.embed import Embedder

    class TimedEmbedder(Embedder):
        """Counts the time spent in the model (encode) and in its tokenizer (chunking)."""

        encode_s = 0.0
        encoded = 0
        tokenize_s = 0.0

        def encode_documents(self, texts, progress=None):
            t = time.perf_counter()
            out = super().encode_documents(texts, progress)
            self.encode_s += time.perf_counter() - t
            self.encoded += len(texts)
            return out

        def encode_documents_pooled(self, texts, pools, special=False, progress=None):
            t = time.perf_counter()
            out = super().encode_documents_pooled(texts, pools, special, progress)
            self.encode_s += time.perf_counter() - t
            self.encoded += len(texts)  # the pooled sentences come from these texts' passes
            return out

        def count_tokens(self, texts):
            t = time.perf_counter()
            out = super().count_tokens(texts)
            self.tokenize_s += time.perf_counter() - t
            return out

    return TimedEmbedder()


def loaded_embedder(shared=None):
    emb = shared if shared is not None else _embedder()
    t = time.perf_counter()
    emb.model
    return emb, time.perf_counter() - t
