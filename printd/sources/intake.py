"""The one way into the spool, for every source: a picture received into the spool's scratch space,
checked as an image (whole, not a decompression bomb: the inbox's own check), queued with what it
asked for, the render worker woken and "queued" told to whoever listens (MQTT, the booth)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optimizer.target import load_frames

from ..jobs.art import JobArt
from ..jobs.spool import Job, Spool
from ..supervised import Supervised

log = logging.getLogger(__name__)
JobEvent = Callable[[Job, str], None]


class Intake:
    def __init__(self, spool: Spool, wake: Callable[[], None], job_event: JobEvent):
        self.spool = spool
        self.wake = wake
        self.job_event = job_event

    def scratch(self, source: str, name: str) -> Path:
        """A fresh path in the spool's tmp/ for a picture being received (never picked up: a dot-file;
        recovery removes it after a crash, as it was never acknowledged)."""
        return self.spool.root / "tmp" / f".{source}-{uuid.uuid4().hex}{Path(name).suffix.lower()[:10]}"

    def check(self, path: Path) -> None:
        """BadImageError unless `path` is a whole picture within the pixel limit."""
        load_frames(path, max_frames=1)

    def take(
        self,
        path: Path,
        source: str,
        name: str,
        art: JobArt | None = None,
        pin: str | None = None,
        raster: bool = False,
        copies: int = 1,
        submitted_by: str | None = None,
        move: bool = True,
        fingerprint: str | None = None,
        possible_duplicate: bool = False,
    ) -> list[Job]:
        """Queue the picture at `path` (checked first), `copies` times; `move`: the file itself
        becomes the (last) job's original. The rest goes into the record (Spool.submit)."""
        self.check(path)
        jobs = [
            self.spool.submit(
                path,
                source,
                move=move and copy == copies - 1,
                art=art,
                pin=pin,
                raster=raster,
                name=name,
                submitted_by=submitted_by,
                fingerprint=fingerprint,
                possible_duplicate=possible_duplicate,
            )
            for copy in range(copies)
        ]
        self.queued(jobs)
        return jobs

    def take_bytes(
        self, data: bytes, source: str, name: str, art: JobArt, owner: Callable[[Job], None] | None = None
    ) -> Job:
        """A picture made here (a camera frame); `owner` hears of the job before anyone else can
        (the booth follows its own shot's events from the first)."""
        path = self.scratch(source, name)
        path.write_bytes(data)
        try:
            self.check(path)
            job = self.spool.submit(path, source, move=True, art=art, name=name)
        finally:
            path.unlink(missing_ok=True)
        if owner is not None:
            owner(job)
        self.queued([job])
        return job

    def queued(self, jobs: list[Job]) -> None:
        """Jobs a source put in the spool itself (the inbox, by rename)."""
        self.wake()
        for job in jobs:
            self.job_event(job, "queued")

    def refuse(self, path: Path, source: str, reason: str, name: str) -> Job:
        """What a source received and cannot print: failed/ with it and the reason."""
        job = self.spool.refuse(path, source, reason, name=name)
        self.job_event(job, "failed")
        return job


@dataclass(frozen=True)
class Host:
    """What a source may ask of the daemon that hosts it."""

    status: Callable[[], dict[str, Any]]  # `printd status --json`'s object
    printers: Callable[[], dict[str, str]]  # each printer's state
    pause: Callable[[str, bool], bool]  # pause or resume a printer by name; False: no such printer
    press: Callable[[str], str]  # the booth's button: the one-line answer
    new_roll: Callable[[str], bool]  # a new paper roll in the printer by name; False: no such printer


class Source:
    """A way jobs come in: started and closed by the daemon, told of jobs and printers if it cares.
    Each source module has `source(config, intake, host)`, registered in printd/sources/__init__.py."""

    def start(self) -> None:
        """Open sockets, start threads: nothing of that happens before."""

    def close(self) -> None:
        """Stop taking jobs and let go of what start() took."""

    @property
    def workers(self) -> list[Supervised]:
        """Threads the daemon's watchdog keeps alive."""
        return []

    def problem(self) -> str | None:
        """Why this source takes no jobs now (a full disk); None while it does."""
        return None

    def job_event(self, job: Job, event: str) -> None:
        """queued, rendered, printing, waiting, printed or failed."""

    def printers_changed(self) -> None:
        """A printer's state changed."""
