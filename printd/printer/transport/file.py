"""file:///dev/usb/lp0 (or any file): the bytes are written there; nothing can be read back."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import SplitResult

from ...errors import PrinterError, PrinterNotFound, PrinterOffline
from ..escpos_lib import DeviceNotFoundError, File
from .base import Transport


class FileTransport(Transport):
    form = "file:///PATH"
    can_answer = False  # and opening a file to ask would truncate it

    def __init__(self, uri: str, timeout: float, path: str):
        super().__init__(uri, timeout)
        self.path = path

    @classmethod
    def from_uri(cls, parts: SplitResult, uri: str, timeout: float, **options: Any) -> FileTransport:
        if not parts.path:
            raise ValueError("no path")
        return cls(uri, timeout, parts.path)

    def open(self) -> None:
        parent = Path(self.path).parent
        if not parent.is_dir():
            raise PrinterNotFound(f"{self.uri}: no such folder {parent}")
        try:
            self.device = File(self.path)
            self.device.open()
        except DeviceNotFoundError as exc:
            raise self.not_opened(exc) from exc

    def read(self) -> bytes | None:
        return None

    def close(self) -> None:
        self.device.flush()
        self.device.close()

    def failed(self, exc: Exception) -> PrinterError:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        return PrinterOffline(f"{self.uri}: cannot write ({detail})")


TRANSPORT = FileTransport
