"""`printd doctor`: find printers, check permissions, say what to fix."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import usb.core

from .booth.camera import Camera, CameraError
from .config import CameraConfig
from .errors import PrinterError
from .printer.connection import Printer
from .printer.transport.usb import UDEV_HINT

EPSON_VENDOR = 0x04B8
USB_PRINTER_CLASS = 7


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


def diagnose(uri: str, timeout: float, backend: Any = None) -> Iterator[str]:
    """Lines of findings, each saying what is wrong and how to fix it."""
    try:
        candidates = usb_printers(backend)
    except usb.core.NoBackendError:
        yield "USB: libusb is not installed (Debian: apt install libusb-1.0-0); USB printers cannot be used"
        candidates = []
    if not candidates:
        yield "USB: no ESC/POS printer found (is it plugged in and switched on?)"
    for c in candidates:
        access = "this user may open it" if c.accessible else f"permission denied: {UDEV_HINT}"
        yield f"USB: {c.uri} {c.name} at {c.node}: {access}"
    try:
        status = Printer(uri, timeout).status()
        yield f"configured printer {uri}: {status.describe()}"
    except PrinterError as exc:
        yield f"configured printer: {exc}"


def diagnose_camera(config: CameraConfig) -> str:
    """Take one shot with the booth's camera, as a session would (no countdown)."""
    if not config.enabled:
        return "camera: booth off (camera.enabled is false)"
    try:
        height, width = Camera(config).capture().shape[:2]
    except CameraError as exc:
        return str(exc)
    return f"camera {config.source}: ok, {width}×{height} frame"
