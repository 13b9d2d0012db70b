"""cProfile of warm hybrid questions: python benchmarks/profile_query.py INDEX_DIR [CORPUS]

Asks every eval question once in hybrid mode on a built index (after 20
warm-up questions) and prints the mean time per question in the main stages.
"""

import cProfile
import json
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.models.embed import Embedder  # noqa: E402
from qa.engine import Engine  # noqa: E402

STAGES = ("engine.py:ask", "retrieve.py:embed_query", "embed.py:encode", "mean_pool.py:encode", "model.py:forward",
          "retrieve.py:search", "first_stage.py:dense_candidates", "retrieve.py:dense_scores", "first_stage.py:bm25_scores", "answer.py:make_answer")


def main(index_dir: str, corpus: str | None = None) -> None:
    e = Embedder()
    e.model
    engine = Engine(corpus=corpus, index_dir=index_dir, embedder=e, build="never")
    qs = [json.loads(x)["question"] for x in (ROOT / "evals" / "questions.jsonl").read_text().splitlines() if x.strip()]
    for q in qs[:20]:
        engine.ask(q)
    pr = cProfile.Profile()
    t = time.perf_counter()
    pr.enable()
    for q in qs:
        engine.ask(q, mode="hybrid")
    pr.disable()
    print(f"{(time.perf_counter() - t) * 1e3 / len(qs):.1f} ms per question (under cProfile), {len(qs)} questions")
    for fn, (_, _, _, ct, _) in sorted(pstats.Stats(pr).stats.items(), key=lambda kv: -kv[1][3]):
        name = f"{Path(fn[0]).name}:{fn[2]}"
        if name in STAGES:
            print(f"{ct / len(qs) * 1e3:7.2f} ms  {name}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
