"""A Milvus Lite server in a process of its own, for measurements: `python -m milvus_lite server` on a free loopback
port with a data folder of its own, waited for with a deadline, watched (its resident memory, from /proc) and
stopped cleanly whatever happened in between.

Milvus Lite 3.2's server is one Python process (threads, no child), so /proc/PID/status is all of its memory: VmRSS
now, VmHWM the kernel's own high-water mark since it started. It shuts down on SIGINT (drains the requests under way
for up to 5 s, closes its database); SIGABRT and SIGKILL only if that has not ended it in ``STOP_S``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from .meters import proc_status_mb

START_S = 120.0
"""How long the server may take to answer its first call: seconds when idle, but a busy shared machine is slower."""
STOP_S = 30.0
"""How long a clean stop may take (Milvus Lite drains for up to 5 s, then closes its database)."""

SERVE = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
         "from milvus_lite.cmdline import main; sys.exit(main(sys.argv[1:]))")
"""`python -m milvus_lite server`, with SIGINT raising KeyboardInterrupt whatever this process was started with: a
process started in the background by a shell without job control inherits SIGINT ignored, and Python then installs
no handler, so the server never heard the stop (seen as a SIGKILL after STOP_S, its main thread still waiting)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far; nan when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14 and 15 of stat


class Watch:
    """Polls a process's VmRSS every ``every`` s in a thread while the ``with`` block runs; ``result`` then holds the
    highest and last VmRSS seen, VmHWM at the end and the peak, the larger of the two (MB: the kernel updates VmHWM
    only now and then, so a sample can pass it by a few pages, as a short peak between samples can pass the samples),
    how many samples were taken, and the CPU seconds the process used meanwhile (on a shared machine, what its work
    cost when wall time is inflated by others)."""

    def __init__(self, pid: int, every: float = 0.25) -> None:
        self.pid, self.every, self.result = pid, every, {}
        self._stop = threading.Event()
        self._seen: list[float] = []

    def _sample(self) -> None:
        rss = proc_status_mb("VmRSS", self.pid)
        if rss == rss:  # not nan: the process is there
            self._seen.append(rss)

    def _poll(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def __enter__(self) -> Watch:
        self._cpu0 = cpu_s(self.pid)
        self._sample()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        hwm, top = proc_status_mb("VmHWM", self.pid), max(self._seen, default=float("nan"))
        self.result = {"rss_max_mb": top, "rss_end_mb": self._seen[-1] if self._seen else None, "hwm_mb": hwm,
                       "peak_mb": max(hwm, top), "samples": len(self._seen), "cpu_s": cpu_s(self.pid) - self._cpu0}


class MilvusLiteServer:
    """``with MilvusLiteServer(data_dir) as server:`` a server answering at ``server.uri``; stopped on leaving.
    tests/index/test_milvus_server.py kills and restarts one (same port, same data folder).

    ``started_s``: process start to first answered call; after leaving, ``stop`` says how it ended
    ("clean": SIGINT, "killed": SIGABRT after STOP_S, so that every thread's stack is written to ``log`` (its output,
    beside the data folder), then SIGKILL; "exited N": it had already ended) and ``stop_s`` how long it took.
    """

    def __init__(self, data_dir: Path, host: str = "127.0.0.1") -> None:
        self.data_dir, self.host, self.port = Path(data_dir), host, free_port()
        self.uri = f"http://{host}:{self.port}"
        self.log = self.data_dir.parent / f"{self.data_dir.name}.server.log"
        self.proc: subprocess.Popen | None = None
        self.started_s = self.stop_s = None
        self.stop = ""

    def __enter__(self) -> MilvusLiteServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.stop, t = "", time.perf_counter()
        with open(self.log, "ab") as log:  # its own output, and every thread's stack if it has to be stopped hard
            self.proc = subprocess.Popen(
                [sys.executable, "-X", "faulthandler", "-c", SERVE, "server", "--data-dir", str(self.data_dir),
                 "--host", self.host, "--port", str(self.port)], stdout=log, stderr=log, start_new_session=True)
        try:
            while not self.answers():
                if time.perf_counter() - t > START_S:
                    raise RuntimeError(f"the Milvus Lite server at {self.uri} did not answer within {START_S:.0f} s")
                time.sleep(0.1)
        except BaseException:
            self.close()
            raise
        self.started_s = time.perf_counter() - t

    def answers(self) -> bool:
        """A call of a client of its own succeeds; raises if the server process has ended."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"the Milvus Lite server ({self.uri}, data {self.data_dir}) exited with {self.proc.returncode}")
        from pymilvus import MilvusClient

        try:
            c = MilvusClient(uri=self.uri, timeout=2)
            c.list_collections()
            c.close()
            return True
        except Exception:
            return False

    def memory(self) -> dict:
        """VmRSS and VmHWM of the server process now (MB)."""
        return {"rss_mb": proc_status_mb("VmRSS", self.proc.pid), "hwm_mb": proc_status_mb("VmHWM", self.proc.pid)}

    def watch(self, every: float = 0.25) -> Watch:
        return Watch(self.proc.pid, every)

    def close(self) -> None:
        """Stop the server: SIGINT to its process group, SIGKILL if it has not ended within STOP_S."""
        if self.proc is None or self.stop:
            return
        t = time.perf_counter()
        if self.proc.poll() is not None:
            self.stop = f"exited {self.proc.returncode}"
        else:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(STOP_S)
                self.stop = "clean"
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGABRT)  # faulthandler writes every thread's stack to the log first
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
                self.kill()
                self.stop = "killed"
        self.stop_s = time.perf_counter() - t

    def kill(self) -> None:
        """End the server at once (SIGKILL), as a crash would; ``start`` brings it back on the same port and data."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(STOP_S)
