"""tcp://HOST[:PORT]: a raw socket (port 9100, "JetDirect"), through python-escpos."""

from __future__ import annotations

from typing import Any
from urllib.parse import SplitResult

from ...errors import PrinterError, PrinterNotFound, PrinterOffline, PrinterTimeout
from ..escpos_lib import DeviceNotFoundError, Network
from .base import Transport


class TcpTransport(Transport):
    form = "tcp://HOST[:PORT]"

    def __init__(self, uri: str, timeout: float, host: str, port: int):
        super().__init__(uri, timeout)
        self.host, self.port = host, port

    @classmethod
    def from_uri(cls, parts: SplitResult, uri: str, timeout: float, **options: Any) -> TcpTransport:
        if not parts.hostname:
            raise ValueError("no host")
        return cls(uri, timeout, parts.hostname, parts.port or 9100)

    def open(self) -> None:
        try:
            self.device = Network(self.host, self.port, timeout=self.timeout)
            self.device.open()
        except DeviceNotFoundError as exc:
            raise self.not_opened(exc) from exc

    def read(self) -> bytes | None:
        data = super().read()
        if data == b"":  # an empty recv: the printer closed the connection
            raise PrinterOffline(f"{self.uri}: printer closed the connection")
        return data

    def failed(self, exc: Exception) -> PrinterError:
        if isinstance(exc, TimeoutError):
            return PrinterTimeout(f"{self.uri}: printer did not take the data within {self.timeout:g} s")
        if isinstance(exc, ConnectionRefusedError):
            return PrinterNotFound(f"{self.uri}: printer not found (connection refused)")
        if isinstance(exc, OSError):
            return PrinterOffline(f"{self.uri}: connection lost ({exc.strerror or exc})")
        return PrinterOffline(f"{self.uri}: {exc}")


TRANSPORT = TcpTransport
