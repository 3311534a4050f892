"""What a job's receipt carries around its art (`receipt:` in the config): the header and footer
lines, filled in for the job, and the QR link of its page on the booth's own server (`/j/TOKEN`)."""

from __future__ import annotations

import socket
import time

from ..config import Config, WebConfig
from ..jobs.spool import JobRecord
from ..printer.encoding import Receipt


def receipt_for(config: Config, record: JobRecord) -> Receipt:
    """The header, footer and link of the job `record` (its number in the event already given)."""
    settings = config.receipt
    received = time.localtime(record.received_at)
    values = {
        "event": settings.event,
        "date": time.strftime("%Y-%m-%d", received),
        "time": time.strftime("%H:%M", received),
        "count": record.number or 0,
        "job": record.id,
    }
    link = job_link(config.web, record) if config.web.enabled and settings.qr and record.token else None
    return Receipt(
        header=tuple(line.format_map(values) for line in settings.header or ()),
        footer=tuple(line.format_map(values) for line in settings.footer or ()),
        qr=link,
        qr_size=settings.qr_size,
    )


def job_link(web: WebConfig, record: JobRecord) -> str:
    """The job page's address: under web.public_url, else the address the guest reached the page
    on, else the address the page listens on (this machine's own, where that is every address)."""
    base = web.public_url or record.page_base or listen_base(web)
    return f"{base.rstrip('/')}/j/{record.token}"


def listen_base(web: WebConfig) -> str:
    host, port = web.address
    if host in ("0.0.0.0", "::", ""):
        host = own_address()
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def own_address() -> str:
    """The address other machines on the network reach this one on: the source address of a route
    out (a UDP socket's connect sends nothing), else loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.254.254.254", 9))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"
