"""The booth's camera: open at the start of a session, keep it running through the countdown so the
exposure settles, take one frame at zero, release it.

OpenCV opens a device index, `/dev/videoN`, or any file or URL it can read; a video file is played
in a loop so that it behaves like a camera (the tests use one). On a Raspberry Pi, picamera2 drives
the camera module when `camera.backend` is `picamera2`.
"""

from __future__ import annotations

import importlib
import io
import logging
import re
import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from ..config import CameraConfig
from ..errors import PrintdError

log = logging.getLogger(__name__)

# Auto-exposure has converged when the mean brightness of consecutive frames moves less than this.
SETTLED = 1.0 / 255


class CameraError(PrintdError):
    """The camera cannot give a frame: absent, unplugged, or returning nothing."""


class Shot(Protocol):
    """One session with the camera: `keep_alive()` during the countdown, `take()` at zero."""

    def keep_alive(self) -> None: ...

    def take(self) -> np.ndarray: ...

    def close(self) -> None: ...


def camera_source(source: int | str) -> int | str:
    """`/dev/video2` and `"2"` name V4L2 device 2: OpenCV opens indexes with its native backend."""
    if isinstance(source, int):
        return source
    match = re.fullmatch(r"(?:/dev/video)?(\d+)", source.strip())
    return int(match.group(1)) if match else source


class OpenCVShot:
    def __init__(self, config: CameraConfig):
        import cv2  # optional dependency: only a booth with a camera needs it

        self.cv2 = cv2
        self.source = camera_source(config.source)
        self.name = str(config.source)
        self.capture = cv2.VideoCapture(self.source)
        if not self.capture.isOpened():
            self.capture.release()
            raise CameraError(f"camera {self.name}: cannot open (unplugged, busy, or not a camera or video)")
        if config.width and config.height:
            self.capture.set(cv2.CAP_PROP_FRAME_WIDTH, config.width)
            self.capture.set(cv2.CAP_PROP_FRAME_HEIGHT, config.height)
        self.is_file = isinstance(self.source, str) and Path(self.source).is_file()
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.frame_time = 1.0 / fps if 1 <= fps <= 240 else 1.0 / 30
        self.last: np.ndarray | None = None
        self._settle(config.warmup_frames)

    def _grab(self) -> np.ndarray | None:
        ok, frame = self.capture.read()
        if not ok and self.is_file:  # end of the video: play it again, as a camera never ends
            self.capture.set(self.cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self.capture.read()
        if ok and frame is not None and frame.size:
            self.last = frame
            if self.is_file:  # a file decodes as fast as the CPU allows; a camera runs at its frame rate
                time.sleep(self.frame_time)
            return frame
        return None

    def _settle(self, most: int) -> None:
        """Read frames until the brightness holds still (auto-exposure done), at most `most` of them."""
        previous = None
        for _ in range(max(most, 1)):
            frame = self._grab()
            if frame is None:
                raise CameraError(f"camera {self.name}: opened but returns no frames")
            level = float(frame.mean()) / 255
            if previous is not None and abs(level - previous) < SETTLED:
                return
            previous = level

    def keep_alive(self) -> None:
        # A camera buffers a few frames: reading through the countdown keeps the shot at zero fresh.
        self._grab()

    def take(self) -> np.ndarray:
        frame = self._grab()
        if frame is None:
            raise CameraError(f"camera {self.name}: stopped returning frames")
        return self.cv2.cvtColor(frame, self.cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self.capture.release()


class Picamera2Shot:
    def __init__(self, config: CameraConfig):
        picamera2 = importlib.import_module("picamera2")
        try:
            self.camera: Any = picamera2.Picamera2()
        except Exception as exc:  # libcamera raises plain errors for a missing or busy camera
            raise CameraError(f"camera: picamera2 cannot open the camera ({exc})") from exc
        main: dict[str, Any] = {"format": "RGB888"}  # libcamera's RGB888 is B, G, R in memory
        if config.width and config.height:
            main["size"] = (config.width, config.height)
        self.camera.configure(self.camera.create_still_configuration(main=main))
        self.camera.start()
        # libcamera runs its exposure loop by itself while started; give it the frames OpenCV would read.
        self.settle_until = time.monotonic() + config.warmup_frames / 30

    def keep_alive(self) -> None:
        time.sleep(0.05)

    def take(self) -> np.ndarray:
        time.sleep(max(0.0, self.settle_until - time.monotonic()))
        try:
            frame = self.camera.capture_array("main")
        except Exception as exc:
            raise CameraError(f"camera: picamera2 capture failed ({exc})") from exc
        return np.ascontiguousarray(frame[..., 2::-1])

    def close(self) -> None:
        self.camera.stop()
        self.camera.close()


BACKENDS: dict[str, type[OpenCVShot] | type[Picamera2Shot]] = {"opencv": OpenCVShot, "picamera2": Picamera2Shot}


class Camera:
    """What the booth holds between sessions: the settings, never an open device."""

    def __init__(self, config: CameraConfig):
        self.config = config

    def check(self) -> None:
        """At daemon start: is the backend there at all? (The device itself is opened per session.)"""
        module = "cv2" if self.config.backend == "opencv" else "picamera2"
        try:
            importlib.import_module(module)
        except ImportError as exc:
            # OpenCV is one of printd's own dependencies (opencv-python-headless): a broken install.
            hint = "reinstall printd: scripts/install.sh" if module == "cv2" else "apt install python3-picamera2"
            raise CameraError(f"camera: {module} is not installed ({hint})") from exc

    def missing(self) -> Path | None:
        """The device or file camera.source names when it is not there (a URL, or the Pi's camera
        module, cannot be looked at without opening it: None)."""
        if self.config.backend != "opencv":
            return None
        source = camera_source(self.config.source)
        path = Path(f"/dev/video{source}") if isinstance(source, int) else Path(source)
        if isinstance(source, str) and "://" in source:
            return None
        return None if path.exists() else path

    def presence(self) -> str:
        """For status: `missing: PATH`, or `ok: SOURCE` (there; opened only at a press)."""
        path = self.missing()
        return f"missing: {path}" if path is not None else f"ok: {self.config.source}"

    def open(self) -> Shot:
        self.check()
        path = self.missing()
        if path is not None:
            raise CameraError(f"camera {path}: missing (no such device or file)")
        shot: Shot = BACKENDS[self.config.backend](self.config)
        return shot

    def capture(self) -> np.ndarray:
        """One RGB frame with no countdown: `printd doctor`'s test shot."""
        shot = self.open()
        try:
            return shot.take()
        finally:
            shot.close()

    def to_jpeg(self, frame: np.ndarray) -> bytes:
        """The frame as the job's original: mirrored for selfies when configured, JPEG at high quality."""
        if self.config.mirror:
            frame = frame[:, ::-1]
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(frame)).save(buffer, format="JPEG", quality=92)
        return buffer.getvalue()
