"""Benchmark scenarios: each measures one thing, in a child process of its own.

``qa.measure.bench`` (the command, tables and plot) runs them through ``run``; a child
is ``python -m qa.measure.scenarios KIND JSON`` and prints one JSON line, so its
peak resident memory (from ``wait4``) is its own. The kinds are in build_scenarios.py
(build, incremental, chunking) and query_scenarios.py (query, recall); what they read
off is in meters.py and the synthetic collections in synthetic.py. Also here: the
questions, and the cold start of ``qa ask``, timed from outside the process.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .. import config
from .build_scenarios import scenario_build, scenario_chunking, scenario_incremental
from .meters import peak_rss_mb, summary
from .query_scenarios import scenario_query, scenario_recall

ROOT = config.PROJECT_ROOT
OUT_DIR = ROOT / "benchmarks"
FALLBACK_QUESTIONS = [
    "Who leads Surrey Heartlands?",
    "What makes system leadership hard?",
    "Why is collaboration harder than competition?",
    "What do integrated care systems do?",
]


def questions(limit: int | None = None) -> list[str]:
    path = ROOT / "evals" / "questions.jsonl"
    qs = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                q = json.loads(line).get("question")
                if q:
                    qs.append(q)
    qs = qs or FALLBACK_QUESTIONS
    return qs[:limit] if limit else qs


SCENARIOS = {"build": scenario_build, "incremental": scenario_incremental, "query": scenario_query, "recall": scenario_recall,
             "chunking": scenario_chunking}


def run(kind: str, a: dict, inproc=None, module: str = "qa.measure.scenarios") -> dict:
    """Run a scenario in a child process (peak RSS via wait4), or in this process when ``inproc`` is an embedder.

    ``module``: where the child finds scenario ``kind`` (a module whose ``__main__`` runs its SCENARIOS)."""
    load0 = os.getloadavg()[0]
    t = time.perf_counter()
    if inproc is not None:
        out = importlib.import_module(module).SCENARIOS[kind](a, shared=inproc)
        out["peak_rss_mb"] = peak_rss_mb()
        out["peak_rss_note"] = "whole bench process (--quick runs in-process)"
    else:
        with tempfile.TemporaryFile("w+") as so, tempfile.TemporaryFile("w+") as se:
            proc = subprocess.Popen([sys.executable, "-m", module, kind, json.dumps(a)], stdout=so, stderr=se, cwd=ROOT)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            so.seek(0)
            se.seek(0)
            lines = so.read().strip().splitlines()
            if proc.returncode or not lines:
                raise RuntimeError(f"bench scenario {kind} failed (exit {proc.returncode}): {se.read()[-2000:]}")
            out = json.loads(lines[-1])
            out["peak_rss_mb"] = usage.ru_maxrss / 1024
            out["cpu_s"] = usage.ru_utime + usage.ru_stime
    out["wall_s"] = time.perf_counter() - t
    out["loadavg"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
    return out


def cold_start(corpus: Path, index_dir: Path, question: str, runs: int) -> dict:
    """Process start to printed answer of ``python -m qa ask`` over a built index."""
    times, peaks = [], []
    for _ in range(runs):
        t = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "qa", "ask", question, "--index-dir", str(index_dir), "--corpus", str(corpus)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
        text = proc.stdout.read().decode()
        _, status, usage = os.wait4(proc.pid, 0)
        times.append(time.perf_counter() - t)
        peaks.append(usage.ru_maxrss / 1024)
        if os.waitstatus_to_exitcode(status) or "[1]" not in text:
            raise RuntimeError(f"`qa ask` did not print an answer (exit {os.waitstatus_to_exitcode(status)})")
    return {"seconds": summary(times), "peak_rss_mb": summary(peaks)}


if __name__ == "__main__":  # a scenario in a child process: python -m qa.measure.scenarios KIND JSON
    print(json.dumps(SCENARIOS[sys.argv[1]](json.loads(sys.argv[2])), default=str))
