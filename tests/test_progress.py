"""Progress: a bar on a terminal, periodic lines with rate and time left anywhere else."""

from __future__ import annotations

import io

from qa.progress import line_printer, printer


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_lines_name_the_stage_then_report_rate_and_time_left_at_most_every_interval():
    out, clock = io.StringIO(), Clock()
    say = line_printer(out, interval=10, clock=clock)
    say("embedding", 0, 1000)
    clock.t = 5
    say("embedding", 100, 1000)  # too soon: nothing
    clock.t = 10
    say("embedding", 200, 1000)  # 200 in 10 s = 20/s, 800 left = 40 s
    clock.t = 50
    say("embedding", 1000, 1000)
    say("done", 1, 1)
    assert out.getvalue().splitlines() == [
        "embedding: 0/1000",
        "embedding: 200/1000 (20/s, about 40 s left)",
        "embedding: 1000/1000 (20/s)",
    ]


def test_not_a_terminal_gets_lines_not_a_bar():
    out = io.StringIO()
    say = printer(out)
    say("reading", 0, 3)
    assert out.getvalue() == "reading: 0/3\n"
