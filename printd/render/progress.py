"""How far a long render has got, once it has taken more than a second.

On a terminal: a bar redrawn in place. Anywhere else (a pipe, a file, the journal): a log line now
and then, so that a render of many minutes (`--preset gradscii` runs 10 000 gradient steps) shows
it is alive and about when it ends.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TextIO

log = logging.getLogger(__name__)


def duration(seconds: float) -> str:
    """`1 min 5 s`, `42 s`: a span as a person reads it in a log."""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


class ProgressBar:
    def __init__(
        self,
        label: str,
        stream: TextIO | None = None,
        delay: float = 1.0,
        width: int = 30,
        every: float = 10.0,
        terminal: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.label = label
        self.stream = stream or sys.stderr  # the one in use now: a default bound at import outlives a swapped stream
        self.delay = delay
        self.width = width
        self.every = every  # seconds between log lines off a terminal
        self.clock = clock
        self.start = clock()
        self.shown = False
        self.said_at: float | None = None
        self.on_terminal = self.stream.isatty() if terminal is None else terminal  # the daemon: its log

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if now - self.start < self.delay:
            return
        if self.on_terminal:
            filled = int(self.width * done / max(total, 1))
            bar = "#" * filled + "-" * (self.width - filled)
            self.stream.write(f"\r{self.label} [{bar}] {done}/{total}")
            self.stream.flush()
            self.shown = True
        elif self.said_at is None or now - self.said_at >= self.every:
            self.said_at = now
            log.info("%s", self.line(done, total, now - self.start))

    def line(self, done: int, total: int, elapsed: float) -> str:
        """`rendering x.jpg: 42% (4200 of 10000), 1 min 3 s so far, about 1 min 27 s left`."""
        share = done / max(total, 1)
        left = f", about {duration(elapsed * (1 - share) / share)} left" if 0 < share < 1 else ""
        return f"{self.label}: {share:.0%} ({done} of {total}), {duration(elapsed)} so far{left}"

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
