"""The one way into the spool, for every source: a picture received into the spool's scratch space,
checked as an image (whole, not a decompression bomb: the inbox's own check), queued with what it
asked for, the render worker woken and "queued" told to whoever listens (MQTT, the booth)."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optimizer.target import load_frames

from ..errors import UsageError
from ..jobs.art import JobArt
from ..jobs.spool import Job, JobState, Spool
from ..supervised import Supervised

log = logging.getLogger(__name__)
JobEvent = Callable[[Job, str], None]
JOB_ID = re.compile(r"[0-9]{20}-[A-Za-z0-9._-]+")  # Spool._new_job's: arrival time, source, safe name


class JobActionError(UsageError):
    """A host's action that does not apply to the job as it is now (cancel a printed job)."""


class UnknownJob(UsageError):
    """No job by that ID in the spool."""


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
        details: Mapping[str, Any] | None = None,
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
                details=details,
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

    def find(self, job_id: str) -> Job:
        """The job `job_id`, in whatever state; an ID that is not one (`..`) is never looked up."""
        job = self.spool.find(job_id) if JOB_ID.fullmatch(job_id) else None
        if job is None:
            raise UnknownJob(f"no job {job_id!r}")
        return job

    def cancel(self, job: Job) -> Job:
        """A queued job, moved to failed/ as cancelled by the host; once rendering it is too late."""
        if job.state is not JobState.QUEUED:
            raise JobActionError(f"job {job.id} is {job.state.value}: only a queued job can be cancelled")
        try:
            failed = self.spool.fail(job, f"{job.record.name}: cancelled by the host")
        except FileNotFoundError as exc:
            raise JobActionError(f"job {job.id} has just started: too late to cancel") from exc
        log.info("%s: cancelled by the host", job.id)
        self.job_event(failed, "failed")
        return failed

    def reprint(self, job: Job, source: str) -> Job:
        """The job's picture again, with its settings, as a new job from `source`."""
        if not job.original.is_file():
            raise JobActionError(f"job {job.id}: the original picture is gone (retention)")
        record = job.record
        (again,) = self.take(job.original, source, record.name, record.art, record.pin, record.raster, move=False)
        log.info("%s: reprint of %s", again.id, job.id)
        return again

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

    @property
    def answering(self) -> bool:
        """False when its door is dead (the watchdog then stops, and systemd restarts the daemon)."""
        return True

    def job_event(self, job: Job, event: str) -> None:
        """queued, rendered, printing, waiting, printed or failed."""

    def printers_changed(self) -> None:
        """A printer's state changed."""
