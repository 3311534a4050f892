"""The event's counters, kept in the spool (`counters.json`) so a restart does not reset them: each
job's number in the event (`{count}` on its receipt), the prints made by source and by printer
(the host page, status) and the prints the guest page accepted (`limits.per_event`). The event
starts when the file does: a new event is the file removed while the daemon is stopped."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from ..atomic import atomic_write

log = logging.getLogger(__name__)
FILE = "counters.json"


class Counters:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._values: dict[str, Any] = {"number": 0, "accepted": {}, "printed": {}, "printers": {}}
        try:
            self._values.update(json.loads(path.read_text()))
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:  # kept apart, not lost: the counting starts again
            log.warning("%s: unreadable (%s); the event's counters start again", path, exc)

    def next_number(self) -> int:
        """The next job's number in the event."""
        with self._lock:
            self._values["number"] += 1
            self._save()
            return int(self._values["number"])

    def accepted(self, source: str) -> int:
        """Prints `source` has had accepted in the event."""
        with self._lock:
            return int(self._values["accepted"].get(source, 0))

    def accept(self, source: str, prints: int) -> None:
        """`prints` more accepted from `source` (fewer, when the host rejects them)."""
        self._add("accepted", source, prints)

    def printed(self, source: str, printer: str, prints: int) -> None:
        with self._lock:
            for key, name in (("printed", source), ("printers", printer)):
                self._values[key][name] = self._values[key].get(name, 0) + prints
            self._save()

    def _add(self, key: str, name: str, count: int) -> None:
        with self._lock:
            self._values[key][name] = max(0, self._values[key].get(name, 0) + count)
            self._save()

    def report(self) -> dict[str, Any]:
        """For status: prints per source and per printer, and the guest page's accepted ones."""
        with self._lock:
            values = json.loads(json.dumps(self._values))
        return {"by_source": values["printed"], "by_printer": values["printers"], "accepted": values["accepted"]}

    def _save(self) -> None:
        try:
            atomic_write(self.path, json.dumps(self._values).encode())
        except OSError as exc:  # a full disk: counted in memory, said, written with the next change
            log.warning("cannot write %s: %s", self.path, exc)
