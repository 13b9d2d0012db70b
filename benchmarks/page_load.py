"""Many readers at once: the served page's /ask under 32 concurrent clients, against one client alone.

    .venv/bin/python benchmarks/page_load.py [--clients 32] [--questions 20] [--index-dir DIR] [--url URL]

Serves the seed page with ``python app.py`` in its own process on a free loopback port (or uses
``--url``), so the clients here do not share the server's interpreter, then:

1. one client asks the questions one after another (the baseline throughput and latency);
2. ``--clients`` clients ask ``--questions`` questions each at the same moment (each starts at a
   different question, so different questions are in flight together).

Every answer is checked against the same question asked of the engine alone (same passages, same
offsets) and every passage must slice exactly out of its document. Prints errors, mismatches,
throughput (requests/s, and the ratio to one client) and latency p50/p95/max. A measurement, not a
test: the figures depend on the machine (this one has 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def questions(n: int) -> list[str]:
    rows = [json.loads(x) for x in (ROOT / "evals" / "questions.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    return [r["question"] for r in rows[:n]]


def spans(answer: dict) -> list[tuple[str, int, int]]:
    return [(p["source"], p["start"], p["end"]) for p in answer["passages"]]


def run(url: str, plan: list[list[str]], expected: dict, texts: dict) -> dict:
    """Each inner list of ``plan`` is one client's questions, asked in order; all clients start together."""
    from gradio_client import Client

    lat, errors, wrong = [], [], []
    lock = threading.Lock()
    start = threading.Barrier(len(plan))

    def client(qs: list[str]) -> None:
        c = Client(url, verbose=False)
        start.wait()
        for q in qs:
            t0 = time.perf_counter()
            try:
                got = c.predict(q, 5, "hybrid", [], api_name="/ask")
            except Exception as e:  # counted and shown, never hidden
                with lock:
                    errors.append(f"{e.__class__.__name__}: {str(e)[:120]}")
                continue
            dt = time.perf_counter() - t0
            bad = spans(got) != spans(expected[q]) or any(
                texts[p["source"]][p["start"] : p["end"]] != p["text"] for p in got["passages"])
            with lock:
                lat.append(dt)
                if bad:
                    wrong.append(q)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(plan)) as pool:
        list(pool.map(client, plan))
    wall = time.perf_counter() - t0
    q = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else [lat[0] if lat else 0.0] * 99
    return {"requests": sum(len(x) for x in plan), "answered": len(lat), "errors": errors, "wrong": wrong,
            "wall_s": wall, "rps": len(lat) / wall if wall else 0.0,
            "p50_ms": statistics.median(lat) * 1e3 if lat else 0.0, "p95_ms": q[94] * 1e3, "max_ms": max(lat, default=0) * 1e3}


def serve(engine):
    """``python app.py`` over the engine's index, in its own process: (process, url) once it answers."""
    import socket
    import subprocess
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = ROOT / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, QA_FEEDBACK=str(out / "feedback.jsonl"))
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), "--index-dir", str(engine.index_dir),
                             "--corpus", str(engine.corpus)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(out / "page_load_server.log", "w"))
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"app.py exited with {proc.returncode}; see {out / 'page_load_server.log'}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit("app.py did not serve within 300 s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--questions", type=int, default=20)
    ap.add_argument("--index-dir", help="index folder (default: $QA_INDEX_DIR or index/; built if missing)")
    ap.add_argument("--url", help="an already served page (default: serve one here)")
    args = ap.parse_args(argv)

    from qa.page import app
    from qa import Engine

    engine = Engine(index_dir=args.index_dir)
    qs = questions(args.questions)
    expected = {q: engine.ask(q, k=5).to_dict() for q in qs}  # each question asked alone
    texts = {d.source: d.text for d in engine.documents}
    server = None
    url = args.url
    if not url:
        server, url = serve(engine)
    try:
        run(url, [qs[:3]], expected, texts)  # warm up the server and the model
        # one client before and after the crowd: the machine may be shared, so the baseline is their mean
        load = [os.getloadavg()[0]]
        before = run(url, [qs], expected, texts)
        load.append(os.getloadavg()[0])
        many = run(url, [[qs[(i + j) % len(qs)] for j in range(len(qs))] for i in range(args.clients)], expected, texts)
        load.append(os.getloadavg()[0])
        after = run(url, [qs], expected, texts)
        load.append(os.getloadavg()[0])
        one = dict(before, rps=(before["rps"] + after["rps"]) / 2, errors=before["errors"] + after["errors"],
                   wrong=before["wrong"] + after["wrong"], answered=before["answered"] + after["answered"],
                   requests=before["requests"] + after["requests"],
                   p50_ms=(before["p50_ms"] + after["p50_ms"]) / 2, p95_ms=max(before["p95_ms"], after["p95_ms"]),
                   max_ms=max(before["max_ms"], after["max_ms"]), wall_s=before["wall_s"] + after["wall_s"])
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    print(f"page load over loopback ({os.cpu_count()} cores), /ask k=5 hybrid, concurrency {app.CONCURRENCY}, "
          f"queue {app.QUEUE_SIZE}")
    for name, r in (("1 client", one), (f"{args.clients} clients", many)):
        print(f"  {name:>11} x {len(qs)} questions: {r['answered']}/{r['requests']} answered, {len(r['errors'])} errors, "
              f"{len(r['wrong'])} differing from the answer asked alone; {r['rps']:.1f} req/s; "
              f"p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms, max {r['max_ms']:.0f} ms ({r['wall_s']:.1f} s)")
    print(f"  throughput {args.clients} clients / 1 client: {many['rps'] / one['rps']:.2f}x "
          f"(1 client before {before['rps']:.1f}, after {after['rps']:.1f} req/s; "
          f"load average {' -> '.join(f'{x:.1f}' for x in load)})")
    for e in (one["errors"] + many["errors"])[:5]:
        print("  error:", e)
    for q in (one["wrong"] + many["wrong"])[:5]:
        print("  differs:", q)
    return 0 if not (many["errors"] or many["wrong"] or one["errors"] or one["wrong"]) else 1


if __name__ == "__main__":
    sys.exit(main())
