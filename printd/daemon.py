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
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from optimizer import BadImageError

from .artwork import ArtFiles, atomic_write, paper_for, renderer_for
from .config import Config
from .errors import PrinterError, UsageError
from .receipt import receipt_bytes
from .sources.inbox import Inbox
from .spool import Job, JobState, Spool
from .transport import Printer

log = logging.getLogger(__name__)
STATUS_FILE = "status.json"


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
    def __init__(self, config: Config, printer: Printer | None = None):
        self.config = config
        self.spool = Spool(config.spool.path)
        self.printer = printer or Printer(config.printer.uri, config.printer.timeout)
        self.paper = paper_for(config)
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.handoff: queue.Queue[Rendered] = queue.Queue(maxsize=1)
        self.printer_state = "unknown"
        self.ready_sent = False

    # --- the workers ----------------------------------------------------------------------
    def render_loop(self) -> None:
        renderer = renderer_for(self.config)  # warm: atlas, glyph set and device chosen once
        while not self.stopping.is_set():
            job = self.spool.claim_next()
            if job is None:
                self.wake.wait(0.5)
                self.wake.clear()
                continue
            try:
                art = renderer.render_file(job.original)
            except BadImageError as exc:
                self.spool.fail(job, str(exc).replace(str(job.original), job.record.name))
                log.warning("%s: failed: %s", job.id, exc)
                continue
            except Exception as exc:  # never die on one job's input
                log.exception("%s: render failed", job.id)
                self.spool.fail(job, f"{job.record.name}: could not render ({exc})")
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
                try:
                    status = self.printer.print_job(item.data)
                except PrinterError as exc:
                    job.record.on_the_wire_at = None
                    job.record.history.append(f"{time.strftime('%FT%T')} {exc}")
                    self.spool.save(job)
                    self._set_printer_state(str(exc))
                    log.warning("%s: printer not ready, retry in %.0f s: %s", job.id, delay, exc)
                    if self.stopping.wait(delay):
                        self.spool.requeue(job, "daemon stopping")
                        break
                    delay = min(delay * 2, self.config.spool.retry_max)
                    continue
                self._set_printer_state(status.describe() if status.answered else "sent (no status on this transport)")
                self.spool.finish(job, self.printer.uri)
                log.info("%s: printed on %s", job.id, self.printer.uri)
                delay = self.config.spool.retry_min
                break

    # --- state for `printd status` and systemd ----------------------------------------------
    def _set_printer_state(self, state: str) -> None:
        self.printer_state = state
        self.write_status()

    def write_status(self) -> None:
        queued = len(list(self.spool.folder(JobState.QUEUED).iterdir()))
        status = {"pid": os.getpid(), "printer": self.printer_state, "updated": time.time(), "queued": queued}
        atomic_write(self.spool.root / STATUS_FILE, json.dumps(status).encode())
        notify(f"STATUS=printer {self.printer_state}; {queued} job(s) queued")

    def run(self) -> int:
        if not self.spool.acquire():
            raise UsageError(f"{self.spool.root}: another printd daemon is running on this spool")
        for job in self.spool.recover():
            log.warning(
                "%s: recovered from an unclean stop%s",
                job.id,
                " (may print twice)" if job.record.possible_duplicate else "",
            )
        inbox = Inbox(self.config.inbox.path, self.spool, self.config.inbox.settle, on_job=self.wake)
        workers = [
            threading.Thread(target=self.render_loop, name="render", daemon=True),
            threading.Thread(target=self.print_loop, name="print", daemon=True),
        ]
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        inbox.start()
        for worker in workers:
            worker.start()
        log.info("printd running: inbox %s, spool %s, printer %s", inbox.path, self.spool.root, self.printer.uri)
        notify("READY=1")
        watchdog_interval = int(os.environ.get("WATCHDOG_USEC", "0")) / 2e6 or 5.0
        while not self.stopping.wait(min(watchdog_interval, 2.0)):
            if all(w.is_alive() for w in workers):
                notify("WATCHDOG=1")  # healthy: both workers alive
            self.write_status()
        notify("STOPPING=1")
        inbox.stop()
        for worker in workers:
            worker.join(timeout=self.config.printer.timeout + 5)
        self._requeue_stranded()
        log.info("printd stopped")
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
    printer = "no daemon running"
    if spool.daemon_running() and state_file.exists():
        try:
            printer = json.loads(state_file.read_text()).get("printer", "unknown")
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
    return {"printer": printer, "daemon": spool.daemon_running(), "jobs": jobs}
