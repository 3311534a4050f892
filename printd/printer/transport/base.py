"""The interface every transport speaks: open, write, read what came back, close; every call
bounded by the timeout, every failure a PrinterError that says what happened."""

from __future__ import annotations

import errno
from abc import ABC, abstractmethod
from typing import Any, ClassVar
from urllib.parse import SplitResult

from ...errors import PrinterError, PrinterNotFound, PrinterPermissionDenied
from ..escpos_lib import DeviceNotFoundError


class Transport(ABC):
    form: ClassVar[str]  # the URI's form, for error messages
    can_answer: ClassVar[bool] = True  # whether status queries can be read back
    permission_hint: ClassVar[str] = "add this user to the device's group"

    def __init__(self, uri: str, timeout: float):
        self.uri = uri
        self.timeout = timeout
        self.device: Any = None  # python-escpos's printer object, once open

    @classmethod
    @abstractmethod
    def from_uri(cls, parts: SplitResult, uri: str, timeout: float, **options: Any) -> Transport:
        """A transport for `uri`; ValueError when the URI is malformed."""

    @abstractmethod
    def open(self) -> None:
        """Connect; PrinterError (not found, permission denied, ...) when the printer cannot be reached."""

    def write(self, data: bytes) -> None:
        try:
            self.device._raw(data)
        except PrinterError:
            raise
        except Exception as exc:
            raise self.failed(exc) from exc

    def read(self) -> bytes | None:
        """What the printer sent back: b"" nothing yet (ask again), None: nothing within the timeout."""
        try:
            return bytes(self.device._read())
        except TimeoutError:
            return None
        except Exception as exc:
            raise self.failed(exc) from exc

    def close(self) -> None:
        self.device.close()

    @abstractmethod
    def failed(self, exc: Exception) -> PrinterError:
        """The PrinterError for a failure of this transport's library while writing or reading."""

    def not_opened(self, exc: DeviceNotFoundError) -> PrinterError:
        """python-escpos wraps why it could not open in DeviceNotFoundError: told by errno."""
        cause = exc.__context__
        if getattr(cause, "errno", None) in (errno.EACCES, errno.EPERM):
            return PrinterPermissionDenied(f"{self.uri}: permission denied ({self.permission_hint})")
        text = cause.strerror if isinstance(cause, OSError) and cause.strerror else str(cause or exc)
        return PrinterNotFound(f"{self.uri}: printer not found ({text.strip().splitlines()[-1]})")
