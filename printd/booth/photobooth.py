"""The photo booth as one part of the daemon: the session, its triggers and light, the beep and
`printd snap`'s socket, started where configured and present; each absence is said once, and a
camera that is not there is said at start and in status."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..config import Config
from ..errors import PrinterError
from ..jobs.spool import Spool
from ..printer.escpos_lib import CD_KICK_2
from ..printer.pool import PrinterPool
from ..printer.profiles import profile
from ..sources.intake import Intake
from .camera import Camera, CameraError
from .session import Booth
from .triggers import FeedbackLed, GpioButton, KeyTrigger, SnapServer, TriggerUnavailable

log = logging.getLogger(__name__)
BUZZER_PULSE = CD_KICK_2  # Epson's buzzer option hangs on the drawer-kick port: ESC p pulses it
OFF = "off: the photo booth is off (camera.enabled is false, or the camera backend is missing)"


class PhotoBooth:
    def __init__(self, config: Config, intake: Intake, pool: PrinterPool, spool: Spool, pin_factory: Any = None):
        self.config = config
        self.intake = intake
        self.pool = pool
        self.spool = spool
        self.pin_factory = pin_factory  # gpiozero's; None: the platform's own (tests pass MockFactory)
        self.camera = Camera(config.camera)
        self.session: Booth | None = None
        self.snap: SnapServer | None = None
        self.parts: list[Any] = []  # triggers, light and snap socket: started here, closed in close()

    def start(self) -> None:
        if not self.config.camera.enabled:
            log.info("photo booth off (camera.enabled is false)")
        else:
            self._start_booth()
        self.snap = self._optional("snap socket", SnapServer(self.spool.runtime, self.press))

    def _start_booth(self) -> None:
        try:
            self.camera.check()
        except CameraError as exc:
            log.warning("photo booth off: %s", exc)
            return
        button = self.config.button
        led = self._optional("LED", FeedbackLed(button.led, self.pin_factory)) if button.led is not None else None
        self.session = Booth(self.config.camera, self.intake, self.pool.problem, led, self._beep_for())
        if button.gpio is not None:
            self._optional("button", GpioButton(button, self.press, self.pin_factory))
        if button.key is not None and button.key_device is not None:
            self._optional("key", KeyTrigger(button.key, button.key_device, self.press))
        missing = self.camera.missing()
        if missing is not None:  # it may be plugged in later: each press looks again, and says so
            log.warning("photo booth on, but its camera %s is missing: presses fail until it is there", missing)
        else:
            camera = self.config.camera
            log.info("photo booth on: camera %s, countdown %g s", camera.source, camera.countdown)

    def _optional(self, what: str, part: Any) -> Any:
        """Start `part`; one this machine does not have is said once and left out."""
        try:
            part.start()
        except TriggerUnavailable as exc:
            log.warning("photo booth runs without its %s: %s", what, exc)
            return None
        self.parts.append(part)
        return part

    def _beep_for(self) -> Callable[[], None] | None:
        if not self.config.button.beep:
            return None
        slot = self.pool.slots[0]  # the booth's own printer: the first of the pool
        if "pulseStandard" not in profile(slot.config.profile).features:
            log.warning("button.beep: printer profile %s has no buzzer pulse; no beep", slot.config.profile)
            return None

        def beep() -> None:
            try:
                with slot.lock:
                    slot.printer.print_job(BUZZER_PULSE)
            except PrinterError as exc:
                log.warning("beep: %s", exc)

        return beep

    # --- what the daemon asks and tells ----------------------------------------------------
    @property
    def on(self) -> bool:
        return self.session is not None

    def press(self, source: str) -> str:
        return self.session.press(source) if self.session is not None else OFF

    def state(self) -> dict[str, str]:
        """For status: the session's state and whether the camera is there."""
        if self.session is None:
            return {"booth": "off", "camera": "off"}
        return {"booth": self.session.state.value, "camera": self.camera.presence()}

    def job_event(self, job_id: str, event: str) -> None:
        if self.session is not None:
            self.session.job_event(job_id, event)

    def printer_changed(self) -> None:
        if self.session is not None:
            self.session.printer_changed()

    @property
    def answering(self) -> bool:
        return self.snap is None or self.snap.server.answering

    def close(self) -> None:
        for part in reversed(self.parts):
            part.close()
