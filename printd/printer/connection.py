"""A printer by URI: its status (`DLE EOT`), and a job sent whole with the status asked before,
between and after its parts. One connection per job: a network printer kept open delays other
senders, and a printer that was power-cycled is simply found again by the next job. The
connection itself is a transport (printd/printer/transport/), one module per URI scheme.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import CoverOpen, PaperOut, PrinterError, PrinterLost, PrinterOffline, PrinterTimeout
from .transport import make_transport
from .transport.base import Transport

log = logging.getLogger(__name__)

DLE_EOT = b"\x10\x04"


@dataclass(frozen=True)
class PrinterStatus:
    """What the printer said of itself; `answered` False means nothing came back."""

    answered: bool
    online: bool = False
    cover_open: bool = False
    paper_out: bool = False
    paper_near_end: bool = False
    error: bool = False

    def describe(self) -> str:
        if not self.answered:
            return "no answer"
        problems = [
            name
            for name, flag in (
                ("cover open", self.cover_open),
                ("paper out", self.paper_out),
                ("error", self.error),
                ("offline", not self.online),
            )
            if flag
        ]
        if problems:
            return ", ".join(problems)
        return "ready (paper near end)" if self.paper_near_end else "ready"

    def raise_unless_ready(self, uri: str) -> None:
        if self.cover_open:
            raise CoverOpen(f"{uri}: printer cover is open")
        if self.paper_out:
            raise PaperOut(f"{uri}: printer is out of paper")
        if not self.online or self.error:
            raise PrinterOffline(f"{uri}: printer is offline ({self.describe()})")


def parse_status(online: int, offline_cause: int, paper: int) -> PrinterStatus:
    """DLE EOT 1, 2 and 4 answers (ESC/POS: fixed bits 0x12 set, 0x81 clear in each byte)."""
    return PrinterStatus(
        answered=True,
        online=not online & 0x08,
        cover_open=bool(offline_cause & 0x04),
        paper_out=bool(offline_cause & 0x20) or bool(paper & 0x60),
        paper_near_end=bool(paper & 0x0C),
        error=bool(offline_cause & 0x40),
    )


SLOWEST_BYTES_PER_S = 500.0  # printer.slowest_bytes_per_s's default: an impact printer's text


class Connection:
    """An open printer: raw writes and status reads. A write is sent in pieces, each bounded by the
    timeout (a printer that reads slowly takes a long job piece by piece); a status answer waits
    behind the bytes sent before it, so its deadline grows with them, at the slowest speed the
    printer may print (`bytes_per_s`): a slow printer is waited for, never sent the job again."""

    def __init__(self, transport: Transport, bytes_per_s: float = SLOWEST_BYTES_PER_S):
        self.transport = transport
        self.bytes_per_s = bytes_per_s
        self.unanswered = 0  # bytes sent since the last status answer
        self.piece = max(256, int(transport.timeout * bytes_per_s / 2))
        transport.open()

    def write(self, data: bytes) -> None:
        for start in range(0, len(data), self.piece):
            self.transport.write(data[start : start + self.piece])
            self.unanswered += min(self.piece, len(data) - start)

    def answer_wait(self) -> float:
        """Seconds a status answer may take now: the timeout, and the time to print what is before it."""
        return self.transport.timeout + self.unanswered / self.bytes_per_s

    def _read_byte(self, deadline: float) -> int | None:
        """One status byte, or None once the deadline passes with nothing read (a read that timed
        out is asked again while the deadline, which may be longer than the timeout, allows)."""
        while time.monotonic() < deadline:
            data = self.transport.read()
            if data:
                return int(data[-1])
        return None

    def status(self) -> PrinterStatus:
        """Ask DLE EOT 1, 2, 4; silence is reported as such, never taken for 'OK'. One deadline for
        all three answers: a silent serial printer costs one timeout, not three."""
        if not self.transport.can_answer:
            return PrinterStatus(answered=False)
        answers = []
        deadline = time.monotonic() + self.answer_wait()
        for n in (1, 2, 4):
            self.write(DLE_EOT + bytes([n]))
            byte = self._read_byte(deadline)
            if byte is None:
                return PrinterStatus(answered=False)
            answers.append(byte)
        self.unanswered = 0
        return parse_status(*answers)

    def close(self) -> None:
        try:
            self.transport.close()
        except Exception as exc:  # closing a connection that already broke must not hide the real error
            log.debug("closing %s: %s", self.transport.uri, exc)


class Printer:
    """A configured printer: each call opens a fresh connection and closes it."""

    def __init__(
        self, uri: str, timeout: float = 10.0, usb_backend: Any = None, bytes_per_s: float = SLOWEST_BYTES_PER_S
    ):
        self.uri = uri
        self.timeout = timeout
        self.bytes_per_s = bytes_per_s
        self.options = {"usb_backend": usb_backend} if usb_backend is not None else {}
        self.can_answer = make_transport(uri, timeout, **self.options).can_answer  # a bad URI fails here

    def connect(self) -> Connection:
        return Connection(make_transport(self.uri, self.timeout, **self.options), self.bytes_per_s)

    def status(self) -> PrinterStatus:
        if not self.can_answer:
            return PrinterStatus(answered=False)  # opening a file to ask would truncate it
        conn = self.connect()
        try:
            return conn.status()
        finally:
            conn.close()

    def _require_ready(self, status: PrinterStatus) -> PrinterStatus:
        """Where the transport can answer, silence is a PrinterTimeout and a problem is its error."""
        if self.can_answer:
            if not status.answered:
                raise PrinterTimeout(f"{self.uri}: printer did not answer within {self.timeout:g} s")
            status.raise_unless_ready(self.uri)
        return status

    def ready(self) -> PrinterStatus:
        """The printer's status, raising its problem if it has one."""
        return self._require_ready(self.status())

    def print_job(self, job: bytes | Sequence[bytes], copies: int = 1) -> PrinterStatus:
        """Check the printer is ready, send the job `copies` times, then ask again on the same
        connection: a printer answers a status query only after the bytes before it, so an answer
        proves the link held to the end (a printer that hung up mid-job took the bytes into socket
        buffers and printed nothing). A job in parts (a raster image's bands) is asked about
        between parts too. Failing after the first byte raises PrinterLost."""
        parts = [job] if isinstance(job, bytes) else list(job)
        conn = self.connect()
        try:
            status = self._require_ready(conn.status())
            try:
                for _ in range(copies):
                    for index, part in enumerate(parts):
                        if index and self.can_answer:
                            self._require_ready(conn.status())
                        conn.write(part)
                if self.can_answer:
                    self._require_ready(conn.status())
            except PrinterError as exc:
                raise PrinterLost(f"{exc} (during the job: it may not have printed, or only in part)") from exc
            return status
        finally:
            conn.close()
