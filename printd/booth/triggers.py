"""What starts a booth session, and the booth's light.

- a push button on a GPIO pin (gpiozero: pin, pull-up, bounce time),
- a key of a Linux input device (a USB foot switch, presenter or keyboard), read as evdev events,
- `printd snap`, which asks the daemon over a Unix socket in its runtime folder and gets a one-line answer.

Each calls `on_press(source)`; the booth decides what a press means.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import select
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from ..config import ButtonConfig
from ..errors import PrintdError
from ..sources.unix_server import UnixServer

log = logging.getLogger(__name__)

Press = Callable[[str], str]  # source → the booth's one-line answer
SNAP_SOCKET = "booth.sock"

# Linux input ABI (linux/input.h): struct input_event {struct timeval; u16 type; u16 code; s32 value}.
INPUT_EVENT = struct.Struct("llHHi")
EV_KEY = 1
KEY_DOWN = 1
EVIOCGRAB = 0x40044590  # _IOW('E', 0x90, int): take the device so the key does not also type


class TriggerUnavailable(PrintdError):
    """A configured trigger or light that this machine does not have."""


def gpio_device(kind: str, pin: int, pin_factory: Any = None, **options: Any) -> Any:
    """A gpiozero Button or LED; TriggerUnavailable where there is no GPIO (not a Pi, no access)."""
    try:
        import gpiozero  # optional dependency: only a booth with a button or LED needs it
    except ImportError as exc:
        raise TriggerUnavailable("gpiozero is not installed (pip install 'printd[booth]')") from exc
    try:
        return getattr(gpiozero, kind)(pin, pin_factory=pin_factory, **options)
    except (gpiozero.GPIOZeroError, OSError, RuntimeError) as exc:
        raise TriggerUnavailable(f"GPIO{pin}: {exc}") from exc


class GpioButton:
    def __init__(self, config: ButtonConfig, on_press: Press, pin_factory: Any = None):
        assert config.gpio is not None
        self.config = config
        self.on_press = on_press
        self.pin_factory = pin_factory
        self.button: Any = None

    def start(self) -> None:
        """Claim the pin (TriggerUnavailable where there is none)."""
        pin, config = self.config.gpio, self.config
        assert pin is not None
        self.button = gpio_device(
            "Button", pin, self.pin_factory, pull_up=config.pull_up, bounce_time=config.bounce or None
        )
        self.button.when_pressed = lambda: self.on_press(f"button GPIO{pin}")

    def close(self) -> None:
        if self.button is not None:
            self.button.close()


class FeedbackLed:
    """The booth's light: off, blinking (countdown), on (printing), fast blink (error)."""

    PATTERNS: ClassVar[dict[str, tuple[float, float] | bool]] = {
        "off": False,
        "countdown": (0.5, 0.5),
        "printing": True,
        "error": (0.1, 0.1),
    }

    def __init__(self, pin: int, pin_factory: Any = None):
        self.pin = pin
        self.pin_factory = pin_factory
        self.led: Any = None
        self.pattern = ""

    def start(self) -> None:
        """Claim the pin (TriggerUnavailable where there is none), the light off."""
        self.led = gpio_device("LED", self.pin, self.pin_factory)
        self.show("off")

    def show(self, pattern: str) -> None:
        if self.led is None or pattern == self.pattern:
            return  # not started; or the same: restarting a blink would make it stutter
        self.pattern = pattern
        shape = self.PATTERNS[pattern]
        if shape is True:
            self.led.on()
        elif shape is False:
            self.led.off()
        else:
            self.led.blink(on_time=shape[0], off_time=shape[1])

    def close(self) -> None:
        if self.led is not None:
            self.led.close()


def key_code(name: str) -> int:
    """`KEY_SPACE` (names from the evdev package) or a number such as 57."""
    if name.isdigit():
        return int(name)
    try:
        from evdev import ecodes  # optional: the names only; the events are read directly
    except ImportError as exc:
        raise TriggerUnavailable(f"button.key: {name}: install evdev for key names, or give the number") from exc
    if name not in ecodes.ecodes:
        raise TriggerUnavailable(f"button.key: unknown key name {name!r}")
    return int(ecodes.ecodes[name])


class KeyTrigger:
    """A key of an input device; a device that goes away is looked for again every few seconds."""

    RETRY = 3.0

    def __init__(self, key: str, device: Path, on_press: Press):
        self.code = -1  # known once started
        self.key = key
        self.device = Path(device)
        self.on_press = on_press
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="key", daemon=True)

    def start(self) -> None:
        self.code = key_code(self.key)
        self.thread.start()

    def _run(self) -> None:
        reported = False
        while not self.stopping.is_set():
            try:
                fd = os.open(self.device, os.O_RDONLY | os.O_NONBLOCK)
            except OSError as exc:
                if not reported:
                    log.warning("key trigger %s: %s; looking again every %.0f s", self.device, exc.strerror, self.RETRY)
                    reported = True
                self.stopping.wait(self.RETRY)
                continue
            reported = False
            try:
                with contextlib.suppress(OSError):  # not an input device (a FIFO in tests): nothing to take
                    fcntl.ioctl(fd, EVIOCGRAB, 1)
                self._read(fd)
            except OSError as exc:
                log.warning("key trigger %s: %s", self.device, exc.strerror or exc)
            finally:
                os.close(fd)

    def _read(self, fd: int) -> None:
        pending = b""
        while not self.stopping.is_set():
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            chunk = os.read(fd, INPUT_EVENT.size * 64)
            if not chunk:
                self.stopping.wait(0.1)  # a FIFO whose writer left: wait for the next one
                return
            pending += chunk
            whole = len(pending) - len(pending) % INPUT_EVENT.size
            for _, _, kind, code, value in INPUT_EVENT.iter_unpack(pending[:whole]):
                if kind == EV_KEY and code == self.code and value == KEY_DOWN:
                    self.on_press(f"key {self.key}")
            pending = pending[whole:]

    def close(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(timeout=2)


class SnapServer:
    """`printd snap`'s way in: one line asked ("snap"), one line answered, on a Unix socket."""

    def __init__(self, runtime: Path, on_press: Press):
        self.on_press = on_press
        self.server = UnixServer(Path(runtime) / SNAP_SOCKET, self._serve, "snap")

    def start(self) -> None:
        try:
            self.server.start()
        except OSError as exc:
            raise TriggerUnavailable(f"printd snap: cannot listen in {self.server.path.parent} ({exc})") from exc

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(2)
        request = conn.recv(64).strip()
        reply = self.on_press("printd snap") if request == b"snap" else f"error: not a request: {request!r}"
        conn.sendall(reply.encode() + b"\n")

    def close(self) -> None:
        self.server.close()


def request_snap(runtime: Path, timeout: float = 5.0) -> str:
    """Ask the daemon whose runtime folder is `runtime` for a shot; its one-line answer (ok:, busy:,
    refused:, failed:, off:)."""
    path = Path(runtime) / SNAP_SOCKET
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
            sock.sendall(b"snap\n")
            return sock.makefile("rb").readline().decode(errors="replace").strip()
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise PrintdError(f"{runtime}: no printd daemon is running on this spool") from exc
        except OSError as exc:
            raise PrintdError(f"{path}: cannot ask the daemon ({exc})") from exc
