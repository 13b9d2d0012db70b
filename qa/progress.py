"""Progress of long work (reading, chunking, embedding), for a person watching a terminal or a log.

On a terminal: a tqdm bar per stage. Elsewhere (a log file, CI, the page's
start-up): one line per stage when it starts, then at most one line every
``interval`` seconds with the count, the rate and the time left, and one when
it ends. Both go to stderr, so ``--json`` output on stdout stays clean.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

Progress = Callable[[str, int, int], None]
"""progress(stage, done, total)"""

LOG_INTERVAL_S = 10.0
"""Seconds between two progress lines when stderr is not a terminal: often enough to see work moving."""


def _eta(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def line_printer(stream=None, interval: float = LOG_INTERVAL_S, clock=time.monotonic) -> Progress:
    """Periodic one-line messages: 'embedding: 1200/5000 (85/s, about 45 s left)'.

    The rate is that of the stage since its first work was done, not since it began: the first item often
    carries a stage's start-up (a model loading), and 5,000 small files once said "about 18.6 h left" from one
    file in 13 s (they took 198 s). Until a second report gives a rate, the line says it is estimating.
    """
    state: dict = {"stage": None}

    def progress(stage: str, done: int, total: int) -> None:
        out = stream or sys.stderr
        now = clock()
        if stage != state["stage"]:
            state.update(stage=stage, start=now, last=now, base=(now, done) if done else None)
            if stage != "done":
                print(f"{stage}: {done}/{total}" if total > 1 else f"{stage} ...", file=out, flush=True)
            return
        if state["base"] is None and done:
            state["base"] = (now, done)  # the first work done: the rate is counted from here
        finished = total and done >= total
        if not finished and now - state["last"] < interval:
            return
        state["last"] = now
        t0, done0 = state["base"] or (now, done)
        if done <= done0 or now <= t0:
            print(f"{stage}: {done}/{total}" + ("" if finished else " (estimating the time left)"), file=out, flush=True)
            return
        rate = (done - done0) / (now - t0)
        left = f", about {_eta((total - done) / rate)} left" if not finished else ""
        print(f"{stage}: {done}/{total} ({rate:.0f}/s{left})", file=out, flush=True)

    return progress


def bar_printer(stream=None) -> Progress:
    """A tqdm bar per stage."""
    from tqdm import tqdm

    bars: dict[str, object] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            for bar in bars.values():
                bar.close()
            bars.clear()
            bars[stage] = tqdm(total=total, desc=stage, file=stream or sys.stderr, leave=False)
        bar = bars[stage]
        bar.total = total
        bar.n = done
        bar.refresh()
        if stage == "done":
            bar.close()

    return progress


def printer(stream=None) -> Progress:
    """A bar on a terminal, periodic lines anywhere else."""
    out = stream or sys.stderr
    isatty = getattr(out, "isatty", lambda: False)
    return bar_printer(out) if isatty() else line_printer(out)
