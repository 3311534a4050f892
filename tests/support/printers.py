"""Printers that speak ESC/POS for the tests: real sockets, a real pyusb backend, a real pty.

Each records the bytes it receives and answers `DLE EOT n` from a scripted state, like a printer.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import usb.backend
import usb.core

from optimizer.glyphs import MODES
from printd.printer.encoding import CODE_PAGE_PC437, DEFAULT_LINE_SPACING, ESC, GS, INIT, LF, MODE_OFF, MODE_ON

DLE_EOT = b"\x10\x04"
CUT_FULL, CUT_PARTIAL = GS + b"V\x00", GS + b"V\x01"
RASTER = GS + b"v0\x00"
QR = GS + b"(k"  # a 2D code: GS ( k pL pH cn fn data…
# Real answers of a TM-T88 to DLE EOT 1, 2, 4 in each state (fixed bits 0x12 set).
ANSWERS = {
    "online": {1: 0x16, 2: 0x12, 4: 0x12},
    "paper_out": {1: 0x1E, 2: 0x32, 4: 0x72},
    "cover_open": {1: 0x1E, 2: 0x16, 4: 0x12},
    "offline": {1: 0x1E, 2: 0x12, 4: 0x12},
    "near_end": {1: 0x16, 2: 0x12, 4: 0x1E},  # online, the roll near its end (bits 2-3 of DLE EOT 4)
}


@dataclass
class PrinterModel:
    """The printer's side, shared by every transport: state, received jobs, status answers."""

    state: str = "online"  # a key of ANSWERS, or "silent" (never answers)
    received: bytearray = field(default_factory=bytearray)
    lock: threading.Lock = field(default_factory=threading.Lock)
    job_started: list[float] = field(default_factory=list)  # time.monotonic() of each ESC @ received
    print_seconds: float = 0.0  # how long a job takes: the answer to a query after its cut waits so long
    # Called with the number of jobs printed once the host has had its answer after a job (the
    # moment a test may, say, run the paper out between two jobs).
    after_job: Callable[[int], None] | None = None
    printed: int = 0
    hang_up_after_job: int | None = None  # that job's bytes are taken, but its answer never comes (once)
    _cut_pending: bool = False
    _scanned: int = 0  # received bytes read as commands so far

    def feed(self, data: bytes) -> bytes:
        """Take bytes from the host; return what the printer answers."""
        reply = bytearray()
        finished = False
        with self.lock:
            if INIT in data:
                self.job_started.append(time.monotonic())
            if CUT_FULL in data or CUT_PARTIAL in data:
                self._cut_pending = True
                if self.print_seconds:
                    time.sleep(self.print_seconds)
            self.received += data
            while (i := self._next_query()) is not None:
                n = self.received[i + 2]
                del self.received[i : i + 3]
                if self._cut_pending and self.hang_up_after_job == self.printed + 1:
                    self.hang_up_after_job, self._cut_pending = None, False
                    continue  # as if the cable came out just after the job reached the buffers
                if self.state != "silent":
                    reply.append(ANSWERS[self.state][n])
                if n == 4 and self._cut_pending:  # the last answer after a job
                    self._cut_pending = False
                    self.printed += 1
                    finished = True
        if finished and self.after_job is not None:
            self.after_job(self.printed)
        return bytes(reply)

    def _next_query(self) -> int | None:
        """Where the next whole DLE EOT n is, reading commands in order as a printer does: the
        data of a `GS v 0` image is dots, never commands, whatever its bytes happen to be."""
        data, i = self.received, self._scanned
        while i < len(data):
            if data[i : i + 4] == RASTER:
                if i + 8 > len(data):
                    break
                size = int.from_bytes(data[i + 4 : i + 6], "little") * int.from_bytes(data[i + 6 : i + 8], "little")
                if i + 8 + size > len(data):
                    break
                i += 8 + size
            elif data[i : i + 3] == QR:
                if i + 5 > len(data) or i + 5 + int.from_bytes(data[i + 3 : i + 5], "little") > len(data):
                    break
                i += 5 + int.from_bytes(data[i + 3 : i + 5], "little")
            elif data[i : i + 2] == DLE_EOT:
                self._scanned = i
                return i if i + 2 < len(data) else None
            else:
                i += 1
        self._scanned = i
        return None

    def jobs(self, expect: int = 0, timeout: float = 5.0) -> list[bytes]:
        """Received data split into jobs (each starts with ESC @), once `expect` of them are whole."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                data = bytes(self.received)
            jobs = [INIT + part for part in data.split(INIT)[1:]]
            complete = [job for job in jobs if job.endswith((b"\x1dV\x00", b"\x1dV\x01"))]
            if len(complete) >= expect or time.monotonic() > deadline:
                return jobs
            time.sleep(0.01)


def decode_rows(job: bytes) -> list[tuple[bytes, list[str]]]:
    """Parse a job into its text rows and per-byte print modes, as a printer would: each switch
    turns one mode on or off; the modes on at once name the cell's mode (MODES' combined names)."""
    switches = {v: (k, True) for k, v in MODE_ON.items()} | {v: (k, False) for k, v in MODE_OFF.items()}
    names = {frozenset(m.split("+")): m for m in MODES}
    fixed = {INIT: 2, DEFAULT_LINE_SPACING: 2, CODE_PAGE_PC437[:2]: 3, ESC + b"3": 3}
    i, rows, text, modes, active = 0, [], bytearray(), [], set()
    while i < len(job):
        if job[i : i + 3] in switches:
            mode, on = switches[job[i : i + 3]]
            if mode.startswith("underline"):
                active -= {"underline", "underline2"}  # ESC - n sets the one underline thickness
            if on:
                active.add(mode)
            else:
                active.discard(mode)
            i += 3
        elif job[i : i + 3] == QR:
            i += 5 + int.from_bytes(job[i + 3 : i + 5], "little")
        elif job[i : i + 2] == ESC + b"a":  # justification: the header, footer and QR code are centred
            i += 3
        elif job[i : i + 2] in fixed:
            i += fixed[job[i : i + 2]]
        elif job[i : i + 2] in (ESC + b"d", GS + b"V"):
            break
        elif job[i : i + 1] == LF:
            rows.append((bytes(text), modes))
            text, modes, i = bytearray(), [], i + 1
        else:
            text.append(job[i])
            modes.append(names[frozenset(active)] if active else "normal")
            i += 1
    return rows


def qr_links(job: bytes) -> list[str]:
    """What the QR codes a job has the printer draw say: the data each `GS ( k` store (fn 80) holds,
    read as the printer reads commands (the count of bytes after pL pH)."""
    links, i = [], 0
    while (i := job.find(QR, i)) >= 0:
        size = int.from_bytes(job[i + 3 : i + 5], "little")
        body = job[i + 5 : i + 5 + size]
        if body[:3] == b"\x31P0":  # cn 49 (QR), fn 80 (store), m 48
            links.append(body[3:].decode("ascii"))
        i += 5 + size
    return links


def raster_images(job: bytes) -> list[np.ndarray]:
    """The bit images of a job ((H, W) bool, True where a dot prints): consecutive `GS v 0` bands of
    one width joined, as they come out of the printer."""
    images: list[np.ndarray] = []
    i, last_end = 0, -1
    while (i := job.find(RASTER, i)) >= 0:
        width = int.from_bytes(job[i + 4 : i + 6], "little")
        height = int.from_bytes(job[i + 6 : i + 8], "little")
        data = np.frombuffer(job[i + 8 : i + 8 + width * height], dtype=np.uint8).reshape(height, width)
        band = np.unpackbits(data, axis=1).astype(bool)
        if images and last_end == i and images[-1].shape[1] == band.shape[1]:
            images[-1] = np.vstack([images[-1], band])
        else:
            images.append(band)
        i = last_end = i + 8 + width * height
    return images


def read_qr(ink: np.ndarray) -> str:
    """The link in a QR code printed as dots, read by OpenCV's detector as a camera would."""
    import cv2

    picture = np.where(ink, 0, 255).astype(np.uint8)
    picture = np.pad(picture, 16, constant_values=255)
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(picture)
    return str(text)


class ServedPrinter:
    """A printer whose side runs in a thread of its own until closed."""

    def __init__(self, model: PrinterModel | None = None):
        self.model = model or PrinterModel()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        raise NotImplementedError

    def _halt(self) -> None:
        self._stop.set()
        self.thread.join(timeout=2)


class NetworkPrinter(ServedPrinter):
    """A TCP printer on loopback: accepts connections, records, answers status."""

    def __init__(self, model: PrinterModel | None = None, bytes_per_s: float | None = None):
        """`bytes_per_s`: read no faster than this, through small socket buffers, as a slow printer
        takes a job while printing it."""
        super().__init__(model)
        self.bytes_per_s = bytes_per_s
        self.server = socket.create_server(("127.0.0.1", 0))
        if bytes_per_s is not None:  # accepted connections inherit it: the sender soon waits on us
            self.server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.thread.start()

    @property
    def uri(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        self.server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(0.1)
        with conn:
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536 if self.bytes_per_s is None else 256)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                if self.bytes_per_s is not None:
                    time.sleep(len(data) / self.bytes_per_s)
                reply = self.model.feed(data)
                if reply:
                    conn.sendall(reply)

    def close(self) -> None:
        self.server.close()
        self._halt()


class SerialPrinter(ServedPrinter):
    """A printer at the other end of a pseudo-terminal pair, as on a USB-serial adapter."""

    def __init__(self, model: PrinterModel | None = None):
        import tty

        super().__init__(model)
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.thread.start()

    @property
    def uri(self) -> str:
        return f"serial://{self.path}?baudrate=38400"

    def _serve(self) -> None:
        import select

        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            reply = self.model.feed(data)
            if reply:
                os.write(self.master, reply)

    def close(self) -> None:
        self._halt()
        os.close(self.master)
        os.close(self.slave)


class EpsonUsbBackend(usb.backend.IBackend):
    """A pyusb backend that plays an Epson TM-T88V on the bus: bulk OUT 0x01 takes the bytes the
    printer would print, bulk IN 0x82 answers status. `present`/`denied` make it absent or locked."""

    VENDOR, PRODUCT = 0x04B8, 0x0202

    def __init__(self, model: PrinterModel | None = None, present: bool = True, denied: bool = False):
        self.model = model or PrinterModel()
        self.present = present
        self.denied = denied
        self.pending = bytearray()

    def enumerate_devices(self) -> Sequence[Any]:
        return ["tm-t88v"] if self.present else []

    def get_device_descriptor(self, dev: Any) -> Any:
        return SimpleNamespace(
            bLength=18,
            bDescriptorType=1,
            bcdUSB=0x0200,
            bDeviceClass=0,
            bDeviceSubClass=0,
            bDeviceProtocol=0,
            bMaxPacketSize0=64,
            idVendor=self.VENDOR,
            idProduct=self.PRODUCT,
            bcdDevice=0x0100,
            iManufacturer=0,
            iProduct=0,
            iSerialNumber=0,
            bNumConfigurations=1,
            address=5,
            bus=1,
            port_number=1,
            port_numbers=(1,),
            speed=2,
        )

    def get_configuration_descriptor(self, dev: Any, config: int) -> Any:
        return SimpleNamespace(
            bLength=9,
            bDescriptorType=2,
            wTotalLength=32,
            bNumInterfaces=1,
            bConfigurationValue=1,
            iConfiguration=0,
            bmAttributes=0xC0,
            bMaxPower=50,
            extra_descriptors=[],
        )

    def get_interface_descriptor(self, dev: Any, intf: int, alt: int, config: int) -> Any:
        return SimpleNamespace(
            bLength=9,
            bDescriptorType=4,
            bInterfaceNumber=0,
            bAlternateSetting=0,
            bNumEndpoints=2,
            bInterfaceClass=7,
            bInterfaceSubClass=1,
            bInterfaceProtocol=2,
            iInterface=0,
            extra_descriptors=[],
        )

    def get_endpoint_descriptor(self, dev: Any, ep: int, intf: int, alt: int, config: int) -> Any:
        address = (0x01, 0x82)[ep]
        return SimpleNamespace(
            bLength=7,
            bDescriptorType=5,
            bEndpointAddress=address,
            bmAttributes=2,
            wMaxPacketSize=64,
            bInterval=0,
            bRefresh=0,
            bSynchAddress=0,
            extra_descriptors=[],
        )

    def _check(self) -> None:
        if self.denied:
            raise usb.core.USBError("Access denied (insufficient permissions)", errno.EACCES, errno.EACCES)

    def open_device(self, dev: Any) -> Any:
        self._check()
        return "handle"

    def close_device(self, dev_handle: Any) -> None:
        pass

    def set_configuration(self, dev_handle: Any, config_value: int) -> None:
        self._check()

    def get_configuration(self, dev_handle: Any) -> int:
        return 1

    def claim_interface(self, dev_handle: Any, intf: int) -> None:
        self._check()

    def release_interface(self, dev_handle: Any, intf: int) -> None:
        pass

    def reset_device(self, dev_handle: Any) -> None:
        pass

    def bulk_write(self, dev_handle: Any, ep: int, intf: int, data: Any, timeout: int) -> int:
        self._check()
        self.pending += self.model.feed(bytes(data))
        return len(data)

    def bulk_read(self, dev_handle: Any, ep: int, intf: int, buff: Any, timeout: int) -> int:
        if not self.pending:
            time.sleep(min(timeout, 50) / 1000)
            raise usb.core.USBTimeoutError("Operation timed out", errno.ETIMEDOUT, errno.ETIMEDOUT)
        n = min(len(buff), len(self.pending))
        for i in range(n):
            buff[i] = self.pending[i]
        del self.pending[:n]
        return n
