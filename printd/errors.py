"""Error types, caught once at the edge that knows what to tell the user (CLI, daemon)."""

from __future__ import annotations


class PrintdError(Exception):
    """Something the user should read: the message is one line, the exit code says what kind."""

    exit_code = 1


class UsageError(PrintdError):
    """Bad input or usage: the user must change something (exit 2)."""

    exit_code = 2


class ConfigError(UsageError):
    """The config file: names the file, the key and the reason."""


class PrinterError(PrintdError):
    """The printer is not ready; the job itself is fine and can wait (exit 1)."""


class PrinterNotFound(PrinterError):
    pass


class PrinterPermissionDenied(PrinterError):
    pass


class PrinterOffline(PrinterError):
    pass


class CoverOpen(PrinterError):
    pass


class PaperOut(PrinterError):
    pass


class PrinterTimeout(PrinterError):
    pass


class PrinterLost(PrinterError):
    """The printer went away after the job started: it may have printed nothing, part or all."""
