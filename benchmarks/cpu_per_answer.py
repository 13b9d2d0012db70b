"""CPU time one answer costs, against its wall time: how many cores a single question already keeps busy.

    .venv/bin/python benchmarks/cpu_per_answer.py [--index-dir index] [--questions 60]

Asks the first N questions of evals/questions.jsonl (hybrid, k=5) in process, after three warm-up
questions, and prints CPU ms and wall ms per answer and their ratio. With the ratio near the number of
cores, concurrent readers can add little throughput beyond one reader's (benchmarks/page_load.py).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index-dir", default=str(ROOT / "index"))
    ap.add_argument("--questions", type=int, default=60)
    args = ap.parse_args()
    from qa import Engine

    engine = Engine(index_dir=args.index_dir, build="never")
    lines = (ROOT / "evals" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()][: args.questions]
    for q in questions[:3]:
        engine.ask(q, k=5)
    cpu, wall = time.process_time(), time.perf_counter()
    for q in questions:
        engine.ask(q, k=5)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    n = len(questions)
    print(f"{n} answers: CPU {cpu / n * 1e3:.0f} ms, wall {wall / n * 1e3:.0f} ms per answer; "
          f"{cpu / wall:.2f} cores busy on average")


if __name__ == "__main__":
    main()
