"""A long render says how far it has got: a bar on a terminal, a log line now and then elsewhere."""

from __future__ import annotations

import io
import logging

import pytest

from printd.render.progress import ProgressBar


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_a_line_is_logged_now_and_then_with_the_time_left(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    stream = io.StringIO()  # a pipe or a log file: no bar drawn in it
    bar = ProgressBar("rendering party.jpg", stream=stream, delay=1, every=10, clock=clock)
    caplog.set_level(logging.INFO, logger="printd.render.progress")
    for at, done in ((0.5, 10), (2.0, 200), (5.0, 500), (13.0, 1300), (40.0, 4000)):
        clock.now = 100.0 + at
        bar(done, 10_000)
    bar.close()
    assert [r.getMessage() for r in caplog.records] == [
        "rendering party.jpg: 2% (200 of 10000), 2 s so far, about 1 min 38 s left",
        "rendering party.jpg: 13% (1300 of 10000), 13 s so far, about 1 min 27 s left",
        "rendering party.jpg: 40% (4000 of 10000), 40 s so far, about 1 min 0 s left",
    ]
    assert stream.getvalue() == ""


def test_on_a_terminal_a_bar_is_redrawn_in_place_and_ended_with_a_newline(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    stream = Terminal()
    bar = ProgressBar("rendering party.jpg", stream=stream, delay=1, width=10, clock=clock)
    caplog.set_level(logging.INFO, logger="printd.render.progress")
    bar(1, 4)  # within the first second: a quick render shows nothing
    clock.now += 1.5
    bar(2, 4)
    bar(4, 4)
    bar.close()
    assert stream.getvalue() == "\rrendering party.jpg [#####-----] 2/4\rrendering party.jpg [##########] 4/4\n"
    assert caplog.records == []
