"""What is left on each printer's roll: the paper every printed job took (measured from its bytes,
printd/printer/sheet.py), counted since the host last said "new roll", kept on disk in the spool
(`paper.json`) so a restart forgets nothing. With `printer.roll_m` unset nothing is predicted; the
printer's own near-end sensor (`DLE EOT 4`) is honoured either way."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from ..atomic import atomic_write
from ..config import PrinterConfig

log = logging.getLogger(__name__)
PAPER_FILE = "paper.json"


class PaperRolls:
    """Per printer: millimetres used since its last new roll, and when that roll went in."""

    def __init__(self, spool_root: Path, printers: tuple[PrinterConfig, ...]):
        self.path = Path(spool_root) / PAPER_FILE
        self.printers = {p.name: p for p in printers}
        self.lock = threading.Lock()
        self.rolls: dict[str, dict[str, float]] = {}
        try:
            written = json.loads(self.path.read_text())
        except FileNotFoundError:
            written = {}
        except (OSError, ValueError) as exc:  # a damaged count is reported, and counting starts afresh
            log.warning("%s: unreadable (%s): paper counted from a full roll", self.path, exc)
            written = {}
        for name in self.printers:
            entry = written.get(name) if isinstance(written, dict) else None
            used = entry.get("used_mm") if isinstance(entry, dict) else None
            since = entry.get("since") if isinstance(entry, dict) else None
            self.rolls[name] = {
                "used_mm": float(used) if isinstance(used, int | float) else 0.0,
                "since": float(since) if isinstance(since, int | float) else time.time(),
            }

    def left_m(self, name: str) -> float | None:
        """Metres left on `name`'s roll; None where no roll length is configured."""
        roll_m = self.printers[name].roll_m
        if roll_m is None:
            return None
        with self.lock:
            return roll_m - self.rolls[name]["used_mm"] / 1000

    def low(self, name: str) -> bool:
        left = self.left_m(name)
        return left is not None and left < self.printers[name].low_paper_m

    def used(self, name: str, length_mm: float) -> bool:
        """A job of `length_mm` went through `name`; said once in the log when the roll runs low.
        True when it just did (the status is then told at once)."""
        was_low = self.low(name)
        with self.lock:
            self.rolls[name]["used_mm"] += length_mm
            self._save()
        left = self.left_m(name)
        turned_low = not was_low and self.low(name)
        if turned_low and left is not None:
            log.warning("printer %s: paper low, about %.2f m left (under printer.low_paper_m %g m): put in a new "
                        "roll, then printd paper --new-roll --printer %s", name, max(left, 0.0),
                        self.printers[name].low_paper_m, name)  # fmt: skip
        return turned_low

    def new_roll(self, name: str) -> bool:
        """The host put in a new roll; False if there is no printer `name`."""
        if name not in self.printers:
            return False
        with self.lock:
            self.rolls[name] = {"used_mm": 0.0, "since": time.time()}
            self._save()
        log.info("printer %s: new roll (%s)", name, f"{self.printers[name].roll_m:g} m" if self.printers[name].roll_m
                 else "printer.roll_m not set: nothing predicted")  # fmt: skip
        return True

    def fits(self, name: str, length_mm: float) -> bool:
        """Whether a job of `length_mm` would print whole on what is left (True where not predicted)."""
        left = self.left_m(name)
        return left is None or left * 1000 >= length_mm

    def report(self, name: str, near_end: bool) -> dict[str, Any]:
        """The `paper` object of a printer in status: roll_m, left_m, low, near_end (the sensor)."""
        left = self.left_m(name)
        with self.lock:
            used_m, since = self.rolls[name]["used_mm"] / 1000, self.rolls[name]["since"]
        return {
            "roll_m": self.printers[name].roll_m,
            "left_m": None if left is None else round(max(left, 0.0), 3),
            "used_m": round(used_m, 3),
            "since": since,
            "low": self.low(name) or near_end,
            "near_end": near_end,
        }

    def _save(self) -> None:
        try:
            atomic_write(self.path, json.dumps(self.rolls).encode())
        except OSError as exc:  # a full disk: the count stays in memory and is written next time
            log.warning("cannot write %s: %s", self.path, exc)
