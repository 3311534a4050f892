"""`printd run`: intake → spool → render → printer pool, under systemd.

The render worker takes the oldest queued job and renders it (with the settings in its record)
while the pool's printers print the ones before it. Input failures move a job to failed/; printer
failures put it back in line for the next ready printer (printd/printer/pool.py).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import socket
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from optimizer import BadImageError

from ..atomic import atomic_write
from ..booth.camera import Camera, CameraError
from ..booth.session import Booth
from ..booth.triggers import FeedbackLed, GpioButton, KeyTrigger, SnapServer, TriggerUnavailable
from ..config import Config
from ..errors import PrinterError, UsageError
from ..jobs.art import JobArt, parse_art
from ..jobs.spool import Job, JobState, Spool
from ..jobs.status import STATUS_FILE, status_report
from ..printer.escpos_lib import CD_KICK_2
from ..printer.pool import PrinterPool, PrintItem
from ..printer.profiles import profile
from ..render.artist import ArtFiles, Artist, Printable
from ..sources.inbox import Inbox
from ..sources.submit import ControlServer, user_name

if TYPE_CHECKING:
    from ..sources.mqtt import Fleet

log = logging.getLogger(__name__)
DISK_FULL_WAIT = 10.0  # seconds before a job that met a full disk is tried again
PRUNE_EVERY = 3600.0  # seconds between retention passes while running
BUZZER_PULSE = CD_KICK_2  # Epson's buzzer option hangs on the drawer-kick port: ESC p pulses it


class Stopping(Exception):
    """The daemon is stopping: the render in progress is dropped and its job goes back to the queue."""


class Closable(Protocol):
    def close(self) -> None: ...


def notify(message: str) -> None:
    """sd_notify: one datagram to $NOTIFY_SOCKET; nothing when not under systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(message.encode(), address)
        except OSError as exc:
            log.debug("sd_notify failed: %s", exc)


class Daemon:
    """The parts, wired in one place: intake (inbox, snap socket, booth) → spool → render worker →
    printer pool; the status file and systemd hear of every change (docs/architecture.md §1)."""

    def __init__(self, config: Config, pin_factory: Any = None):
        self.config = config
        self.spool = Spool(config.spool.path)
        self.pin_factory = pin_factory  # gpiozero's; None: the platform's own (tests pass MockFactory)
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.booth: Booth | None = None
        self.fleet: Fleet | None = None  # the MQTT node, where mqtt.url is set
        self.inbox: Inbox | None = None
        self.pool = PrinterPool(
            config.pool,
            self.spool,
            config.spool,
            job_event=self._job_event,
            changed=self._printers_changed,
            watching=lambda: self.booth is not None,
        )
        self.parts: list[Closable] = []  # inbox, triggers, light: closed at stop
        self.workers: list[threading.Thread] = []
        self.artist = Artist(config)

    @property
    def problem(self) -> str | None:
        """Why nothing can print now; None while some printer can."""
        return self.pool.problem()

    # --- the render worker ------------------------------------------------------------------
    def render_loop(self) -> None:
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
                printable = self._render(job)
            except Stopping:
                self.spool.requeue(job, "daemon stopping")
                return
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    self._fail(job, exc)
                    continue
                # A full disk is a state: the job waits in the queue until there is room again.
                log.warning("%s: disk full; back in the queue, retrying in %g s", job.id, DISK_FULL_WAIT)
                self.spool.requeue(job, "disk full")
                self.stopping.wait(DISK_FULL_WAIT)
                continue
            except Exception as exc:  # never die on one job: its input or its settings fail it
                self._fail(job, exc)
                continue
            self.pool.put(PrintItem(job, printable))
            self._job_event(job, "rendered")

    def _render(self, job: Job) -> Printable:
        pin = self.config.printer_named(job.record.pin) if job.record.pin else None
        if job.record.pin and pin is None:
            raise UsageError(f"no printer named {job.record.pin!r} in the config")
        art = parse_art(job.record.art.asked(), self.config, job.record.pin)  # the printers may have changed
        printable = self.artist.render(job.original, art, pin, progress=self._unless_stopping, raster=job.record.raster)
        ArtFiles(text=job.folder / "art.txt", preview=job.folder / "preview.png").write(printable.art, printable.atlas)
        return printable

    def _unless_stopping(self, done: int, total: int) -> None:
        """The render's progress: between optimiser steps and frames, a stop ends it at once."""
        if self.stopping.is_set():
            raise Stopping

    def _fail(self, job: Job, exc: Exception) -> None:
        if isinstance(exc, BadImageError | UsageError | ValueError):
            reason = str(exc).replace(str(job.original), job.record.name)
        else:
            log.exception("%s: render failed", job.id)
            reason = f"{job.record.name}: could not render ({exc})"
        self.spool.fail(job, reason)
        log.warning("%s: failed: %s", job.id, reason)
        self._job_event(job, "failed")

    # --- state, for the booth, `printd status` and systemd ------------------------------------
    def _printers_changed(self) -> None:
        if self.booth is not None:
            self.booth.printer_changed()
        self.write_status()
        if self.fleet is not None:
            self.fleet.publish_state()

    def _job_event(self, job: Job, event: str) -> None:
        if self.booth is not None:
            self.booth.job_event(job.id, event)
        if self.fleet is not None:
            self.fleet.job_event(job, event)

    def state(self) -> dict[str, Any]:
        """The daemon's own state, for status (the jobs come from the spool's index)."""
        return {
            "printer": self.pool.summary(),
            "printers": self.pool.states(),
            "booth": self.booth.state.value if self.booth else "off",
            "intake": "paused: disk full" if self.inbox is not None and self.inbox.disk_full else "taking files",
        }

    def status(self) -> dict[str, Any]:
        """`printd status --json`'s object, from memory."""
        return status_report(self.spool, self.state())

    def write_status(self) -> None:
        """status.json for `printd status` in another process, and systemd's status line."""
        queued = self.spool.index.count(JobState.QUEUED)
        status = {
            "pid": os.getpid(),
            **self.state(),
            "updated": time.time(),
            "queued": queued,
            "spool_bytes": self.spool.index.size,
        }
        try:
            atomic_write(self.spool.root / STATUS_FILE, json.dumps(status).encode())
        except OSError as exc:  # a full disk is a state to report, not a reason to stop
            log.warning("cannot write %s: %s", STATUS_FILE, exc)
        notify(f"STATUS={self.pool.summary()}; {queued} job(s) queued")

    # --- the photo booth ------------------------------------------------------------------
    def _start_booth(self) -> None:
        """The booth and its triggers, where configured and present; each absence is said once."""
        if not self.config.camera.enabled:
            log.info("photo booth off (camera.enabled is false)")
            return
        try:
            Camera(self.config.camera).check()
        except CameraError as exc:
            log.warning("photo booth off: %s", exc)
            return
        button = self.config.button
        led = None
        if button.led is not None:
            pin = button.led
            led = self._optional("LED", lambda: FeedbackLed(pin, self.pin_factory))
        self.booth = Booth(self.config.camera, self.spool, lambda: self.problem, self.wake, led, self._beep_for())
        if button.gpio is not None:
            self._optional("button", lambda: GpioButton(button, self.booth_press, self.pin_factory))
        if button.key is not None and button.key_device is not None:
            key, device = button.key, button.key_device
            self._optional("key", lambda: KeyTrigger(key, device, self.booth_press))
        log.info("photo booth on: camera %s, countdown %g s", self.config.camera.source, self.config.camera.countdown)

    def _optional(self, what: str, make: Callable[[], Closable]) -> Any:
        try:
            part = make()
        except TriggerUnavailable as exc:
            log.warning("photo booth runs without its %s: %s", what, exc)
            return None
        self.parts.append(part)
        return part

    def _beep_for(self) -> Callable[[], None] | None:
        if not self.config.button.beep:
            return None
        slot = self.pool.slots[0]  # the booth's own printer: the first of the pool
        if "pulseStandard" not in profile(slot.config.profile).features:
            log.warning("button.beep: printer profile %s has no buzzer pulse; no beep", slot.config.profile)
            return None

        def beep() -> None:
            try:
                with slot.lock:
                    slot.printer.print_job(BUZZER_PULSE)
            except PrinterError as exc:
                log.warning("beep: %s", exc)

        return beep

    def booth_press(self, source: str) -> str:
        if self.booth is None:
            return "off: the photo booth is off (camera.enabled is false, or the camera is missing)"
        return self.booth.press(source)

    # --- life -----------------------------------------------------------------------------
    def start(self) -> None:
        check_writable(self.spool.root, self.config.inbox.path)
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
        # Open for submissions at once: they queue while the renderer warms up.
        self.parts.append(ControlServer(self.spool, self.wake.set, self.config))
        self.artist.renderer(JobArt())  # the config's own renderer, warm for the first job
        self._start_booth()
        self._optional("snap socket", lambda: SnapServer(self.spool.root, self.booth_press))
        inbox = Inbox(self.config.inbox.path, self.spool, self.config.inbox.settle, on_job=self.wake)
        self.parts.append(inbox)
        self.inbox = inbox
        if self.config.mqtt.url is not None:
            from ..sources.mqtt import Fleet

            self.fleet = Fleet(self.config, self.spool, self.wake.set, self.booth_press, self.pool.states, self.status)
            self.parts.append(self.fleet)
        if self.config.web.enabled:
            from ..sources.web import Host, WebServer  # the web stack is loaded only where it is used

            self.parts.append(WebServer(self.config, self.spool, Host(self.wake.set, self.pool.pause, self.status)))
        self.workers = [threading.Thread(target=self.render_loop, name="render", daemon=True)]
        inbox.start()
        self.workers[0].start()
        self.pool.start()
        log.info(
            "printd running: inbox %s, spool %s, printers %s",
            inbox.path,
            self.spool.root,
            ", ".join(f"{p.name} ({p.uri})" for p in self.config.pool),
        )

    def revive(self) -> None:
        """Every worker that died is replaced (each catches its jobs' failures: this is the net)."""
        if not self.workers[0].is_alive() and not self.stopping.is_set():
            log.error("render worker had stopped; restarted")
            self.workers[0] = threading.Thread(target=self.render_loop, name="render", daemon=True)
            self.workers[0].start()
        self.pool.revive()
        if self.inbox is not None:
            self.inbox.revive()

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
            self.revive()
            intake = [self.inbox.thread] if self.inbox is not None else []
            if all(w.is_alive() for w in (*self.workers, *self.pool.threads, *intake)):
                notify("WATCHDOG=1")  # healthy: every worker alive
            self.write_status()
            if time.monotonic() >= next_prune:
                self.prune()
                next_prune = time.monotonic() + PRUNE_EVERY

    def stop(self) -> None:
        notify("STOPPING=1")
        self.stopping.set()
        for part in reversed(self.parts):
            part.close()
        self.pool.stop(timeout=max(p.timeout for p in self.config.pool) + 5)
        for worker in self.workers[:1]:
            worker.join(timeout=10)
        self._requeue_stranded()
        log.info("printd stopped")

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
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
            raise UsageError(
                f"{folder}: printd (user {user}) cannot write here: owned by {user_name(info.st_uid)}, mode "
                f"{stat.S_IMODE(info.st_mode):o}; fix: chown -R {user} {folder} (see config/printd.tmpfiles)"
            )


class JournalFormatter(logging.Formatter):
    """`<priority>message`: the journal reads the syslog priority and stamps the time itself."""

    PRIORITY: ClassVar[dict[int, int]] = {
        logging.DEBUG: 7,
        logging.INFO: 6,
        logging.WARNING: 4,
        logging.ERROR: 3,
        logging.CRITICAL: 2,
    }

    def format(self, record: logging.LogRecord) -> str:
        # One record, one journal line: a file name with a newline cannot forge a line of its own.
        message = record.getMessage().replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        if record.exc_info:
            message += " | " + self.formatException(record.exc_info).replace("\n", " | ")
        return f"<{self.PRIORITY.get(record.levelno, 6)}>{record.name}: {message}"


def log_formatter() -> logging.Formatter:
    if os.environ.get("JOURNAL_STREAM"):
        return JournalFormatter()
    return logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
