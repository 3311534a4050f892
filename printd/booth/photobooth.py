"""The photo booth as one part of the daemon: the session, its triggers and light, the beep and
`printd snap`'s socket, started where configured and present; each absence is said once, and a
camera that is not there is said at start and in status."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..config import Config, PrinterConfig
from ..errors import PrinterError
from ..jobs.spool import Job, Spool
from ..printer.escpos_lib import CD_KICK_2
from ..printer.pool import PrinterPool
from ..printer.profiles import profile
from ..render.artist import paper_for
from ..sources.intake import Intake
from .camera import Camera, CameraError
from .session import Booth
from .triggers import FeedbackLed, GpioButton, KeyTrigger, SnapServer, TriggerUnavailable

log = logging.getLogger(__name__)
BUZZER_PULSE = CD_KICK_2  # Epson's buzzer option hangs on the drawer-kick port: ESC p pulses it
OFF = "off: the photo booth is off (camera.enabled is false, or the camera backend is missing)"
CELL_HEIGHT, DEFAULT_ROW_GAP = 24, 6  # the bundled font's cell and the presets' gap (§2): an estimate's rows


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
        self.length_mm: float | None = None  # the last shot's receipt: what the next one needs

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
        self.session = Booth(
            self.config.camera, self.intake, lambda: self.pool.problem() or self.paper_problem(), led, self._beep_for()
        )
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

    def paper_problem(self) -> str | None:
        """Why a shot would run out of paper mid-receipt: no printer that could print it now has
        the paper its receipt needs (the last shot's length, else the art's rows); None if one has."""
        slots = [slot for slot in self.pool.slots if slot.free]
        needs = {slot.name: self.length_mm or self._rows_mm(slot.config) for slot in slots}
        if not slots or any(self.pool.rolls.fits(name, need) for name, need in needs.items()):
            return None
        left = ", ".join(f"{name} {self.pool.rolls.left_m(name) or 0:.2f} m" for name in needs)
        need = max(needs.values()) / 1000
        return f"not enough paper for a receipt (about {need:.2f} m; left: {left}): put in a new roll, then " \
               "printd paper --new-roll"  # fmt: skip

    def _rows_mm(self, printer: PrinterConfig) -> float:
        """A receipt's length before any was printed: the most rows the art may have, and the feed."""
        art = self.config.art
        rows = art.rows if isinstance(art.rows, int) else art.max_rows
        paper = paper_for(printer)
        pitch = CELL_HEIGHT + (art.row_gap if art.row_gap is not None else DEFAULT_ROW_GAP)
        dots = (rows + paper.feed) * pitch  # the feed is in lines of the art's pitch (encoding.encode_job)
        return dots / paper.dpi * 25.4

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

    def job_event(self, job: Job, event: str) -> None:
        if event == "printed" and job.record.source == "camera" and job.record.length_mm:
            self.length_mm = job.record.length_mm / job.record.copies
        if self.session is not None:
            self.session.job_event(job.id, event)

    def printer_changed(self) -> None:
        if self.session is not None:
            self.session.printer_changed()

    @property
    def answering(self) -> bool:
        return self.snap is None or self.snap.server.answering

    def close(self) -> None:
        for part in reversed(self.parts):
            part.close()
