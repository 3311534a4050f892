"""The photo booth: one press, one countdown, one shot, one print.

A session is an explicit state machine, and only an idle booth starts one, so a mashed button
makes one job:

    idle → countdown → capture → queued → printing → idle

The camera opens at the press and runs through the countdown, so its exposure has settled at zero.
The shot goes into the spool like any other job. While the printer reports a problem (paper out,
cover open, offline) presses are refused and the light says so; the booth takes presses again as
soon as the daemon sees the printer back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from enum import Enum

from ..config import CameraConfig
from ..errors import PrintdError
from ..jobs.art import JobArt
from ..jobs.spool import Job
from ..sources.intake import Intake
from .camera import Camera, Shot
from .triggers import FeedbackLed

log = logging.getLogger(__name__)
ERROR_SIGNAL = 3.0  # seconds the light blinks fast after a failed session


class BoothState(Enum):
    IDLE = "idle"
    COUNTDOWN = "countdown"
    CAPTURE = "capture"
    QUEUED = "queued"
    PRINTING = "printing"


TRANSITIONS: dict[BoothState, set[BoothState]] = {
    BoothState.IDLE: {BoothState.COUNTDOWN},
    BoothState.COUNTDOWN: {BoothState.CAPTURE, BoothState.IDLE},
    BoothState.CAPTURE: {BoothState.QUEUED, BoothState.IDLE},
    BoothState.QUEUED: {BoothState.PRINTING, BoothState.IDLE},
    BoothState.PRINTING: {BoothState.IDLE},
}


class Booth:
    def __init__(
        self,
        config: CameraConfig,
        intake: Intake,
        printer_problem: Callable[[], str | None],
        led: FeedbackLed | None = None,
        beep: Callable[[], None] | None = None,
    ):
        self.config = config
        self.camera = Camera(config)
        self.intake = intake
        self.printer_problem = printer_problem
        self.led = led
        self.beep = beep
        self.state = BoothState.IDLE
        self.job_id: str | None = None
        self.error_until = 0.0
        self.lock = threading.Lock()
        self.pressed_at = 0.0

    # --- presses ---------------------------------------------------------------------------
    def press(self, source: str) -> str:
        """A button, key or `printd snap`: start a session if idle; the answer is one line, and
        says a camera that cannot be opened."""
        with self.lock:
            if self.state is not BoothState.IDLE:
                log.info("%s pressed during a session (%s): ignored", source, self.state.value)
                return f"busy: a session is under way ({self.state.value})"
            problem = self.printer_problem()
            if problem:
                log.warning("%s pressed while the printer is not ready: %s", source, problem)
                self._signal_error()
                return f"refused: {problem}"
            self.pressed_at = time.monotonic()
            self._enter(BoothState.COUNTDOWN)
        try:
            shot = self.camera.open()  # warms up while the countdown runs
        except Exception as exc:  # the answer says it: "ok" only once the camera gives frames
            self._failed(exc)
            return f"failed: {exc}"
        log.info("%s: session started, countdown %g s", source, self.config.countdown)
        threading.Thread(target=self._session, args=(shot,), name="booth", daemon=True).start()
        return f"ok: smile, the shot is in {self.config.countdown:g} s"

    def _failed(self, exc: Exception) -> None:
        """A session that failed must never take the booth down: said, signalled, idle again."""
        log.error("booth: %s", exc, exc_info=not isinstance(exc, PrintdError | OSError))
        with self.lock:
            self._signal_error()
            self._enter(BoothState.IDLE)

    def _session(self, shot: Shot) -> None:
        shoot_at = self.pressed_at + self.config.countdown
        try:
            try:
                while time.monotonic() < shoot_at:
                    shot.keep_alive()
                self._enter(BoothState.CAPTURE)
                frame = shot.take()
            finally:
                shot.close()
            if self.beep:
                self.beep()
            name = time.strftime("booth-%Y%m%d-%H%M%S.jpg")
            art = JobArt(framing=self.config.framing)
            job = self.intake.take_bytes(self.camera.to_jpeg(frame), "camera", name, art, owner=self._queued)
        except Exception as exc:
            self._failed(exc)
            return
        log.info("%s: shot taken %.2f s after the press", job.id, time.monotonic() - self.pressed_at)

    def _queued(self, job: Job) -> None:
        with self.lock:
            self.job_id = job.id
            self._enter(BoothState.QUEUED)

    # --- what the daemon tells the booth ----------------------------------------------------
    def job_event(self, job_id: str, event: str) -> None:
        """The daemon's news of a job: printing, printed, failed, or waiting (printer not ready)."""
        with self.lock:
            if job_id != self.job_id:
                return
            if event == "printing" and self.state is BoothState.QUEUED:
                self._enter(BoothState.PRINTING)
                return
            if event in ("printed", "failed", "waiting"):
                # Waiting: the shot is safe in the spool and prints when the printer is back.
                if event != "printed":
                    self._signal_error()
                self.job_id = None
                self._enter(BoothState.IDLE)

    def printer_changed(self) -> None:
        with self.lock:
            self._show()

    # --- state and light ------------------------------------------------------------------
    def _enter(self, state: BoothState) -> None:
        if state is not self.state and state not in TRANSITIONS[self.state]:
            raise RuntimeError(f"booth: no transition {self.state.value} → {state.value}")
        self.state = state
        self._show()

    def _signal_error(self) -> None:
        self.error_until = time.monotonic() + ERROR_SIGNAL
        self._show()
        if self.led:  # back to the steady pattern once the error signal has run
            timer = threading.Timer(ERROR_SIGNAL + 0.05, self.printer_changed)
            timer.daemon = True  # never hold up a stopping daemon
            timer.start()

    def _show(self) -> None:
        if self.led is None:
            return
        if self.printer_problem() or time.monotonic() < self.error_until:
            self.led.show("error")
        elif self.state in (BoothState.COUNTDOWN, BoothState.CAPTURE):
            self.led.show("countdown")
        elif self.state in (BoothState.QUEUED, BoothState.PRINTING):
            self.led.show("printing")
        else:
            self.led.show("off")
