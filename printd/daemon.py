"""`printd run`: intake → spool → render → print, under systemd.

Two workers share the spool: the renderer takes the oldest queued job and renders it while the
printer worker sends the previous one, so printing never waits for a render it could overlap.
Input failures move a job to failed/; printer failures make it wait (backoff) and retry.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from escpos.constants import CD_KICK_2

from optimizer import BadImageError, Renderer

from .artwork import ArtFiles, atomic_write, paper_for, paper_renderer, profile_feature
from .booth import Booth
from .config import Config
from .errors import PrinterError, UsageError
from .receipt import receipt_bytes
from .sources.button import FeedbackLed, GpioButton, KeyTrigger, SnapServer, TriggerUnavailable
from .sources.camera import Camera, CameraError
from .sources.inbox import Inbox
from .spool import Job, JobState, Spool
from .transport import Printer

log = logging.getLogger(__name__)
STATUS_FILE = "status.json"
BUZZER_PULSE = CD_KICK_2  # Epson's buzzer option hangs on the drawer-kick port: ESC p pulses it


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


@dataclass
class Rendered:
    job: Job
    data: bytes


class Daemon:
    def __init__(self, config: Config, printer: Printer | None = None, pin_factory: Any = None):
        self.config = config
        self.spool = Spool(config.spool.path)
        self.printer = printer or Printer(config.printer.uri, config.printer.timeout)
        self.paper = paper_for(config)
        self.pin_factory = pin_factory  # gpiozero's; None: the platform's own (tests pass MockFactory)
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.retry_now = threading.Event()  # the printer is back, or we are stopping: stop backing off
        self.printer_lock = threading.Lock()  # one conversation with the printer at a time
        self.handoff: queue.Queue[Rendered] = queue.Queue(maxsize=1)
        self.printer_state = "unknown"
        self.problem: str | None = None  # what the printer last reported wrong; None when it works
        self.booth: Booth | None = None
        self.parts: list[Closable] = []  # inbox, triggers, light: closed at stop
        self.workers: list[threading.Thread] = []
        self.renderer: Renderer

    # --- the workers ----------------------------------------------------------------------
    def render_loop(self) -> None:
        renderer = self.renderer
        while not self.stopping.is_set():
            job = self.spool.claim_next()
            if job is None:
                self.wake.wait(0.5)
                self.wake.clear()
                continue
            try:
                art = renderer.render_path(job.original).strip()  # an animation prints as a flip-book
            except Exception as exc:  # never die on one job's input
                if isinstance(exc, BadImageError):
                    reason = str(exc).replace(str(job.original), job.record.name)
                else:
                    log.exception("%s: render failed", job.id)
                    reason = f"{job.record.name}: could not render ({exc})"
                self.spool.fail(job, reason)
                log.warning("%s: failed: %s", job.id, reason)
                self._job_event(job, "failed")
                continue
            ArtFiles(text=job.folder / "art.txt", preview=job.folder / "preview.png").write(art, renderer.atlas)
            data = receipt_bytes(art, self.paper, renderer.atlas.cell_height)
            while not self.stopping.is_set():
                try:
                    self.handoff.put(Rendered(job, data), timeout=0.5)
                    break
                except queue.Full:
                    continue
            else:
                self.spool.requeue(job, "daemon stopping")

    def print_loop(self) -> None:
        delay = self.config.spool.retry_min
        while True:
            try:
                item = self.handoff.get(timeout=0.5)
            except queue.Empty:
                if self.stopping.is_set():
                    return
                continue
            job = item.job
            while True:
                job.record.attempts += 1
                job.record.on_the_wire_at = time.time()
                self.spool.save(job)
                self._job_event(job, "printing")
                try:
                    with self.printer_lock:
                        status = self.printer.print_job(item.data)
                except PrinterError as exc:
                    self.retry_now.clear()
                    job.record.on_the_wire_at = None
                    job.record.history.append(f"{time.strftime('%FT%T')} {exc}")
                    self.spool.save(job)
                    self._printer_failed(exc)
                    self._job_event(job, "waiting")
                    log.warning("%s: printer not ready, retry in %.0f s: %s", job.id, delay, exc)
                    self.retry_now.wait(delay)
                    if self.stopping.is_set():
                        self.spool.requeue(job, "daemon stopping")
                        break
                    delay = min(delay * 2, self.config.spool.retry_max)
                    continue
                self._printer_ok(status.describe() if status.answered else "sent (no status on this transport)")
                self.spool.finish(job, self.printer.uri)
                self._job_event(job, "printed")
                log.info("%s: printed on %s", job.id, self.printer.uri)
                delay = self.config.spool.retry_min
                break

    def monitor_loop(self) -> None:
        """Ask the printer how it is while the booth needs to know, or while it has a problem: a booth
        refuses presses it cannot print, and a waiting job goes as soon as the paper is back."""
        interval = self.config.printer.status_interval
        # A file or device node says nothing of itself: there, printing is the only test. The loop
        # still runs, as the watchdog counts every worker alive.
        asking = self.printer.address.can_answer
        while True:
            if asking and (self.booth is not None or self.problem) and self.printer_lock.acquire(blocking=False):
                try:  # when the lock is taken a job is printing, and it reports the state itself
                    self._printer_ok(self.printer.ready().describe())
                except PrinterError as exc:
                    self._printer_failed(exc)
                finally:
                    self.printer_lock.release()
            if self.stopping.wait(min(interval, self.config.spool.retry_min) if self.problem else interval):
                return

    # --- printer state, for the booth, `printd status` and systemd ---------------------------
    def _printer_ok(self, state: str) -> None:
        back = self.problem is not None
        self.problem = None
        self._set_printer_state(state)
        if back:
            log.info("printer %s is back: %s", self.printer.uri, state)
            self.retry_now.set()

    def _printer_failed(self, exc: PrinterError) -> None:
        self.problem = str(exc)
        self._set_printer_state(str(exc))

    def _set_printer_state(self, state: str) -> None:
        if state == self.printer_state:
            return  # the monitor asks every few seconds: the serve loop refreshes status.json anyway
        self.printer_state = state
        if self.booth is not None:
            self.booth.printer_changed()
        self.write_status()

    def _job_event(self, job: Job, event: str) -> None:
        if self.booth is not None:
            self.booth.job_event(job.id, event)

    def write_status(self) -> None:
        queued = len(list(self.spool.folder(JobState.QUEUED).iterdir()))
        status = {
            "pid": os.getpid(),
            "printer": self.printer_state,
            "booth": self.booth.state.value if self.booth else "off",
            "updated": time.time(),
            "queued": queued,
        }
        atomic_write(self.spool.root / STATUS_FILE, json.dumps(status).encode())
        notify(f"STATUS=printer {self.printer_state}; {queued} job(s) queued")

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
        if not profile_feature(self.config.printer.profile, "pulseStandard"):
            log.warning("button.beep: printer profile %s has no buzzer pulse; no beep", self.config.printer.profile)
            return None

        def beep() -> None:
            try:
                with self.printer_lock:
                    self.printer.print_job(BUZZER_PULSE)
            except PrinterError as exc:
                log.warning("beep: %s", exc)

        return beep

    def booth_press(self, source: str) -> str:
        if self.booth is None:
            return "off: the photo booth is off (camera.enabled is false, or the camera is missing)"
        return self.booth.press(source)

    # --- life -----------------------------------------------------------------------------
    def start(self) -> None:
        if not self.spool.acquire():
            raise UsageError(f"{self.spool.root}: another printd daemon is running on this spool")
        for job in self.spool.recover():
            log.warning(
                "%s: recovered from an unclean stop%s",
                job.id,
                " (may print twice)" if job.record.possible_duplicate else "",
            )
        self.renderer = paper_renderer(self.config)  # atlas, glyph set and device chosen once
        self._start_booth()
        self._optional("snap socket", lambda: SnapServer(self.spool.root, self.booth_press))
        inbox = Inbox(self.config.inbox.path, self.spool, self.config.inbox.settle, on_job=self.wake)
        self.parts.append(inbox)
        self.workers = [
            threading.Thread(target=loop, name=loop.__name__, daemon=True)
            for loop in (self.render_loop, self.print_loop, self.monitor_loop)
        ]
        inbox.start()
        for worker in self.workers:
            worker.start()
        log.info("printd running: inbox %s, spool %s, printer %s", inbox.path, self.spool.root, self.printer.uri)

    def serve(self) -> None:
        notify("READY=1")
        watchdog_interval = int(os.environ.get("WATCHDOG_USEC", "0")) / 2e6 or 5.0
        while not self.stopping.wait(min(watchdog_interval, 2.0)):
            if all(w.is_alive() for w in self.workers):
                notify("WATCHDOG=1")  # healthy: every worker alive
            self.write_status()

    def stop(self) -> None:
        notify("STOPPING=1")
        self.stopping.set()
        self.retry_now.set()
        for part in reversed(self.parts):
            part.close()
        for worker in self.workers:
            worker.join(timeout=self.config.printer.timeout + 5)
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
        return f"<{self.PRIORITY.get(record.levelno, 6)}>{record.name}: {record.getMessage()}"


def log_formatter() -> logging.Formatter:
    if os.environ.get("JOURNAL_STREAM"):
        return JournalFormatter()
    return logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


def status_report(spool: Spool, last: int = 10) -> dict[str, object]:
    """One object for `printd status --json`: printer state and the jobs."""
    state_file = Path(spool.root) / STATUS_FILE
    printer, booth = "no daemon running", "off"
    if spool.daemon_running() and state_file.exists():
        try:
            state = json.loads(state_file.read_text())
            printer, booth = state.get("printer", "unknown"), state.get("booth", "off")
        except ValueError:
            printer = "unknown"
    jobs = []
    for state in (JobState.ACTIVE, JobState.QUEUED, JobState.DONE, JobState.FAILED):
        found = spool.jobs(state)
        if state in (JobState.DONE, JobState.FAILED):
            found = found[-last:]
        for job in found:
            entry: dict[str, object] = {"id": job.id, "state": state.value, "source": job.record.source}
            entry["name"] = job.record.name
            if state is JobState.FAILED:
                entry["error"] = job.record.error
            if job.record.possible_duplicate:
                entry["possible_duplicate"] = True
            jobs.append(entry)
    return {"printer": printer, "booth": booth, "daemon": spool.daemon_running(), "jobs": jobs}
