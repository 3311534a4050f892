"""Worker threads the daemon keeps alive: each catches its own jobs' failures, and the watchdog
restarts one that died anyway (and says so), so no worker's death stops the appliance."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Supervised:
    def __init__(self, name: str, target: Callable[[], None], stopping: threading.Event):
        self.name = name
        self.target = target
        self.stopping = stopping  # set: the worker is meant to end, not to be restarted
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self.target, name=self.name, daemon=True)
        self.thread.start()

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def revive(self) -> None:
        """Start the worker again if it died while it should be running."""
        if self.thread is not None and not self.alive and not self.stopping.is_set():
            log.error("%s: the worker had stopped; restarted", self.name)
            self.start()

    def join(self, timeout: float) -> None:
        if self.thread is not None:
            self.thread.join(timeout=timeout)
