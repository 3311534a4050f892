"""The printer pool: every configured printer with its own worker, state and reasons.

Rendered jobs wait in one line, in arrival order. Each printer's worker takes the first job it may
print (not pinned to another printer) whenever it is ready, so several printers print in
parallel. A printer that reports paper out, cover open or offline, or vanishes, puts its job back
at the head of the line, where the next ready printer takes it at once, and then checks its own
status until it is back (every status interval, sooner while its backoff is short): nothing is
printed twice, except a job cut off mid-way, which is marked `possible_duplicate`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ..config import PrinterConfig, SpoolConfig
from ..errors import PrinterError, PrinterLost
from ..jobs.spool import Job, Spool
from ..render.artist import Printable
from ..supervised import Supervised
from .connection import Printer

log = logging.getLogger(__name__)
JobEvent = Callable[[Job, str], None]  # (job, queued | printing | waiting | printed | failed)


@dataclass
class PrintItem:
    """A job rendered and waiting for a printer."""

    job: Job
    printable: Printable


class PrinterSlot:
    """One printer of the pool and the thread that feeds it."""

    def __init__(self, config: PrinterConfig, printer: Printer, pool: PrinterPool):
        self.config = config
        self.printer = printer
        self.pool = pool
        self.state = "unknown"
        self.problem: str | None = None  # what the printer last reported wrong; None when it works
        self.paused = False  # by the host: takes no job until resumed
        self.lock = threading.Lock()  # one conversation with the printer at a time
        self.wake = threading.Event()  # stop backing off (stopping, or a status answer said it is back)
        self.worker = Supervised(f"printer {config.name}", self.run, pool.stopping)

    @property
    def name(self) -> str:
        return self.config.name

    def run(self) -> None:
        pool = self.pool
        delay = pool.spool_config.retry_min
        last_check = 0.0
        interval = self.config.status_interval
        while not pool.stopping.is_set():
            if self.problem:
                self.wake.wait(min(interval, delay))
                self.wake.clear()
                delay = min(delay * 2, pool.spool_config.retry_max)
                self.check()
                continue
            delay = pool.spool_config.retry_min
            if self.paused:
                self.wake.wait(0.5)
                self.wake.clear()
                continue
            item = pool.take(self, timeout=0.5)
            if item is not None:
                self.print(item)
            elif pool.watching() and time.monotonic() - last_check >= interval:
                last_check = time.monotonic()
                self.check()

    def check(self) -> None:
        """Ask the printer how it is (a file or device node says nothing: printing is its test)."""
        if not self.printer.can_answer or not self.lock.acquire(blocking=False):
            return  # when the lock is taken a job is printing, and it reports the state itself
        try:
            self.ok(self.printer.ready().describe())
        except PrinterError as exc:
            self.failed(exc)
        finally:
            self.lock.release()

    def print(self, item: PrintItem) -> None:
        pool, job = self.pool, item.job
        job.record.attempts += 1
        job.record.on_the_wire_at = time.time()
        job.record.printer = self.name
        pool.spool.durably(lambda: pool.spool.save(job), pool.stopping)  # a full disk: waits, unprinted
        pool.job_event(job, "printing")
        try:
            with self.lock:
                status = self.printer.print_job(item.printable.receipt(self.config))
        except PrinterError as exc:
            self._back_in_line(item, exc)
            return
        except Exception as exc:  # not the printer's fault: this job fails, the worker goes on
            log.exception("%s: cannot print", job.id)
            job.record.on_the_wire_at = None
            reason = f"{job.record.name}: could not print ({exc})"
            pool.spool.durably(lambda: pool.spool.fail(job, reason), pool.stopping)
            pool.job_event(job, "failed")
            return
        self.ok(status.describe() if status.answered else "sent (no status on this transport)")
        pool.spool.durably(lambda: pool.spool.finish(job, self.name), pool.stopping)  # printed: recorded once room
        pool.job_event(job, "printed")
        log.info("%s: printed on %s", job.id, self.name)

    def _back_in_line(self, item: PrintItem, exc: PrinterError) -> None:
        """The printer failed: the job goes back to the head of the line, for the next ready one."""
        pool, job = self.pool, item.job
        if isinstance(exc, PrinterLost):
            job.record.possible_duplicate = True  # part of it, or all, may be on paper
        job.record.on_the_wire_at = None
        job.record.history.append(f"{time.strftime('%FT%T')} {self.name}: {exc}")
        pool.spool.durably(lambda: pool.spool.save(job), pool.stopping)
        self.failed(exc)
        pool.put(item, front=True)
        pool.job_event(job, "waiting")
        log.warning("%s: %s not ready, job back in line: %s", job.id, self.name, exc)

    def ok(self, state: str) -> None:
        back = self.problem is not None
        self.problem = None
        if back:
            log.info("printer %s is back: %s", self.name, state)
        self._set(state)

    def failed(self, exc: PrinterError) -> None:
        self.problem = str(exc)
        self._set(str(exc))

    def _set(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.pool.changed()


class PrinterPool:
    def __init__(
        self,
        printers: tuple[PrinterConfig, ...],
        spool: Spool,
        spool_config: SpoolConfig,
        job_event: JobEvent,
        changed: Callable[[], None],
        watching: Callable[[], bool],
        make_printer: Callable[[PrinterConfig], Printer] | None = None,
    ):
        make = make_printer or (lambda c: Printer(c.uri, c.timeout))
        self.spool = spool
        self.spool_config = spool_config
        self.job_event = job_event
        self.changed = changed  # a printer's state changed: status file, booth light
        self.watching = watching  # whether idle printers should be asked how they are (the booth is on)
        self.stopping = threading.Event()
        self._line: deque[PrintItem] = deque()
        self._cond = threading.Condition()
        self.slots = [PrinterSlot(config, make(config), self) for config in printers]

    # --- the line of rendered jobs ----------------------------------------------------------
    def put(self, item: PrintItem, front: bool = False) -> None:
        with self._cond:
            if front:
                self._line.appendleft(item)
            else:
                self._line.append(item)
            self._cond.notify_all()

    def take(self, slot: PrinterSlot, timeout: float) -> PrintItem | None:
        """The first job in line that `slot` may print, waiting up to `timeout`."""
        with self._cond:
            deadline = time.monotonic() + timeout
            while not self.stopping.is_set() and not slot.paused:  # paused while waiting: takes nothing
                for item in self._line:
                    if item.job.record.pin in (None, slot.name):
                        self._line.remove(item)
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            return None

    def has_room(self) -> bool:
        """Whether the render worker should render ahead: one job waiting per printer is enough."""
        with self._cond:
            return len(self._line) < len(self.slots)

    def waiting(self) -> list[PrintItem]:
        with self._cond:
            return list(self._line)

    # --- state ------------------------------------------------------------------------------
    def problem(self) -> str | None:
        """None while some printer can print; else every printer's reason."""
        if any(slot.problem is None and not slot.paused for slot in self.slots):
            return None
        return "; ".join(f"{slot.name}: {'paused by the host' if slot.paused else slot.problem}" for slot in self.slots)

    def states(self) -> dict[str, str]:
        return {slot.name: f"paused by the host ({slot.state})" if slot.paused else slot.state for slot in self.slots}

    def pause(self, name: str, paused: bool) -> bool:
        """Pause or resume the printer `name`; False if there is none."""
        for slot in self.slots:
            if slot.name == name:
                with self._cond:
                    slot.paused = paused
                    self._cond.notify_all()  # a worker waiting in take() looks again
                slot.wake.set()
                self.changed()
                return True
        return False

    def summary(self) -> str:
        if len(self.slots) == 1:
            return self.slots[0].state
        ready = sum(slot.problem is None for slot in self.slots)
        return f"{ready} of {len(self.slots)} printers ready"

    def retry_now(self) -> None:
        for slot in self.slots:
            slot.wake.set()

    # --- life -------------------------------------------------------------------------------
    def start(self) -> None:
        for slot in self.slots:
            slot.worker.start()

    def stop(self, timeout: float) -> None:
        self.stopping.set()
        with self._cond:
            self._cond.notify_all()
        self.retry_now()
        for slot in self.slots:
            slot.worker.join(timeout=timeout)

    @property
    def workers(self) -> list[Supervised]:
        return [slot.worker for slot in self.slots]
