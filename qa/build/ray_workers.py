"""A build's model work on a Ray cluster: ``qa index --ray auto`` (or ``--ray HOST:6379``).

Loading and chunking stay in this process (about a megabyte a second); the texts
to embed and the chunks to encode with ColBERT go in batches to Ray actors, one
per CPU of the cluster, each loading the models once on its first batch. The
vectors come back here, through the same embedding caches, and the usual build
writes them to the chosen store (local or Milvus). A Ray build therefore
publishes what a local build would: tests/test_ray_workers.py compares the two
vector for vector on a cluster of two local nodes.

A worker lost mid-build (its process or its node) costs only its batches: Ray
restarts the actor, on any node with a free CPU, and runs them again
(``RaySettings.retries``). If the retries run out, the build stops with
RayBuildError before anything is published, so the live index is untouched, and
the caches keep the vectors saved so far (they save as a build goes, every 30 s of
work or so): running the command again resumes from there. The package itself is
shipped to the cluster with the job (``runtime_env`` ``py_modules``), so workers
run this code; the nodes need the project's dependencies installed
(``pip install -e '.[ray]'``).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..config import RaySettings
from ..errors import QAError
from ..progress import LOG_INTERVAL_S

INSTALL_HINT = "Install the Ray extra: `pip install -e '.[ray]'` (or `make install`), here and on every node."
IN_FLIGHT = 2
"""Batches queued per worker: the next one waits beside the running one, so no worker idles between batches."""
LATE_BLOCKS = 16
"""ColBERT batches per block of a build (256 chunks in batches of 16): enough for 8 workers to take two each."""
WORKER_ENV = {"HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE", "TOKENIZERS_PARALLELISM": "false", "QA_THREADS": "1"}
"""Workers never download a model, and each uses its one core (one model run at a time, one thread each)
without spinning threads."""


class RayUnavailableError(QAError):
    """Ray is not installed, or no cluster answers at the address given."""


class RayBuildError(QAError):
    """A batch failed on the cluster more often than the retries allow; nothing was published."""


CONNECT_TIMEOUT_S = 5.0
"""How long the head may take to accept a connection. Ray itself retries an address nobody answers for minutes."""


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast, saying what to do, when nothing listens at a HOST:PORT address ("auto" is Ray's to find)."""
    if address == "auto":
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise RayUnavailableError(f"--ray takes auto or the head's HOST:PORT (e.g. 10.0.0.5:6379), not {address!r}.")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise RayUnavailableError(
            f"No Ray cluster answers at {address} ({e.strerror or e}). Start one with `ray start --head` on the head "
            "machine (more machines join with `ray start --address HEAD:6379`), then pass its address."
        ) from None


def _ray():
    try:
        import ray
    except ImportError as e:
        raise RayUnavailableError(f"--ray needs the ray package ({e.name or e} is missing). {INSTALL_HINT}") from None
    return ray


class Worker:
    """One per CPU of the cluster. Models load on the first batch and stay for the rest of the build."""

    def __init__(self, model: str) -> None:
        from ..models import embed

        embed.THREADS = 1  # one actor per CPU: each uses its own core, as parallel_map does at home
        self.embedder = embed.Embedder(model)

    def where(self) -> tuple[str, int]:
        """(node id, process id) of this worker."""
        import ray

        return ray.get_runtime_context().get_node_id(), os.getpid()

    def warm(self) -> None:
        """Load the models now (otherwise the first batch of each kind does)."""
        from ..models import late, second

        self.embedder.encode_documents(["warm up"])
        late.encoder().load()
        second.encode_text("warm up")

    def embed(self, texts: list[str]) -> tuple[str, np.ndarray]:
        return self.where()[0], self.embedder.encode_documents(texts)

    def embed_pooled(self, batch: tuple[list[str], list, bool]) -> tuple[str, tuple]:
        texts, pools, special = batch
        return self.where()[0], self.embedder.encode_documents_pooled(texts, pools, special)

    def encode_late(self, chunks: list) -> tuple[str, list]:
        from ..models.late import encode_chunk

        return self.where()[0], [encode_chunk(c, threads=1) for c in chunks]

    def encode_second(self, texts: list[str]) -> tuple[str, np.ndarray]:
        from ..models.second import encode_text

        return self.where()[0], np.stack([encode_text(t) for t in texts])


class NodeRates:
    """Items done per node since a stage began: the per-node line of a Ray build's progress."""

    def __init__(self, stage: str, workers_per_node: dict[str, int], report: Callable[[str], None],
                 interval: float = LOG_INTERVAL_S, clock=time.monotonic) -> None:
        self.stage, self.workers, self.report, self.interval, self.clock = stage, workers_per_node, report, interval, clock
        self.done: dict[str, int] = dict.fromkeys(workers_per_node, 0)
        self.start = self.last = self.end = clock()

    def add(self, node: str, n: int) -> None:
        self.done[node] = self.done.get(node, 0) + n
        self.end = self.clock()
        if self.end - self.last >= self.interval:
            self.say()

    def line(self) -> str:
        """Each node's items and rate, over the stage's time until its last batch came back."""
        elapsed = max(1e-9, self.end - self.start)
        parts = [f"node {node[:8]} ({self.workers.get(node, 0)} worker(s)): {n} at {n / elapsed:.1f}/s"
                 for node, n in sorted(self.done.items())]
        return f"{self.stage} on Ray: " + "; ".join(parts)

    def say(self) -> None:
        self.last = self.clock()
        self.report(self.line())


class RayWorkers:
    """Actors on the cluster at ``settings.address``; ``embed`` and ``encode_late`` spread batches over them.

    Nothing connects before the first batch, so a build with nothing new to embed costs no cluster.
    Use as a context manager, or call ``close``: the actors hold the cluster's CPUs until then."""

    def __init__(self, settings: RaySettings, model: str, report: Callable[[str], None] | None = None) -> None:
        self.settings, self.model = settings, model
        self.report = report or (lambda line: print(line, file=sys.stderr, flush=True))
        self.actors: list = []
        self.rates: dict[str, NodeRates] = {}  # per stage, over the whole build
        self._connected_here = False

    def start(self) -> RayWorkers:
        """Connect, and start one worker per CPU of the cluster (once)."""
        if self.actors:
            return self
        ray = _ray()
        check_reachable(self.settings.address)
        if not ray.is_initialized():
            try:
                ray.init(address=self.settings.address, log_to_driver=False, logging_level=logging.WARNING,
                         runtime_env={"py_modules": [str(Path(__file__).resolve().parent)], "env_vars": WORKER_ENV})
            except (ConnectionError, ValueError, RuntimeError) as e:
                raise RayUnavailableError(
                    f"No Ray cluster answers at {self.settings.address!r} ({str(e).splitlines()[0][:200]}). Start one "
                    "with `ray start --head` (more machines join with `ray start --address HEAD:6379`), then pass "
                    "--ray auto on a node of it, or --ray HEAD:6379."
                ) from None
            self._connected_here = True
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if cpus < 1:
            self.close()
            raise RayUnavailableError(f"The Ray cluster at {self.settings.address!r} has no CPU to run a worker on.")
        retries = self.settings.retries
        actor = ray.remote(Worker).options(num_cpus=1, max_restarts=retries, max_task_retries=retries)
        self.actors = [actor.remote(self.model) for _ in range(cpus)]
        return self

    def __enter__(self) -> RayWorkers:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Free the cluster's CPUs (and disconnect, if ``start`` connected)."""
        self.say_totals()
        if not self.actors and not self._connected_here:
            return
        ray = _ray()
        for a in self.actors:
            ray.kill(a)
        self.actors = []
        if self._connected_here and ray.is_initialized():
            ray.shutdown()
        self._connected_here = False

    def warm(self) -> None:
        """Load the models on every worker now (a benchmark times the build without them)."""
        ray = _ray()
        self.start()
        ray.get([a.warm.remote() for a in self.actors])

    def say_totals(self) -> None:
        """One line per stage since the last call: what each node did, and at what rate."""
        for rates in self.rates.values():
            rates.say()
        self.rates = {}

    def where(self) -> list[tuple[str, int]]:
        """(node id, process id) of every worker, in actor order."""
        ray = _ray()
        self.start()
        return ray.get([a.where.remote() for a in self.actors])

    def embed(self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Unit-length vectors of ``texts`` (as ``Embedder.encode_documents``), batches of similar length."""
        return self._vectors("embedding", "embed", texts, progress)

    def encode_second(self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """bge-small-en vectors of ``texts`` (as ``second.encode_documents``), batches of similar length."""
        return self._vectors("bge vectors", "encode_second", texts, progress)

    def _vectors(self, stage: str, method: str, texts: Sequence[str], progress: Callable[[int, int], None] | None) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        size = self.settings.batch_texts
        rows = [order[i : i + size] for i in range(0, len(order), size)]
        parts = self._run(stage, method, [[texts[r] for r in b] for b in rows], progress)
        if not parts:
            return np.zeros((0, 0), dtype=np.float32)
        out = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
        for b, vecs in zip(rows, parts):
            out[b] = vecs
        return out

    def embed_pooled(self, texts: Sequence[str], pools: Sequence, special: bool = False,
                     progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
        """``Embedder.encode_documents_pooled`` on the workers: each text's vector and its pooled spans."""
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        size = self.settings.batch_texts
        rows = [order[i : i + size] for i in range(0, len(order), size)]
        parts = self._run("embedding", "embed_pooled", [([texts[r] for r in b], [pools[r] for r in b], special) for b in rows],
                          progress, sizes=[len(b) for b in rows])
        if not parts:
            return np.zeros((0, 0), dtype=np.float32), []
        out = np.empty((len(texts), parts[0][0].shape[1]), dtype=np.float32)
        pooled: list = [None] * len(texts)
        for b, (vecs, spans) in zip(rows, parts):
            out[b] = vecs
            for r, p in zip(b, spans):
                pooled[r] = p
        return out, pooled

    def encode_late(self, chunks: Sequence) -> list:
        """``late.encode_chunk`` of every chunk, in order."""
        size = self.settings.batch_chunks
        parts = self._run("late interaction vectors", "encode_late", [list(chunks[i : i + size]) for i in range(0, len(chunks), size)])
        return [item for part in parts for item in part]

    @property
    def late_block(self) -> int:
        """Chunks handed to ``encode_late`` at a time (LATE_BLOCKS batches): progress and cache saves come between
        blocks, and each block ends with the workers waiting for its last batch."""
        return self.settings.batch_chunks * LATE_BLOCKS

    def _run(self, stage: str, method: str, batches: list, progress: Callable[[int, int], None] | None = None,
             sizes: list[int] | None = None) -> list:
        """Each batch through ``method`` of some worker, at most IN_FLIGHT per worker at a time; results in order.
        ``sizes``: the items in each batch, when a batch is not a list of them."""
        sizes = sizes or [len(b) for b in batches]
        ray = _ray()
        self.start()
        from ray.exceptions import RayError

        results: list = [None] * len(batches)
        queue = deque(range(len(batches)))
        pending: dict = {}
        if stage not in self.rates:
            self.rates[stage] = NodeRates(stage, dict(Counter(node for node, _ in self.where())), self.report)
        rates = self.rates[stage]

        def submit(actor) -> None:
            if queue:
                i = queue.popleft()
                pending[getattr(actor, method).remote(batches[i])] = (i, actor)

        for actor in self.actors:
            for _ in range(IN_FLIGHT):
                submit(actor)
        done, total = 0, sum(sizes)
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            i, actor = pending.pop(ref)
            try:
                node, out = ray.get(ref)
            except RayError as e:
                raise RayBuildError(
                    f"A {stage} batch failed on the Ray cluster after {self.settings.retries} retries "
                    f"({type(e).__name__}: {str(e).splitlines()[0][:300]}). Nothing was published; the vectors saved "
                    "so far are cached, so running the command again resumes from there."
                ) from None
            results[i] = out
            done += sizes[i]
            rates.add(node, sizes[i])
            submit(actor)
            if progress:
                progress(done, total)
        return results
