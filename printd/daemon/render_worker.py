"""The render worker: takes the oldest queued job, renders it with the settings in its record and
hands it to the printer pool, while the pool's printers print the ones before it. Input failures
move a job to failed/ with the reason; on a full disk the job waits, rendered, until there is room."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

from optimizer import BadImageError, FontError

from ..config import Config
from ..errors import InputError
from ..jobs.art import parse_art
from ..jobs.spool import Job, Spool
from ..printer.pool import PrinterPool, PrintItem
from ..render.artist import ArtFiles, Artist, Printable, Progress
from ..render.progress import ProgressBar
from ..render.receipt import receipt_for
from ..sources.intake import JobEvent
from ..supervised import Supervised

log = logging.getLogger(__name__)


class Stopping(Exception):
    """The daemon is stopping: the render in progress is dropped and its job goes back to the queue."""


class RenderWorker:
    def __init__(self, config: Config, spool: Spool, pool: PrinterPool, job_event: JobEvent, stopping: threading.Event):
        self.config = config
        self.spool = spool
        self.pool = pool
        self.job_event = job_event
        self.stopping = stopping
        self.wake = threading.Event()  # a job was queued, or the pool has room again
        self.artist = Artist(config)
        self.worker = Supervised("render", self.run, stopping)

    def warm_up(self) -> None:
        """The config's own renderer, ready for the first job."""
        self.artist.renderer(parse_art({})).warm_up()

    def run(self) -> None:
        while not self.stopping.is_set():
            if not self.pool.has_room():
                self.wake.wait(0.2)
                self.wake.clear()
                continue
            job = self.spool.claim_next()
            if job is None:
                self.wake.wait(0.5)
                self.wake.clear()
                continue
            try:
                printable = self.render(job)
            except Exception as exc:  # never die on one job: its input or its settings fail it
                if isinstance(exc, Stopping) or self.stopping.is_set():
                    self.spool.requeue(job, "daemon stopping")
                    return
                self.fail(job, exc)
                continue
            self.pool.put(PrintItem(job, printable))
            self.job_event(job, "rendered")

    def render(self, job: Job) -> Printable:
        record = job.record
        pin = self.config.printer_named(record.pin) if record.pin else None
        if record.pin and pin is None:
            raise InputError(f"no printer named {record.pin!r} in the config")
        art = parse_art(record.art.asked(), self.config, record.pin)  # the printers may have changed since
        target = pin or self.pool.widest_free()  # unpinned: for the printer likely to print it
        said = ProgressBar(f"{record.name} (job {job.id}): rendering", delay=10, every=30, terminal=False)
        printable = self.artist.render(job.original, art, target, progress=self._progress(said), raster=record.raster)
        files = ArtFiles(text=job.folder / "art.txt", preview=job.folder / "preview.png")
        self.spool.durably(lambda: files.write(printable.art, printable.atlas), self.stopping)  # a full disk: waits
        if record.number is None:  # once: a job rendered again after a restart keeps its number
            record.number = self.spool.counters.next_number()
            self.spool.durably(lambda: self.spool.save(job), self.stopping)
        return replace(printable, extras=receipt_for(self.config, record))

    def _progress(self, said: ProgressBar) -> Progress:
        """The render's progress, said in the log now and then; between optimiser steps and frames,
        a stop ends it at once."""

        def progress(done: int, total: int) -> None:
            if self.stopping.is_set():
                raise Stopping
            said(done, total)

        return progress

    def fail(self, job: Job, exc: Exception) -> None:
        if isinstance(exc, InputError | BadImageError | FontError):
            reason = str(exc).replace(str(job.original), job.record.name)
        else:
            log.exception("%s: render failed", job.id)
            reason = f"{job.record.name}: could not render ({exc})"
        self.spool.durably(lambda: self.spool.fail(job, reason), self.stopping)
        log.warning("%s: failed: %s", job.id, reason)
        self.job_event(job, "failed")
