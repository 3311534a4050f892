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
from typing import Any

from ..config import PrinterConfig, SpoolConfig
from ..errors import PrinterError, PrinterLost
from ..jobs.spool import Job, Spool
from ..render.artist import Printable, paper_for
from ..supervised import Supervised
from .connection import Printer, PrinterStatus
from .paper import PaperRolls
from .profiles import profile
from .sheet import length_mm

log = logging.getLogger(__name__)
JobEvent = Callable[[Job, str], None]  # (job, queued | printing | waiting | printed | failed | requeued)


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
        self.near_end = False  # the paper near-end sensor, as the printer last answered
        self.lock = threading.Lock()  # one conversation with the printer at a time
        self.wake = threading.Event()  # stop backing off (stopping, or a status answer said it is back)
        self.worker = Supervised(f"printer {config.name}", self.run, pool.stopping)
        self.columns = profile(config.profile).columns

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def free(self) -> bool:
        """Whether it can print now: no problem, not paused."""
        return self.problem is None and not self.paused

    def fits(self, item: PrintItem) -> bool:
        """Whether this printer may print `item`: pinned here or to none, and art no wider than its paper."""
        return item.job.record.pin in (None, self.name) and item.printable.art.columns <= self.columns

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
            self.ok(self.printer.ready())
        except PrinterError as exc:
            self.failed(exc)
        finally:
            self.lock.release()

    def print(self, item: PrintItem) -> None:
        pool, job = self.pool, item.job
        try:
            parts = item.printable.receipt(self.config)
            length = length_mm(parts, paper_for(self.config), item.printable.atlas.cell_height) * job.record.copies
        except Exception as exc:  # the job's bytes cannot be made for this printer: the job fails
            self._cannot_print(job, exc)
            return
        job.record.attempts += 1
        job.record.on_the_wire_at = time.time()
        job.record.printer = self.name
        job.record.length_mm = round(length, 1)
        pool.spool.durably(lambda: pool.spool.save(job), pool.stopping)  # a full disk: waits, unprinted
        pool.job_event(job, "printing")
        try:
            with self.lock:
                status = self.printer.print_job(parts, copies=job.record.copies)
        except PrinterError as exc:
            if isinstance(exc, PrinterLost) and pool.rolls.used(self.name, length):  # it may be on paper: counted
                pool.changed()
            self._back_in_line(item, exc)
            return
        except Exception as exc:  # not the printer's fault: this job fails, the worker goes on
            self._cannot_print(job, exc)
            return
        if pool.rolls.used(self.name, length):
            pool.changed()
        self.ok(status)
        pool.spool.durably(lambda: pool.spool.finish(job, self.name), pool.stopping)  # printed: recorded once room
        pool.job_event(job, "printed")
        log.info("%s: printed on %s", job.id, self.name)

    def _cannot_print(self, job: Job, exc: Exception) -> None:
        log.exception("%s: cannot print", job.id)
        job.record.on_the_wire_at = None
        reason = f"{job.record.name}: could not print ({exc})"
        self.pool.spool.durably(lambda: self.pool.spool.fail(job, reason), self.pool.stopping)
        self.pool.job_event(job, "failed")

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

    def ok(self, status: PrinterStatus) -> None:
        state = status.describe() if status.answered else "sent (no status on this transport)"
        back = self.problem is not None
        self.problem = None
        if status.answered and status.paper_near_end != self.near_end:
            self.near_end = status.paper_near_end
            if self.near_end:
                log.warning("printer %s: the paper near-end sensor says the roll is almost out", self.name)
            self.pool.changed()
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
        make = make_printer or (lambda c: Printer(c.uri, c.timeout, bytes_per_s=c.slowest_bytes_per_s))
        self.spool = spool
        self.rolls = PaperRolls(spool.root, printers)
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
        """The first job in line that `slot` may print, waiting up to `timeout`. An unpinned job
        rendered wider than `slot` prints, for printers that cannot print now, goes back to the
        queue to be rendered again for one that can (it is not held back by the wide one's paper)."""
        again: list[PrintItem] = []
        try:
            with self._cond:
                deadline = time.monotonic() + timeout
                while not self.stopping.is_set() and not slot.paused:  # paused while waiting: takes nothing
                    for item in list(self._line):
                        if slot.fits(item):
                            self._line.remove(item)
                            return item
                        if item.job.record.pin is None and not any(s.free and s.fits(item) for s in self.slots):
                            self._line.remove(item)
                            again.append(item)
                    left = deadline - time.monotonic()
                    if left <= 0 or again:
                        return None
                    self._cond.wait(left)
                return None
        finally:
            for item in again:  # outside the line's lock: a rename, and news to every listener
                self._render_again(item, slot)

    def _render_again(self, item: PrintItem, slot: PrinterSlot) -> None:
        log.info("%s: rendered %d columns wide for a printer that cannot print now; rendered again for %s",
                 item.job.id, item.printable.art.columns, slot.name)  # fmt: skip
        self.job_event(self.spool.requeue(item.job, f"rendered again for {slot.name}"), "requeued")

    def widest_free(self) -> PrinterConfig | None:
        """The printer an unpinned job is rendered for: the widest that can print now, idle first;
        None when none can (the job is then rendered to fit every printer)."""
        free = [slot for slot in self.slots if slot.free]
        if not free:
            return None
        return max(free, key=lambda slot: (slot.columns, not slot.lock.locked())).config

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

    def report(self) -> list[dict[str, Any]]:
        """Each printer for status: name, state, paused, and its paper (PaperRolls.report)."""
        states = self.states()
        return [
            {"name": slot.name, "state": states[slot.name], "paused": slot.paused,
             "paper": self.rolls.report(slot.name, slot.near_end)}
            for slot in self.slots
        ]

    def new_roll(self, name: str) -> bool:
        """The host put a new roll in printer `name`; False if there is none."""
        if not self.rolls.new_roll(name):
            return False
        self.changed()
        return True

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
            return self.states()[self.slots[0].name]
        ready = sum(slot.problem is None and not slot.paused for slot in self.slots)
        paused = sum(slot.paused for slot in self.slots)
        return f"{ready} of {len(self.slots)} printers ready" + (f", {paused} paused" if paused else "")

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
