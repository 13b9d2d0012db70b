"""One-question encode latency under OMP_WAIT_POLICY=ACTIVE vs PASSIVE: python benchmarks/omp_wait.py [N]

Runs a child per policy (the policy is read when torch starts) that times N
single-question encodes with 1 and 2 torch threads and prints p50/p95 ms.
With spinning (ACTIVE) OpenMP threads, a 2-thread encode collapses when
other processes share the cores; qa.models.embed sets PASSIVE by default.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, sys, time
import numpy as np
sys.path.insert(0, {root!r})
import torch
from qa.models.embed import Embedder
m = Embedder().model
out = {{}}
for threads in (1, 2):
    torch.set_num_threads(threads)
    ms = []
    for i in range({n}):
        t = time.perf_counter()
        m.encode(["What makes system leadership hard for integrated care systems?"])
        ms.append((time.perf_counter() - t) * 1e3)
    out[threads] = {{"p50": round(float(np.percentile(ms, 50)), 1), "p95": round(float(np.percentile(ms, 95)), 1)}}
print(json.dumps(out))
"""


def main(n: int = 50) -> None:
    for policy in ("ACTIVE", "PASSIVE"):
        env = dict(os.environ, OMP_WAIT_POLICY=policy, HF_HUB_OFFLINE="1")
        res = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT), n=n)], env=env,
                             capture_output=True, text=True, check=True)
        load = os.getloadavg()[0]
        print(policy, json.loads(res.stdout.strip().splitlines()[-1]), f"(load average {load:.1f})", flush=True)


if __name__ == "__main__":
    main(*(int(x) for x in sys.argv[1:2]))
