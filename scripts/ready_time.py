"""Measure how long `python app.py` takes to serve its page when the index exists.

    .venv/bin/python scripts/ready_time.py [--runs 3] [--index-dir index/]

Each run starts app.py on a free port and times, from process start, until
`GET /` returns 200 (the page is served) and until a first question sent to
`/ask` with gradio_client is answered (ready for questions; app.py loads the
model right after it starts serving). Prints each run and the medians.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_run(index_dir: str | None, timeout: float = 300.0) -> tuple[float, float]:
    from gradio_client import Client

    port = free_port()
    cmd = [sys.executable, "app.py", "--port", str(port)] + (["--index-dir", index_dir] if index_dir else [])
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"app.py exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    if r.status == 200:
                        page = time.perf_counter() - t0
                        break
            except OSError:
                pass
            if time.perf_counter() - t0 > timeout:
                raise SystemExit(f"app.py did not serve within {timeout:.0f} s")
            time.sleep(0.1)
        got = Client(f"http://127.0.0.1:{port}/", verbose=False).predict("Who leads Surrey Heartlands?", 3, "hybrid", [],
                                                                          api_name="/ask")
        assert got["passages"], got
        return page, time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--index-dir", help="an existing index (default: $QA_INDEX_DIR or index/)")
    args = ap.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    pages, answers = [], []
    for i in range(args.runs):
        page, answer = one_run(args.index_dir)
        pages.append(page)
        answers.append(answer)
        print(f"run {i + 1}: page served in {page:.2f} s, first answer in {answer:.2f} s")
    print(f"median of {args.runs}: page served {statistics.median(pages):.2f} s, "
          f"first answer {statistics.median(answers):.2f} s (max {max(answers):.2f} s)")


if __name__ == "__main__":
    main()
