"""One Milvus server, several processes: python benchmarks/milvus_server.py INDEX_DIR [--questions N]

Starts Milvus Lite's server (`python -m milvus_lite server`) on a free loopback port with a temporary data
folder, then times, against it: publishing a built local index (a copy of INDEX_DIR, so its caches are not
touched; the first publish writes every row), opening the published build in another process (a fresh
interpreter: imports, connection, reading the sentence and token vectors), and N questions of the eval set
asked through Engine.ask in this process, against the server and against the local index, alternated.
Prints the figures; README "Storing the index in Milvus" quotes them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OPEN = """
import sys, time
t0 = time.perf_counter()
from qa.config import StoreSettings
from qa.index import milvus_store
index = milvus_store.load(StoreSettings(kind="milvus", milvus_uri=sys.argv[1]))
print(time.perf_counter() - t0, len(index.chunks))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("index_dir")
    ap.add_argument("--questions", type=int, default=40)
    args = ap.parse_args()
    from qa import Engine
    from qa.config import StoreSettings
    from qa.index import milvus_store, store
    from qa.measure.milvus_server import MilvusLiteServer

    tmp = Path(tempfile.mkdtemp(prefix="qa-milvus-bench-"))
    server = MilvusLiteServer(tmp / "data")
    uri = server.uri
    try:
        server.start()
        print(f"server answering after {server.started_s:.1f} s")
        local_dir = tmp / "index"
        shutil.copytree(args.index_dir, local_dir)
        local = store.load(local_dir)
        settings = StoreSettings(kind="milvus", milvus_uri=uri)
        t0 = time.perf_counter()
        milvus_store.publish(settings, local)
        print(f"publish (every row, {len(local.chunks)} chunks): {time.perf_counter() - t0:.1f} s")
        opens = []
        for _ in range(3):
            out = subprocess.run([sys.executable, "-c", OPEN, uri], cwd=ROOT, capture_output=True, text=True, check=True)
            opens.append(float(out.stdout.split()[0]))
        print(f"open in a new process (import, connect, read vectors): {', '.join(f'{x:.1f}' for x in opens)} s")
        corpus = local.manifest.get("corpus")
        remote = Engine(corpus=corpus, index_dir=tmp / "page", storage=settings, build="never")
        near = Engine(corpus=corpus, index_dir=local_dir, build="never")
        qs = [json.loads(line)["question"] for line in (ROOT / "evals" / "questions.jsonl").open()][: args.questions]
        remote.ask(qs[0]), near.ask(qs[0])  # models loaded
        times: dict[str, list[float]] = {"server": [], "local": []}
        for q in qs:
            for name, engine in (("server", remote), ("local", near)):
                t = time.perf_counter()
                engine.ask(q)
                times[name].append((time.perf_counter() - t) * 1e3)
        for name, got in times.items():
            got.sort()
            print(f"Engine.ask {name}: p50 {statistics.median(got):.0f} ms, p95 {got[int(0.95 * (len(got) - 1))]:.0f} ms "
                  f"({len(got)} questions)")
    finally:
        server.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
