"""Where cold start goes: python benchmarks/cold_start.py INDEX_DIR [CORPUS]

Times each stage of a fresh process answering its first question (imports,
model load, index load and verification, first and second ask), wall and CPU.
Run it in a new process each time: the point is what a cold process pays.
"""

import resource
import sys
import time

t0 = time.perf_counter()
marks = []


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def mark(name: str) -> None:
    marks.append((name, time.perf_counter() - t0, cpu()))


sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))
import qa.cli  # noqa: E402,F401

mark("import qa")
import sentence_transformers  # noqa: E402,F401
import torch  # noqa: E402,F401

mark("import torch + sentence_transformers")
from qa.models.embed import Embedder  # noqa: E402
from qa.engine import Engine  # noqa: E402

e = Embedder()
e.model
mark("model load")
engine = Engine(corpus=sys.argv[2] if len(sys.argv) > 2 else None, index_dir=sys.argv[1], embedder=e, build="never")
mark("index load (+verify)")
engine.ask("What makes system leadership hard?")
mark("first ask")
engine.ask("Who leads Surrey Heartlands?")
mark("second ask")
prev_t = prev_c = 0.0
for name, t, c in marks:
    print(f"{name:40s} wall {t - prev_t:6.2f} s   cpu {c - prev_c:6.2f} s")
    prev_t, prev_c = t, c
