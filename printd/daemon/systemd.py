"""What systemd hears from the daemon: sd_notify datagrams and journal-priority log lines."""

from __future__ import annotations

import logging
import os
import socket
from typing import ClassVar

log = logging.getLogger(__name__)


def notify(message: str) -> None:
    """sd_notify: one datagram to $NOTIFY_SOCKET; nothing when not under systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(message.encode(), address)
        except OSError as exc:
            log.debug("sd_notify failed: %s", exc)


class JournalFormatter(logging.Formatter):
    """`<priority>message`: the journal reads the syslog priority and stamps the time itself."""

    PRIORITY: ClassVar[dict[int, int]] = {
        logging.DEBUG: 7,
        logging.INFO: 6,
        logging.WARNING: 4,
        logging.ERROR: 3,
        logging.CRITICAL: 2,
    }

    def format(self, record: logging.LogRecord) -> str:
        # One record, one journal line: a file name with a newline cannot forge a line of its own.
        message = record.getMessage().replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        if record.exc_info:
            message += " | " + self.formatException(record.exc_info).replace("\n", " | ")
        return f"<{self.PRIORITY.get(record.levelno, 6)}>{record.name}: {message}"


def log_formatter() -> logging.Formatter:
    if os.environ.get("JOURNAL_STREAM"):
        return JournalFormatter()
    return logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
