"""Printer URI → python-escpos connection; status queries; timeouts; one connection per job.

    usb://04b8:0202    tcp://host[:9100]    serial:///dev/ttyUSB0?baudrate=19200    file:///dev/usb/lp0

A connection is opened for each job and closed after it: a network printer kept open delays other
senders, and a printer that was power-cycled is simply found again by the next job.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import usb.core

from ..errors import (
    CoverOpen,
    PaperOut,
    PrinterError,
    PrinterLost,
    PrinterNotFound,
    PrinterOffline,
    PrinterPermissionDenied,
    PrinterTimeout,
    UsageError,
)
from .escpos_lib import DeviceNotFoundError, File, Network, Serial, Usb

log = logging.getLogger(__name__)

DLE_EOT = b"\x10\x04"
UDEV_HINT = "install config/99-printd.rules into /etc/udev/rules.d and add this user to group lp"


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


@dataclass(frozen=True)
class PrinterAddress:
    scheme: str  # usb, tcp, serial, file
    uri: str
    host: str = ""
    port: int = 9100
    path: str = ""
    vendor: int = 0
    product: int = 0
    baudrate: int = 19200

    @property
    def can_answer(self) -> bool:
        """Whether status queries can be read back on this kind of connection."""
        return self.scheme != "file"


def parse_uri(uri: str) -> PrinterAddress:
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    try:
        if scheme == "usb":
            vendor, product = parts.netloc.split(":")
            return PrinterAddress("usb", uri, vendor=int(vendor, 16), product=int(product, 16))
        if scheme == "tcp":
            if not parts.hostname:
                raise ValueError("no host")
            return PrinterAddress("tcp", uri, host=parts.hostname, port=parts.port or 9100)
        if scheme == "serial":
            baud = int(parse_qs(parts.query).get("baudrate", ["19200"])[0])
            return PrinterAddress("serial", uri, path=parts.path, baudrate=baud)
        if scheme == "file":
            if not parts.path:
                raise ValueError("no path")
            return PrinterAddress("file", uri, path=parts.path)
    except ValueError as exc:
        raise UsageError(f"{uri}: not a valid printer URI ({exc})") from exc
    raise UsageError(f"{uri}: unknown printer URI (use usb://VID:PID, tcp://HOST[:PORT], serial:///dev/…, file:///…)")


SERIAL_POLL = 0.05  # seconds one serial read waits before the status loop looks again


class Connection:
    """An open printer: raw writes and status reads, every one bounded by the timeout."""

    def __init__(self, address: PrinterAddress, timeout: float, usb_backend: Any = None):
        self.address = address
        self.timeout = timeout
        self.printer = self._open(usb_backend)

    def _open(self, usb_backend: Any) -> Any:
        a = self.address
        try:
            if a.scheme == "usb":
                # python-escpos's default USB timeout is 0: wait forever.
                args = {"backend": usb_backend} if usb_backend is not None else {}
                printer = Usb(a.vendor, a.product, usb_args=args, timeout=int(self.timeout * 1000))
            elif a.scheme == "tcp":
                printer = Network(a.host, a.port, timeout=self.timeout)
            elif a.scheme == "serial":
                printer = Serial(a.path, baudrate=a.baudrate, timeout=self.timeout)
            else:
                printer = File(a.path)
            printer.open()
            if a.scheme == "usb":
                printer.device.default_timeout = int(self.timeout * 1000)
            elif a.scheme == "serial":
                printer.device.write_timeout = self.timeout
                # python-escpos reads 16 bytes at a time: with the whole timeout as the read
                # timeout, every 1-byte status answer cost that timeout. Short reads, polled
                # until the status deadline, answer as soon as the printer does.
                printer.device.timeout = SERIAL_POLL
        except DeviceNotFoundError as exc:
            raise self._not_found(exc) from exc
        except usb.core.NoBackendError as exc:
            raise PrinterNotFound(f"{a.uri}: libusb is not installed (Debian: apt install libusb-1.0-0)") from exc
        except usb.core.USBError as exc:
            raise self._usb_error(exc) from exc
        return printer

    def _not_found(self, exc: Exception) -> PrinterError:
        cause = exc.__context__  # python-escpos wraps the real error in DeviceNotFoundError
        if isinstance(cause, OSError) and cause.strerror:
            text = cause.strerror
        else:
            text = str(cause or exc).strip().splitlines()[-1]
        if "ermission" in text or "Errno 13" in text or "Access denied" in text:
            hint = UDEV_HINT if self.address.scheme == "usb" else "add this user to the device's group"
            return PrinterPermissionDenied(f"{self.address.uri}: permission denied ({hint})")
        return PrinterNotFound(f"{self.address.uri}: printer not found ({text})")

    def _usb_error(self, exc: usb.core.USBError) -> PrinterError:
        if exc.errno == errno.EACCES:
            return PrinterPermissionDenied(f"{self.address.uri}: permission denied ({UDEV_HINT})")
        if exc.errno in (errno.ETIMEDOUT, None) and "timed out" in str(exc).lower():
            return PrinterTimeout(f"{self.address.uri}: printer did not take the data within {self.timeout:g} s")
        if exc.errno in (errno.ENODEV, errno.ENOENT, errno.EIO):
            return PrinterNotFound(f"{self.address.uri}: printer went away ({exc})")
        return PrinterOffline(f"{self.address.uri}: USB error ({exc})")

    def write(self, data: bytes) -> None:
        try:
            self.printer._raw(data)
        except usb.core.USBError as exc:
            raise self._usb_error(exc) from exc
        except TimeoutError as exc:
            raise PrinterTimeout(
                f"{self.address.uri}: printer did not take the data within {self.timeout:g} s"
            ) from exc
        except OSError as exc:
            raise PrinterOffline(f"{self.address.uri}: connection lost ({exc.strerror or exc})") from exc
        except Exception as exc:  # pyserial's SerialTimeoutException and kin
            if "timeout" in type(exc).__name__.lower():
                raise PrinterTimeout(f"{self.address.uri}: printer did not take the data in time") from exc
            raise

    def _read_byte(self, deadline: float) -> int | None:
        """One status byte, or None once the deadline passes with nothing read."""
        while time.monotonic() < deadline:
            try:
                data = self.printer._read()
            except usb.core.USBTimeoutError:
                return None
            except usb.core.USBError as exc:
                raise self._usb_error(exc) from exc
            except TimeoutError:
                return None
            except OSError as exc:
                raise PrinterOffline(f"{self.address.uri}: connection lost ({exc.strerror or exc})") from exc
            if data:
                return int(data[-1])
            if self.address.scheme == "tcp":  # an empty recv means the peer closed
                raise PrinterOffline(f"{self.address.uri}: printer closed the connection")
        return None

    def status(self) -> PrinterStatus:
        """Ask DLE EOT 1, 2, 4; silence is reported as such, never taken for 'OK'. One deadline for
        all three answers: a silent serial printer costs one timeout, not three."""
        if not self.address.can_answer:
            return PrinterStatus(answered=False)
        answers = []
        deadline = time.monotonic() + self.timeout
        for n in (1, 2, 4):
            self.write(DLE_EOT + bytes([n]))
            byte = self._read_byte(deadline)
            if byte is None:
                return PrinterStatus(answered=False)
            answers.append(byte)
        return parse_status(*answers)

    def close(self) -> None:
        try:
            if self.address.scheme == "file":
                self.printer.flush()
            self.printer.close()
        except Exception as exc:  # closing a connection that already broke must not hide the real error
            log.debug("closing %s: %s", self.address.uri, exc)


class Printer:
    """A configured printer: each call opens a fresh connection and closes it."""

    def __init__(self, uri: str, timeout: float = 10.0, usb_backend: Any = None):
        self.address = parse_uri(uri)
        self.timeout = timeout
        self.usb_backend = usb_backend

    @property
    def uri(self) -> str:
        return self.address.uri

    def connect(self) -> Connection:
        if self.address.scheme == "file":
            parent = Path(self.address.path).parent
            if not parent.is_dir():
                raise PrinterNotFound(f"{self.uri}: no such folder {parent}")
        return Connection(self.address, self.timeout, self.usb_backend)

    def status(self) -> PrinterStatus:
        if not self.address.can_answer:
            return PrinterStatus(answered=False)  # opening a file to ask would truncate it
        conn = self.connect()
        try:
            return conn.status()
        finally:
            conn.close()

    def _require_ready(self, status: PrinterStatus) -> PrinterStatus:
        """Where the transport can answer, silence is a PrinterTimeout and a problem is its error."""
        if self.address.can_answer:
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
                        if index and self.address.can_answer:
                            self._require_ready(conn.status())
                        conn.write(part)
                if self.address.can_answer:
                    self._require_ready(conn.status())
            except PrinterError as exc:
                raise PrinterLost(f"{exc} (during the job: it may not have printed, or only in part)") from exc
            return status
        finally:
            conn.close()
