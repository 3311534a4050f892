"""`printd run`: the parts wired in one place (docs/architecture.md §1).

    sources (printd/sources/: inbox, submit socket, web, MQTT; printd/booth/) → intake → spool
    → render worker → printer pool → done/ | failed/

Each part is made here, started in `start()` and closed in `stop()`; the workers are supervised
threads that the watchdog loop keeps alive. News of jobs and printers goes to every part that
listens (the booth's light, MQTT), to status.json for `printd status`, and to systemd.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import stat
import threading
import time
from pathlib import Path
from typing import Any

from ..atomic import atomic_write
from ..booth.photobooth import PhotoBooth
from ..config import Config
from ..errors import UsageError
from ..jobs.spool import Job, JobState, Spool
from ..jobs.status import STATUS_FILE, status_report
from ..printer.pool import PrinterPool
from ..sources import SOURCES
from ..sources.intake import Host, Intake, Source
from ..sources.submit import user_name
from ..supervised import Supervised
from .render_worker import RenderWorker
from .runtime import make_runtime_dir
from .systemd import notify

log = logging.getLogger(__name__)
PRUNE_EVERY = 3600.0  # seconds between retention passes while running


RELOAD_HINT = "SIGHUP: the config is read only at start; still running on the old one (restart printd to apply changes)"


class Daemon:
    def __init__(self, config: Config, pin_factory: Any = None):
        self.config = config
        self.spool = Spool(config.spool.path, runtime=config.spool.run_dir)
        self.stopping = threading.Event()
        self.pool = PrinterPool(
            config.pool,
            self.spool,
            config.spool,
            job_event=self._job_event,
            changed=self._printers_changed,
            watching=lambda: self.booth.on,
        )
        self.renderer = RenderWorker(config, self.spool, self.pool, self._job_event, self.stopping)
        self.intake = Intake(self.spool, self.renderer.wake.set, self._job_event)
        self.booth = PhotoBooth(config, self.intake, self.pool, self.spool, pin_factory)
        self.host = Host(status=self.status, printers=self.pool.states, pause=self.pool.pause, press=self.booth.press,
                         new_roll=self.new_roll)  # fmt: skip
        self.sources: list[Source] = []

    @property
    def problem(self) -> str | None:
        """Why nothing can print now; None while some printer can."""
        return self.pool.problem()

    @property
    def doors(self) -> list[Source | PhotoBooth]:
        """What takes requests on a socket: a dead one stops the watchdog (a revived thread could
        not take back a socket it lost), so systemd restarts the daemon."""
        return [*self.sources, self.booth]

    @property
    def workers(self) -> list[Supervised]:
        return [self.renderer.worker, *self.pool.workers, *(w for s in self.sources for w in s.workers)]

    # --- news, for the booth, MQTT, `printd status` and systemd --------------------------------
    def _printers_changed(self) -> None:
        self.booth.printer_changed()
        self.write_status()
        for source in self.sources:
            source.printers_changed()

    def _job_event(self, job: Job, event: str) -> None:
        if event in ("printed", "failed", "requeued"):
            self.renderer.wake.set()  # the pool has room again, or a job is to be rendered again
        if event == "printed":
            self.spool.counters.printed(job.record.source, job.record.printer, job.record.copies)
        self.booth.job_event(job, event)
        for source in self.sources:
            source.job_event(job, event)

    def state(self) -> dict[str, Any]:
        """The daemon's own state, for status (the jobs come from the spool's index)."""
        paused = [problem for problem in (self.spool.space_problem(), *(s.problem() for s in self.sources)) if problem]
        return {
            "printer": self.pool.summary(),
            "printers": self.pool.report(),
            **self.booth.state(),
            "intake": f"paused: {'; '.join(paused)}" if paused else "taking files",
            "counters": self.spool.counters.report(),
        }

    def status(self) -> dict[str, Any]:
        """`printd status --json`'s object, from memory."""
        return status_report(self.spool, self.state())

    def write_status(self) -> None:
        """status.json for `printd status` in another process, and systemd's status line."""
        queued = self.spool.index.count(JobState.QUEUED)
        status = {"pid": os.getpid(), **self.state(), "updated": time.time(), "queued": queued,
                  "spool_bytes": self.spool.index.size}  # fmt: skip
        try:
            atomic_write(self.spool.root / STATUS_FILE, json.dumps(status).encode())
        except OSError as exc:  # a full disk is a state to report, not a reason to stop
            log.warning("cannot write %s: %s", STATUS_FILE, exc)
        notify(f"STATUS={self.pool.summary()}; {queued} job(s) queued")

    def new_roll(self, name: str) -> bool:
        """A new paper roll in printer `name` (the host page, `printd paper --new-roll`, MQTT)."""
        return self.pool.new_roll(name)

    # --- life -----------------------------------------------------------------------------
    def start(self) -> None:
        check_writable(self.spool.root, self.config.inbox.path)
        make_runtime_dir(self.spool.runtime)
        if not self.spool.acquire():
            raise UsageError(f"{self.spool.root}: another printd daemon is running on this spool")
        for job in self.spool.recover():
            log.warning(
                "%s: recovered from an unclean stop%s",
                job.id,
                " (may print twice)" if job.record.possible_duplicate else "",
            )
        self.spool.index  # noqa: B018  (built now, before any worker moves a job)
        self.prune()
        # Sources open at once: submissions queue while the renderer warms up.
        for name, wanted in SOURCES.items():
            if wanted(self.config):
                source = importlib.import_module(f"printd.sources.{name}").source(self.config, self.intake, self.host)
                self.sources.append(source)
                source.start()
        self.renderer.warm_up()
        self.booth.start()
        self.renderer.worker.start()
        self.pool.start()
        log.info(
            "printd running: spool %s, printers %s",
            self.spool.root,
            ", ".join(f"{p.name} ({p.uri})" for p in self.config.pool),
        )

    def prune(self) -> None:
        keep = self.config.spool.keep
        removed = self.spool.prune(keep.days, keep.jobs, keep.megabytes)
        if removed:
            log.info("retention: removed %d old job(s) from done/ and failed/", len(removed))

    def serve(self) -> None:
        notify("READY=1")
        watchdog_interval = int(os.environ.get("WATCHDOG_USEC", "0")) / 2e6 or 5.0
        next_prune = time.monotonic() + PRUNE_EVERY
        while not self.stopping.wait(min(watchdog_interval, 2.0)):
            for worker in self.workers:
                worker.revive()
            if all(worker.alive for worker in self.workers) and all(door.answering for door in self.doors):
                notify("WATCHDOG=1")  # healthy: every worker alive, every socket served
            self.write_status()
            if time.monotonic() >= next_prune:
                self.prune()
                next_prune = time.monotonic() + PRUNE_EVERY

    def stop(self) -> None:
        notify("STOPPING=1")
        self.stopping.set()
        for part in reversed(self.doors):
            part.close()
        self.pool.stop(timeout=max(p.timeout for p in self.config.pool) + 5)
        self.renderer.wake.set()
        self.renderer.worker.join(timeout=10)
        self._requeue_stranded()
        log.info("printd stopped")

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        # SIGHUP's default action ends the process without a word, which systemd's
        # Restart=on-failure takes for a clean exit and leaves the booth down.
        signal.signal(signal.SIGHUP, lambda *_: log.warning(RELOAD_HINT))
        self.start()
        try:
            self.serve()
        finally:
            self.stop()
        return 0

    def _requeue_stranded(self) -> None:
        """Jobs rendered but not printed go back to the queue for the next start."""
        for job in self.spool.jobs(JobState.ACTIVE):
            self.spool.requeue(job, "daemon stopped")


def check_writable(*folders: Path) -> None:
    """The daemon must own and write its spool and inbox; otherwise say exactly what to fix."""
    for folder in folders:
        folder = Path(folder)
        if not folder.exists():
            continue  # made by the daemon itself, as its own
        info = folder.stat()
        if not os.access(folder, os.W_OK | os.X_OK):
            user = user_name(os.geteuid())
            if os.statvfs(folder).f_flag & os.ST_RDONLY:
                raise UsageError(f"{folder}: on a read-only filesystem; fix: mount it read-write, or set spool.path "
                                 "and inbox.path on a writable one")  # fmt: skip
            if info.st_uid == os.geteuid():
                fix = f"chmod u+rwx {folder}"
            else:
                fix = f"chown -R {user} {folder} (see config/printd.tmpfiles)"
            raise UsageError(
                f"{folder}: printd (user {user}) cannot write here: owned by {user_name(info.st_uid)}, mode "
                f"{stat.S_IMODE(info.st_mode):o}; fix: {fix}"
            )
