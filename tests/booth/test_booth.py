"""The photo booth with real parts: gpiozero's mock pins, OpenCV reading a video file it wrote,
a FIFO of real input events, the loopback printer, and `printd snap` against a running daemon."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory
from PIL import Image

from printd.booth.camera import Camera, CameraError
from printd.booth.session import Booth, BoothState
from printd.booth.triggers import EV_KEY, INPUT_EVENT, FeedbackLed, KeyTrigger
from printd.config import CameraConfig, load_config
from printd.daemon.wiring import BUZZER_PULSE, Daemon
from printd.jobs.spool import JobState, Spool
from printd.printer.encoding import INIT
from printd.sources.intake import Intake
from tests.support.daemon import count, wait_for
from tests.support.printers import NetworkPrinter

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


@pytest.fixture
def video(tmp_path: Path) -> Path:
    return write_video(tmp_path / "camera.avi")


@pytest.fixture
def printer() -> Iterator[NetworkPrinter]:
    p = NetworkPrinter()
    yield p
    p.close()


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


def press(factory: MockFactory) -> None:
    factory.pin(BUTTON).drive_low()  # pulled up: pressing connects the pin to ground
    time.sleep(0.02)
    factory.pin(BUTTON).drive_high()


def blinks(factory: MockFactory, within: float) -> int:
    """Changes of the LED pin over the last `within` seconds."""
    time.sleep(within)
    states = factory.pin(LED).states
    return sum(1 for s in states if s.timestamp > states[-1].timestamp - within)


# --- the camera ------------------------------------------------------------------------------
def test_camera_reads_a_video_file_as_a_camera(video: Path) -> None:
    camera = Camera(CameraConfig(enabled=True, source=str(video), warmup_frames=8))
    frame = camera.capture()
    assert frame.shape == (48, 64, 3)
    left, right = frame[:, :16].reshape(-1, 3).mean(0), frame[:, -16:].reshape(-1, 3).mean(0)
    assert left[0] > 150 > left[2] and right[2] > 150 > right[0]  # RGB, not OpenCV's BGR
    shot = camera.open()
    try:
        for _ in range(30):  # past the video's 12 frames: it loops, as a camera never ends
            shot.keep_alive()
        assert shot.take().shape == (48, 64, 3)
    finally:
        shot.close()
    mirrored = np.asarray(Image.open(io.BytesIO(Camera(CameraConfig(mirror=True)).to_jpeg(frame))))
    assert mirrored[:, :16, 2].mean() > 150  # blue now on the left


def test_camera_that_fails_to_open(tmp_path: Path) -> None:
    not_video = tmp_path / "notes.avi"
    not_video.write_text("not a video")
    for source in (str(tmp_path / "missing.avi"), str(not_video)):
        with pytest.raises(CameraError, match="cannot open"):
            Camera(CameraConfig(source=source)).capture()


def test_picamera2_backend_hands_over_rgb(monkeypatch: pytest.MonkeyPatch) -> None:
    """picamera2 needs a Pi's libcamera; this stand-in checks our side of its API."""
    calls: list[str] = []

    class Picamera2:
        def create_still_configuration(self, main: dict[str, object]) -> dict[str, object]:
            assert main["format"] == "RGB888"
            return {"main": main}

        def configure(self, config: object) -> None:
            calls.append("configure")

        def start(self) -> None:
            calls.append("start")

        def capture_array(self, stream: str) -> np.ndarray:
            frame = np.zeros((4, 4, 3), np.uint8)
            frame[..., 0] = 200  # libcamera's RGB888 is B, G, R in memory
            return frame

        def stop(self) -> None:
            calls.append("stop")

        def close(self) -> None:
            calls.append("close")

    monkeypatch.setitem(sys.modules, "picamera2", SimpleNamespace(Picamera2=Picamera2))
    frame = Camera(CameraConfig(backend="picamera2", warmup_frames=1)).capture()
    assert frame[..., 2].min() == 200 and frame[..., 0].max() == 0
    assert calls == ["configure", "start", "stop", "close"]  # released after the shot


# --- the state machine on its own ------------------------------------------------------------
def test_camera_failure_ends_the_session_with_the_error_signal(tmp_path: Path) -> None:
    factory = MockFactory()
    led = FeedbackLed(LED, factory)
    led.start()
    config = CameraConfig(enabled=True, source=str(tmp_path / "unplugged.avi"), countdown=0)
    intake = Intake(Spool(tmp_path / "spool"), lambda: None, lambda job, event: None)
    booth = Booth(config, intake, lambda: None, led)
    assert booth.press("test").startswith("ok")
    wait_for(lambda: booth.state is BoothState.IDLE, 10)
    assert led.pattern == "error" and blinks(factory, 0.5) >= 4
    assert count(tmp_path / "spool", JobState.QUEUED) == 0
    assert booth.press("test").startswith("ok")  # the booth survives and takes the next press


def test_key_trigger_reads_input_events(tmp_path: Path) -> None:
    fifo = tmp_path / "event0"
    os.mkfifo(fifo)
    presses: list[str] = []
    trigger = KeyTrigger("57", fifo, lambda source: presses.append(source) or "ok")
    trigger.start()
    try:
        with fifo.open("wb") as device:
            # Down, repeat, up, another key, and a last press: once that one is heard, all before it were.
            for code, value in ((57, 1), (57, 2), (57, 0), (28, 1), (28, 0), (57, 1)):
                device.write(INPUT_EVENT.pack(0, 0, EV_KEY, code, value))
        wait_for(lambda: len(presses) >= 2, 5)
        assert presses == ["key 57", "key 57"]  # the repeat, the release and the other key pressed nothing
    finally:
        trigger.close()


# --- the daemon with a booth -----------------------------------------------------------------
@pytest.fixture
def booth_daemon(tmp_path: Path, printer: NetworkPrinter, video: Path) -> Iterator[tuple[Daemon, MockFactory]]:
    factory = MockFactory()
    daemon = Daemon(load_config(booth_config(tmp_path, printer.uri, str(video), countdown=2.0)), pin_factory=factory)
    daemon.start()
    serving = threading.Thread(target=daemon.serve)
    serving.start()
    yield daemon, factory
    daemon.stopping.set()
    serving.join()
    daemon.stop()


def test_button_press_prints_the_shot(booth_daemon: tuple[Daemon, MockFactory], printer: NetworkPrinter) -> None:
    daemon, factory = booth_daemon
    spool = daemon.spool.root
    for _ in range(10):  # ten presses in a second: the first starts a session, the rest are ignored
        press(factory)
        time.sleep(0.08)
    assert daemon.booth is not None and daemon.booth.state is BoothState.COUNTDOWN
    assert blinks(factory, 0.5) >= 1  # the countdown blinks
    wait_for(lambda: count(spool, JobState.DONE) == 1, 30)
    wait_for(lambda: daemon.booth is not None and daemon.booth.state is BoothState.IDLE, 5)
    assert len(printer.model.jobs(expect=1)) == 1
    (job,) = Spool(spool).jobs(JobState.DONE)
    assert job.record.source == "camera" and job.original.suffix == ".jpg"
    lines = (job.folder / "art.txt").read_bytes().splitlines()  # the frame kept beside its art
    assert lines and all(len(line) == 6 for line in lines)
    assert count(spool, JobState.QUEUED) == 0


def test_presses_while_paper_is_out_are_refused(
    booth_daemon: tuple[Daemon, MockFactory], printer: NetworkPrinter
) -> None:
    daemon, factory = booth_daemon
    printer.model.state = "paper_out"
    wait_for(lambda: daemon.problem is not None, 5)
    for _ in range(3):
        press(factory)
        time.sleep(0.1)
    assert daemon.booth_press("test").startswith("refused: ") and "out of paper" in daemon.problem
    assert blinks(factory, 0.5) >= 4  # fast blink: the error signal
    assert count(daemon.spool.root, JobState.QUEUED) + count(daemon.spool.root, JobState.DONE) == 0
    printer.model.state = "online"  # paper loaded: sessions resume
    wait_for(lambda: daemon.problem is None, 5)
    press(factory)
    wait_for(lambda: count(daemon.spool.root, JobState.DONE) == 1, 30)
    assert len(printer.model.jobs(expect=1)) == 1


def test_snap_against_a_running_daemon(tmp_path: Path, printer: NetworkPrinter, video: Path) -> None:
    config = booth_config(tmp_path, printer.uri, str(video), extra=", beep: true")
    snap = [sys.executable, "-m", "printd", "snap", "--config", str(config)]
    missing = subprocess.run(snap, capture_output=True, text=True)
    assert missing.returncode == 1 and "no printd daemon is running" in missing.stderr
    daemon = subprocess.Popen([sys.executable, "-m", "printd", "run", "--config", str(config)], stderr=subprocess.PIPE)
    try:
        wait_for(lambda: (tmp_path / "spool" / "booth.sock").exists(), 60)
        started = time.monotonic()
        answer = subprocess.run(snap, capture_output=True, text=True, timeout=30)
        assert answer.returncode == 0, answer.stderr
        assert "ok:" in answer.stderr and time.monotonic() - started < 10  # returns at once
        wait_for(lambda: count(tmp_path / "spool", JobState.DONE) == 1, 60)
        (job,) = Spool(tmp_path / "spool").jobs(JobState.DONE)
        assert job.record.source == "camera" and job.original.is_file()
        assert len(printer.model.jobs(expect=1)) == 1
        assert bytes(printer.model.received).index(BUZZER_PULSE) < bytes(printer.model.received).index(INIT)
    finally:
        daemon.terminate()
        _, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0
    # No GPIO on this machine: the booth runs without its button and LED, and says so once each.
    assert err.decode().count("runs without its button") == 1


def test_booth_works_with_a_printer_that_cannot_answer(tmp_path: Path, video: Path) -> None:
    """A file:// printer has no status: silence there is not a problem, and presses are taken."""
    out = tmp_path / "printed.bin"
    daemon = Daemon(load_config(booth_config(tmp_path, f"file://{out}", str(video))), pin_factory=MockFactory())
    daemon.start()
    try:
        time.sleep(0.6)  # three status intervals
        assert daemon.problem is None
        assert daemon.booth_press("test").startswith("ok")
        wait_for(lambda: count(daemon.spool.root, JobState.DONE) == 1, 30)
        assert out.read_bytes().startswith(INIT)
    finally:
        daemon.stopping.set()
        daemon.stop()
