"""`printd doctor`: what the service will need, checked as its user; each problem one line with its fix.

An error is what stops the daemon at start (an unwritable spool, a font it cannot read); a warning
is what it runs without (a printer away, the camera, the button, the web port, the broker).
"""

from __future__ import annotations

import contextlib
import enum
import errno
import importlib
import os
import pwd
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import usb.core

from optimizer import lettering
from optimizer.vocabulary import FACE_WEIGHTS, OCR, face_weights_dir

from .booth.camera import Camera, CameraError
from .config import Config
from .daemon.wiring import check_writable
from .errors import PrinterError, PrinterPermissionDenied, UsageError
from .jobs.spool import Spool
from .printer.connection import Printer
from .printer.transport.usb import UDEV_HINT

EPSON_VENDOR = 0x04B8
USB_PRINTER_CLASS = 7
SERVICE_USER = "printd"  # the unit's User=
INSTALL = "scripts/install.sh"
BOOTH_FIX = f"{INSTALL} --booth (adds the groups video, gpio and input)"


class Severity(enum.Enum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    severity: Severity
    text: str  # for a problem: what is wrong and, after "fix:", what to do

    @property
    def line(self) -> str:
        return f"{self.severity.value}: {self.text}"


def ok(text: str) -> Finding:
    return Finding(Severity.OK, text)


def warning(text: str) -> Finding:
    return Finding(Severity.WARNING, text)


def error(text: str) -> Finding:
    return Finding(Severity.ERROR, text)


@dataclass(frozen=True)
class UsbCandidate:
    vendor: int
    product: int
    node: Path
    name: str

    @property
    def uri(self) -> str:
        return f"usb://{self.vendor:04x}:{self.product:04x}"

    @property
    def accessible(self) -> bool:
        return os.access(self.node, os.R_OK | os.W_OK)


def _is_printer(device: Any) -> bool:
    if device.idVendor == EPSON_VENDOR:
        return True
    try:
        return any(intf.bInterfaceClass == USB_PRINTER_CLASS for cfg in device for intf in cfg)
    except usb.core.USBError:
        return False


def usb_printers(backend: Any = None) -> list[UsbCandidate]:
    """USB devices that look like ESC/POS printers (Epson's vendor ID or the USB printer class)."""
    found = []
    for device in usb.core.find(find_all=True, backend=backend) or []:
        if not _is_printer(device):
            continue
        node = Path(f"/dev/bus/usb/{device.bus:03d}/{device.address:03d}")
        try:
            name = f"{device.manufacturer or ''} {device.product or ''}".strip()
        except (usb.core.USBError, ValueError):
            name = "(name unreadable without permission)"
        found.append(UsbCandidate(device.idVendor, device.idProduct, node, name))
    return found


def become(user: str | None) -> str:
    """As root, drop to the service's user (or --user) and return whom the checks run as.

    Root without --user becomes printd where it exists: root may write anywhere, so its checks
    would say nothing of the service."""
    me = pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() != 0:
        if user not in (None, me):
            raise UsageError(f"--user {user}: only root may check as another user")
        return me
    if user is None:
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            return me
        user = SERVICE_USER
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise UsageError(f"--user {user}: no such user") from None
    os.setgroups(os.getgrouplist(user, entry.pw_gid))
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    os.environ["HOME"] = entry.pw_dir  # python-escpos's cache and the like follow the user
    return user


def diagnose(config: Config, user: str, usb_backend: Any = None) -> Iterator[Finding]:
    """Every check the configured daemon calls for, in the order it would meet them."""
    if os.geteuid() == 0:
        yield warning(f"checked as root, who may do what the service may not; fix: {INSTALL} (makes user printd)")
    yield from check_spool(config, user)
    yield from check_art_files(config, user)
    yield check_faces()
    if config.art.lettering:
        yield check_lettering()
    yield from check_printers(config, usb_backend)
    if config.camera.enabled:
        yield check_camera(config)
        yield from check_triggers(config, user)
    if config.web.enabled:
        yield check_web_port(config)
    if config.mqtt.url is not None:
        yield check_broker(config)


def check_spool(config: Config, user: str) -> Iterator[Finding]:
    """The daemon's own start check (the same words and fix), for each folder it will write."""
    root, inbox = Path(config.spool.path), Path(config.inbox.path)
    folders = [root, inbox]
    with contextlib.suppress(OSError):  # missing or unreadable: the checks below say which
        folders += sorted(p for p in root.iterdir() if p.is_dir() and p != inbox)  # tmp/, queued/, done/, …
    closed: list[Path] = []
    for folder in folders:
        if any(c in folder.parents for c in closed):
            continue  # the fix of the folder above (chown -R) mends this one too
        problem = _cannot_make(folder, user)
        if problem is None:
            try:
                check_writable(folder)
            except UsageError as exc:
                problem = str(exc)
        if problem:
            closed.append(folder)
        yield error(problem) if problem else ok(f"{folder}: user {user} may write here")


def _cannot_make(folder: Path, user: str) -> str | None:
    """Why the daemon could not make a missing folder (it makes its own); None when it exists or can."""
    fix = "fix: systemd-tmpfiles --create /etc/tmpfiles.d/printd.conf, or make it and chown it to"
    try:
        if folder.exists():
            return None
    except PermissionError:
        return f"{folder}: user {user} cannot reach it (a folder above is closed to it); {fix} {user}"
    parent = folder.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return f"{folder}: missing, and user {user} cannot make it in {parent}; {fix} {user}"
    return None


def check_art_files(config: Config, user: str) -> Iterator[Finding]:
    """The daemon loads the config's font and atlas before it takes a job: a file it cannot read stops
    it. Only their files are checked, so that doctor, like status, imports no renderer."""
    for key, value in (("art.font", config.art.font), ("art.atlas", config.art.atlas)):
        if value is None:
            continue
        path = Path(value)
        if os.access(path, os.R_OK) and path.is_file():
            yield ok(f"{key} {path}: readable")
        else:
            yield error(f"{key} {path}: missing, or closed to user {user}; fix: correct {key} in "
                        f"{config.source or 'the config'}, or let user {user} read it")  # fmt: skip


def check_faces() -> Finding:
    """Faces are found only where the detector's weights are installed; without them printd prints
    faces like the rest of the photo."""
    found = face_weights_dir()
    if found:
        return ok(f"faces: the detector's weights are in {found}")
    return warning(f"faces: {FACE_WEIGHTS} (the face detector's weights) is not installed, faces are drawn like "
                   "the rest and subject framing frames the busiest region; fix: "
                   f"{INSTALL} again, or pip install --no-deps --require-hashes -r weights.txt")  # fmt: skip


def check_lettering() -> Finding:
    """Signs are spelled only where libtesseract reads (its reading process started, the English
    model loaded); without it printd prints all the same."""
    engine = lettering.tesseract()
    if engine is None:
        return warning(f"lettering: lib{OCR} is not installed, words on signs are drawn, not spelled; "
                       "fix: apt install tesseract-ocr, or art.lettering: false")  # fmt: skip
    why = engine.start()
    if why:
        return warning(f"lettering: tesseract cannot read ({why}), words on signs are drawn, not spelled; "
                       "fix: apt install tesseract-ocr tesseract-ocr-eng, or art.lettering: false")  # fmt: skip
    return ok(f"lettering: {engine.library} reads the signs in photos")


def check_printers(config: Config, usb_backend: Any = None) -> Iterator[Finding]:
    where = config.source or "the config"
    for printer in config.pool:
        try:
            status = Printer(printer.uri, printer.timeout, usb_backend).status()
        except PrinterPermissionDenied as exc:
            yield warning(f"printer {printer.name}: {exc}")  # the message carries the udev fix
            continue
        except PrinterError as exc:
            yield warning(f"printer {printer.name}: {exc}; fix: switch it on, plug it in, or mend its uri in {where}")
            continue
        if not status.answered:
            yield warning(
                f"printer {printer.name} ({printer.uri}): no answer to a status query within {printer.timeout:g} s; "
                f"fix: is it an ESC/POS printer, switched on, at that uri in {where}?"
            )
        elif status.describe().startswith("ready"):
            yield ok(f"printer {printer.name} ({printer.uri}): {status.describe()}")
        else:
            yield warning(f"printer {printer.name} ({printer.uri}): {status.describe()}; fix: paper, cover, power")
    try:
        candidates = usb_printers(usb_backend)
    except usb.core.NoBackendError:
        candidates = []  # only a usb:// printer needs libusb, and its check above says so
    for c in candidates:
        if c.accessible:
            yield ok(f"USB printer {c.uri} {c.name} at {c.node}: this user may open it")
        else:
            yield warning(f"USB printer {c.uri} {c.name} at {c.node}: permission denied; fix: {UDEV_HINT}")


def check_camera(config: Config) -> Finding:
    """One shot, as a session would take it (no countdown)."""
    try:
        height, width = Camera(config.camera).capture().shape[:2]
    except CameraError as exc:
        return warning(f"{exc}: the booth stays off; fix: plug it in, check camera.source, or {BOOTH_FIX}")
    return ok(f"camera {config.camera.source}: {width}×{height} frame")


def check_triggers(config: Config, user: str) -> Iterator[Finding]:
    """The button, LED and key devices (their files: opening a pin would take it from a running daemon)."""
    button = config.button
    pins = [f"{what} GPIO{pin}" for what, pin in (("button", button.gpio), ("LED", button.led)) if pin is not None]
    if pins:
        yield _gpio(", ".join(pins), user)
    if button.key is not None and button.key_device is not None:  # the config has both or neither
        device = Path(button.key_device)
        if not device.exists():
            yield warning(f"key {button.key}: no device {device}; fix: plug it in, or correct button.key_device")
        elif not os.access(device, os.R_OK):
            yield warning(f"key {button.key}: user {user} may not read {device}; fix: {BOOTH_FIX}")
        else:
            yield ok(f"key {button.key}: {device} readable")


def _gpio(what: str, user: str) -> Finding:
    try:
        importlib.import_module("gpiozero")
    except ImportError:
        return warning(f"{what}: gpiozero is not installed; fix: {BOOTH_FIX}")
    chips = sorted(Path("/dev").glob("gpiochip*"))
    if not chips:
        return warning(f"{what}: this machine has no GPIO (/dev/gpiochip*); fix: set button.gpio and button.led to "
                       "null, or run it on a Raspberry Pi")  # fmt: skip
    closed = [str(c) for c in chips if not os.access(c, os.R_OK | os.W_OK)]
    if closed:
        return warning(f"{what}: user {user} may not open {', '.join(closed)}; fix: {BOOTH_FIX}")
    return ok(f"{what}: {', '.join(map(str, chips))} open to user {user}")


def check_web_port(config: Config) -> Finding:
    host, port = config.web.address
    if Spool(config.spool.path, create=False, runtime=config.spool.run_dir).daemon_running():
        return ok(f"web: {host}:{port} not tried, the daemon is running (printd status)")
    try:
        with socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET):
            pass
    except OSError as exc:
        reason = {
            errno.EADDRINUSE: "taken by another program",
            errno.EACCES: "a port below 1024, which the service may not open",
            errno.EADDRNOTAVAIL: "not an address of this machine",
        }.get(exc.errno or 0, exc.strerror or str(exc))
        return warning(f"web: cannot listen on {host}:{port} ({reason}), the guest page would be off; "
                       "fix: another web.listen, or stop what holds it")  # fmt: skip
    return ok(f"web: {host}:{port} free")


def check_broker(config: Config) -> Finding:
    host, port, _ = config.mqtt.address
    try:
        with socket.create_connection((host, port), timeout=5):
            pass
    except OSError as exc:
        return warning(f"mqtt: broker {host}:{port} unreachable ({exc.strerror or exc}), the node keeps trying; "
                       "fix: start the broker, or correct mqtt.url")  # fmt: skip
    return ok(f"mqtt: broker {host}:{port} reachable")
