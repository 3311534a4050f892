"""The booth's test parts: a video file that plays the camera, and a booth config."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

BUTTON, LED = 17, 27


def write_video(path: Path, frames: int = 12) -> Path:
    """Left half red, right half blue, brightening over the first frames like a camera's exposure."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    for i in range(frames):
        frame = np.zeros((48, 64, 3), np.uint8)
        gain = min(1.0, 0.4 + 0.15 * i)
        frame[:, :32] = (0, 0, int(230 * gain))  # BGR: red
        frame[:, 32:] = (int(230 * gain), 0, 0)  # blue
        frame[20:28, 20:44] = 255
        writer.write(frame)
    writer.release()
    return path


def booth_config(tmp_path: Path, printer_uri: str, source: str, countdown: float = 0, extra: str = "") -> Path:
    path = tmp_path / "booth.yaml"
    path.write_text(
        "art: {columns: 6, max_rows: 4}\n"
        f"printer: {{uri: '{printer_uri}', timeout: 2, status_interval: 0.2}}\n"
        f"spool: {{path: '{tmp_path / 'spool'}', retry_min: 0.2, retry_max: 0.5}}\n"
        f"inbox: {{path: '{tmp_path / 'inbox'}'}}\n"
        f"camera: {{enabled: true, source: '{source}', countdown: {countdown}, warmup_frames: 4}}\n"
        f"button: {{gpio: {BUTTON}, led: {LED}, bounce: 0.01{extra}}}\n"
    )
    return path
