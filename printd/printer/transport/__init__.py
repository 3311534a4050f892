"""Printer URI → a transport: one module per scheme, each only opening, writing, reading and
closing (the ESC/POS bytes live in printd/printer/encoding.py, status in printd/printer/connection.py).

    usb://04b8:0202    tcp://host[:9100]    serial:///dev/ttyUSB0?baudrate=19200    file:///dev/usb/lp0

A new transport is one module here with a `Transport` subclass named `TRANSPORT`, and one line in
TRANSPORTS. Modules are imported when their scheme is used.
"""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import urlsplit

from ...errors import UsageError
from .base import Transport

TRANSPORTS = {
    "usb": "usb",
    "tcp": "tcp",
    "serial": "serial",
    "file": "file",
}


def make_transport(uri: str, timeout: float, **options: Any) -> Transport:
    """The transport for `uri`, not yet open; UsageError for a URI no transport takes."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in TRANSPORTS:
        known = ", ".join(f"{name}://" for name in TRANSPORTS)
        raise UsageError(f"{uri}: unknown printer URI (the schemes are {known})")
    kind: type[Transport] = importlib.import_module(f"{__name__}.{TRANSPORTS[scheme]}").TRANSPORT
    try:
        return kind.from_uri(parts, uri, timeout, **options)
    except ValueError as exc:
        raise UsageError(f"{uri}: not a valid printer URI ({exc}; {kind.form})") from exc
