"""serial:///dev/ttyUSB0?baudrate=19200: pyserial through python-escpos."""

from __future__ import annotations

from typing import Any
from urllib.parse import SplitResult, parse_qs

import serial

from ...errors import PrinterError, PrinterOffline, PrinterTimeout
from ..escpos_lib import DeviceNotFoundError, Serial
from .base import Transport

SERIAL_POLL = 0.05  # seconds one serial read waits before the status loop looks again


class SerialTransport(Transport):
    form = "serial:///dev/ttyUSB0?baudrate=19200"

    def __init__(self, uri: str, timeout: float, path: str, baudrate: int):
        super().__init__(uri, timeout)
        self.path, self.baudrate = path, baudrate

    @classmethod
    def from_uri(cls, parts: SplitResult, uri: str, timeout: float, **options: Any) -> SerialTransport:
        if not parts.path:
            raise ValueError("no device path")
        return cls(uri, timeout, parts.path, int(parse_qs(parts.query).get("baudrate", ["19200"])[0]))

    def open(self) -> None:
        try:
            self.device = Serial(self.path, baudrate=self.baudrate, timeout=self.timeout)
            self.device.open()
        except DeviceNotFoundError as exc:
            raise self.not_opened(exc) from exc
        self.device.device.write_timeout = self.timeout
        # python-escpos reads 16 bytes at a time: with the whole timeout as the read timeout,
        # every 1-byte status answer cost that timeout. Short reads, polled until the status
        # deadline, answer as soon as the printer does.
        self.device.device.timeout = SERIAL_POLL

    def failed(self, exc: Exception) -> PrinterError:
        if isinstance(exc, serial.SerialTimeoutException | TimeoutError):
            return PrinterTimeout(f"{self.uri}: printer did not take the data within {self.timeout:g} s")
        if isinstance(exc, OSError):  # pyserial's SerialException is one, with the errno
            return PrinterOffline(f"{self.uri}: connection lost ({exc.strerror or exc})")
        return PrinterOffline(f"{self.uri}: {exc}")


TRANSPORT = SerialTransport
