"""A progress bar on a terminal, shown only once a render has taken more than a second."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    def __init__(self, label: str, stream: TextIO | None = None, delay: float = 1.0, width: int = 30):
        self.label = label
        self.stream = stream or sys.stderr  # the one in use now: a default bound at import outlives a swapped stream
        self.delay = delay
        self.width = width
        self.start = time.monotonic()
        self.shown = False
        self.enabled = self.stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or time.monotonic() - self.start < self.delay:
            return
        filled = int(self.width * done / max(total, 1))
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{total}")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
