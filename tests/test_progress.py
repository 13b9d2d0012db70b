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


def test_a_slow_first_item_does_not_make_the_time_left_absurd():
    """5,000 small files: the first took 14 s (the model loading), the rest went at 25/s. The old estimate, from
    one item in 14 s, said "about 19.4 h left"; the time left is read from the items after the first."""
    out, clock = io.StringIO(), Clock()
    say = line_printer(out, interval=10, clock=clock)
    say("chunking", 0, 5000)
    clock.t = 14
    say("chunking", 1, 5000)  # the first item: no rate to go by yet
    for done in range(2, 252):  # 250 more at 25/s
        clock.t = 14 + (done - 1) / 25
        say("chunking", done, 5000)
    assert out.getvalue().splitlines() == [
        "chunking: 0/5000",
        "chunking: 1/5000 (estimating the time left)",
        "chunking: 251/5000 (25/s, about 3 min left)",  # 4,749 left at 25/s = 190 s
    ]
