"""usb://VID:PID: pyusb through python-escpos, with its timeouts made finite."""

from __future__ import annotations

import errno
from typing import Any
from urllib.parse import SplitResult

import usb.core

from ...errors import PrinterError, PrinterNotFound, PrinterOffline, PrinterPermissionDenied, PrinterTimeout
from ..escpos_lib import DeviceNotFoundError, Usb
from .base import Transport

UDEV_HINT = "install config/99-printd.rules into /etc/udev/rules.d and add this user to group lp"


class UsbTransport(Transport):
    form = "usb://VID:PID, in hex"
    permission_hint = UDEV_HINT

    def __init__(self, uri: str, timeout: float, vendor: int, product: int, backend: Any = None):
        super().__init__(uri, timeout)
        self.vendor, self.product = vendor, product
        self.backend = backend  # pyusb's; tests pass one that speaks like a printer

    @classmethod
    def from_uri(cls, parts: SplitResult, uri: str, timeout: float, **options: Any) -> UsbTransport:
        vendor, colon, product = parts.netloc.partition(":")
        if not colon:
            raise ValueError("no VID:PID")
        try:
            ids = int(vendor, 16), int(product, 16)
        except ValueError:
            raise ValueError(f"{parts.netloc!r} is not two hex numbers") from None
        return cls(uri, timeout, *ids, options.get("usb_backend"))

    def open(self) -> None:
        # python-escpos's default USB timeout is 0: wait forever.
        args = {"backend": self.backend} if self.backend is not None else {}
        try:
            self.device = Usb(self.vendor, self.product, usb_args=args, timeout=int(self.timeout * 1000))
            self.device.open()
        except DeviceNotFoundError as exc:
            raise self.not_opened(exc) from exc
        except usb.core.NoBackendError as exc:
            raise PrinterNotFound(f"{self.uri}: libusb is not installed (Debian: apt install libusb-1.0-0)") from exc
        except usb.core.USBError as exc:
            raise self.failed(exc) from exc
        self.device.device.default_timeout = int(self.timeout * 1000)

    def read(self) -> bytes | None:
        try:
            return super().read()
        except PrinterTimeout:
            return None  # pyusb's own read timeout: nothing came back

    def failed(self, exc: Exception) -> PrinterError:
        code = getattr(exc, "errno", None)
        if code == errno.EACCES:
            return PrinterPermissionDenied(f"{self.uri}: permission denied ({UDEV_HINT})")
        if isinstance(exc, usb.core.USBTimeoutError) or code == errno.ETIMEDOUT:
            return PrinterTimeout(f"{self.uri}: printer did not take the data within {self.timeout:g} s")
        if code in (errno.ENODEV, errno.ENOENT, errno.EIO):
            return PrinterNotFound(f"{self.uri}: printer went away ({exc})")
        return PrinterOffline(f"{self.uri}: USB error ({exc})")


TRANSPORT = UsbTransport
